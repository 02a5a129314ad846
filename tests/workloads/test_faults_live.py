"""Faults in the lab: the run goes on and says what went wrong."""

from __future__ import annotations

import os
import signal

import pytest

from tests.conftest import wait_until
from workloads.bench import aggregate, run_one
from workloads.config import LabConfig
from workloads.frames import Frame
from workloads.session import LabSession

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_leaks")]


def test_thread_creation_failure_is_reported_and_the_run_continues(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A real failure: the address-space cap leaves no room for more 8 MiB stacks.
    monkeypatch.setenv("CCVIZ_LAB_ADDRESS_SPACE_MB", "700")
    config = LabConfig.validated(model="threads", cpu_share=0.0, task_ms=20, concurrency=500)
    result = aggregate(config, run_one(config, 1.0, 0.3))
    assert any("thread creation failed" in m for m in result["messages"]), result["messages"]
    assert result["tasks_completed"] > 0


def test_io_server_death_shows_as_errors_and_a_restart_recovers() -> None:
    frames: list[Frame] = []
    session = LabSession(
        LabConfig.validated(model="asyncio", cpu_share=0.0, task_ms=10, concurrency=16),
        on_frame=frames.append,
    )
    session.start()
    try:
        lab = session.lab
        assert lab is not None and lab.io_server_pid is not None
        assert wait_until(lambda: frames and frames[-1].app and frames[-1].app.completed > 20)
        os.kill(lab.io_server_pid, signal.SIGKILL)
        assert wait_until(lambda: frames[-1].app is not None and frames[-1].app.errors > 0, 5)
        last = frames[-1]
        assert last.lab_alive
        assert last.app is not None and last.app.last_error
        session.restart()
        assert wait_until(
            lambda: frames[-1].lab_index == 2
            and frames[-1].app is not None
            and frames[-1].app.completed > 20,
            timeout=10,
        )
        assert frames[-1].app is not None and frames[-1].app.errors == 0
    finally:
        session.stop()
