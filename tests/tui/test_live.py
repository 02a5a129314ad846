"""The real app, headless, on a real lab: frames arrive, a model switch makes a new lab,
and quitting leaves no process behind."""

from __future__ import annotations

import time

import psutil  # type: ignore[import-untyped]  # no stubs among the dev dependencies
import pytest

from tests.tui.helpers import wait_for
from tui.app import make_app
from tui.sources import LiveSource
from workloads.config import LabConfig

pytestmark = [pytest.mark.live, pytest.mark.anyio]


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


async def test_live_app_runs_switches_model_and_cleans_up() -> None:
    before = _children()
    app = make_app(LiveSource(LabConfig(model="threads", concurrency=8)))
    seen: set[int] = set()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.history.appended >= 3, timeout=20)
        await pilot.pause()
        rows = app.threads.lines_text()[1:]
        assert any("/" in row for row in rows), rows  # at least one pid/tid row
        first = app.history.latest
        assert first is not None and first.model == "threads"
        seen |= {p.pid for p in first.processes} | _children()

        await pilot.press("3")  # asyncio: a fresh lab
        await wait_for(
            pilot,
            lambda: app.history.latest is not None
            and app.history.latest.model == "asyncio"
            and app.history.latest.lab_pid != first.lab_pid,
            timeout=20,
        )
        latest = app.history.latest
        assert latest is not None and latest.lab_index > first.lab_index
        assert any(label.startswith("lab ") for label in app.history.markers(60) if label)
        seen |= {p.pid for p in latest.processes} | _children()
        await pilot.press("q")
    assert not app.is_running
    deadline = time.monotonic() + 10
    while (_children() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _children() - before == set()
    alive = [pid for pid in seen - before if psutil.pid_exists(pid)
             and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert alive == []
