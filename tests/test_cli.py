"""The command line: help, model list, and bad input (one line, exit 2)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tui import cli
from workloads.config import MODELS


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def test_models_lists_every_model_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["models"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(MODELS)
    for line, name in zip(lines, MODELS, strict=True):
        assert f" {name} " in line


@pytest.mark.parametrize("command", ["", "run", "replay", "bench", "record", "models"])
def test_help_is_complete(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [command, "--help"] if command else ["--help"]
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "usage: ccviz" in text
    if command in ("run", "bench", "record"):
        for flag in (
            "--model",
            "--cpu-share",
            "--concurrency",
            "--task-ms",
            "--rate",
            "--workers",
            "--cpu-kind",
            "--io-kind",
        ):
            assert flag in text


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["bench", "--model", "fibers"], "--model: unknown model 'fibers'; choose from threads"),
        (["bench", "--cpu-share", "0,2"], "--cpu-share: 2 is out of range"),
        (["bench", "--concurrency", "0"], "--concurrency: 0 is out of range"),
        (["bench", "--concurrency", "lots"], "--concurrency: 'lots' is not a valid number"),
        (["bench", "--seconds", "0"], "--seconds: 0 is out of range"),
        (["bench", "--io-kind", "tape"], "--io-kind: unknown kind 'tape'"),
        (["record", "--model", "threads"], "record: give --output FILE.jsonl and/or --perfetto"),
        (["export", "recordings/mn.jsonl"], "the following arguments are required: --output"),
        (["record", "--task-ms", "-5", "-o", "/tmp/x.jsonl"], "--task-ms: -5 is out of range"),
        (["run", "--cpu-kind", "gpu"], "--cpu-kind: unknown kind 'gpu'"),
        (["run", "--hz", "500"], "--hz: 500 is out of range"),
        (["--model", "nope"], "--model: unknown model 'nope'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["replay", "/nonexistent/file.jsonl"], "/nonexistent/file.jsonl: cannot read"),
        (["bench", "--format", "xml"], "invalid choice: 'xml'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], expected: str) -> None:
    out = run_cli(*argv)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("ccviz: error: ")
    assert expected in lines[0]
    assert out.stdout == ""
