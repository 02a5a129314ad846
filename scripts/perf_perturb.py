"""Benchmark 3: what watching does to the workload.

(a) An idle lab (`threads`, open loop at 0.1 tasks/s: a 20 ms sleep task every
~10 s, plus the lab's own 10 Hz probe; a window in which a task arrived is run
again, so windows hold the probe alone). One `LabProcess` runs throughout;
equal windows alternate between *off* (no sampler anywhere) and *on* (a
sampler thread in this process doing exactly what `LabSession` does at
10 Hz: `ProcSampler.sample` on the lab's tree and `FrameBuilder.build`). Per
window: the lab's CPU time and voluntary / involuntary switches from its own
``getrusage(RUSAGE_SELF)`` (reported by the probe; exited threads included;
µs resolution) and its CPU ticks from ``/proc/<lab>/stat``. Target: zero
beyond the lab's own probe, i.e. |on − off| within the noise: the spread among
windows of one kind, and at least one event (tick, ms) per window.

(b) Throughput with the TUI attached (the app headless in a fresh process,
`perf_app.py`) vs the same lab headless with no sampler at all
(`LabProcess` alone), alternated A, B, A, B. Throughput is the lab's own
``completed`` count over the lab's clock, from its facts. Targets: ≥ 0.95 on
a CPU-saturating `processes` run, ≥ 0.98 on an IO-bound `asyncio` run.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from perf_common import (
    Check,
    median,
    print_table,
    proc_cpu_s,
    run_app_child_checked,
    standalone,
    sweep_leftovers,
)

from workloads.config import LabConfig
from workloads.frame_builder import FrameBuilder
from workloads.lab import LabProcess
from workloads.sampler import ProcSampler

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
IDLE_LAB = LabConfig(model="threads", rate=0.1, cpu_share=0.0, io_kind="sleep")
THROUGHPUT_LABS: dict[str, tuple[LabConfig, float]] = {
    "processes, CPU-saturating": (
        LabConfig(model="processes", cpu_share=1.0, task_ms=20.0, concurrency=16),
        0.95,
    ),
    "asyncio, IO-bound": (
        LabConfig(model="asyncio", cpu_share=0.0, task_ms=20.0, concurrency=64, io_kind="socket"),
        0.98,
    ),
}


class _SamplerThread:
    """`LabSession`'s sampling loop on an existing lab, for as long as it runs."""

    def __init__(self, lab: LabProcess, hz: float = 10.0) -> None:
        self.lab, self.period = lab, 1.0 / hz
        self.stop = threading.Event()
        self.frames = 0
        io_pid = lab.io_server_pid
        self.sampler = ProcSampler(lab.pid, exclude_pids=lambda: (io_pid,) if io_pid else ())
        self.builder = FrameBuilder(time.monotonic())
        self.thread = threading.Thread(target=self._run, name="perturb-sampler", daemon=True)

    def _run(self) -> None:
        due = time.monotonic()
        config = self.lab.config.to_dict()
        while not self.stop.is_set():
            due += self.period
            if self.stop.wait(max(0.0, due - time.monotonic())):
                break
            raw = self.lab.facts
            phases = None if raw is None else {int(k): v for k, v in raw["phases"].items()}
            view = self.sampler.sample(phases)
            self.builder.build(view, raw, lab_pid=self.lab.pid, lab_index=1, config=config)
            self.frames += 1

    def __enter__(self) -> _SamplerThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5.0)
        self.sampler.close()


def _lab_counters(lab: LabProcess) -> dict[str, float]:
    """The lab process's cumulative counters now, on the lab's clock."""
    facts = lab.facts
    assert facts is not None and facts.get("rusage") is not None
    ru = facts["rusage"]
    return {
        "t": float(facts["t"]),
        "cpu_ms": 1000.0 * float(ru["cpu_s"]),
        "ticks": proc_cpu_s(lab.pid) * _TICKS_PER_S,
        "voluntary": float(ru["nvcsw"]),
        "involuntary": float(ru["nivcsw"]),
        "started": float(facts["started"]),
    }


def _wait_facts(lab: LabProcess, after: float, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        facts = lab.facts
        if facts is not None and facts["t"] > after:
            return
        time.sleep(0.01)


def _idle_window(lab: LabProcess, sampled: bool, window: float) -> dict[str, float] | None:
    """The lab's counter rates over one window, with or without a sampler; None if its
    reports stalled (the window then has no trustworthy end points)."""
    sampler = _SamplerThread(lab) if sampled else None
    if sampler is not None:
        sampler.__enter__()
        time.sleep(0.3)  # discovery happens outside the window
    try:
        _wait_facts(lab, time.monotonic())
        c0 = _lab_counters(lab)
        time.sleep(window)
        _wait_facts(lab, time.monotonic())
        c1 = _lab_counters(lab)
    finally:
        if sampler is not None:
            sampler.__exit__()
    time.sleep(0.3)
    span = c1["t"] - c0["t"]
    if span < window / 2:
        print(
            f"  note: the idle lab's reports stalled ({span:.2f} s of lab clock in a "
            f"{window:g} s window, {'on' if sampled else 'off'}); window repeated",
            flush=True,
        )
        return None
    row = {f"{k}_per_s": (c1[k] - c0[k]) / span for k in c0 if k not in ("t", "started")}
    row["frames"] = 0 if sampler is None else sampler.frames
    row["arrivals"] = c1["started"] - c0["started"]
    return row


def idle_perturbation(pairs: int, window: float) -> dict[str, Any]:
    """Alternate sampler-off / sampler-on windows on one idle lab; rates per window."""
    lab = LabProcess(IDLE_LAB)
    rows: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    repeated = 0
    try:
        lab.wait_ready()
        time.sleep(1.0)  # the probe's first reports, the load thread settled
        for n in range(2 * pairs):
            mode = "off" if n % 2 == 0 else "on"
            # A window is run again (up to 3 times) if a task arrived in it (its thread's
            # switches are the workload's, not the probe's) or the lab's reports stalled.
            row = None
            for _attempt in range(3):
                if not lab.alive:  # killed from outside: go on with a fresh one
                    print("  note: the idle lab died (killed from outside?); a new one started")
                    lab.stop()
                    lab = LabProcess(IDLE_LAB)
                    lab.wait_ready()
                    time.sleep(1.0)
                row = _idle_window(lab, mode == "on", window) or row
                if row is not None and not row["arrivals"]:
                    break
                repeated += 1
            if row is not None:
                rows[mode].append(row)
    finally:
        lab.stop()
    summary: dict[str, Any] = {"windows": rows, "window_s": window, "repeated": repeated}
    for key in ("cpu_ms_per_s", "ticks_per_s", "voluntary_per_s", "involuntary_per_s"):
        off = [r[key] for r in rows["off"]]
        on = [r[key] for r in rows["on"]]
        m_off, m_on = median(off), median(on)
        # Noise: how far windows of one kind already differ among themselves, and
        # at least one event (or one tick, 1 ms of CPU) per window.
        floor = 10.0 if key == "ticks_per_s" else 1.0
        summary[key] = {
            "off": m_off,
            "on": m_on,
            "diff": None if m_on is None or m_off is None else m_on - m_off,
            "noise": max([floor / window] + [max(v) - min(v) for v in (off, on) if v]),
        }
    return summary


def _headless_rates(config: LabConfig, warmup: float, window: float, windows: int) -> list[float]:
    """Throughput of a lab with nothing watching it but its own probe's facts.

    Run again (once) if the lab died meanwhile: labs can be killed from outside.
    """
    for _ in range(2):
        lab = LabProcess(config)
        rates = []
        try:
            lab.wait_ready()
            time.sleep(warmup)
            for _ in range(windows):
                a = lab.facts
                time.sleep(window)
                b = lab.facts
                if a is not None and b is not None and b["t"] > a["t"]:
                    rates.append((b["completed"] - a["completed"]) / (b["t"] - a["t"]))
            survived = lab.alive
        finally:
            lab.stop()
        if survived:
            return rates
        print("  note: a headless lab died during its run (killed from outside?); run repeated")
    return []


def throughput(pairs: int, warmup: float, window: float, windows: int) -> dict[str, Any]:
    """A (TUI attached) and B (headless, unsampled) alternated `pairs` times per lab."""
    out: dict[str, Any] = {}
    for name, (config, target) in THROUGHPUT_LABS.items():
        tui: list[float] = []
        bare: list[float] = []
        pair_ratios: list[float] = []
        observer: list[float] = []
        errors: list[str] = []
        for _ in range(pairs):
            plan = {
                "mode": "throughput",
                "config": config.to_dict(),
                "warmup": warmup,
                "window": window,
                "windows": windows,
            }
            a = run_app_child_checked(plan, timeout=60 + warmup + window * windows)
            if "error" in a:
                errors.append(a["error"])
                a_rates: list[float] = []
            else:
                a_rates = a["rates"]
                observer.append(a["cpu_pct"])
            b_rates = _headless_rates(config, warmup, window, windows)
            tui += a_rates
            bare += b_rates
            ma, mb = median(a_rates), median(b_rates)
            if ma is not None and mb:
                pair_ratios.append(ma / mb)
        m_tui, m_bare = median(tui), median(bare)
        out[name] = {
            "config": config.to_dict(),
            "tui_per_s": tui,
            "headless_per_s": bare,
            "ratio": None if m_tui is None or not m_bare else m_tui / m_bare,
            "pair_ratios": pair_ratios,
            "observer_cpu_pct": median(observer),
            "target": target,
            "errors": errors,
        }
    return out


def run(quick: bool = False) -> dict[str, Any]:
    idle = idle_perturbation(pairs=2 if quick else 4, window=2.0 if quick else 4.0)
    if quick:
        tp = throughput(pairs=1, warmup=1.0, window=1.5, windows=2)
    else:
        tp = throughput(pairs=3, warmup=2.0, window=2.5, windows=2)
    checks: list[Check] = []
    labels = {
        "cpu_ms_per_s": ("CPU", "ms/s"),
        "ticks_per_s": ("CPU ticks", "/s"),
        "voluntary_per_s": ("voluntary switches", "/s"),
        "involuntary_per_s": ("involuntary switches", "/s"),
    }
    for key, (label, unit) in labels.items():
        s = idle[key]
        diff = s["diff"]
        note = (
            "no complete window"
            if diff is None
            else (
                f"on {s['on']:.2f} vs off {s['off']:.2f} (diff {diff:+.2f}); "
                f"noise: spread of {len(idle['windows']['on'])}+{len(idle['windows']['off'])} "
                f"windows of {idle['window_s']:g} s; {idle['repeated']} re-run"
            )
        )
        checks.append(
            Check(
                f"idle lab: |{label} added|",
                None if diff is None else abs(diff),
                s["noise"],
                unit=unit,
                note=note,
            )
        )
    for name, r in tp.items():
        pr = ", ".join(f"{x:.3f}" for x in r["pair_ratios"])
        checks.append(
            Check(
                f"throughput TUI/headless: {name}",
                r["ratio"],
                r["target"],
                better="higher",
                note=f"{median(r['tui_per_s']) or 0:.0f} vs {median(r['headless_per_s']) or 0:.0f} "
                f"tasks/s; per pair {pr}; ccviz {r['observer_cpu_pct'] or 0:.0f}% of one core"
                + ("; one pair: indicative only" if len(r["pair_ratios"]) < 2 else "")
                + (f"; errors: {r['errors']}" if r["errors"] else ""),
            )
        )
    leftovers = sweep_leftovers()
    print_table("3. Perturbation of the workload by watching it", checks)
    return {
        "idle": idle,
        "throughput": tp,
        "checks": [c.to_dict() for c in checks],
        "leftovers": leftovers,
    }


if __name__ == "__main__":
    standalone(run, __doc__)
