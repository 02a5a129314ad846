"""Immutable frames: what the observer saw of a lab in one sampling interval.

A `Frame` joins the kernel's view of every thread in the lab's process tree
(from `/proc`, read by the sampler) with the app facts the in-lab probe
reported (loop ready queue, lag, phases, latencies). Frames carry absolute
counters as well as the rates derived from the previous frame, so a consumer
may drop any frame without corrupting the next. Frames are plain data: they
serialise to JSON (`to_dict` / `from_dict`) for recordings.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple

__all__ = [
    "AppFacts",
    "Cost",
    "Frame",
    "LoopFacts",
    "PoolFacts",
    "ProcessSample",
    "ThreadSample",
    "ThreadState",
]


class ThreadState(enum.Enum):
    """The dominant state of a thread over one interval.

    EXECUTING, RUNNABLE and WAITING come from the kernel's schedstat; GIL_WAIT
    is inferred (the probe says the thread is in a CPU phase, the kernel says
    it was neither executing nor runnable for most of the interval).
    """

    EXECUTING = "executing"
    RUNNABLE = "runnable"
    WAITING = "waiting"
    GIL_WAIT = "gil_wait"
    GONE = "gone"  # the thread exited during the interval


class ThreadSample(NamedTuple):
    """One OS thread: cumulative kernel counters and this interval's shares.

    A NamedTuple rather than a frozen dataclass: it is just as immutable, and
    the sampler builds one per changed thread per sample, where a frozen
    dataclass's `__init__` costs 2.8 µs against 0.6 µs.

    Shares are fractions of the interval (0..1). `runnable` is None when the
    kernel does not expose run-queue wait (no schedstat): show "n/a", not 0.
    `gil_wait` is None where the rule cannot apply (no phase from the probe).
    """

    pid: int
    tid: int
    name: str
    state_letter: str  # stat field 3: R, S, D, ...
    cpu_ns: int  # cumulative time on CPU
    runq_ns: int | None  # cumulative time runnable but waiting for a CPU
    switches: int  # cumulative context switches (schedstat[2] or status sum)
    voluntary: int | None  # cumulative, from status (refreshed less often)
    involuntary: int | None
    executing: float
    runnable: float | None
    waiting: float
    gil_wait: float | None
    switches_per_s: float
    voluntary_per_s: float | None
    involuntary_per_s: float | None
    phase: str | None = None  # cpu | io | lock | idle, from the probe
    new: bool = False  # first seen in this frame (rates cover less than dt)

    @property
    def state(self) -> ThreadState:
        """The dominant state, for one cell of a state strip.

        A thread seen for the first time has no measured interval yet; it
        counts as waiting rather than winning a tie of zeros as executing.
        """
        if self.new:
            return ThreadState.WAITING
        # Drawn for every thread on every frame: plain comparisons, no dict.
        gil = self.gil_wait or 0.0
        best, state = self.executing, ThreadState.EXECUTING
        runnable = self.runnable or 0.0
        if runnable > best:
            best, state = runnable, ThreadState.RUNNABLE
        if gil > best:
            best, state = gil, ThreadState.GIL_WAIT
        if self.waiting - gil > best:
            state = ThreadState.WAITING
        return state


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One process of the lab's tree."""

    pid: int
    ppid: int
    name: str
    role: str  # lab | worker
    threads: int
    rss_bytes: int
    cpu_percent: float  # over the interval, 100 = one core


@dataclass(frozen=True, slots=True)
class LoopFacts:
    """An event loop's health, as the probe inside the lab saw it."""

    ready_queue: int  # callbacks waiting in the loop's ready queue now
    ready_queue_max: int  # largest seen during the interval
    tasks_alive: int
    tasks_running: int
    tasks_ready: int
    tasks_waiting: int
    lag_ms: float  # heartbeat lateness: max during the interval (incl. overdue now)
    lag_hist: dict[int, int] = field(default_factory=dict)  # cumulative buckets
    executor_backlog: int = 0  # offloaded work queued, not yet running
    loops: int = 1  # summed over this many loops (mn: one per worker)


@dataclass(frozen=True, slots=True)
class PoolFacts:
    """A thread or process pool's occupancy."""

    workers: int
    busy: int
    queued: int


@dataclass(frozen=True, slots=True)
class AppFacts:
    """What the probe inside the lab reported for this interval."""

    t: float  # lab's monotonic clock when the snapshot was taken
    generation: int  # bumps on each applied live change
    started: int  # cumulative
    completed: int  # cumulative
    errors: int  # cumulative
    in_flight: int
    backlog: int  # open loop: arrived, not yet started
    latency_hist: dict[int, int]  # cumulative, see histogram.py
    loop: LoopFacts | None
    pool: PoolFacts | None
    phases: dict[int, str]  # tid -> cpu | io | lock | idle
    messages: tuple[str, ...] = ()  # warnings, e.g. thread creation failed
    last_error: str | None = None
    #: getrusage(RUSAGE_SELF) of the lab process: cpu_s, nvcsw, nivcsw. The
    #: kernel keeps exited threads' CPU time and switches only here, so it is
    #: what the lab process's totals come from (a thread-per-task lab's
    #: threads mostly live and die between two samples).
    rusage: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class Cost:
    """What observing cost ccviz itself."""

    sampler_us: float  # CPU time of this sample's /proc scan (the sampler thread's own)
    sampler_us_per_thread: float
    observer_cpu_percent: float  # the whole ccviz process, 100 = one core
    dropped_frames: int  # cumulative, frames a consumer skipped


@dataclass(frozen=True, slots=True)
class Frame:
    """Everything known about the lab at one instant, plus interval rates."""

    seq: int
    t: float  # observer monotonic seconds since the session started
    dt: float  # seconds since the previous frame
    lab_pid: int
    lab_index: int  # bumps when a new lab starts (model switch, restart)
    config: dict[str, Any]  # the LabConfig in force, as a dict
    threads: tuple[ThreadSample, ...]
    processes: tuple[ProcessSample, ...]
    app: AppFacts | None  # None until the probe reports
    # Derived over the interval (totals over the tree):
    cpu_percent: float
    voluntary_per_s: float | None
    involuntary_per_s: float | None
    switches_per_s: float
    switches_total: int
    throughput_per_s: float
    latency_ms: dict[str, float | None]  # p50 / p95 / p99 over a recent window
    switches_per_task: float | None
    shares: dict[str, float | None]  # executing / runnable / waiting / gil_wait means
    cost: Cost
    fidelity: dict[str, bool]  # schedstat / runnable / status availability
    events: tuple[str, ...] = ()  # e.g. "lab 2 started: model pool"
    lab_alive: bool = True

    @property
    def model(self) -> str:
        return str(self.config.get("model", "?"))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # asdict keeps NamedTuples as tuples (JSON lists); rows are objects in a recording
        data["threads"] = [t._asdict() for t in self.threads]
        app = data.get("app")
        if app is not None:
            app["phases"] = {str(k): v for k, v in app["phases"].items()}
            app["latency_hist"] = {str(k): v for k, v in app["latency_hist"].items()}
            if app.get("loop") is not None:
                app["loop"]["lag_hist"] = {str(k): v for k, v in app["loop"]["lag_hist"].items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Frame:
        """Rebuild a frame from `to_dict` output; raises KeyError/TypeError if malformed."""
        app = data.get("app")
        app_facts = None
        if app is not None:
            loop = app.get("loop")
            pool = app.get("pool")
            app_facts = AppFacts(
                **{
                    **_only(AppFacts, app),
                    "phases": {int(k): v for k, v in app["phases"].items()},
                    "latency_hist": {int(k): int(v) for k, v in app["latency_hist"].items()},
                    "messages": tuple(app.get("messages", ())),
                    "loop": None
                    if loop is None
                    else LoopFacts(
                        **{
                            **_only(LoopFacts, loop),
                            "lag_hist": {
                                int(k): int(v) for k, v in loop.get("lag_hist", {}).items()
                            },
                        }
                    ),
                    "pool": None if pool is None else PoolFacts(**_only(PoolFacts, pool)),
                }
            )
        return cls(
            **{
                **_only(cls, data),
                "threads": tuple(ThreadSample(**_only(ThreadSample, t)) for t in data["threads"]),
                "processes": tuple(
                    ProcessSample(**_only(ProcessSample, p)) for p in data["processes"]
                ),
                "app": app_facts,
                "cost": Cost(**_only(Cost, data["cost"])),
                "events": tuple(data.get("events", ())),
            }
        )


def _only(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    named = getattr(cls, "_fields", None)  # a NamedTuple
    names = set(named) if named is not None else {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}
