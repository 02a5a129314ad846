"""Hand-built frames for unit tests of widgets, the history and the verdict.

Hermetic data with plain, readable figures: each test states the figures its
assertion depends on. Snapshot, Pilot and screenshot tests use the real
recordings in `recordings/` instead.
"""

from __future__ import annotations

from typing import Any

from workloads.config import LabConfig
from workloads.frames import (
    AppFacts,
    Cost,
    Frame,
    LoopFacts,
    PoolFacts,
    ProcessSample,
    ThreadSample,
)

__all__ = ["make_app_facts", "make_frame", "make_loop", "make_pool", "make_thread"]


def make_thread(
    tid: int,
    *,
    pid: int = 1000,
    name: str | None = None,
    executing: float = 0.0,
    runnable: float | None = 0.0,
    gil_wait: float | None = None,
    voluntary_per_s: float | None = 10.0,
    involuntary_per_s: float | None = 1.0,
    phase: str | None = None,
) -> ThreadSample:
    waiting = max(0.0, 1.0 - executing - (runnable or 0.0))
    return ThreadSample(
        pid=pid,
        tid=tid,
        name=name or f"worker-{tid}",
        state_letter="R" if executing > 0.5 else "S",
        cpu_ns=int(executing * 1e8),
        runq_ns=None if runnable is None else int(runnable * 1e8),
        switches=100,
        voluntary=None if voluntary_per_s is None else 90,
        involuntary=None if involuntary_per_s is None else 10,
        executing=executing,
        runnable=runnable,
        waiting=waiting,
        gil_wait=gil_wait,
        switches_per_s=(voluntary_per_s or 0.0) + (involuntary_per_s or 0.0),
        voluntary_per_s=voluntary_per_s,
        involuntary_per_s=involuntary_per_s,
        phase=phase,
    )


def make_loop(**changes: Any) -> LoopFacts:
    values: dict[str, Any] = {
        "ready_queue": 3,
        "ready_queue_max": 5,
        "tasks_alive": 32,
        "tasks_running": 1,
        "tasks_ready": 3,
        "tasks_waiting": 28,
        "lag_ms": 0.5,
    }
    values.update(changes)
    return LoopFacts(**values)


def make_pool(workers: int = 2, busy: int = 2, queued: int = 10) -> PoolFacts:
    return PoolFacts(workers=workers, busy=busy, queued=queued)


def make_app_facts(**changes: Any) -> AppFacts:
    values: dict[str, Any] = {
        "t": 1.0,
        "generation": 0,
        "started": 100,
        "completed": 90,
        "errors": 0,
        "in_flight": 10,
        "backlog": 0,
        "latency_hist": {},
        "loop": None,
        "pool": None,
        "phases": {},
    }
    values.update(changes)
    return AppFacts(**values)


def make_frame(
    seq: int = 1,
    *,
    threads: tuple[ThreadSample, ...] | None = None,
    app: AppFacts | str | None = "default",
    config: LabConfig | None = None,
    lab_index: int = 1,
    lab_pid: int = 1000,
    t: float | None = None,
    **changes: Any,
) -> Frame:
    """A frame at 10 Hz (t = seq / 10) with sensible figures; override any field."""
    config = config or LabConfig()
    if threads is None:
        threads = (make_thread(lab_pid, pid=lab_pid, name="lab-main"),)
    values: dict[str, Any] = {
        "seq": seq,
        "t": seq / 10 if t is None else t,
        "dt": 0.1,
        "lab_pid": lab_pid,
        "lab_index": lab_index,
        "config": config.to_dict(),
        "threads": threads,
        "processes": (
            ProcessSample(
                pid=lab_pid, ppid=1, name="lab", role="lab", threads=len(threads),
                rss_bytes=30 << 20, cpu_percent=50.0,
            ),
        ),
        "app": make_app_facts() if app == "default" else app,
        "cpu_percent": 50.0,
        "voluntary_per_s": 400.0,
        "involuntary_per_s": 20.0,
        "switches_per_s": 420.0,
        "switches_total": 12345,
        "throughput_per_s": 150.0,
        "latency_ms": {"p50": 20.0, "p95": 30.0, "p99": 40.0},
        "switches_per_task": 2.8,
        "shares": {"executing": 0.2, "runnable": 0.01, "waiting": 0.79, "gil_wait": None},
        "cost": Cost(
            sampler_us=120.0, sampler_us_per_thread=4.0, observer_cpu_percent=2.5,
            dropped_frames=0,
        ),
        "fidelity": {"schedstat": True, "runnable": True, "status": True},
    }
    values.update(changes)
    return Frame(**values)
