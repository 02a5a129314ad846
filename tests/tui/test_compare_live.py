"""The compare screen on real labs: two models, half a second each; the live lab is
paused meanwhile and restarted on close, and no process is left after quitting."""

from __future__ import annotations

import time

import psutil  # type: ignore[import-untyped]  # no stubs among the dev dependencies
import pytest

from tests.tui.helpers import wait_for
from tui.app import make_app
from tui.screens.compare import CompareOptions, CompareScreen
from tui.sources import LiveSource
from tui.widgets.bars import CompareBars
from workloads.config import LabConfig

pytestmark = [pytest.mark.live, pytest.mark.anyio]


def _children() -> set[int]:
    """This test's descendants: other sessions' labs on the machine are none of its business."""
    return {p.pid for p in psutil.Process().children(recursive=True)}


async def test_compare_two_models_for_real() -> None:
    before = _children()
    source = LiveSource(LabConfig(model="threads", cpu_share=0.2, concurrency=8))
    options = CompareOptions(seconds=0.5, warmup=0.2, models=("threads", "asyncio"))
    app = make_app(source, compare=options)
    async with app.run_test(size=(120, 48)) as pilot:
        await wait_for(pilot, lambda: app.history.appended >= 2, timeout=20)
        live_pid = source.lab_pid
        assert live_pid is not None
        await pilot.press("b")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        await wait_for(pilot, lambda: source.lab_pid is None, timeout=20)  # paused
        await wait_for(pilot, lambda: screen.finished_runs == 2, timeout=45)
        assert not psutil.pid_exists(live_pid) or psutil.Process(live_pid).status() == "zombie"
        results = {row.model: row.result for row in screen.rows}
        for model, result in results.items():
            assert result is not None, model
            assert result["model"] == model and result["throughput_per_s"] > 0
            assert result["cpu_percent"] > 0 and result["rss_mib_peak"] > 0
        await pilot.pause()
        text = screen.query_one(CompareBars).lines_text()
        throughput = text[1:3]
        assert all("█" in ln and not ln.rstrip().endswith("n/a") for ln in throughput), text
        await pilot.press("escape")
        await wait_for(
            pilot,
            lambda: source.lab_pid not in (None, live_pid)
            and app.history.latest is not None
            and app.history.latest.lab_pid == source.lab_pid,
            timeout=20,
        )
        await pilot.press("q")
    deadline = time.monotonic() + 10
    while (_children() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _children() - before == set()


async def test_closing_mid_run_stops_the_bench_lab_then_restarts_the_live_one() -> None:
    before = _children()
    source = LiveSource(LabConfig(model="asyncio", cpu_share=0.1, concurrency=8))
    options = CompareOptions(seconds=5.0, warmup=0.5, models=("threads", "pool", "mn"))
    app = make_app(source, compare=options)
    async with app.run_test(size=(120, 48)) as pilot:
        await wait_for(pilot, lambda: app.history.appended >= 2, timeout=20)
        live_pid = source.lab_pid
        await pilot.press("b")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        await wait_for(pilot, lambda: screen.rows[0].status == "running", timeout=20)
        await wait_for(pilot, lambda: "measuring" in str(
            screen.query_one("#compare-status").render()), timeout=20)
        bench_labs = _children() - before
        assert bench_labs, "the first model's lab should be running"
        await pilot.press("escape")
        await wait_for(
            pilot,
            lambda: source.lab_pid not in (None, live_pid)
            and app.history.latest is not None
            and app.history.latest.lab_pid == source.lab_pid,
            timeout=20,
        )
        assert screen.finished_runs == 0  # cancelled before the first run ended
        alive = {p for p in bench_labs if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE}
        assert alive == set()
        await pilot.press("q")
    deadline = time.monotonic() + 10
    while (_children() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _children() - before == set()
