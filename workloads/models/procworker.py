"""Code that runs inside pool worker processes (`processes`, `asyncio-procs`).

Workers are started with `spawn`, so this module holds only top-level,
picklable functions and the per-process state set by `init_worker`.
"""

from __future__ import annotations

import time
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from workloads.work import (
    LOCK_HOLD_SHARE,
    Calibration,
    SyncSocketClient,
    TaskSpec,
    burn,
    file_io,
    name_thread,
)

__all__ = ["burn_task", "init_worker", "run_task"]

_state: dict[str, Any] = {}


def init_worker(
    prefix: str, counter: Synchronized[int], cal: Calibration, port: int, tmpdir: str, lock: Any
) -> None:
    """Name this worker's thread `<prefix>-N` and keep what tasks need."""
    with counter.get_lock():
        counter.value += 1
        number = counter.value
    name_thread(f"{prefix}-{number}")
    _state.update(cal=cal, port=port, tmpdir=tmpdir, lock=lock, client=None)


def burn_task(ms: float, kind: str) -> None:
    """The CPU part of a task, offloaded from an event loop."""
    burn(ms, kind, _state["cal"])


def run_task(spec: TaskSpec) -> str | None:
    """A whole task (CPU, then IO) in this process; returns an error text or None."""
    try:
        burn(spec.cpu_ms, spec.cpu_kind, _state["cal"])
        _io(spec)
    except Exception as exc:
        time.sleep(0.05)  # a failing task holds its slot briefly: errors, not a spin
        return f"{type(exc).__name__}: {exc}"
    return None


def _io(spec: TaskSpec) -> None:
    ms = spec.io_ms
    if ms <= 0:
        return
    if spec.io_kind == "socket":
        if _state["client"] is None:
            _state["client"] = SyncSocketClient(_state["port"])
        _state["client"].request(ms)
    elif spec.io_kind == "sleep":
        time.sleep(ms / 1000.0)
    elif spec.io_kind == "file":
        file_io(ms, _state["tmpdir"])
    else:
        with _state["lock"]:
            time.sleep(ms * LOCK_HOLD_SHARE / 1000.0)
        time.sleep(ms * (1 - LOCK_HOLD_SHARE) / 1000.0)
