"""The compare screen, hermetic: a stubbed runner stands in for the labs, a fake live
source records when the live lab is paused and restarted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import ProgressBar

from tests.tui.conftest import ReplayFactory
from tests.tui.fake_sources import FakeLive
from tests.tui.helpers import notices, wait_for
from tui.app import CcvizApp, make_app
from tui.screens.compare import FIGURES, CompareOptions, CompareScreen
from tui.widgets.bars import BarRow, CompareBars
from workloads.config import LabConfig

pytestmark = pytest.mark.anyio

SIZE = (120, 40)
Tick = Callable[[float], None]


def result(
    model: str, throughput: float, p99: float | None, per_task: float | None
) -> dict[str, Any]:
    return {
        "model": model,
        "throughput_per_s": throughput,
        "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": p99},
        "switches_per_task": per_task,
        "cpu_percent": 50.0,
        "rss_mib_peak": 25.0,
    }


class StubRunner:
    """Canned results; `pool` fails; records each call in the source's call log."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.configs: list[LabConfig] = []

    def __call__(
        self, config: LabConfig, seconds: float, warmup: float, tick: Tick
    ) -> dict[str, Any]:
        self.log.append(f"run {config.model}")
        self.configs.append(config)
        tick(0.5)
        tick(1.0)
        if config.model == "pool":
            raise RuntimeError("boom")
        if config.model == "asyncio":
            return result("asyncio", 400.0, 12.0, None)
        return result(config.model, 100.0, 40.0, 8.0)


def live_app(runner: Any, models: tuple[str, ...] = ("threads", "pool", "asyncio")) -> CcvizApp:
    source = FakeLive(LabConfig(model="asyncio", cpu_share=0.5, concurrency=64, workers=3))
    options = CompareOptions(seconds=0.1, warmup=0.0, models=models, runner=runner)
    return make_app(source, compare=options)


def log_of(app: CcvizApp) -> list[str]:
    assert isinstance(app.source, FakeLive)
    return app.source.calls


def bars_text(app: CcvizApp) -> list[str]:
    return app.screen.query_one(CompareBars).lines_text()


async def test_b_runs_every_model_and_draws_bars() -> None:
    log: list[str] = []
    runner = StubRunner(log)
    app = live_app(runner)
    runner.log = log_of(app)
    async with app.run_test(size=(80, 40)) as pilot:  # one figure per row of blocks
        await pilot.press("b")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        await wait_for(pilot, lambda: screen.finished_runs == 3)
        await pilot.pause()
        calls = log_of(app)
        assert calls.index("suspend") < calls.index("run threads")  # the live lab pauses first
        # every run has the live workload; only the model changes
        assert [c.model for c in runner.configs] == ["threads", "pool", "asyncio"]
        assert {(c.cpu_share, c.concurrency, c.workers) for c in runner.configs} == {(0.5, 64, 3)}
        assert screen.query_one(ProgressBar).progress == 3
        assert "done" in str(screen.query_one("#compare-status").render())
        text = bars_text(app)
        assert "throughput, tasks/s" in text[0] and "more is better" in text[0]
        throughput = {line.lstrip("▶ ").split()[0]: line for line in text[1:4]}
        assert "█" in throughput["threads"] and throughput["threads"].rstrip().endswith("100")
        assert throughput["asyncio"].rstrip().endswith("400")
        assert "failed RuntimeError: boom" in throughput["pool"]
        switches = next(i for i, line in enumerate(text) if "switches per task" in line)
        # asyncio's figure was not measurable: n/a, and no bar
        assert any("asyncio" in ln and ln.rstrip().endswith("n/a") for ln in text[switches:])
        assert any("▶ asyncio" in line for line in text)  # the model the live lab ran
        assert any("boom" in n for n in notices(app))
        assert "resume" not in calls
        await pilot.press("escape")
        assert not isinstance(app.screen, CompareScreen)
        await wait_for(pilot, lambda: "resume" in log_of(app))


async def test_escape_cancels_the_run_and_restarts_the_live_lab_after_it() -> None:
    started = threading.Event()

    def slow(config: LabConfig, seconds: float, warmup: float, tick: Tick) -> dict[str, Any]:
        log.append(f"run {config.model}")
        started.set()
        deadline = time.monotonic() + 20
        try:
            while time.monotonic() < deadline:
                tick(0.1)
                time.sleep(0.01)
        except Exception:
            log.append("cancelled")  # what a real run's `finally: session.stop()` sees
            raise
        return result(config.model, 1.0, 1.0, 1.0)

    app = live_app(slow)
    log = log_of(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        await wait_for(pilot, started.is_set)
        await wait_for(pilot, lambda: "running" in "".join(bars_text(app)))
        await pilot.press("escape")
        await wait_for(pilot, lambda: "resume" in log)
        assert log.index("cancelled") < log.index("resume")
        assert [e for e in log if e.startswith("run")] == ["run threads"]  # nothing else ran


async def test_quitting_during_a_run_cancels_it_and_starts_no_lab() -> None:
    started = threading.Event()

    def slow(config: LabConfig, seconds: float, warmup: float, tick: Tick) -> dict[str, Any]:
        started.set()
        try:
            while True:
                tick(0.1)
                time.sleep(0.01)
        except Exception:
            log.append("cancelled")
            raise

    app = live_app(slow)
    log = log_of(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        await wait_for(pilot, started.is_set)
        app.exit()
    deadline = time.monotonic() + 5
    while "cancelled" not in log and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "cancelled" in log and "resume" not in log


async def test_b_on_a_replay_only_explains(replay: ReplayFactory) -> None:
    app = replay("asyncio")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        assert not isinstance(app.screen, CompareScreen)
        assert any("needs a live lab" in n for n in notices(app))


def test_bars_widget_scales_highlights_and_says_n_a() -> None:
    rows = [
        BarRow("threads", "done", result("threads", 50.0, 30.0, 8.0)),
        BarRow("asyncio", "done", result("asyncio", 200.0, None, 0.5)),
        BarRow("mn", "running"),
        BarRow("pool", "waiting"),
    ]
    bars = CompareBars(FIGURES, rows, current="threads")
    text = bars.lines_text()  # 80 columns before layout: one figure per block
    assert text[0].startswith("throughput, tasks/s")
    threads, asyncio, mn, pool = text[1:5]
    assert threads.startswith("▶ threads") and asyncio.startswith("  asyncio")
    assert asyncio.count("█") > threads.count("█") * 3  # scaled to the largest value
    assert threads.rstrip().endswith("50") and asyncio.rstrip().endswith("200")
    assert "running…" in mn and "waiting" in pool
    p99 = text.index(next(line for line in text if line.startswith("p99 latency")))
    assert text[p99 + 2].rstrip().endswith("n/a") and "█" not in text[p99 + 2]
    ascii_bars = CompareBars(FIGURES, rows, current="threads", ascii=True)
    assert all(ord(c) < 128 for line in ascii_bars.lines_text() for c in line)


async def test_reopening_waits_for_the_live_lab_to_restart_before_pausing_it() -> None:
    class SlowRestart(FakeLive):
        def resume(self) -> None:
            time.sleep(0.3)  # a lab takes a while to start
            super().resume()

    source = SlowRestart(LabConfig())
    runner = StubRunner(source.calls)
    app = make_app(source, compare=CompareOptions(models=("threads",), runner=runner))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        await wait_for(pilot, lambda: getattr(app.screen, "finished_runs", 0) == 1)
        await pilot.press("escape", "b")  # reopen before the restart has finished
        await wait_for(pilot, lambda: source.calls.count("run threads") == 2)
        lab_calls = [c for c in source.calls if c in ("suspend", "resume")]
        assert lab_calls == ["suspend", "resume", "suspend"]
