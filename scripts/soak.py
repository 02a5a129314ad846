"""`make soak`: the live view on a 500-thread lab for ten minutes, headless.

Prints the ccviz process's RSS over time (growth target < 10 %), frames
sampled vs frames drawn (dropped target < 1 %), and the observer's CPU. The
app runs under Textual's headless driver (`run_test`), so no terminal is
needed; the lab is real.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import psutil

from tui.app import make_app
from tui.sources import LiveSource
from workloads.config import LabConfig


async def soak(seconds: float, threads: int, every: float) -> dict[str, float]:
    config = LabConfig(model="threads", cpu_share=0.0, task_ms=60_000, concurrency=threads)
    app = make_app(LiveSource(config))
    me = psutil.Process()
    rss: list[tuple[float, int]] = []
    async with app.run_test(size=(160, 48)) as pilot:
        start = time.monotonic()
        while app.history.latest is None or sum(
            p.threads for p in app.history.latest.processes
        ) < threads:
            if time.monotonic() - start > 60:
                raise SystemExit("the lab did not reach its thread count within 60 s")
            await pilot.pause(0.1)
        first = app.history.latest
        assert first is not None
        cpu0, t0 = time.process_time(), time.monotonic()
        drawn0 = app.history.appended
        next_report = t0
        while (now := time.monotonic()) - t0 < seconds:
            if now >= next_report:
                rss.append((now - t0, me.memory_info().rss))
                print(f"{now - t0:7.0f} s  RSS {rss[-1][1] / 2**20:7.1f} MiB", file=sys.stderr)
                next_report += every
            await pilot.pause(0.5)
        last = app.history.latest
        assert last is not None
        cpu = time.process_time() - cpu0
        elapsed = time.monotonic() - t0
        drawn = app.history.appended - drawn0
        sampled = last.seq - first.seq
        await pilot.press("q")
    # RSS growth after the first minute (imports, caches and history fill up first)
    settled = [r for t, r in rss if t >= min(60.0, seconds / 3)] or [r for _, r in rss]
    return {
        "seconds": elapsed,
        "lab_threads": float(threads),
        "rss_mib_start": settled[0] / 2**20,
        "rss_mib_end": settled[-1] / 2**20,
        "rss_mib_median": statistics.median(settled) / 2**20,
        "rss_growth_percent": 100.0 * (settled[-1] - settled[0]) / settled[0],
        "frames_sampled": float(sampled),
        "frames_drawn": float(drawn),
        "dropped_percent": 100.0 * max(0, sampled - drawn) / max(1, sampled),
        "observer_cpu_percent": 100.0 * cpu / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--threads", type=int, default=500)
    parser.add_argument("--every", type=float, default=30.0, help="RSS report interval (s)")
    args = parser.parse_args()
    result = asyncio.run(soak(args.seconds, args.threads, args.every))
    for key, value in result.items():
        print(f"{key:>22}  {value:,.2f}")
    ok = result["rss_growth_percent"] < 10 and result["dropped_percent"] < 1
    print("PASS" if ok else "MISS", "(targets: RSS growth < 10 %, dropped < 1 %)")


if __name__ == "__main__":
    main()
