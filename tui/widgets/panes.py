"""The small panes: event loop (or pool), context switches, throughput and latency."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from tui.widgets.glyphs import fmt_count, fmt_ms, fmt_rate
from tui.widgets.metrics import Item, Metric, MetricPane, Text
from workloads.attach import ATTACH_MODEL
from workloads.calibrate import SwitchCost, estimate_lost_cpu_percent, load_with_warning
from workloads.frames import Frame
from workloads.history import FrameHistory

__all__ = ["LoopPane", "SwitchesPane", "ThroughputPane"]

#: Window for the loop lag's p99, read from the probe's cumulative histogram.
LAG_WINDOW_S = 10.0

#: Said wherever an app fact would go for an attached process (never a 0); two
#: short lines, so a third of an 80-column terminal still shows all of it.
NOT_ATTACHED = (Text((("", "not available"),)), Text((("", "when attached"),)))


def _fmt_cpu(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


def _attached_process(frame: Frame) -> list[Item]:
    """An attached process has no probe: its own kernel figures replace the loop's."""
    rss = sum(p.rss_bytes for p in frame.processes)
    return [
        Text((("", "event loop and tasks:"),)),
        *NOT_ATTACHED,
        Text(
            (
                ("processes", fmt_count(len(frame.processes))),
                ("threads", fmt_count(len(frame.threads))),
                ("rss", f"{rss / (1 << 20):.0f}MiB"),
            )
        ),
        Metric("process CPU", "cpu_percent", fmt=_fmt_cpu),
        Metric("threads", "threads", p99=False),
    ]


class LoopPane(MetricPane):
    """The scheduler the model uses: an event loop's ready queue and lag, or a pool.

    Never empty: a model with neither loop nor pool (one thread per task) shows
    its thread count and tasks in flight instead.
    """

    BORDER_TITLE = "Event loop"

    def items(self, frame: Frame, history: FrameHistory) -> Sequence[Item]:
        if frame.model == ATTACH_MODEL:
            self.set_title("Process (kernel view)")
            return _attached_process(frame)
        app = frame.app
        if app is not None and app.loop is not None:
            loop = app.loop
            self.set_title("Event loop" if loop.loops == 1 else f"Event loops ×{loop.loops}")
            lag_p99 = history.hist_percentile(
                lambda f: None if f.app is None or f.app.loop is None else f.app.loop.lag_hist,
                99,
                LAG_WINDOW_S,
            )
            items: list[Item] = [
                Text(
                    (
                        ("tasks", fmt_count(loop.tasks_alive)),
                        ("running", fmt_count(loop.tasks_running)),
                        ("ready", fmt_count(loop.tasks_ready)),
                        ("waiting", fmt_count(loop.tasks_waiting)),
                    )
                ),
                Metric("ready queue", "ready_queue"),
                Metric("lag", "lag_ms", fmt=fmt_ms, p99_override=lag_p99, peak=True),
            ]
            if frame.model in ("asyncio-offload", "asyncio-procs"):
                items.append(Text((("executor backlog", fmt_count(loop.executor_backlog)),)))
            return items
        if app is not None and app.pool is not None:
            pool = app.pool
            self.set_title("Pool")
            return [
                Text(
                    (
                        ("workers", fmt_count(pool.workers)),
                        ("busy", fmt_count(pool.busy)),
                        ("queued", fmt_count(pool.queued)),
                    )
                ),
                Metric("queued", "pool_queued"),
                Metric("busy workers", "pool_busy", top=float(max(1, pool.workers)), p99=False),
            ]
        self.set_title("Tasks")
        note = (
            "one OS thread per task" if app is not None else "the lab's probe has not reported yet"
        )
        return [
            Text((("", note),)),
            Metric("threads", "threads", p99=False),
            Metric("in flight", "in_flight"),
        ]


@functools.cache
def switch_cost() -> SwitchCost | None:
    """This machine's switch cost from `ccviz calibrate`, read once (None: not measured)."""
    cost, _warning = load_with_warning()
    return cost


def lost_to_switching(frame: Frame) -> tuple[str, str]:
    """The estimated CPU lost to switching, or how to get the estimate."""
    cost = switch_cost()
    if cost is None:
        return ("switch cost", "not measured: ccviz calibrate")
    # Switches between threads of one process cost `thread_us`; a tree of
    # several processes also switches between processes, the dearer kind.
    kind = "process" if len(frame.processes) > 1 else "thread"
    per_switch = cost.process_us if kind == "process" else cost.thread_us
    lost = estimate_lost_cpu_percent(frame.switches_per_s, cost, kind)
    return ("lost to switching", f"≈{lost:.1f}% of a core (est. {per_switch:.1f}µs each)")


class SwitchesPane(MetricPane):
    """Voluntary and involuntary context switches: how much the model makes the OS work.

    With a calibration (`ccviz calibrate`), also the CPU time they cost: switches/s
    × this machine's measured µs per switch — an estimate, and labelled as one.
    """

    BORDER_TITLE = "Context switches"

    def items(self, frame: Frame, history: FrameHistory) -> Sequence[Item]:
        per_task = None if frame.switches_per_task is None else f"{frame.switches_per_task:.1f}"
        return [
            Metric("voluntary/s", "voluntary_per_s", fmt=fmt_rate),
            Metric("involuntary/s", "involuntary_per_s", fmt=fmt_rate),
            Text(
                (
                    ("total", fmt_count(frame.switches_total)),
                    ("per task", per_task or "n/a"),
                )
            ),
            Text((lost_to_switching(frame),), optional=True),
        ]


class ThroughputPane(MetricPane):
    """Completed tasks per second and latency (submit → done)."""

    BORDER_TITLE = "Throughput & latency"

    def items(self, frame: Frame, history: FrameHistory) -> Sequence[Item]:
        if frame.model == ATTACH_MODEL:
            return [
                Text((("", "tasks/s and latency:"),)),
                *NOT_ATTACHED,
                Text((("", "(ccviz sees only the"),)),
                Text((("", "kernel's counters)"),)),
            ]
        app = frame.app
        return [
            Metric("tasks/s", "throughput_per_s", fmt=fmt_rate, p99=False),
            Metric("p99 latency", "p99_ms", fmt=fmt_ms, p99=False, peak=True),
            Text(
                (
                    ("p50", fmt_ms(frame.latency_ms.get("p50"))),
                    ("p99", fmt_ms(frame.latency_ms.get("p99"))),
                )
            ),
            Text(
                (
                    ("in flight", fmt_count(None if app is None else app.in_flight)),
                    ("errors", fmt_count(None if app is None else app.errors)),
                )
            ),
        ]
