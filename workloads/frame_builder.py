"""Builds `Frame`s from the sampler's kernel view and the probe's app facts.

Rates that need a window (latency percentiles, switches per task) are taken
over the last second of cumulative counters, so they stay readable at 10 Hz
and survive dropped frames.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from workloads import histogram
from workloads.frames import AppFacts, Cost, Frame, LoopFacts, PoolFacts
from workloads.sampler import KernelView

__all__ = ["WINDOW_S", "FrameBuilder", "app_facts"]

WINDOW_S = 1.0


def app_facts(raw: dict[str, Any]) -> AppFacts:
    """Turn a probe snapshot (JSON from the lab) into `AppFacts`."""
    loop = raw.get("loop")
    pool = raw.get("pool")
    return AppFacts(
        t=float(raw["t"]),
        generation=int(raw["generation"]),
        started=int(raw["started"]),
        completed=int(raw["completed"]),
        errors=int(raw["errors"]),
        in_flight=int(raw["in_flight"]),
        backlog=int(raw["backlog"]),
        latency_hist={int(k): int(v) for k, v in raw["latency_hist"].items()},
        loop=None
        if loop is None
        else LoopFacts(
            **{
                **{k: v for k, v in loop.items() if k != "lag_hist"},
                "lag_hist": {int(k): int(v) for k, v in loop["lag_hist"].items()},
            }
        ),
        pool=None if pool is None else PoolFacts(**pool),
        phases={int(k): str(v) for k, v in raw["phases"].items()},
        messages=tuple(raw.get("messages", ())),
        last_error=raw.get("last_error"),
        rusage=raw.get("rusage"),
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True, slots=True)
class _Totals:
    cpu_percent: float
    voluntary_per_s: float | None
    involuntary_per_s: float | None
    switches_per_s: float
    switches_total: int


def _sum_or_none(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


class FrameBuilder:
    """Joins kernel views and app facts into frames; one per session."""

    def __init__(self, started: float) -> None:
        self._started = started
        self._seq = 0
        self._prev_t: float | None = None
        self._cpu = self._times()
        self._window: deque[tuple[float, AppFacts, int]] = deque()
        self._last_facts: AppFacts | None = None
        self._throughput = 0.0
        self.dropped = 0
        self.reset()

    @staticmethod
    def _times() -> float:
        return time.process_time()

    def reset(self) -> None:
        """A new lab: counters start again from zero."""
        self._window.clear()
        self._last_facts = None
        self._throughput = 0.0
        self._lab_rates: tuple[float, float, float] | None = None
        self._rusage_at: tuple[float, dict[str, float]] | None = None
        self._switches_total = 0

    def _totals(self, view: KernelView, facts: AppFacts | None, lab_pid: int) -> _Totals:
        """Tree totals: the lab process from its rusage (exited threads included),
        worker processes from the sampler's per-thread counters."""
        ru = facts.rusage if facts is not None else None
        if ru is not None and facts is not None:
            prev = self._rusage_at
            if prev is not None and facts.t > prev[0]:
                span = facts.t - prev[0]
                self._lab_rates = (
                    100.0 * (ru["cpu_s"] - prev[1]["cpu_s"]) / span,
                    (ru["nvcsw"] - prev[1]["nvcsw"]) / span,
                    (ru["nivcsw"] - prev[1]["nivcsw"]) / span,
                )
            if prev is None or facts.t > prev[0]:
                self._rusage_at = (facts.t, ru)
        if ru is None or self._lab_rates is None:
            # No rusage yet (or only one snapshot): the sampler's own view of the live threads.
            self._switches_total = max(self._switches_total, view.switches_total)
            return _Totals(
                view.cpu_percent,
                view.voluntary_per_s,
                view.involuntary_per_s,
                view.switches_per_s,
                self._switches_total,
            )
        workers = [t for t in view.threads if t.pid != lab_pid]
        lab_cpu, lab_vol, lab_invol = self._lab_rates
        worker_cpu = sum(p.cpu_percent for p in view.processes if p.pid != lab_pid)
        vol = _sum_or_none([lab_vol, *(t.voluntary_per_s for t in workers)])
        invol = _sum_or_none([lab_invol, *(t.involuntary_per_s for t in workers)])
        total = int(ru["nvcsw"] + ru["nivcsw"]) + sum(t.switches for t in workers)
        self._switches_total = max(self._switches_total, total)
        per_s = (
            vol + invol
            if vol is not None and invol is not None
            else lab_vol + lab_invol + sum(t.switches_per_s for t in workers)
        )
        return _Totals(lab_cpu + worker_cpu, vol, invol, per_s, self._switches_total)

    def build(
        self,
        view: KernelView,
        raw_facts: dict[str, Any] | None,
        *,
        lab_pid: int,
        lab_index: int,
        config: dict[str, Any],
        events: tuple[str, ...] = (),
        lab_alive: bool = True,
    ) -> Frame:
        now = view.t
        dt = 0.0 if self._prev_t is None else now - self._prev_t
        self._prev_t = now
        cpu = self._times()
        observer_cpu = 100.0 * (cpu - self._cpu) / dt if dt > 0 else 0.0
        self._cpu = cpu

        facts = app_facts(raw_facts) if raw_facts is not None else None
        totals = self._totals(view, facts, lab_pid)
        latency: dict[str, float | None] = {"p50": None, "p95": None, "p99": None}
        per_task = None
        if facts is not None:
            last = self._last_facts
            if last is not None and facts.t > last.t:
                self._throughput = (facts.completed - last.completed) / (facts.t - last.t)
            self._last_facts = facts
            self._window.append((facts.t, facts, totals.switches_total))
            while len(self._window) > 2 and facts.t - self._window[1][0] >= WINDOW_S:
                self._window.popleft()
            _, first, first_switches = self._window[0]
            recent = histogram.diff(
                facts.latency_hist, first.latency_hist if first is not facts else None
            )
            for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
                latency[name] = histogram.percentile(recent, q)
            done = facts.completed - first.completed
            if first is not facts and done > 0:
                per_task = (totals.switches_total - first_switches) / done

        threads = view.threads
        settled = [t for t in threads if not t.new] or list(threads)
        runnable = [t.runnable for t in settled]
        gil = [t.gil_wait for t in settled if t.gil_wait is not None]
        shares = {
            "executing": _mean([t.executing for t in settled]),
            "runnable": None
            if any(r is None for r in runnable)
            else _mean([r for r in runnable if r is not None]),
            "waiting": _mean([t.waiting for t in settled]),
            "gil_wait": _mean(gil),
        }
        self._seq += 1
        return Frame(
            seq=self._seq,
            t=now - self._started,
            dt=dt,
            lab_pid=lab_pid,
            lab_index=lab_index,
            config=config,
            threads=threads,
            processes=view.processes,
            app=facts,
            cpu_percent=totals.cpu_percent,
            voluntary_per_s=totals.voluntary_per_s,
            involuntary_per_s=totals.involuntary_per_s,
            switches_per_s=totals.switches_per_s,
            switches_total=totals.switches_total,
            throughput_per_s=self._throughput if facts is not None else 0.0,
            latency_ms=latency,
            switches_per_task=per_task,
            shares=shares,
            cost=Cost(
                sampler_us=view.scan_us,
                sampler_us_per_thread=view.scan_us / max(1, view.threads_seen),
                observer_cpu_percent=observer_cpu,
                dropped_frames=self.dropped,
            ),
            fidelity=view.fidelity,
            events=events,
            lab_alive=lab_alive,
        )
