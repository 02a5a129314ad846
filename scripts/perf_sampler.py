"""Benchmark 1: the sampler's cost per thread per sample against the pread floor.

The floor is one ``os.pread`` of ``schedstat`` per thread on held fds: the
least any sampler can do. Target: the sampler within 2× of it at full
fidelity (``status`` re-read at least once a second for threads that ran).

Three kinds of tree, each at 100 / 1,000 / 5,000 threads:
- idle: `bench_sampler`'s child, every thread blocked (unchanged samples are reused);
- tick: the same child, every thread waking every 200 ms, so at 10 Hz every
  sample sees moved counters and stat / status are really re-read (the worst case);
- lab: a real `threads` lab, ``cpu_share=0, task_ms=60000, io_kind=sleep``:
  N long-lived threads sleeping in the kernel, plus the lab's own probe.

Where the sampler runs its C loop, the tick trees are measured once more with
the Python loop (info rows), for the comparison.

The floor and the sampler alternate sample by sample in one loop, so machine
noise hits both alike. Ratios are graded on CPU time (`time.thread_time`),
which a busy machine cannot inflate by preempting the sampler; wall-time
ratios are printed alongside.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import bench_sampler
from perf_common import Check, median, print_table, standalone

from workloads import procfs, sampler
from workloads.config import LabConfig
from workloads.lab import LabProcess
from workloads.sampler import ProcSampler

TARGET_RATIO = 2.0
LAB_READY_TIMEOUT_S = 60.0


@contextlib.contextmanager
def _python_loop() -> Iterator[None]:
    """The sampler as it runs without the C loop (no compiler, CCVIZ_PURE_PYTHON=1)."""
    saved = sampler._HOTLOOP, sampler._parse_stat, ProcSampler._scan
    sampler._HOTLOOP, sampler._parse_stat = None, procfs.parse_stat
    ProcSampler._scan = ProcSampler._scan_threads
    try:
        yield
    finally:
        sampler._HOTLOOP, sampler._parse_stat, ProcSampler._scan = saved


def _lab_tree(n: int, samples: int, hz: float) -> dict[str, Any]:
    """`measure_pid` on a real threads lab holding `n` sleeping tasks."""
    config = LabConfig(
        model="threads", cpu_share=0.0, task_ms=60_000.0, concurrency=n, io_kind="sleep"
    )
    lab = LabProcess(config)
    try:
        lab.wait_ready()
        t0 = time.monotonic()
        while time.monotonic() - t0 < LAB_READY_TIMEOUT_S:
            facts = lab.facts
            if facts is not None and facts["in_flight"] >= n:
                break
            time.sleep(0.05)
        ramp = time.monotonic() - t0
        time.sleep(0.5)  # let the last threads block
        io_pid = lab.io_server_pid
        result = bench_sampler.measure_pid(lab.pid, samples, hz, (io_pid,) if io_pid else ())
        result["ramp_s"] = ramp
        return result
    finally:
        lab.stop()


def run(quick: bool = False) -> dict[str, Any]:
    """Every kind × size; returns the figures and prints one table."""
    sizes = (100, 1000) if quick else (100, 1000, 5000)
    samples = 15 if quick else 40
    hz = 10.0
    rows: dict[str, dict[str, Any]] = {}
    for kind in ("idle", "tick", "lab"):
        for n in sizes:
            if kind == "lab":
                r = _lab_tree(n, samples, hz)
            else:
                r = bench_sampler.measure(n, 0.2 if kind == "tick" else 0.0, samples, hz)
            r["ratio_cpu"] = r["sampler_cpu_us"] / r["floor_cpu_us"]
            r["ratio_wall"] = r["sampler_us"] / r["floor_us"]
            rows[f"{kind}/{n}"] = r
    python_rows: dict[str, dict[str, Any]] = {}
    if sampler.HOT_LOOP == "C":  # the busy case again with the Python loop, for comparison
        for n in sizes:
            with _python_loop():
                r = bench_sampler.measure(n, 0.2, samples, hz)
            r["ratio_cpu"] = r["sampler_cpu_us"] / r["floor_cpu_us"]
            python_rows[f"tick/{n}"] = r
    checks = []
    for key, r in rows.items():
        note = (
            f"{r['sampler_cpu_us']:.1f} vs {r['floor_cpu_us']:.1f} µs cpu; "
            f"wall {r['sampler_us']:.1f} vs {r['floor_us']:.1f} ({r['ratio_wall']:.1f}×); "
            f"{r['per_sample_ms']:.1f} ms/sample; "
            f"status {r['status_reads_per_thread_per_s']:.2f}/thread/s"
        )
        checks.append(
            Check(f"{key} sampler/floor", r["ratio_cpu"], TARGET_RATIO, unit="×", note=note)
        )
    for key, r in python_rows.items():
        checks.append(
            Check(
                f"{key} Python loop",
                r["ratio_cpu"],
                unit="×",
                note=f"{r['sampler_cpu_us']:.1f} vs {r['floor_cpu_us']:.1f} µs cpu, no C loop",
            )
        )
    worst_tick = max(
        (r["per_sample_ms"] for k, r in rows.items() if k.startswith("tick/")), default=None
    )
    if worst_tick is not None:
        checks.append(
            Check(
                f"tick/{sizes[-1]} sustainable sample rate",
                1000.0 / worst_tick,
                hz,
                unit="Hz",
                better="higher",
                note="1 / median wall time of one sample",
            )
        )
    print_table(
        "1. Sampler cost per thread per sample (CPU-time ratio to the pread floor; "
        f"hot loop: {sampler.HOT_LOOP})",
        checks,
    )
    return {
        "rows": rows,
        "python_loop_rows": python_rows,
        "checks": [c.to_dict() for c in checks],
        "median_ratio_cpu": median(r["ratio_cpu"] for r in rows.values()),
        "settings": {
            "samples": samples,
            "hz": hz,
            "status_interval_s": 1.0,
            "stat_interval_s": 1.0,
            "tick_ms": 200,
            "hot_loop": sampler.HOT_LOOP,
        },
    }


if __name__ == "__main__":
    standalone(run, __doc__)
