"""`make perf`: ccviz's costs and limits, measured and graded against issue 5's targets.

Runs five benchmarks (each a `perf_*` module with a `run(quick)` that prints
its table and returns its figures) and writes every figure, with the machine
and how busy it was meanwhile, to a JSON file:

1. sampler   cost per thread per sample vs one pread of schedstat (perf_sampler)
2. observer  ccviz's whole-process CPU while the app shows a lab (perf_observer)
3. perturb   what watching adds to an idle lab, and throughput TUI vs headless (perf_perturb)
4. scale     5,000 threads and 100k tasks at 10 frames/s, RSS; thread vs task costs (perf_scale)
5. latency   start, model switch, key press to visible change (perf_latency)

Figures are medians over repeated windows or runs; comparisons alternate
A, B, A, B in one session, because the machine may be shared. Every lab and
app a benchmark starts is ended by the benchmark and checked for by an
environment token; anything left is killed by pid and reported.

Usage: python scripts/perf.py [--quick] [--only sampler,observer,...] [--json PATH]
(`--quick`: fewer sizes, windows and repetitions, about 2 minutes; the full
run takes under 10.)
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import perf_latency
import perf_observer
import perf_perturb
import perf_sampler
import perf_scale
from perf_common import ROOT, Load, sweep_leftovers

from workloads.bench import machine_info

RESULTS_SCHEMA = 1

BENCHMARKS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "sampler": perf_sampler.run,
    "observer": perf_observer.run,
    "perturb": perf_perturb.run,
    "scale": perf_scale.run,
    "latency": perf_latency.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the short version (~2 min)")
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "perf-results.json",
        help="where to write the figures (default: perf-results.json)",
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    machine = machine_info()
    print(
        f"ccviz perf{' --quick' if args.quick else ''}: {machine['cpu']}, "
        f"{machine['cores']} cores, Python {machine['python']}, kernel {machine['kernel']}"
    )
    results: dict[str, Any] = {
        "schema": RESULTS_SCHEMA,
        "quick": args.quick,
        "machine": machine,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "benchmarks": {},
    }
    t_all = time.monotonic()
    for name in chosen:
        load = Load()
        t0 = time.monotonic()
        try:
            figures = BENCHMARKS[name](args.quick)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            figures = {"error": f"{type(exc).__name__}: {exc}", "checks": []}
            print(f"\n{name}: FAILED — {figures['error']}")
        figures["seconds"] = round(time.monotonic() - t0, 1)
        figures["load"] = load.done()
        figures["leftovers_after"] = sweep_leftovers()
        busy = figures["load"]
        print(
            f"  ({figures['seconds']:.0f} s; machine {busy['machine_cpu_busy_pct']:.0f}% busy "
            f"overall, load average {busy['loadavg_1m_before']:.1f} → "
            f"{busy['loadavg_1m_after']:.1f})"
        )
        for what in figures["leftovers_after"] + figures.get("leftovers", []):
            print(f"  LEFTOVER (killed): {what}")
        results["benchmarks"][name] = figures

    checks = [c for b in results["benchmarks"].values() for c in b.get("checks", [])]
    graded = [c for c in checks if c["status"] in ("PASS", "MISS")]
    misses = [c for c in graded if c["status"] == "MISS"]
    results["summary"] = {
        "seconds": round(time.monotonic() - t_all, 1),
        "pass": len(graded) - len(misses),
        "miss": len(misses),
        "misses": [c["name"] for c in misses],
        "errors": [n for n, b in results["benchmarks"].items() if "error" in b],
    }
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    s = results["summary"]
    print(f"\n{s['pass']} PASS, {s['miss']} MISS in {s['seconds']:.0f} s; figures in {args.json}")
    for name in s["misses"]:
        print(f"  MISS: {name}")
    return 1 if s["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
