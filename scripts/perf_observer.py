"""Benchmark 2: the whole ccviz process's CPU while the app shows a lab at 10 frames/s.

The app runs headless (`make_app(LiveSource(config))` under `run_test`,
160×48) in a fresh process per lab; CPU is `time.process_time()` deltas of
that process over repeated windows: sampler thread + UI + lab readers, with
the sampler's and the UI thread's own share split out from their schedstat.
Targets (share of one core): ≤ 5 % with ≤ 50 lab threads, ≤ 25 % with 1,000,
≤ 1 % paused with `space`.

Labs with ≤ 50 threads (in the full run three rounds, alternated, each lab's
median reported): the default `threads` lab (32 tasks of 20 ms, one
thread per task, so threads are born and die between samples: the sampler's
costliest small case), `pool` (a fixed pool; not in --quick) and `asyncio`
(one loop). 1,000 threads: a `threads` lab of 1,000 sleeping 60 s tasks
(steady), and in the full run also 1,000 tasks of 2 s (threads born and dying
at 500/s).

A real terminal (not in --quick): the same default lab under `ccviz run` in
tmux, alternated with the headless run, measured from /proc/<pid>/stat; the
difference is what `run_test` leaves out (escape sequences and pty writes).
"""

from __future__ import annotations

import time
from typing import Any

import perf_tmux
from perf_common import (
    Check,
    median,
    print_table,
    run_app_child_checked,
    standalone,
    sweep_leftovers,
)

SMALL_TARGET, BIG_TARGET, PAUSED_TARGET = 5.0, 25.0, 1.0
SMALL_ROUNDS = 3  # full run: the small labs, and headless vs tmux, alternate this many times

SMALL_LABS: dict[str, dict[str, Any]] = {
    "threads (default, churn)": {"model": "threads"},
    "pool (default)": {"model": "pool"},
    "asyncio (default)": {"model": "asyncio"},
}
BIG_LABS: dict[str, dict[str, Any]] = {
    "threads 1000 steady": {
        "model": "threads",
        "cpu_share": 0.0,
        "task_ms": 60_000.0,
        "concurrency": 1000,
        "io_kind": "sleep",
    },
    "threads 1000 churn (2 s tasks)": {
        "model": "threads",
        "cpu_share": 0.0,
        "task_ms": 2_000.0,
        "concurrency": 1000,
        "io_kind": "sleep",
    },
}


def _summary(windows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = (
        "cpu_pct",
        "redraw_cpu_pct",
        "paint_cpu_pct",
        "sampler_cpu_pct",
        "ui_cpu_pct",
        "drawn_fps",
        "sampled_fps",
        "lab_threads",
        "rss_mib",
        "sampler_ms",
    )
    return {k: median(w.get(k) for w in windows) for k in keys} | {"windows": len(windows)}


def _app_run(config: dict[str, Any], window: float, windows: int, paused: bool) -> dict[str, Any]:
    plan = {
        "mode": "observer",
        "config": config,
        "window": window,
        "windows": windows,
        "paused": paused,
        "settle": 1.5,
    }
    result = run_app_child_checked(plan, timeout=60 + 2 * window * windows)
    if "error" in result:
        return {"error": result["error"], "stderr": result.get("stderr", "")}
    out = {"running": _summary(result["windows"]), "start": result.get("start")}
    if paused:
        out["paused"] = _summary(result["paused_windows"])
    return out


def _tmux_run(window: float, windows: int) -> dict[str, Any]:
    """The default lab under a real `ccviz run` in tmux: ccviz's and tmux's CPU."""
    with perf_tmux.TmuxCcviz(["--model", "threads"]) as term:
        if term.wait_screen(lambda s: "pid/tid" in s, 30.0) is None:
            return {"error": "no frame on the tmux screen within 30 s"}
        time.sleep(1.5)
        ccviz, tmux = [], []
        for _ in range(windows):
            c0, s0 = term.cpu_s()
            t0 = time.monotonic()
            time.sleep(window)
            c1, s1 = term.cpu_s()
            span = time.monotonic() - t0
            ccviz.append(100 * (c1 - c0) / span)
            tmux.append(100 * (s1 - s0) / span)
    return {"cpu_pct": median(ccviz), "tmux_server_cpu_pct": median(tmux), "windows": windows}


def _merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One lab's rounds as one result: per-figure medians, paused and start from the first."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    merged = dict(ok[0])
    keys = ok[0]["running"].keys()
    merged["running"] = {k: median(r["running"][k] for r in ok) for k in keys}
    merged["cpu_pct_rounds"] = [r["running"]["cpu_pct"] for r in ok]
    merged["rounds_failed"] = len(runs) - len(ok)
    return merged


def _lab_checks(name: str, r: dict[str, Any], target: float) -> list[Check]:
    """A lab's running (and paused) CPU as checks, with the split in the note."""
    if "error" in r:
        return [Check(f"{name}: cpu", None, target, unit="%", note=r["error"])]
    w = r["running"]
    rounds = r.get("cpu_pct_rounds", [])
    note = (
        (f"median of {' / '.join(f'{c:.1f}' for c in rounds)}; " if len(rounds) > 1 else "")
        + (f"{r['rounds_failed']} round(s) failed; " if r.get("rounds_failed") else "")
        + f"{w['lab_threads']:.0f} lab threads; sampler thread {w['sampler_cpu_pct']:.1f}%, "
        f"UI thread {w['ui_cpu_pct']:.1f}% (building strips {w['redraw_cpu_pct']:.1f}%, "
        f"Textual painting them {w['paint_cpu_pct']:.1f}%); {w['drawn_fps']:.1f} frames drawn/s"
    )
    checks = [Check(f"{name}: cpu", w["cpu_pct"], target, unit="%", note=note)]
    if "paused" in r:
        p = r["paused"]
        note = f"sampler thread {p['sampler_cpu_pct']:.2f}%, UI thread {p['ui_cpu_pct']:.2f}%"
        checks.append(
            Check(f"{name}: paused cpu", p["cpu_pct"], PAUSED_TARGET, unit="%", note=note)
        )
    return checks


def run(quick: bool = False) -> dict[str, Any]:
    """Every lab headless, then the default lab alternately headless and in tmux."""
    window, windows = (1.5, 2) if quick else (2.5, 3)
    results: dict[str, Any] = {"small": {}, "big": {}, "terminal": {}}
    checks: list[Check] = []
    # Rounds alternate the labs (A, B, C, A, B, C, ...), so a noisy spell on
    # this shared machine touches every lab alike; each lab's figure is the
    # median of its rounds. Paused is measured in the first round only.
    small = {n: c for n, c in SMALL_LABS.items() if not (quick and n.startswith("pool"))}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in small}
    for round_ in range(1 if quick else SMALL_ROUNDS):
        for name, config in small.items():
            paused = round_ == 0 and (name.startswith("threads") or not quick)
            runs[name].append(_app_run(config, window, windows, paused))
    for name in small:
        results["small"][name] = r = _merge(runs[name])
        checks += _lab_checks(name, r, SMALL_TARGET)
    for name, config in BIG_LABS.items():
        if quick and "churn" in name:
            continue
        results["big"][name] = r = _app_run(config, window, windows, paused=not quick)
        checks += _lab_checks(name, r, BIG_TARGET)
    if perf_tmux.available() and not quick:
        # A, B, A, B: headless and a real terminal alternate on the same default lab.
        default = "threads (default, churn)"
        headless, terminal, tmux_server = [], [], []
        for _ in range(SMALL_ROUNDS):
            a = _app_run(SMALL_LABS[default], window, windows, paused=False)
            if "error" not in a:
                headless.append(a["running"]["cpu_pct"])
            b = _tmux_run(window, windows)
            if "error" not in b:
                terminal.append(b["cpu_pct"])
                tmux_server.append(b["tmux_server_cpu_pct"])
        h, t, server = median(headless), median(terminal), median(tmux_server)
        results["terminal"] = {
            "headless_cpu_pct": headless,
            "tmux_ccviz_cpu_pct": terminal,
            "tmux_server_cpu_pct": tmux_server,
        }
        note = "no run completed"
        if h and t and server is not None:
            note = f"alternated with headless {h:.1f}% ({t / h:.2f}×); tmux server {server:.1f}%"
        checks.append(Check("threads (default) in tmux: cpu", t, SMALL_TARGET, unit="%", note=note))
    results["leftovers"] = sweep_leftovers()
    print_table("2. Observer cost: the whole ccviz process, % of one core, 10 frames/s", checks)
    results["checks"] = [c.to_dict() for c in checks]
    return results


if __name__ == "__main__":
    standalone(run, __doc__)
