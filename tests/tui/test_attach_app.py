"""`ccviz attach` in the app: kernel panes, plain "not available" text, inert controls, CLI errors.

The Pilot tests attach to a fake /proc tree (hermetic) or to the Python example
program (live); either way no lab is started.
"""

from __future__ import annotations

import argparse
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.tui.helpers import notices, wait_for
from tests.workloads.fakeproc import FakeProc
from tui import cli
from tui.app import CcvizApp, make_app
from tui.attach_cmd import add_attach_parser, cmd_attach
from tui.attach_source import NOTHING_TO_CHANGE, AttachSource
from tui.sources import FrameReady
from tui.widgets import LoopPane, StatusHeader, ThreadsPane, ThroughputPane, VerdictLine
from workloads.config import ConfigError
from workloads.examples import example_path

pytestmark = [pytest.mark.timeout(60)]

PID = 4242
SIZE = (120, 40)


@pytest.fixture
def fake(tmp_path: Path) -> FakeProc:
    f = FakeProc(tmp_path / "proc")
    f.add_process(PID, name="server", cpu_ns=5_000_000, slices=10, vol=8, invol=2)
    for n in (1, 2):
        f.add_thread(PID, PID + n, name="libuv-worker", cpu_ns=1_000_000, slices=4, vol=3)
    return f


def _text(app: CcvizApp, pane: type[LoopPane | ThroughputPane | ThreadsPane]) -> str:
    return "\n".join(app.query_one(pane).lines_text())


def squeeze(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines())


# -- the source ----------------------------------------------------------------------


def test_an_attach_source_refuses_changes_and_delivers_frames(fake: FakeProc) -> None:
    source = AttachSource(PID, hz=50.0, proc_root=fake.path)
    assert source.live and source.label == "attach server (pid 4242)"
    with pytest.raises(ConfigError, match=NOTHING_TO_CHANGE):
        source.request(model="pool")
    got: list[FrameReady] = []
    source.start(got.append)
    try:
        assert wait_until(lambda: bool(got), timeout=5)
        assert got[0].replaceable and got[0].frames[0].model == "attach"
    finally:
        source.stop()
        source.stop()


# -- Pilot on a fake /proc -----------------------------------------------------------


@pytest.mark.anyio
async def test_attached_app_shows_kernel_panes_and_says_app_facts_are_unavailable(
    fake: FakeProc,
) -> None:
    app = make_app(AttachSource(PID, hz=20.0, proc_root=fake.path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.history.appended >= 3)
        await pilot.pause()
        threads = _text(app, ThreadsPane)
        assert "server" in threads and threads.count("libuv-worker") == 2
        loop = _text(app, LoopPane)
        assert "not available\nwhen attached" in squeeze(loop) and "process CPU" in loop
        throughput = _text(app, ThroughputPane)
        assert "not available\nwhen attached" in squeeze(throughput)
        assert not any(c.isdigit() for c in throughput)  # no figures at all, so never a 0
        header = app.query_one(StatusHeader).lines_text()
        assert "ATTACH server (pid 4242)" in header[0]
        assert "kernel view only" in header[1]
        verdict = app.query_one(VerdictLine).verdict
        assert verdict is not None and verdict.rule.startswith("attach-")


@pytest.mark.anyio
async def test_model_mix_load_and_restart_keys_notify_instead_of_acting(fake: FakeProc) -> None:
    source = AttachSource(PID, hz=20.0, proc_root=fake.path)
    app = make_app(source)
    before = source.config
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.history.appended >= 1)
        for key in ("2", "m", "right_square_bracket", "plus", "W", "c", "i", "r"):
            await pilot.press(key)
            assert notices(app).count(NOTHING_TO_CHANGE) >= 1, key
        assert source.config == before
        assert not [w for w in app.workers if w.group == "lab" and w.name != "start the lab"]
        assert all(f.model == "attach" for f in app.history.frames)


@pytest.mark.anyio
async def test_the_app_stays_up_when_the_attached_process_exits(fake: FakeProc) -> None:
    app = make_app(AttachSource(PID, hz=20.0, proc_root=fake.path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.history.appended >= 2)
        fake.remove_process(PID)
        await wait_for(
            pilot, lambda: app.history.latest is not None and not app.history.latest.lab_alive
        )
        await pilot.pause()
        assert "PROCESS EXITED" in app.query_one(StatusHeader).lines_text()[1]
        assert any("exited" in n for n in notices(app))
        verdict = app.query_one(VerdictLine).verdict
        assert verdict is not None and verdict.rule == "attach-exited"
        assert app.is_running


# -- the command ---------------------------------------------------------------------


def _args(pid: str, **options: object) -> argparse.Namespace:
    return argparse.Namespace(pid=pid, hz=options.get("hz", 10.0), ascii=False, theme="default")


@pytest.mark.parametrize(
    ("pid", "message"),
    [
        ("999999", "pid 999999: no such process"),
        ("0", "pid 0: not a positive integer"),
        ("-5", "pid -5: not a positive integer"),
        ("abc", "pid 'abc': not a positive integer"),
        (str(os.getpid()), f"pid {os.getpid()}: that is ccviz itself"),
    ],
)
def test_cmd_attach_refuses_bad_pids_with_one_line(pid: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        cmd_attach(_args(pid))
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_cmd_attach_refuses_a_bad_rate() -> None:
    with pytest.raises(ConfigError, match=r"^--hz: "):
        cmd_attach(_args("1", hz=0.1))


def test_the_attach_parser_reads_pid_and_view_options() -> None:
    parser = argparse.ArgumentParser(prog="ccviz")
    add_attach_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["attach", "123", "--hz", "5", "--ascii", "--theme", "high-contrast"])
    assert (args.command, args.pid, args.hz, args.ascii, args.theme) == (
        "attach",
        "123",
        5.0,
        True,
        "high-contrast",
    )


def test_the_cli_exits_2_for_a_nonexistent_pid(capsys: pytest.CaptureFixture[str]) -> None:
    if "attach" not in cli.COMMANDS:
        pytest.skip("`ccviz attach` is not wired into tui/cli.py yet")
    assert cli.main(["attach", "999999"]) == cli.EXIT_USAGE
    assert capsys.readouterr().err.strip() == "ccviz: error: pid 999999: no such process"


# -- live: the Python example --------------------------------------------------------


@pytest.mark.live
@pytest.mark.anyio
async def test_attached_app_on_the_python_example_shows_its_threads_and_its_exit() -> None:
    proc = subprocess.Popen(
        [sys.executable, str(example_path("py_threads_demo.py")), "--seconds", "60"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert select.select([proc.stdout], [], [], 15)[0], "the example printed nothing"
        proc.stdout.readline()
        app = make_app(AttachSource(proc.pid, hz=20.0))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "demo-cpu" in _text(app, ThreadsPane), timeout=15)
            assert "demo-io-1" in _text(app, ThreadsPane)
            await pilot.press("1")
            assert NOTHING_TO_CHANGE in notices(app)
            proc.stdin.close()  # the example ends; the view stays
            await wait_for(
                pilot,
                lambda: "PROCESS EXITED" in app.query_one(StatusHeader).lines_text()[1],
                timeout=15,
            )
            assert app.is_running
        assert proc.wait(10) == 0  # it ended by itself: ccviz never signals it
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
