"""Benchmark 4: scale — thousands of threads and 100k tasks, drawn at 10 frames/s.

Two labs, each shown by the real app headless (`perf_app.py`, 160×48) in a
fresh process:
- `threads` with 5,000 concurrent IO tasks (socket round trips of 10 s to
  the IO server: 5,000 threads blocked in the kernel, ~500 born per second);
- `asyncio` with 100,000 concurrent IO tasks (``io_kind=sleep``: sockets would
  need 200k fds against a hard limit of 20,000), tasks of 20 s.
Once the lab holds ≥ 95 % of its tasks, frames drawn per second are counted
from the panes' `render_line` (see `perf_app`), with the ccviz process's peak
RSS. Targets: ≥ 10 frames/s drawn (graded ≥ 9.5: a window can lose one frame
at its edges) and ≤ 150 MiB.

Also, in child processes alternated A, B, A, B: creation time and memory per
Python thread (N threads blocked on an Event) vs per asyncio task (N tasks
sleeping), from the child's RSS before and after.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from perf_common import (
    Check,
    child_env,
    median,
    print_table,
    run_app_child_checked,
    standalone,
    sweep_leftovers,
)

FPS_TARGET, FPS_GRADE, RSS_TARGET_MIB = 10.0, 9.5, 150.0

LABS: dict[str, dict[str, Any]] = {
    "threads 5,000 socket IO": {
        "config": {
            "model": "threads",
            "cpu_share": 0.0,
            "task_ms": 10_000.0,
            "concurrency": 5000,
            "io_kind": "socket",
        },
        "ramp_key": "in_flight",
        "ramp_to": 4750,
    },
    "asyncio 100,000 sleep IO": {
        "config": {
            "model": "asyncio",
            "cpu_share": 0.0,
            "task_ms": 20_000.0,
            "concurrency": 100_000,
            "io_kind": "sleep",
        },
        "ramp_key": "tasks_alive",
        "ramp_to": 95_000,
    },
}

CREATE_CHILD = r"""
import asyncio, json, sys, threading, time
kind, n = sys.argv[1], int(sys.argv[2])
def rss_kib():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
if kind == "thread":
    stop = threading.Event()
    threading.Thread(target=stop.wait).start(); stop.set()  # warm the machinery
    stop = threading.Event()
    r0 = rss_kib(); t0 = time.perf_counter()
    threads = [threading.Thread(target=stop.wait, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    dt = time.perf_counter() - t0; r1 = rss_kib()
    stop.set()
    for t in threads:
        t.join()
else:
    async def main():
        await asyncio.sleep(0)
        r0 = rss_kib(); t0 = time.perf_counter()
        tasks = [asyncio.create_task(asyncio.sleep(3600)) for _ in range(n)]
        await asyncio.sleep(0)  # every task runs to its first await
        dt = time.perf_counter() - t0; r1 = rss_kib()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return r0, r1, dt
    r0, r1, dt = asyncio.run(main())
print(json.dumps({"us_each": dt * 1e6 / n, "kib_each": (r1 - r0) / n}))
"""


def creation_costs(pairs: int, threads: int, tasks: int) -> dict[str, Any]:
    """Per-thread vs per-task creation time and RSS, alternated in fresh children."""
    out: dict[str, list[dict[str, float]]] = {"thread": [], "task": []}
    for _ in range(pairs):
        for kind, n in (("thread", threads), ("task", tasks)):
            proc = subprocess.run(
                [sys.executable, "-c", CREATE_CHILD, kind, str(n)],
                capture_output=True,
                text=True,
                timeout=120,
                env=child_env(),
            )
            if proc.returncode == 0:
                out[kind].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {
        kind: {
            "n": threads if kind == "thread" else tasks,
            "us_each": median(r["us_each"] for r in rows),
            "kib_each": median(r["kib_each"] for r in rows),
            "runs": rows,
        }
        for kind, rows in out.items()
    }


def run(quick: bool = False) -> dict[str, Any]:
    window, windows = (2.0, 2) if quick else (3.0, 3)
    results: dict[str, Any] = {"labs": {}}
    checks: list[Check] = []
    for name, spec in LABS.items():
        plan = {
            "mode": "scale",
            "config": spec["config"],
            "ramp_key": spec["ramp_key"],
            "ramp_to": spec["ramp_to"],
            "ramp_timeout": 40.0,
            "settle": 1.0,
            "window": window,
            "windows": windows,
        }
        r = run_app_child_checked(plan, timeout=120 + window * windows)
        results["labs"][name] = r
        if "error" in r:
            checks.append(
                Check(f"{name}: frames drawn/s", None, FPS_GRADE, better="higher", note=r["error"])
            )
            continue
        ws = r["windows"]
        fps = median(w["drawn_fps"] for w in ws)
        held = median(
            w["in_flight"] if spec["ramp_key"] == "in_flight" else w["tasks_alive"] for w in ws
        )
        note = (
            f"{'ramped' if r['ramped'] else 'NOT ramped'} in {r['ramp_s']:.1f} s; "
            f"{held:,.0f} tasks in flight, {median(w['lab_threads'] for w in ws):,.0f} lab "
            f"threads; sampled {median(w['sampled_fps'] for w in ws):.1f}/s; ccviz cpu "
            f"{median(w['cpu_pct'] for w in ws):.0f}% (sampler "
            f"{median(w['sampler_cpu_pct'] for w in ws):.0f}%, "
            f"{median(w['sampler_ms'] for w in ws):.0f} ms/sample)"
        )
        checks.append(
            Check(f"{name}: frames drawn/s", fps, FPS_GRADE, unit="/s", better="higher", note=note)
        )
        checks.append(Check(f"{name}: ccviz peak RSS", r["hwm_mib"], RSS_TARGET_MIB, unit="MiB"))
    costs = creation_costs(pairs=2 if quick else 3, threads=1000 if quick else 2000, tasks=100_000)
    results["creation"] = costs
    th, tk = costs["thread"], costs["task"]
    if th["us_each"] is not None and tk["us_each"] is not None:
        checks.append(
            Check(
                "thread: µs to create and start",
                th["us_each"],
                unit="µs",
                note=f"N={th['n']}, blocked on an Event",
            )
        )
        checks.append(Check("thread: RSS each", th["kib_each"], unit="KiB"))
        checks.append(
            Check(
                "asyncio task: µs to create and run to its sleep",
                tk["us_each"],
                unit="µs",
                note=f"N={tk['n']}; thread/task {th['us_each'] / tk['us_each']:.0f}× time",
            )
        )
        checks.append(
            Check(
                "asyncio task: RSS each",
                tk["kib_each"],
                unit="KiB",
                note=f"thread/task {th['kib_each'] / tk['kib_each']:.0f}× memory",
            )
        )
    results["leftovers"] = sweep_leftovers()
    print_table("4. Scale: thousands of threads, 100k tasks", checks)
    results["checks"] = [c.to_dict() for c in checks]
    return results


if __name__ == "__main__":
    standalone(run, __doc__)
