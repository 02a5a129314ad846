"""The in-lab probe: app facts the kernel cannot see, gathered cheaply.

It counts tasks (started, completed, errors, latency histogram), tracks each
worker thread's phase (cpu, native, io, lock, idle) for the observer's GIL-wait
inference, and watches event loops: ready-queue depth via `len(loop._ready)`
(0.1 µs, unlike `asyncio.all_tasks()` which walks every task), ready tasks by
scanning that queue, and heartbeat lag from a 10 ms timer's lateness. A
reporter thread in the lab turns it into one JSON line per interval.
"""

from __future__ import annotations

import asyncio
import resource
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from workloads import histogram

__all__ = ["HEARTBEAT_S", "LoopMonitor", "Probe"]

HEARTBEAT_S = 0.010


class LoopMonitor:
    """Heartbeat lag, ready queue and task states of one asyncio loop.

    `start` must run on the loop's thread; `snapshot` runs on the reporter
    thread and only reads (lengths and a C-level copy of the ready deque, which
    cannot interleave with the loop because it never releases the GIL).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.tid = threading.get_native_id()
        self.alive = 0  # our tasks on this loop, maintained by the model
        self.running = 0  # 1 while one of our tasks computes inline
        self.executor_backlog: Callable[[], int] = lambda: 0
        self._due = time.monotonic() + HEARTBEAT_S
        self._lag_max = 0.0
        self._rq_max = 0
        self.lag_hist: dict[int, int] = {}
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.tid = threading.get_native_id()
        self._due = time.monotonic() + HEARTBEAT_S
        self._handle = self.loop.call_at(self.loop.time() + HEARTBEAT_S, self._beat)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    def _beat(self) -> None:
        now = time.monotonic()
        late_ms = max(0.0, now - self._due) * 1000.0
        bucket = histogram.bucket_of(late_ms)
        self.lag_hist[bucket] = self.lag_hist.get(bucket, 0) + 1
        if late_ms > self._lag_max:
            self._lag_max = late_ms
        depth = len(self._ready())
        if depth > self._rq_max:
            self._rq_max = depth
        self._due = now + HEARTBEAT_S
        self._handle = self.loop.call_at(self.loop.time() + HEARTBEAT_S, self._beat)

    def _ready(self) -> deque[asyncio.Handle]:
        return self.loop._ready  # type: ignore[attr-defined,no-any-return]

    def snapshot(self) -> dict[str, Any]:
        """Facts for this interval; resets the interval maxima."""
        ready_handles = tuple(self._ready())
        overdue_ms = max(0.0, time.monotonic() - self._due) * 1000.0
        lag = max(self._lag_max, overdue_ms)
        rq_max = max(self._rq_max, len(ready_handles))
        self._lag_max = 0.0
        self._rq_max = 0
        ready_tasks = 0
        for handle in ready_handles:
            if isinstance(getattr(handle._callback, "__self__", None), asyncio.Task):  # type: ignore[attr-defined]
                ready_tasks += 1
        alive = self.alive
        running = min(self.running, alive)
        ready_tasks = min(ready_tasks, alive - running)
        return {
            "ready_queue": len(ready_handles),
            "ready_queue_max": rq_max,
            "tasks_alive": alive,
            "tasks_running": running,
            "tasks_ready": ready_tasks,
            "tasks_waiting": max(0, alive - running - ready_tasks),
            "lag_ms": lag,
            "lag_hist": dict(self.lag_hist),
            "executor_backlog": self.executor_backlog(),
            "loops": 1,
        }


def merge_loops(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Sum several loops' facts into one (lag: the worst loop)."""
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    out: dict[str, Any] = {
        key: sum(p[key] for p in parts)
        for key in (
            "ready_queue",
            "ready_queue_max",
            "tasks_alive",
            "tasks_running",
            "tasks_ready",
            "tasks_waiting",
            "executor_backlog",
            "loops",
        )
    }
    out["lag_ms"] = max(p["lag_ms"] for p in parts)
    hist: dict[int, int] = {}
    for p in parts:
        for k, v in p["lag_hist"].items():
            hist[int(k)] = hist.get(int(k), 0) + v
    out["lag_hist"] = hist
    return out


class Probe:
    """Task counters, phases and loop monitors of one lab."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = 0
        self.completed = 0
        self.errors = 0
        self.latency_hist: dict[int, int] = {}
        self.phases: dict[int, str] = {}
        self.loops: list[LoopMonitor] = []
        #: Loop facts reported by worker processes (mn), by worker slot.
        self.remote_loops: dict[int, dict[str, Any]] = {}
        #: Thread phases reported by worker processes, by worker slot.
        self.remote_phases: dict[int, dict[int, str]] = {}
        self.pool: Callable[[], dict[str, int] | None] = lambda: None
        self.backlog: Callable[[], int] = lambda: 0
        self.generation = 0
        self._messages: deque[str] = deque(maxlen=5)
        self.last_error: str | None = None

    def set_phase(self, phase: str) -> None:
        """Record the calling thread's phase (a dict store: atomic under the GIL)."""
        self.phases[threading.get_native_id()] = phase

    def forget_thread(self) -> None:
        self.phases.pop(threading.get_native_id(), None)

    def task_started(self) -> None:
        with self._lock:
            self.started += 1

    def task_done(
        self,
        submitted: float,
        error: BaseException | str | None = None,
        finished: float | None = None,
    ) -> None:
        """Count a finished task; latency is submit → done, across processes."""
        ms = ((finished or time.monotonic()) - submitted) * 1000.0
        bucket = histogram.bucket_of(ms)
        with self._lock:
            if error is None:
                self.completed += 1
                self.latency_hist[bucket] = self.latency_hist.get(bucket, 0) + 1
            else:
                self.errors += 1
                self.last_error = error if isinstance(error, str) else _describe(error)

    def message(self, text: str) -> None:
        """A warning the viewer should see (e.g. thread creation failed)."""
        if not self._messages or self._messages[-1] != text:
            self._messages.append(text)

    def _all_phases(self) -> dict[int, str]:
        phases = dict(self.phases)
        for remote in tuple(self.remote_phases.values()):
            phases.update(remote)
        return phases

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            started, completed, errors = self.started, self.completed, self.errors
            latency = dict(self.latency_hist)
        loops = [m.snapshot() for m in self.loops] + list(self.remote_loops.values())
        return {
            "t": time.monotonic(),
            "generation": self.generation,
            "started": started,
            "completed": completed,
            "errors": errors,
            "in_flight": max(0, started - completed - errors),
            "backlog": self.backlog(),
            "latency_hist": latency,
            "loop": merge_loops(loops),
            "pool": self.pool(),
            "phases": self._all_phases(),
            "messages": list(self._messages),
            "last_error": self.last_error,
            "rusage": _rusage(),
        }


def _rusage() -> dict[str, float]:
    """The lab process's own totals, exited threads included (one syscall)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_s": ru.ru_utime + ru.ru_stime, "nvcsw": ru.ru_nvcsw, "nivcsw": ru.ru_nivcsw}


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if text != type(error).__name__ else text


__all__ += ["merge_loops"]
