"""Chrome trace JSON export of frames, for Perfetto (ui.perfetto.dev) and chrome://tracing.

The viewer shows one process per lab process ("lab (threads)", its workers);
per OS thread, non-overlapping slices named by its dominant state in each
sample interval (Executing, Runnable, Waiting, "GIL wait (inferred)"), runs of
one state merged, mean shares in ``args``; a "ccviz counters" process with
counter tracks; global markers where a lab started or the config changed.

``ts``/``dur`` are whole µs from the first frame. A frame at ``t`` describes
``[t - dt, t]``; one with ``dt == 0`` or of a dead lab describes nothing (markers
only). Counters sit at the start of the interval they were measured over, so
they line up with the slices. Unmeasurable (None) values are left out, never 0.
Top-level keys are only ``displayTimeUnit``, ``traceEvents`` and ``otherData``.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from workloads.frames import Frame, ThreadSample, ThreadState
from workloads.recording import Recording

__all__ = ["COUNTERS_PID", "STATE_NAMES", "TraceWriter", "to_chrome_trace", "write_chrome_trace"]

#: The synthetic process that holds counters and markers: above Linux's
#: PID_MAX_LIMIT (2**22), so it can never collide with a real pid.
COUNTERS_PID = 2**22 + 1

STATE_NAMES: dict[ThreadState, str] = {
    ThreadState.EXECUTING: "Executing",
    ThreadState.RUNNABLE: "Runnable",
    ThreadState.WAITING: "Waiting",
    ThreadState.GIL_WAIT: "GIL wait (inferred)",
}

_SNAP_S = 0.002  # an interval starting this close to the last frame starts there: no µs gaps

_SHARES = ("executing", "runnable", "waiting", "gil_wait")
Event = dict[str, Any]


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _num(value: float | None) -> float | None:
    """A counter value: ints stay ints, floats are rounded, None and NaN/inf are None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None if (finite := _finite(value)) is None else round(finite, 3)


@dataclass(slots=True)
class _Slice:
    """An open slice of one thread: one state over touching intervals."""

    state: ThreadState
    start: int
    end: int
    sums: dict[str, float | None] = field(default_factory=dict)  # share × µs; None: unknown
    switches: float = 0.0  # switches/s × µs
    samples: int = 0

    def add(self, sample: ThreadSample, start: int, end: int) -> None:
        span = end - start
        for key in _SHARES:
            value, total = _finite(getattr(sample, key)), self.sums.get(key, 0.0)
            self.sums[key] = None if value is None or total is None else total + value * span
        self.switches += (_finite(sample.switches_per_s) or 0.0) * span
        self.samples += 1
        self.end = end

    def event(self, pid: int, tid: int) -> Event:
        dur = self.end - self.start
        args: dict[str, Any] = {
            ("gil_wait (inferred)" if k == "gil_wait" else k): round(v / dur, 4)
            for k, v in self.sums.items()
            if v is not None
        }
        args["switches/s"] = round(self.switches / dur, 1)
        args["samples"] = self.samples
        return {
            "ph": "X", "name": STATE_NAMES[self.state], "cat": "thread_state",
            "pid": pid, "tid": tid, "ts": self.start, "dur": dur, "args": args,
        }  # fmt: skip


@dataclass(slots=True)
class _Thread:
    name: str
    order: int  # first-appearance order within its process
    floor: int  # no slice of this thread may start before this (µs)
    open: _Slice | None = None
    sliced: bool = False  # has a slice: only then is it named (no empty tracks)


@dataclass(slots=True)
class _Process:
    name: str  # the last seen: workers rename themselves after they start
    role: str
    model: str
    lab_index: int
    order: int


class _TraceBuilder:
    """Turns frames into trace events, handing each finished event to `emit`.

    Slices are emitted when their state changes or their thread disappears;
    thread names when the thread disappears (its last name wins: workers rename
    themselves after they start); process names in `finish`.
    """

    def __init__(self, emit: Callable[[Event], None]) -> None:
        self._emit = emit
        self._origin: float | None = None
        self._prev: Frame | None = None
        self._prev_us = 0
        self._threads: dict[tuple[int, int], _Thread] = {}
        self._per_pid: dict[int, int] = {}  # threads registered per pid, for sort order
        self._processes: dict[int, _Process] = {}
        self._counter_us = -1
        self.frames = 0

    def _us(self, t: float) -> int:  # µs since the first frame
        return max(0, round((t - (self._origin or 0.0)) * 1e6))

    def add(self, frame: Frame) -> None:
        t = _finite(frame.t)
        if t is None:
            return
        if self._origin is None:
            self._origin = t
        self.frames += 1
        now = self._us(t)
        self._markers(frame, now)
        dt = _finite(frame.dt)
        start: int | None = None
        prev = self._prev
        forward = prev is None or t > prev.t  # time going backwards describes nothing
        if dt is not None and dt > 0 and frame.lab_alive and forward:
            begin = t - dt
            snap = prev is not None and abs(begin - prev.t) <= _SNAP_S
            start = self._prev_us if snap else self._us(begin)
            if start >= now:
                start = None
        self._note_processes(frame)
        seen = self._note_threads(frame, now, start) if frame.lab_alive else set()
        for key in [k for k in self._threads if k not in seen]:
            self._end_thread(key)
        if start is not None:
            self._counters(frame, start)
        self._prev, self._prev_us = frame, now

    def _note_processes(self, frame: Frame) -> None:
        for p in frame.processes:
            order = len(self._processes) + 1
            known = self._processes.setdefault(
                p.pid, _Process(p.name, p.role, frame.model, frame.lab_index, order)
            )
            known.name, known.role = p.name, p.role

    def _note_threads(self, frame: Frame, now: int, start: int | None) -> set[tuple[int, int]]:
        seen: set[tuple[int, int]] = set()
        for sample in frame.threads:
            key = (sample.pid, sample.tid)
            if key in seen:
                continue
            seen.add(key)
            thread = self._threads.get(key)
            if thread is None:
                order = self._per_pid.get(sample.pid, 0) + 1
                self._per_pid[sample.pid] = order
                # A thread first seen in this frame has no measured interval yet
                # (its shares are all 0); one seen mid-way (frames dropped) does.
                floor = now if sample.new or start is None else start
                thread = self._threads[key] = _Thread(sample.name, order, floor)
            thread.name = sample.name
            if start is not None and not sample.new:
                self._interval(key, thread, sample, max(start, thread.floor), now)
        return seen

    def _interval(
        self, key: tuple[int, int], thread: _Thread, sample: ThreadSample, start: int, end: int
    ) -> None:
        total = sum(_finite(v) or 0.0 for v in (sample.executing, sample.runnable, sample.waiting))
        if end <= start or total <= 0:
            return
        state = sample.state
        if state not in STATE_NAMES:
            return
        current = thread.open
        if current is None or current.state != state or current.end != start:
            if current is not None:
                self._emit(current.event(*key))
            current = thread.open = _Slice(state, start, start)
        current.add(sample, start, end)
        thread.floor = end
        thread.sliced = True

    def _end_thread(self, key: tuple[int, int]) -> None:
        thread = self._threads.pop(key)
        pid, tid = key
        if thread.open is not None:
            self._emit(thread.open.event(pid, tid))
        if thread.sliced:
            self._emit(_meta("thread_name", pid, tid, name=thread.name))
            self._emit(_meta("thread_sort_index", pid, tid, sort_index=thread.order))

    def _markers(self, frame: Frame, now: int) -> None:
        texts = [str(e) for e in frame.events]
        prev = self._prev
        if prev is not None and prev.lab_index != frame.lab_index:
            prefix = f"lab {frame.lab_index} "
            if not any(e.startswith(prefix) for e in texts):
                texts.append(f"lab {frame.lab_index} started: {frame.model} (pid {frame.lab_pid})")
        elif prev is not None and prev.config != frame.config:
            changed = [
                f"{k.replace('_', '-')} {prev.config.get(k)} → {v}"
                for k, v in frame.config.items()
                if prev.config.get(k) != v
            ]
            texts.append("config: " + ", ".join(changed))
        for text in texts:
            args = {"lab": frame.lab_index, "model": frame.model, "seq": frame.seq}
            self._emit({"ph": "i", "s": "g", "name": text, "cat": "lab", "ts": now,
                        "pid": COUNTERS_PID, "tid": 0, "args": args})  # fmt: skip

    def _counters(self, frame: Frame, ts: int) -> None:
        if ts <= self._counter_us:  # time went backwards: a counter track must not
            return
        self._counter_us = ts
        app = frame.app
        loop = app.loop if app is not None else None
        # One Perfetto track per args key, named "<name> <key>" (e.g. "loop lag ms").
        tracks: list[tuple[str, dict[str, float | None]]] = [
            ("context switches/s", {"voluntary": frame.voluntary_per_s,
                                    "involuntary": frame.involuntary_per_s,
                                    "total": frame.switches_per_s}),
            ("cpu %", {"lab": frame.cpu_percent, "observer": frame.cost.observer_cpu_percent}),
        ]  # fmt: skip
        if app is not None:  # without the probe, throughput is not measured (the frame says 0)
            tracks += [("throughput", {"tasks/s": frame.throughput_per_s}),
                       ("in flight", {"tasks": app.in_flight})]  # fmt: skip
        if loop is not None:
            tracks += [("ready queue", {"depth": loop.ready_queue, "max": loop.ready_queue_max}),
                       ("loop lag", {"ms": loop.lag_ms})]  # fmt: skip
        for name, values in tracks:
            args = {k: v for k, raw in values.items() if (v := _num(raw)) is not None}
            if args:
                self._emit({"ph": "C", "name": name, "cat": "ccviz", "ts": ts,
                            "pid": COUNTERS_PID, "tid": 0, "args": args})  # fmt: skip

    def finish(self) -> None:
        """Close every open slice and name every process; the builder is spent."""
        for key in list(self._threads):
            self._end_thread(key)
        self._emit(_meta("process_name", COUNTERS_PID, 0, name="ccviz counters"))
        self._emit(_meta("process_sort_index", COUNTERS_PID, 0, sort_index=0))
        self._emit(_meta("thread_name", COUNTERS_PID, 0, name="counters"))
        labs = {p.lab_index for p in self._processes.values() if p.role == "lab"}
        for pid, proc in self._processes.items():
            if proc.role == "lab":
                label = f"lab {proc.lab_index}" if len(labs) > 1 else "lab"
                name = f"{label} ({proc.model})"
            else:
                name = f"{proc.name} ({proc.role}, {proc.model})"
            self._emit(_meta("process_name", pid, 0, name=name))
            self._emit(_meta("process_sort_index", pid, 0, sort_index=proc.order))
        for pid in sorted(set(self._per_pid) - set(self._processes)):
            self._emit(_meta("process_name", pid, 0, name=f"pid {pid}"))


def _meta(kind: str, pid: int, tid: int, **args: Any) -> Event:
    return {"ph": "M", "name": kind, "pid": pid, "tid": tid, "args": args}


def _other_data(header: dict[str, Any], frames: int, error: str | None = None) -> dict[str, Any]:
    data = {"source": "ccviz", "config": header.get("config"), "machine": header.get("machine"),
            "frames": frames, "recording_error": error,
            "time": "µs since the first frame; slices: dominant state per sample"}  # fmt: skip
    # A header read from JSON may hold NaN or Infinity, which strict JSON has not: make them null.
    text = json.dumps({k: v for k, v in data.items() if v is not None}, default=str)
    cleaned: dict[str, Any] = json.loads(text, parse_constant=lambda _: None)
    return cleaned


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def to_chrome_trace(recording: Recording) -> dict[str, Any]:
    """The recording as a Chrome trace dict (metadata events first)."""
    events: list[Event] = []
    builder = _TraceBuilder(events.append)
    for frame in recording.frames:
        builder.add(frame)
    builder.finish()
    events.sort(key=lambda e: e["ph"] != "M")  # stable: keeps each track's order
    return {
        "displayTimeUnit": "ms",
        "traceEvents": events,
        "otherData": _other_data(recording.header, builder.frames, recording.error),
    }


class TraceWriter:
    """Streams a Chrome trace to `path` while frames arrive; `close()` finishes it.

    The file is written beside `path` and moved into place on `close()`, so a
    reader never sees half a trace. `add` may be called from the sampler thread
    and `close` from another: a lock serialises them, and frames added after
    `close` are ignored. `add` never raises an OSError (a full disk must not kill
    the sampler): the first one stops the trace and `close()` raises it.
    """

    def __init__(self, path: str | os.PathLike[str], header: dict[str, Any]) -> None:
        self.path = Path(path)
        self._header = header
        # Opened with "x" rather than mkstemp so the file gets the umask's mode, not 0600.
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{id(self):x}.part")
        self._file: IO[str] = open(self._tmp, "x", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        self._first = True
        self._closed = False
        self._failed: OSError | None = None
        self._file.write('{"displayTimeUnit":"ms","traceEvents":[\n')
        self._builder = _TraceBuilder(self._write)

    @property
    def frames(self) -> int:
        return self._builder.frames

    def _write(self, event: Event) -> None:
        self._file.write(("" if self._first else ",\n") + _dumps(event))
        self._first = False

    def add(self, frame: Frame) -> None:
        with self._lock:
            if self._closed or self._failed is not None:
                return
            try:
                self._builder.add(frame)
            except OSError as exc:
                self._failed = exc

    def close(self, error: str | None = None) -> None:
        """Finish the trace and move it into place (`error` goes to otherData); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._failed is not None:
                    raise self._failed
                self._builder.finish()
                other = _other_data(self._header, self._builder.frames, error)
                self._file.write('\n],"otherData":' + _dumps(other) + "}\n")
                self._file.close()
                os.replace(self._tmp, self.path)
            except BaseException:
                self._discard()
                raise

    def abort(self) -> None:
        """Drop the trace: nothing is written at `path`; idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._discard()

    def _discard(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        """Finish the trace, or drop it if the block raised."""
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_chrome_trace(recording: Recording, path: str | os.PathLike[str]) -> None:
    """Write the recording as a Chrome trace JSON file (streamed, atomically replaced)."""
    with TraceWriter(path, recording.header) as writer:
        for frame in recording.frames:
            writer.add(frame)
        writer.close(recording.error)
