"""Switch-cost calibration: storage that never crashes, the estimate's arithmetic, a live run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped, unused-ignore]
import pytest

from tests.conftest import gone, wait_until
from workloads import calibrate
from workloads.bench import machine_info
from workloads.calibrate import SwitchCost


def cost(**changes: object) -> SwitchCost:
    values: dict[str, object] = {
        "thread_us": 2.5,
        "process_us": 3.0,
        "measured_at": "2025-01-01T00:00:00+00:00",
        "machine": machine_info(),
        "method": "test",
    }
    values.update(changes)
    return SwitchCost(**values)  # type: ignore[arg-type]


def test_cache_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert calibrate.cache_path() == tmp_path / "ccviz" / "switch-cost.json"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert calibrate.cache_path() == tmp_path / "home" / ".cache" / "ccviz" / "switch-cost.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert calibrate.cache_path() == tmp_path / "home" / ".cache" / "ccviz" / "switch-cost.json"


def test_save_load_round_trip_in_the_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert calibrate.load() is None  # not calibrated yet: no warning either
    assert calibrate.load_with_warning() == (None, None)
    written = calibrate.save(cost())
    assert written == tmp_path / "ccviz" / "switch-cost.json"
    assert calibrate.load_with_warning() == (cost(), None)
    assert [p.name for p in written.parent.iterdir()] == ["switch-cost.json"]


def test_save_load_explicit_path(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "cost.json"
    assert calibrate.save(cost(thread_us=1.25), path) == path
    loaded = calibrate.load(path)
    assert loaded is not None and loaded.thread_us == 1.25


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "not a ccviz switch-cost file"),
        (b'{"type": "something-else"}', "not a ccviz switch-cost file"),
        (b"[" * 100_00 + b"]" * 100_00, "not valid JSON"),
        (b" " * (calibrate.MAX_FILE_BYTES + 1), "larger than"),
    ],
    ids=["truncated", "binary", "list", "foreign", "deep", "huge"],
)
def test_a_corrupt_or_foreign_file_gives_none_and_a_warning(
    tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "cost.json"
    path.write_bytes(content)
    found, warning = calibrate.load_with_warning(path)
    assert found is None
    assert warning is not None and says in warning and str(path) in warning
    assert calibrate.load(path) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("thread_us", -1.0),
        ("thread_us", 0),
        ("process_us", "fast"),
        ("process_us", True),
        ("thread_us", None),
        ("machine", "x"),
        ("schema", 99),
    ],
)
def test_invalid_fields_are_rejected_by_name(tmp_path: Path, field: str, value: object) -> None:
    data = cost().to_dict() | {field: value}
    path = tmp_path / "cost.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    found, warning = calibrate.load_with_warning(path)
    assert found is None and warning is not None and field.split("_")[0] in warning


def test_non_finite_figures_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "cost.json"
    path.write_text(json.dumps(cost().to_dict() | {"process_us": math.inf}), encoding="utf-8")
    assert calibrate.load_with_warning(path)[0] is None


def test_an_unreadable_path_gives_a_warning(tmp_path: Path) -> None:
    found, warning = calibrate.load_with_warning(tmp_path)  # a directory
    assert found is None and warning is not None and "cannot read" in warning


def test_a_cost_from_another_machine_loads_with_a_warning(tmp_path: Path) -> None:
    path = calibrate.save(
        cost(machine={"cores": 64, "cpu": "elsewhere", "kernel": "1.0"}), tmp_path / "c.json"
    )
    found, warning = calibrate.load_with_warning(path)
    assert found is not None and found.thread_us == 2.5
    assert warning is not None and "another machine" in warning


def test_estimate_arithmetic() -> None:
    c = cost(thread_us=2.0, process_us=5.0)
    # 10,000 switches/s × 2 µs = 20 ms of every second = 2 % of one core.
    assert calibrate.estimate_lost_cpu_percent(10_000, c) == pytest.approx(2.0)
    assert calibrate.estimate_lost_cpu_percent(10_000, c, "process") == pytest.approx(5.0)
    assert calibrate.estimate_lost_cpu_percent(0.0, c) == 0.0
    assert calibrate.estimate_lost_cpu_percent(1e6, c) == pytest.approx(200.0)
    with pytest.raises(ValueError, match="kind"):
        calibrate.estimate_lost_cpu_percent(1.0, c, "fiber")


def test_report_names_both_figures() -> None:
    text = calibrate.format_report(cost(thread_us=1.5, process_us=2.25))
    assert "1.50 µs" in text and "2.25 µs" in text
    assert "1.5 % of one core" in text  # 10,000 × 1.5 µs
    assert machine_info()["cpu"] in text


def test_measure_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        calibrate.measure(rounds=0)


@pytest.mark.live
@pytest.mark.timeout(30)
def test_measure_live_and_leaves_no_child(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[subprocess.Popen[bytes]] = []

    class Spy(subprocess.Popen[bytes]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            assert kwargs.get("start_new_session") is True
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(subprocess, "Popen", Spy)  # calibrate looks it up on each call
    me = psutil.Process()
    before_children = {p.pid for p in me.children(recursive=True)}
    affinity = os.sched_getaffinity(0)
    threads = len(me.threads())
    result = calibrate.measure(rounds=2000, repeats=3)
    for value in (result.thread_us, result.process_us):
        assert math.isfinite(value) and 0 < value < 1000
    assert "pinned" in result.method and "round trip" in result.method
    assert result.machine["cores"] >= 1
    assert os.sched_getaffinity(0) == affinity  # the caller's affinity is given back
    assert len(started) == 1 and started[0].returncode is not None  # ended and reaped
    left = {p.pid for p in me.children(recursive=True)} - before_children
    assert wait_until(lambda: gone(left | {started[0].pid}), timeout=5.0), f"left: {left}"
    assert wait_until(lambda: len(me.threads()) <= threads, timeout=5.0)


def test_calibrate_imports_neither_textual_nor_rich(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from workloads import calibrate\n"
        f"calibrate.load_with_warning({str(tmp_path / 'missing.json')!r})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'tui')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, "[]"), out.stderr
