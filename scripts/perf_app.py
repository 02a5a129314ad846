"""The app side of the benchmarks: ccviz's real app, headless, on a real lab.

Run by the other `perf_*` modules as ``python scripts/perf_app.py '<plan json>'``
in a fresh process (so CPU and RSS are this app's alone); prints one
``PERF-RESULT {json}`` line. The app is built with `make_app(LiveSource(config))`
and driven by `App.run_test` and Pilot, like the tests.

What it watches, without changing the app:
- frames *drawn*: a frame counts once the app has rebuilt its panes for it
  (`CcvizApp._redraw`) and the compositor has painted what changed; a frame
  that changed no line counts when the next redraw begins (nothing was left
  to paint for it);
- the threads pane's and the header's `render_line`: the compositor calls them
  only for lines it repaints, so they tell when a frame first reaches the
  threads pane (start-up) and when a key's effect (the PAUSED badge, a new
  cpu-share) is first painted;
- `time.process_time()` of the whole process (sampler thread + UI + lab
  readers) and each thread's own schedstat, to split sampler from UI; and the
  CPU time of `CcvizApp._redraw` (building every pane's strips for a frame),
  to split building from Textual's compositing.

What `run_test` leaves out versus a terminal: the headless driver skips
turning the compositor's update into escape sequences and writing them
(`App._display` returns early); everything up to the painted strips runs.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.screen import Screen
from textual.strip import Strip

from tui.app import CcvizApp, make_app
from tui.sources import LiveSource
from workloads.config import LabConfig
from workloads.frames import Frame

RESULT_PREFIX = "PERF-RESULT "
IMPORTED_AT = time.monotonic()


def rss_mib() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB."""
    rss = hwm = 0.0
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return rss, hwm


def thread_cpu_ns(native_id: int | None) -> int:
    if native_id is None:
        return 0
    try:
        with open(f"/proc/self/task/{native_id}/schedstat", "rb") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def sampler_native_id() -> int | None:
    for thread in threading.enumerate():
        if thread.name == "ccviz-sampler":
            return thread.native_id
    return None


@dataclass(frozen=True, slots=True)
class Paint:
    """One frame drawn in the threads pane (not the frame itself: that would pin memory)."""

    t: float
    seq: int
    model: str
    lab_pid: int
    measured: bool  # some thread has a measured interval (its strip cell is not blank)

    @classmethod
    def of(cls, frame: Frame) -> Paint:
        measured = any(not s.new for s in frame.threads)
        return cls(time.monotonic(), frame.seq, frame.model, frame.lab_pid, measured)


class Watch:
    """Timestamps of what the app paints, read from its panes' `render_line`."""

    def __init__(self, app: CcvizApp) -> None:
        self.app = app
        self.paints: list[Paint] = []  # frames drawn (see `timed_refresh`)
        self.threads_paints: list[Paint] = []  # frames painted in the threads pane
        self._last_appended = self._threads_appended = -1
        self._pending: Paint | None = None  # redrawn for, not yet painted
        self.header_hits: list[tuple[float, str]] = []
        self.header_want: Callable[[str], bool] | None = None
        threads_line = app.threads.render_line
        header_line = app.header.render_line

        def threads_render_line(y: int) -> Strip:
            strip = threads_line(y)
            history = app.history
            if history.appended != self._threads_appended and history.latest is not None:
                self._threads_appended = history.appended
                self.threads_paints.append(Paint.of(history.latest))
            return strip

        def header_render_line(y: int) -> Strip:
            strip = header_line(y)
            want = self.header_want
            if want is not None and want(strip.text):
                self.header_hits.append((time.monotonic(), strip.text))
                self.header_want = None
            return strip

        self.redraw_cpu_s = 0.0
        self.redraws = 0
        redraw = app._redraw

        # A frame is *drawn* once the app has rebuilt its panes for it and the
        # compositor has painted what changed. A frame that changed no line
        # (say three idle threads and charts between columns) leaves nothing
        # to paint: it counts as drawn when the next redraw begins.
        def timed_redraw() -> None:
            if self._pending is not None:
                self.paints.append(self._pending)
                self._pending = None
            c0 = time.thread_time()
            try:
                redraw()
            finally:
                self.redraw_cpu_s += time.thread_time() - c0
                self.redraws += 1
            latest = app.history.latest
            if app.history.appended != self._last_appended and latest is not None:
                self._last_appended = app.history.appended
                self._pending = Paint.of(latest)

        # Textual's side of a frame: painting the dirty lines (this child
        # process runs one app, so patching the class is safe).
        self.paint_cpu_s = 0.0
        refresh = Screen._compositor_refresh

        def timed_refresh(screen: Screen[object]) -> None:
            c0 = time.thread_time()
            try:
                refresh(screen)
            finally:
                self.paint_cpu_s += time.thread_time() - c0
            if self._pending is not None:
                self.paints.append(self._pending)
                self._pending = None

        Screen._compositor_refresh = timed_refresh  # type: ignore[method-assign]

        app.threads.render_line = threads_render_line  # type: ignore[method-assign]
        app.header.render_line = header_render_line  # type: ignore[method-assign]
        app._redraw = timed_redraw  # type: ignore[method-assign]

    def first_paint(
        self, pred: Callable[[Paint], bool], after: float = 0.0, *, threads_pane: bool = True
    ) -> float | None:
        for paint in self.threads_paints if threads_pane else self.paints:
            if paint.t >= after and pred(paint):
                return paint.t
        return None


async def wait_until(cond: Callable[[], bool], timeout: float, step: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


async def window(app: CcvizApp, watch: Watch, seconds: float) -> dict[str, Any]:
    """CPU, frames drawn and received, and memory over `seconds` of the app running."""
    sampler_tid = sampler_native_id()
    main_tid = threading.main_thread().native_id
    c0, s0, m0 = time.process_time(), thread_cpu_ns(sampler_tid), thread_cpu_ns(main_tid)
    t0 = time.monotonic()
    p0, a0 = len(watch.paints), app.history.appended
    r0, rn0, q0 = watch.redraw_cpu_s, watch.redraws, watch.paint_cpu_s
    latest0 = app.history.latest
    await asyncio.sleep(seconds)
    t1 = time.monotonic()
    c1, s1, m1 = time.process_time(), thread_cpu_ns(sampler_tid), thread_cpu_ns(main_tid)
    span = t1 - t0
    latest = app.history.latest
    dropped = None
    if latest is not None and latest0 is not None:
        dropped = latest.cost.dropped_frames - latest0.cost.dropped_frames
    seqs = None if latest is None or latest0 is None else latest.seq - latest0.seq
    rss, hwm = rss_mib()
    threads = len(latest.threads) if latest is not None else 0
    facts = latest.app if latest is not None else None
    return {
        "seconds": span,
        "cpu_pct": 100.0 * (c1 - c0) / span,
        "sampler_cpu_pct": 100.0 * (s1 - s0) / 1e9 / span,
        "ui_cpu_pct": 100.0 * (m1 - m0) / 1e9 / span,
        "redraw_cpu_pct": 100.0 * (watch.redraw_cpu_s - r0) / span,
        "paint_cpu_pct": 100.0 * (watch.paint_cpu_s - q0) / span,
        "redraw_ms": 1000.0 * (watch.redraw_cpu_s - r0) / max(1, watch.redraws - rn0),
        "drawn_fps": (len(watch.paints) - p0) / span,
        "appended_fps": (app.history.appended - a0) / span,
        "sampled_fps": None if seqs is None else seqs / span,
        "dropped": dropped,
        "rss_mib": rss,
        "hwm_mib": hwm,
        "lab_threads": threads,
        "lab_alive": None if latest is None else latest.lab_alive,
        "app_error": app.error,
        "in_flight": None if facts is None else facts.in_flight,
        "tasks_alive": None if facts is None or facts.loop is None else facts.loop.tasks_alive,
        "sampler_ms": _median_ms(
            [
                f.cost.sampler_us
                for f in app.history.frames
                if latest0 is None or f.seq > latest0.seq
            ]
        ),
    }


def _median_ms(us: list[float]) -> float | None:
    return statistics.median(us) / 1000 if us else None


def completed_at(app: CcvizApp) -> tuple[float, int] | None:
    latest = app.history.latest
    if latest is None or latest.app is None:
        return None
    return latest.app.t, latest.app.completed


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    mode = plan["mode"]
    config = LabConfig.from_dict(plan["config"])
    made_at = time.monotonic()
    app = make_app(LiveSource(config))
    watch = Watch(app)
    result: dict[str, Any] = {"mode": mode}
    width, height = plan.get("size", (160, 48))
    async with app.run_test(size=(width, height)) as pilot:
        if not await wait_until(
            lambda: bool(watch.threads_paints), plan.get("start_timeout", 30.0)
        ):
            result["error"] = f"no frame drawn; app error: {app.error}"
            return result
        first = watch.threads_paints[0].t
        result["start"] = {
            "process_to_first_frame_s": first - plan["spawned_at"],
            "make_app_to_first_frame_s": first - made_at,
            "imports_s": IMPORTED_AT - plan["spawned_at"],
        }
        await wait_until(lambda: watch.first_paint(lambda p: p.measured) is not None, 10.0)
        measured = watch.first_paint(lambda p: p.measured)
        if measured is not None:
            result["start"]["process_to_first_measured_frame_s"] = measured - plan["spawned_at"]

        if mode == "observer":
            await asyncio.sleep(plan.get("settle", 2.0))
            profiler = cProfile.Profile() if plan.get("profile") else None
            if profiler is not None:
                profiler.enable()  # the UI thread only: the sampler runs on its own
            result["windows"] = [
                await window(app, watch, plan["window"]) for _ in range(plan["windows"])
            ]
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(plan["profile"])
            if plan.get("paused"):
                await pilot.press("space")
                await asyncio.sleep(1.0)
                result["paused_windows"] = [
                    await window(app, watch, plan["window"]) for _ in range(plan["windows"])
                ]
        elif mode == "scale":
            target = plan.get("ramp_to")
            key = plan.get("ramp_key", "in_flight")

            def ramped() -> bool:
                latest = app.history.latest
                if target is None or latest is None or latest.app is None:
                    return target is None
                if key == "tasks_alive":
                    loop = latest.app.loop
                    return loop is not None and loop.tasks_alive >= target
                return latest.app.in_flight >= target

            t_ramp = time.monotonic()
            result["ramped"] = await wait_until(ramped, plan.get("ramp_timeout", 30.0), 0.05)
            result["ramp_s"] = time.monotonic() - t_ramp
            await asyncio.sleep(plan.get("settle", 1.0))
            result["windows"] = [
                await window(app, watch, plan["window"]) for _ in range(plan["windows"])
            ]
            result["hwm_mib"] = rss_mib()[1]
        elif mode == "throughput":
            await asyncio.sleep(plan.get("warmup", 2.0))
            rates = []
            c0, t0 = time.process_time(), time.monotonic()
            for _ in range(plan["windows"]):
                a = completed_at(app)
                await asyncio.sleep(plan["window"])
                b = completed_at(app)
                if a is not None and b is not None and b[0] > a[0]:
                    rates.append((b[1] - a[1]) / (b[0] - a[0]))
            result["rates"] = rates
            result["cpu_pct"] = 100 * (time.process_time() - c0) / (time.monotonic() - t0)
        elif mode == "latency":
            result.update(await latency(app, pilot, watch, plan))
        latest = app.history.latest
        result["lab_pid"] = latest.lab_pid if latest is not None else None
        # Labs can be killed from outside (a concurrent test's leak sweep): say so.
        result["lab_alive"] = latest is not None and latest.lab_alive and bool(latest.threads)
    return result


async def press_and_see(
    pilot: Any, watch: Watch, key: str, want: Callable[[str], bool], timeout: float = 2.0
) -> float | None:
    """Seconds from pressing `key` to the header painting a line that `want` accepts."""
    watch.header_hits.clear()
    watch.header_want = want
    t0 = time.monotonic()
    await pilot.press(key)
    if not await wait_until(lambda: bool(watch.header_hits), timeout, 0.002):
        watch.header_want = None
        return None
    return watch.header_hits[0][0] - t0


async def latency(app: CcvizApp, pilot: Any, watch: Watch, plan: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"pause": [], "unpause": [], "cpu_share": [], "switch": []}
    await asyncio.sleep(plan.get("settle", 1.0))
    for _ in range(plan["key_reps"]):
        out["pause"].append(await press_and_see(pilot, watch, "space", lambda s: "PAUSED" in s))
        await asyncio.sleep(0.3)
        out["unpause"].append(
            await press_and_see(pilot, watch, "space", lambda s: "LIVE" in s and "PAUSED" not in s)
        )
        await asyncio.sleep(0.3)
    for n in range(plan["key_reps"]):
        key = "[" if n % 2 == 0 else "]"
        share = round(app.source.config.cpu_share + (-0.1 if key == "[" else 0.1), 2)
        text = f"{share:.2f}"
        out["cpu_share"].append(
            await press_and_see(
                pilot,
                watch,
                "left_square_bracket" if key == "[" else "right_square_bracket",
                lambda s, text=text: "cpu-share" in s and text in s,
            )
        )
        await asyncio.sleep(0.3)
    models = ["3", "1"]
    for n in range(plan["switch_reps"]):
        key = models[n % 2]
        want_model = "asyncio" if key == "3" else "threads"
        await asyncio.sleep(plan.get("between_switches", 1.0))
        old = app.history.latest
        old_pid = old.lab_pid if old is not None else None

        def is_new(p: Paint, model: str = want_model, old_pid: int | None = old_pid) -> bool:
            return p.model == model and p.lab_pid != old_pid

        t0 = time.monotonic()
        await pilot.press(key)
        timeout = plan.get("switch_timeout", 15.0)
        await wait_until(
            lambda t0=t0, is_new=is_new: watch.first_paint(is_new, t0) is not None, timeout, 0.005
        )
        t_seen = watch.first_paint(is_new, t0)
        out["switch"].append({"to": want_model, "s": None if t_seen is None else t_seen - t0})
    return out


def main() -> None:
    plan = json.loads(sys.argv[1])
    try:
        result = asyncio.run(run(plan))
    except Exception as exc:  # reported to the parent, which prints it as a failure
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result["pid"] = os.getpid()
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
