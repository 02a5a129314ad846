"""Benchmark 5: latency — start, model switch, key press to visible change.

Headless (`perf_app.py`, a fresh process per run, the default `threads` lab):
- start: from spawning the process (and from `make_app`) to the first frame
  drawn in the threads pane; also to the first *measured* frame (one whose
  threads have a full interval, so strip cells are no longer blank).
  Target ≤ 1.5 s.
- model switch: `3` (asyncio) and `1` (threads) alternately, from the key
  press to the new lab's first frame drawn. Target ≤ 1 s.
- keys: `space` until the header paints "PAUSED" (and again until it is gone),
  `[` / `]` until it paints the new cpu-share. Target ≤ 100 ms.
Times come from the panes' `render_line`, i.e. when the compositor paints.

A real terminal (`ccviz run` in tmux, polled with ``capture-pane`` every few
ms, so it adds a few ms): process start to the first frame on screen, and
`space` to "PAUSED" on screen. For the switch, the lab's own start and stop
times are measured apart: a switch must stop one lab and start the next.
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

from workloads.config import LabConfig
from workloads.lab import LabProcess

START_TARGET, SWITCH_TARGET, KEY_TARGET = 1.5, 1.0, 0.100


def lab_start_stop(reps: int) -> dict[str, Any]:
    """A lab's own start (spawn → ready) and stop, for the default and asyncio labs."""
    out: dict[str, list[float]] = {"start_s": [], "stop_s": []}
    for n in range(reps):
        config = LabConfig(model="asyncio" if n % 2 else "threads")
        t0 = time.monotonic()
        lab = LabProcess(config)
        try:
            lab.wait_ready()
            out["start_s"].append(time.monotonic() - t0)
            time.sleep(0.5)
        finally:
            t1 = time.monotonic()
            lab.stop()
            out["stop_s"].append(time.monotonic() - t1)
    return {k: median(v) for k, v in out.items()} | {"runs": out}


def tmux_latency(reps: int) -> dict[str, Any]:
    """Start and `space` latency as seen on a real terminal's screen."""
    with perf_tmux.TmuxCcviz(["--model", "threads"]) as term:
        seen = term.wait_screen(lambda s: "pid/tid" in s, 30.0)
        start = None if seen is None else seen - term.started_at
        time.sleep(1.0)
        pause: list[float] = []
        for _ in range(reps):
            for want_paused in (True, False):
                t0 = time.monotonic()
                term.keys("Space")
                t1 = term.wait_screen(lambda s, w=want_paused: ("PAUSED" in s) == w, 3.0)
                if t1 is not None and want_paused:
                    pause.append(t1 - t0)
                time.sleep(0.3)
    return {"start_s": start, "pause_s": median(pause), "pause_runs": pause}


def run(quick: bool = False) -> dict[str, Any]:
    runs = 1 if quick else 2
    plan = {
        "mode": "latency",
        "config": {"model": "threads"},
        "key_reps": 3 if quick else 5,
        "switch_reps": 2 if quick else 4,
        "settle": 1.0,
        "between_switches": 1.0,
    }
    app_runs = [run_app_child_checked(plan, timeout=120) for _ in range(runs)]
    ok = [r for r in app_runs if "error" not in r]
    errors = [r["error"] for r in app_runs if "error" in r]

    def all_of(key: str) -> list[float]:
        return [x for r in ok for x in r.get(key, []) if x is not None]

    def missing(key: str) -> int:
        return sum(1 for r in ok for x in r.get(key, []) if x is None)

    switches = [s["s"] for r in ok for s in r.get("switch", []) if s["s"] is not None]
    starts = [r["start"] for r in ok]
    lab = lab_start_stop(2 if quick else 4)
    term = tmux_latency(2 if quick else 3) if perf_tmux.available() else {}
    checks = [
        Check(
            "start: process → first frame drawn",
            median(s["process_to_first_frame_s"] for s in starts),
            START_TARGET,
            unit="s",
            note=f"imports {median(s['imports_s'] for s in starts):.2f} s; make_app → first "
            f"frame {median(s['make_app_to_first_frame_s'] for s in starts):.2f} s",
        ),
        Check(
            "start: process → first measured frame",
            median(s.get("process_to_first_measured_frame_s") for s in starts),
            START_TARGET,
            unit="s",
            note="first frame whose strips have a measured cell",
        ),
        Check(
            "model switch: key → new model's first frame",
            median(switches),
            SWITCH_TARGET,
            unit="s",
            note=f"max {max(switches, default=float('nan')):.2f} s over "
            f"{len(switches)}; lab start→ready {lab['start_s']:.2f} s, stop "
            f"{lab['stop_s']:.2f} s",
        ),
        Check(
            "space → PAUSED painted",
            median(all_of("pause")),
            KEY_TARGET,
            unit="s",
            note=f"max {max(all_of('pause'), default=float('nan')) * 1000:.0f} ms; "
            f"{missing('pause')} never seen",
        ),
        Check(
            "space → PAUSED gone",
            median(all_of("unpause")),
            KEY_TARGET,
            unit="s",
            note=f"max {max(all_of('unpause'), default=float('nan')) * 1000:.0f} ms",
        ),
        Check(
            "[ / ] → new cpu-share painted",
            median(all_of("cpu_share")),
            KEY_TARGET,
            unit="s",
            note=f"max {max(all_of('cpu_share'), default=float('nan')) * 1000:.0f}"
            f" ms; {missing('cpu_share')} never seen",
        ),
    ]
    if term:
        checks += [
            Check(
                "tmux: process → first frame on screen",
                term["start_s"],
                START_TARGET,
                unit="s",
                note="real terminal, capture-pane polling",
            ),
            Check(
                "tmux: space → PAUSED on screen",
                term["pause_s"],
                KEY_TARGET,
                unit="s",
                note="includes a capture-pane round trip",
            ),
        ]
    leftovers = sweep_leftovers()
    print_table("5. Latency", checks)
    return {
        "app_runs": app_runs,
        "errors": errors,
        "lab": lab,
        "terminal": term,
        "checks": [c.to_dict() for c in checks],
        "leftovers": leftovers,
    }


if __name__ == "__main__":
    standalone(run, __doc__)
