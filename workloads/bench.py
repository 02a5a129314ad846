"""`ccviz bench`: run labs headless over a matrix and aggregate their frames.

Each combination of model × cpu-share × concurrency runs in a fresh lab for
`warmup` seconds (discarded) and then `seconds` of measurement; the figures
come from the same frames the TUI draws, so every number is reproducible.
"""

from __future__ import annotations

import itertools
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from workloads import histogram, sampler
from workloads.config import LabConfig
from workloads.frames import Frame
from workloads.session import LabSession

__all__ = ["BENCH_SCHEMA", "BenchPlan", "aggregate", "machine_info", "run_bench"]

BENCH_SCHEMA = 1


@dataclass(frozen=True)
class BenchPlan:
    """The matrix to run: every model × cpu-share × concurrency, sharing `base`."""

    base: LabConfig
    models: Sequence[str]
    cpu_shares: Sequence[float]
    concurrencies: Sequence[int]
    seconds: float
    warmup: float

    def configs(self) -> Iterator[LabConfig]:
        for model, share, conc in itertools.product(
            self.models, self.cpu_shares, self.concurrencies
        ):
            yield self.base.replace(model=model, cpu_share=share, concurrency=conc)

    def __len__(self) -> int:
        return len(self.models) * len(self.cpu_shares) * len(self.concurrencies)


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover
        cores = os.cpu_count() or 1
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cores": cores,
        "cpu": model or platform.processor() or "unknown",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sampler_loop": sampler.HOT_LOOP,  # C or Python: it changes ccviz's own cost only
    }


def run_one(
    config: LabConfig,
    seconds: float,
    warmup: float,
    on_tick: Callable[[float], None] | None = None,
) -> list[Frame]:
    """Run one lab; return the frames of the measurement period (plus the one before)."""
    frames: list[Frame] = []
    lock = threading.Lock()

    def collect(frame: Frame) -> None:
        with lock:
            frames.append(frame)

    session = LabSession(config, on_frame=collect)
    try:
        session.start()
        start = time.monotonic()
        total = warmup + seconds
        while (elapsed := time.monotonic() - start) < total:
            if on_tick is not None:
                on_tick(min(1.0, elapsed / total))
            time.sleep(min(0.1, total - elapsed))
    finally:
        session.stop()
    with lock:
        if not frames:
            return []
        cut = frames[-1].t - seconds
        before = [f for f in frames if f.t < cut]
        measured = [f for f in frames if f.t >= cut]
    return before[-1:] + measured


def _pct(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate(config: LabConfig, frames: Sequence[Frame]) -> dict[str, Any]:
    """One bench result from the frames of one lab (see README for the schema)."""
    with_app = [f for f in frames if f.app is not None]
    first = with_app[0].app if with_app else None
    last = with_app[-1].app if with_app else None
    span = (last.t - first.t) if first and last else 0.0
    completed = (last.completed - first.completed) if first and last else 0
    errors = (last.errors - first.errors) if first and last else 0
    latency = histogram.diff(last.latency_hist, first.latency_hist) if first and last else {}
    measured = list(frames[1:]) or list(frames)
    switches = frames[-1].switches_total - frames[0].switches_total if len(frames) > 1 else 0
    loops = [f.app.loop for f in measured if f.app is not None and f.app.loop is not None]
    loop: dict[str, float | int | None] | None = None
    if loops:
        first_loop = first.loop if first is not None else None
        lag = histogram.diff(loops[-1].lag_hist, first_loop.lag_hist if first_loop else None)
        lag_max = max(lp.lag_ms for lp in loops)
        p99 = histogram.percentile(lag, 99) if lag else None
        loop = {
            # a bucket's middle can sit above the true maximum; never report p99 > max
            "lag_ms_p99": None if p99 is None else min(p99, lag_max),
            "lag_ms_max": lag_max,
            "ready_queue_max": max(lp.ready_queue_max for lp in loops),
        }

    def share(name: str) -> float | None:
        """Mean over frames; None when not measurable (runnable: any frame lacks it;
        GIL wait: no frame had a thread the rule could apply to)."""
        values = [f.shares.get(name) for f in measured]
        known = [v for v in values if v is not None]
        if not known or (name != "gil_wait" and len(known) < len(values)):
            return None
        return sum(known) / len(known)

    vol = [f.voluntary_per_s for f in measured]
    invol = [f.involuntary_per_s for f in measured]
    return {
        "model": config.model,
        "cpu_share": config.cpu_share,
        "concurrency": config.concurrency,
        "task_ms": config.task_ms,
        "rate": config.rate,
        "workers": config.effective_workers,
        "cpu_kind": config.cpu_kind,
        "io_kind": config.io_kind,
        "seconds": round(span, 3),
        "throughput_per_s": completed / span if span > 0 else 0.0,
        "latency_ms": {
            "p50": histogram.percentile(latency, 50),
            "p95": histogram.percentile(latency, 95),
            "p99": histogram.percentile(latency, 99),
        },
        "cpu_percent": _pct([f.cpu_percent for f in measured]) or 0.0,
        "ctx_switches_per_s": {
            "voluntary": None
            if any(v is None for v in vol)
            else _pct([v for v in vol if v is not None]),
            "involuntary": None
            if any(v is None for v in invol)
            else _pct([v for v in invol if v is not None]),
        },
        "switches_per_task": switches / completed if completed else None,
        "threads_peak": max((sum(p.threads for p in f.processes) for f in frames), default=0),
        "processes_peak": max((len(f.processes) for f in frames), default=0),
        "rss_mib_peak": max((sum(p.rss_bytes for p in f.processes) for f in frames), default=0)
        / (1024 * 1024),
        "shares": {name: share(name) for name in ("executing", "runnable", "waiting", "gil_wait")},
        "loop": loop,
        "backlog_max": max((f.app.backlog for f in measured if f.app is not None), default=0),
        "tasks_completed": completed,
        "errors": errors,
        "messages": sorted({m for f in measured if f.app for m in f.app.messages}),
    }


def run_bench(
    plan: BenchPlan,
    on_progress: Callable[[int, LabConfig, float], None] | None = None,
) -> dict[str, Any]:
    """Run the whole plan; `on_progress(index, config, fraction)` drives a progress bar."""
    results = []
    for index, config in enumerate(plan.configs()):

        def tick(fraction: float, index: int = index, config: LabConfig = config) -> None:
            if on_progress is not None:
                on_progress(index, config, fraction)

        frames = run_one(config, plan.seconds, plan.warmup, tick)
        results.append(aggregate(config, frames))
        tick(1.0)
    return {"schema": BENCH_SCHEMA, "machine": machine_info(), "results": results}
