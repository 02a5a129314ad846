"""Shared fixtures: leak checks for labs the tests start."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator

import psutil
import pytest

#: Every process this test run starts inherits this mark in its environment, so
#: the leak check finds only our own labs — never another run's on the same machine.
RUN_MARK = "CCVIZ_TEST_RUN"
os.environ.setdefault(RUN_MARK, uuid.uuid4().hex)


def lab_processes() -> list[psutil.Process]:
    """Labs and IO servers started by this test run that are still running."""
    found = []
    mark = os.environ[RUN_MARK]
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if not any(part in ("workloads.labmain", "workloads.ioserver") for part in cmd):
            continue
        with contextlib.suppress(psutil.Error):
            if proc.environ().get(RUN_MARK) == mark:
                found.append(proc)
    return found


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    """Poll `predicate` until it is true or `timeout` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return bool(predicate())
        time.sleep(interval)


def gone(pids: set[int]) -> bool:
    """True when none of `pids` is alive (zombies count as gone)."""
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail if a test leaves a lab or IO server behind (ours are killed either way)."""
    before = {p.pid for p in lab_processes()}
    yield
    leaked: list[psutil.Process] = []

    def settled() -> bool:
        leaked[:] = [p for p in lab_processes() if p.pid not in before and p.is_running()]
        return not leaked

    ok = wait_until(settled, timeout=5.0)
    for proc in leaked:
        if proc.pid != os.getpid():
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
    assert ok, f"left running: {[(p.pid, p.info.get('cmdline')) for p in leaked]}"
