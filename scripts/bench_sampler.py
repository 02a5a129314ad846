"""Micro-benchmark: ProcSampler's cost per thread against the bare pread floor.

Starts a child process with N threads, samples it at 10 Hz with `ProcSampler`
(default intervals: stat and status 1 s, tree 0.5 s), and, right before
each sample, times a bare loop doing one ``os.pread`` of ``schedstat`` per
thread on held fds — the least any sampler can do. Prints the median µs per
thread per sample for both, and their ratio (target: within 2x).

Two child modes:
  idle  every thread blocks on an Event (the sampler reuses unchanged samples)
  tick  every thread wakes every --tick-ms (so its counters move and stat /
        status are really re-read at their intervals: the costly path)

Usage: python scripts/bench_sampler.py [--threads 100,1000,5000] [--modes idle,tick]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workloads import procfs
from workloads.sampler import ProcSampler

CHILD = r"""
import sys, threading
n, tick = int(sys.argv[1]), float(sys.argv[2])
threading.stack_size(256 * 1024)
stop = threading.Event()
def idle():
    stop.wait()
def ticking():
    while not stop.wait(tick):
        pass
for _ in range(n):
    threading.Thread(target=ticking if tick > 0 else idle, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


def measure_pid(
    pid: int, samples: int, hz: float, exclude: tuple[int, ...] = ()
) -> dict[str, float]:
    """Sample `pid`'s tree at `hz` with `ProcSampler`, each sample right after the floor.

    Medians per thread per sample, as wall time (perf_counter) and as this
    thread's CPU time (thread_time: immune to being preempted on a busy machine),
    plus how often each thread's ``status`` was re-read (full fidelity: ≥ 1/s
    for every thread whose counters moved).
    """
    task = f"/proc/{pid}/task"
    fds = [procfs.open_fd(f"{task}/{tid}/schedstat") for tid in procfs.list_ints(task)]
    try:
        sampler_us: list[float] = []
        sampler_cpu: list[float] = []
        floor_us: list[float] = []
        floor_cpu: list[float] = []
        per_sample_ms: list[float] = []
        status_reads = 0
        with ProcSampler(pid, exclude_pids=lambda: exclude) as sampler:
            # Every status read goes through one method (older samplers: _status_counts),
            # or, in the C hot loop, is announced to _status_hook (when it has one).
            name = "_status_bytes" if hasattr(sampler, "_status_bytes") else "_status_counts"
            read_status = getattr(sampler, name)

            def counting(th: object) -> object:
                nonlocal status_reads
                status_reads += 1
                return read_status(th)

            def announced(th: object) -> None:
                nonlocal status_reads
                status_reads += 1

            setattr(sampler, name, counting)
            if hasattr(sampler, "_status_hook"):
                sampler._status_hook = announced
            for _ in range(5):  # discovery and the first stat/status rounds
                sampler.sample()
                time.sleep(1 / hz)
            status_reads = 0
            t_start = time.perf_counter()
            for _ in range(samples):
                c0, t0 = time.thread_time(), time.perf_counter()
                for fd in fds:
                    os.pread(fd, 4096, 0)
                c1, t1 = time.thread_time(), time.perf_counter()
                view = sampler.sample()
                c2, t2 = time.thread_time(), time.perf_counter()
                seen = max(1, view.threads_seen)
                floor_us.append((t1 - t0) * 1e6 / len(fds))
                floor_cpu.append((c1 - c0) * 1e6 / len(fds))
                sampler_us.append((t2 - t1) * 1e6 / seen)
                sampler_cpu.append((c2 - c1) * 1e6 / seen)
                per_sample_ms.append((t2 - t1) * 1e3)
                time.sleep(max(0.0, 1 / hz - (t2 - t0)))
            span = time.perf_counter() - t_start
        return {
            "threads_seen": view.threads_seen,
            "sampler_us": statistics.median(sampler_us),
            "sampler_cpu_us": statistics.median(sampler_cpu),
            "floor_us": statistics.median(floor_us),
            "floor_cpu_us": statistics.median(floor_cpu),
            "per_sample_ms": statistics.median(per_sample_ms),
            "status_reads_per_thread_per_s": status_reads / max(1, view.threads_seen) / span,
            "achieved_hz": samples / span,
        }
    finally:
        for fd in fds:
            procfs.close_fd(fd)


def measure(n: int, tick_s: float, samples: int, hz: float) -> dict[str, float]:
    """`measure_pid` on a fresh child with `n` threads (idle, or waking every `tick_s`)."""
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(n), str(tick_s)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as child:
        try:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
            result = measure_pid(child.pid, samples, hz)
            if result["threads_seen"] != n + 1:
                print(f"  warning: sampler saw {result['threads_seen']} threads, expected {n + 1}")
            return result
        finally:
            os.kill(child.pid, signal.SIGKILL)  # by pid: the child is its own session
            child.wait(10)


def bench(n: int, tick_s: float, samples: int, hz: float) -> tuple[float, float, float]:
    """(sampler µs/thread, floor µs/thread, sampler ms/sample), wall-time medians."""
    r = measure(n, tick_s, samples, hz)
    return r["sampler_us"], r["floor_us"], r["per_sample_ms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="100,1000,5000")
    parser.add_argument("--modes", default="idle,tick")
    parser.add_argument("--tick-ms", type=float, default=200.0)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--hz", type=float, default=10.0)
    args = parser.parse_args()
    print(f"{'mode':5} {'threads':>7} {'sampler':>9} {'floor':>9} {'ratio':>6} {'per sample':>11}")
    print(f"{'':5} {'':>7} {'µs/thr':>9} {'µs/thr':>9} {'':>6} {'ms':>11}")
    for mode in args.modes.split(","):
        tick_s = args.tick_ms / 1000 if mode == "tick" else 0.0
        for n in (int(x) for x in args.threads.split(",")):
            s, f, ms = bench(n, tick_s, args.samples, args.hz)
            print(f"{mode:5} {n:>7} {s:>9.2f} {f:>9.2f} {s / f:>5.2f}x {ms:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
