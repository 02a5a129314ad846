"""The real duel, headless, on two real labs: both run pinned to their own cores, a mix key
reaches both, and quitting leaves neither lab tree behind."""

from __future__ import annotations

import os

import psutil  # type: ignore[import-untyped]  # no stubs among the dev dependencies
import pytest

from tests.conftest import gone, wait_until
from tests.tui.helpers import wait_for
from tui.duel import make_duel_app, split_cpus
from workloads.config import LabConfig
from workloads.frames import Frame

pytestmark = [pytest.mark.live, pytest.mark.anyio, pytest.mark.timeout(90)]


def _tree(frame: Frame) -> set[int]:
    return {p.pid for p in frame.processes} | {frame.lab_pid}


def _children() -> set[int]:
    """This test process's descendants: unlike `no_leaks`, blind to other runs' labs."""
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.mark.usefixtures("no_leaks")
async def test_duel_runs_two_pinned_labs_changes_both_and_cleans_up() -> None:
    before = _children()
    plan = split_cpus()
    # `processes` has worker processes: they must inherit the lab's pinning.
    app = make_duel_app(
        "threads", "processes", LabConfig(cpu_share=0.2, concurrency=4, task_ms=10.0)
    )
    seen: set[int] = set()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: all(s.history.appended >= 3 for s in app.sides), 40)
        a, b = app.sides
        await wait_for(pilot, lambda: any(p.role == "worker" for p in b.history.latest.processes)
                       if b.history.latest else False, 20)
        for side, want in ((a, plan.a), (b, plan.b)):
            frame = side.history.latest
            assert frame is not None and frame.model == side.model
            expected = want or os.sched_getaffinity(0)
            pids = _tree(frame)
            seen |= pids | _children()
            for pid in pids:
                assert os.sched_getaffinity(pid) == expected, (side.letter, pid)
        assert a.history.latest.lab_pid != b.history.latest.lab_pid  # type: ignore[union-attr]

        await pilot.press("right_square_bracket")  # cpu share 0.2 → 0.3 on both labs

        def applied() -> bool:
            frames = [s.history.latest for s in app.sides]
            return all(
                f is not None and f.config["cpu_share"] == 0.3
                and f.app is not None and f.app.generation >= 1
                for f in frames
            )

        await wait_for(pilot, applied, 20)
        for side in app.sides:
            assert side.source.config.cpu_share == 0.3
            assert side.history.latest is not None
            seen |= _tree(side.history.latest)
        assert "leads" in app.scoreboard.lines_text()[0]
        await pilot.press("q")
    assert not app.is_running
    assert len(seen) >= 3  # two labs and at least one worker process
    assert wait_until(lambda: gone(seen - before), timeout=10), seen
    assert wait_until(lambda: not _children() - before, timeout=10), _children() - before


@pytest.mark.usefixtures("no_leaks")
async def test_quitting_while_both_labs_start_leaves_nothing() -> None:
    before = _children()
    app = make_duel_app("pool", "mn", LabConfig(concurrency=4))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("q")  # the labs are still starting in their workers
    assert not app.is_running
    assert _children() - before == set()  # stopping waited for both starts, then ended them
