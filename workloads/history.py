"""Recent frames for the live view: a bounded ring, per-thread state strips,
sparkline series and change markers.

The TUI appends one frame at a time on its UI thread and reads everything back
on that same thread, so nothing here locks. It is pure Python on purpose:
`workloads` never imports Textual or Rich, and the verdict rules read the same
history in tests without a terminal.

All strips and series scroll in lockstep: every `append` adds exactly one cell
to every tracked thread's strip and one value to every series, so cell ``-k``
of any strip and value ``-k`` of any series belong to the same sample, and one
marker ring (`markers`) serves them all.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from workloads import histogram
from workloads.frames import Frame, ThreadSample, ThreadState

__all__ = [
    "SERIES",
    "Change",
    "FrameHistory",
    "SeriesStats",
    "ThreadKey",
]

ThreadKey = tuple[int, int]
"""(pid, tid): a tid is unique only within its process tree at one time."""

#: Names of the sparkline series, each with how it is read from a frame.
SERIES: dict[str, Callable[[Frame], float | None]] = {
    "ready_queue": lambda f: (
        None if f.app is None or f.app.loop is None else f.app.loop.ready_queue
    ),
    "lag_ms": lambda f: None if f.app is None or f.app.loop is None else f.app.loop.lag_ms,
    "executor_backlog": lambda f: (
        None if f.app is None or f.app.loop is None else f.app.loop.executor_backlog
    ),
    "pool_queued": lambda f: None if f.app is None or f.app.pool is None else f.app.pool.queued,
    "pool_busy": lambda f: None if f.app is None or f.app.pool is None else f.app.pool.busy,
    "in_flight": lambda f: None if f.app is None else f.app.in_flight,
    "backlog": lambda f: None if f.app is None else f.app.backlog,
    "threads": lambda f: len(f.threads),
    "voluntary_per_s": lambda f: f.voluntary_per_s,
    "involuntary_per_s": lambda f: f.involuntary_per_s,
    "switches_per_s": lambda f: f.switches_per_s,
    "throughput_per_s": lambda f: f.throughput_per_s,
    "p50_ms": lambda f: f.latency_ms.get("p50"),
    "p99_ms": lambda f: f.latency_ms.get("p99"),
    "cpu_percent": lambda f: f.cpu_percent,
}

#: Smoothing of the per-thread activity score that orders the threads pane.
#: A score, not the current sample, so rows do not jump on every frame.
_ACTIVITY_ALPHA = 0.3


@dataclass(frozen=True, slots=True)
class Change:
    """A point where the lab changed: a new lab or an applied live change."""

    seq: int
    t: float
    label: str  # e.g. "lab 2: pool" or "change 3"


@dataclass(frozen=True, slots=True)
class SeriesStats:
    """Current value, 99th percentile and maximum of a series over a window."""

    current: float | None
    p99: float | None
    max: float | None


class FrameHistory:
    """A bounded memory of recent frames, strips and series; append on one thread only."""

    def __init__(self, *, frames: int = 64, strip_len: int = 60, series_len: int = 1200) -> None:
        self.strip_len = strip_len
        self.series_len = series_len
        self._capacity = frames
        self._reset()

    def _reset(self) -> None:
        self._frames: deque[Frame] = deque(maxlen=self._capacity)
        self._markers: deque[str | None] = deque(maxlen=max(self.strip_len, self.series_len))
        self._series: dict[str, deque[float | None]] = {
            name: deque(maxlen=self.series_len) for name in SERIES
        }
        self._strips: dict[ThreadKey, deque[ThreadState | None]] = {}
        self._last: dict[ThreadKey, int] = {}  # the sample a strip was last extended at
        self._activity: dict[ThreadKey, float] = {}
        self._changes: deque[Change] = deque(maxlen=32)
        self._lab_started: float | None = None
        self.appended = 0
        self.lab_samples = 0  # samples of the current lab (they scale the sparklines)

    # -- writing ---------------------------------------------------------

    def clear(self) -> None:
        """Forget everything (a replay seek rebuilds the history from scratch)."""
        self._reset()

    def append(self, frame: Frame) -> None:
        """Add one frame: one cell to every strip, one value to every series."""
        previous = self._frames[-1] if self._frames else None
        label = _change_label(previous, frame)
        if label is not None:
            self._changes.append(Change(frame.seq, frame.t, label))
        if previous is None or previous.lab_index != frame.lab_index:
            self._lab_started = frame.t
            self.lab_samples = 0
        self.lab_samples += 1
        self._markers.append(label)
        self._frames.append(frame)
        for name, read in SERIES.items():
            self._series[name].append(_finite(read(frame)))
        self._append_strips(frame.threads)
        self.appended += 1

    def _append_strips(self, threads: Sequence[ThreadSample]) -> None:
        """One cell for every thread in the frame; an absent thread's cells are implied.

        A thread-per-task lab leaves hundreds of vanished threads in the window,
        so their blank cells are not appended one by one: a strip remembers the
        sample it was last extended at, and the gap is filled when it is read
        (or when the thread shows up again). Strips absent for a whole strip
        are forgotten in a sweep every few samples.
        """
        now, n = self.appended, self.strip_len
        strips, last, activity = self._strips, self._last, self._activity
        for sample in threads:
            key = (sample.pid, sample.tid)
            strip = strips.get(key)
            if strip is None:
                strip = strips[key] = deque([None] * (n - 1), maxlen=n)
            else:
                gap = now - last[key] - 1
                if gap > 0:
                    strip.extend([None] * min(gap, n))
            # a thread seen for the first time has no measured interval yet: blank cell
            strip.append(None if sample.new else sample.state)
            last[key] = now
            busy = sample.executing + (sample.runnable or 0.0) + (sample.gil_wait or 0.0)
            old = activity.get(key)
            activity[key] = busy if old is None else old + _ACTIVITY_ALPHA * (busy - old)
        if now % max(1, n // 4) == 0:
            for key in [k for k, seen in last.items() if now - seen >= n]:
                del strips[key], last[key], activity[key]

    # -- reading ---------------------------------------------------------

    @property
    def latest(self) -> Frame | None:
        return self._frames[-1] if self._frames else None

    @property
    def frames(self) -> tuple[Frame, ...]:
        return tuple(self._frames)

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(self._changes)

    @property
    def lab_elapsed(self) -> float | None:
        """Seconds since the current lab's first frame."""
        latest = self.latest
        if latest is None or self._lab_started is None:
            return None
        return latest.t - self._lab_started

    def recent(self, seconds: float) -> list[Frame]:
        """Frames of the current lab from the last `seconds`, oldest first."""
        latest = self.latest
        if latest is None:
            return []
        out: list[Frame] = []
        for frame in reversed(self._frames):
            if frame.lab_index != latest.lab_index or latest.t - frame.t > seconds:
                break
            out.append(frame)
        out.reverse()
        return out

    def markers(self, n: int) -> tuple[str | None, ...]:
        """Change labels of the last `n` samples (None where nothing changed), left-padded."""
        tail = list(self._markers)[-n:] if n > 0 else []
        return (None,) * (n - len(tail)) + tuple(tail)

    def series(self, name: str, n: int | None = None) -> tuple[float | None, ...]:
        """The last `n` values of a series (all kept values when n is None), left-padded."""
        values = self._series[name]
        if n is None:
            return tuple(values)
        tail = list(values)[-n:] if n > 0 else []
        return (None,) * (n - len(tail)) + tuple(tail)

    def open_samples(self, per: int) -> int:
        """Samples in the column still filling when columns hold `per` samples each."""
        return self.appended % per if per > 1 else 0

    def columns(
        self, name: str, n: int, per: int, *, peak: bool = False
    ) -> tuple[float | None, ...]:
        """The last `n` complete columns of `per` samples each, left-padded with None.

        Columns are aligned to the count of samples ever appended, so a chart
        drawn from them moves once every `per` samples and stays still in
        between (a still line costs the terminal nothing to redraw). A column
        is the mean of its measured samples (the peak with `peak`), None if it
        has none; the column still filling is left out.
        """
        if per <= 1:
            return self.series(name, n)
        values = list(self._series[name])
        end = len(values) - self.open_samples(per)
        out: list[float | None] = []
        while end > 0 and len(out) < n:
            known = [v for v in values[max(0, end - per) : end] if v is not None]
            out.append((max(known) if peak else sum(known) / len(known)) if known else None)
            end -= per
        out.reverse()
        return (None,) * (n - len(out)) + tuple(out)

    def column_markers(self, n: int, per: int) -> tuple[str | None, ...]:
        """Change labels for `columns` (a column's first change), left-padded."""
        if per <= 1:
            return self.markers(n)
        labels = list(self._markers)
        end = len(labels) - self.open_samples(per)
        out: list[str | None] = []
        while end > 0 and len(out) < n:
            out.append(next((m for m in labels[max(0, end - per) : end] if m is not None), None))
            end -= per
        out.reverse()
        return (None,) * (n - len(out)) + tuple(out)

    def stats(self, name: str, n: int | None = None) -> SeriesStats:
        """Current, p99 and max over the last `n` samples, ignoring gaps (None)."""
        values = self._series[name]
        current = values[-1] if values else None
        window = [v for v in (list(values)[-n:] if n else values) if v is not None]
        if not window:
            return SeriesStats(current, None, None)
        ordered = sorted(window)
        rank = max(1, math.ceil(len(ordered) * 0.99))
        return SeriesStats(current, ordered[rank - 1], ordered[-1])

    def hist_percentile(
        self, read: Callable[[Frame], Mapping[int, int] | None], q: float, seconds: float
    ) -> float | None:
        """A percentile of a cumulative histogram over the last `seconds` of this lab.

        Subtracts the oldest snapshot in the window from the newest, so it is
        exact to the bucket even when frames were dropped in between.
        """
        frames = self.recent(seconds)
        if not frames:
            return None
        newest = read(frames[-1])
        if newest is None:
            return None
        older = read(frames[0]) if len(frames) > 1 else None
        return histogram.percentile(histogram.diff(newest, older), q)

    def strip(self, key: ThreadKey, n: int | None = None) -> tuple[ThreadState | None, ...]:
        """The last `n` states of a thread (None = not alive then), left-padded."""
        n = self.strip_len if n is None else n
        cells = self._strips.get(key)
        if cells is None or n <= 0:
            return (None,) * max(0, n)
        absent = min(n, self.appended - 1 - self._last[key])  # implied blank cells
        tail = list(cells)[-(n - absent) :] if absent < n else []
        return (None,) * (n - len(tail) - absent) + tuple(tail) + (None,) * absent

    def activity(self, key: ThreadKey) -> float:
        """Smoothed busy share (executing + runnable + GIL wait) of a thread."""
        return self._activity.get(key, 0.0)

    def busiest(self, threads: Iterable[ThreadSample]) -> list[ThreadSample]:
        """`threads` ordered busiest first by smoothed activity; ties by pid, tid."""
        return sorted(
            threads, key=lambda s: (-round(self.activity((s.pid, s.tid)), 2), s.pid, s.tid)
        )


def _change_label(previous: Frame | None, frame: Frame) -> str | None:
    if previous is None:
        return None
    if previous.lab_index != frame.lab_index:
        return f"lab {frame.lab_index}: {frame.model}"
    old = previous.app.generation if previous.app is not None else None
    new = frame.app.generation if frame.app is not None else None
    if old is not None and new is not None and new != old:
        return f"change {new}"
    return None


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
