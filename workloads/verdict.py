"""The verdict: one plain-language line naming the bottleneck and the key that relieves it.

Pure functions over a frame and the recent history, so the same rules run in
the TUI, in tests and in any headless report. Figures are averaged over the
last second of the current lab, so the line does not flicker from one frame to
the next. A figure that could not be measured (None) never makes a rule fire:
"not measurable" is not "zero".

`RULES` is ordered by priority; the first rule whose check returns a verdict
wins. The help screen lists every rule's condition and advice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from workloads.config import default_workers
from workloads.frames import Frame
from workloads.history import FrameHistory

__all__ = ["RULES", "Figures", "Rule", "Verdict", "figures", "verdict"]

WINDOW_S = 1.0
LOOP_MODELS = frozenset({"asyncio", "asyncio-offload", "asyncio-procs", "mn"})
ONE_PROCESS_MODELS = frozenset({"threads", "pool", "asyncio", "asyncio-offload"})


@dataclass(frozen=True, slots=True)
class Verdict:
    """The line to show, the key it suggests (or None) and the rule that produced it."""

    text: str
    key_hint: str | None
    rule: str
    level: str = "warn"  # warn | ok | info: how the line is styled


@dataclass(frozen=True, slots=True)
class Figures:
    """The current figures the rules read: window means over the last second."""

    model: str
    cpu_share: float
    cpu_ms: float
    cpu_kind: str
    concurrency: int
    open_loop: bool
    cores: int
    lab_alive: bool
    frames: int  # frames of the current lab in the window
    threads: int
    probe: bool  # the in-lab probe has reported
    lag_ms: float | None = None
    runnable_of_wanted: float | None = None  # runnable / (executing + runnable)
    gil_of_cpu: float | None = None  # GIL wait / time in CPU phases
    waiting: float | None = None  # mean waiting share of all threads
    voluntary_per_s: float | None = None
    cpu_percent: float = 0.0
    throughput: float = 0.0
    p99_ms: float | None = None
    in_flight: int | None = None
    pool: tuple[int, int, int] | None = None  # workers, busy, queued
    backlog: int | None = None
    backlog_growth: int | None = None
    new_errors: int | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One verdict rule: its id, the condition and advice in words, and its check."""

    id: str
    condition: str
    advice: str
    check: Callable[[Figures], Verdict | None] = field(repr=False, compare=False)


def verdict(
    frame: Frame, history: FrameHistory | None = None, *, cores: int | None = None
) -> Verdict:
    """The first rule in `RULES` that fires on the current figures."""
    figs = figures(frame, history, cores=cores)
    for rule in RULES:
        found = rule.check(figs)
        if found is not None:
            return found
    raise AssertionError("the last rule always fires")  # pragma: no cover


def figures(
    frame: Frame, history: FrameHistory | None = None, *, cores: int | None = None
) -> Figures:
    """Window means over the last second of the lab that produced `frame`."""
    window: Sequence[Frame] = [frame]
    if history is not None and history.latest is frame:
        window = history.recent(WINDOW_S) or [frame]
    config = frame.config
    cpu_share = float(config.get("cpu_share", 0.0))
    task_ms = float(config.get("task_ms", 0.0))
    app = frame.app
    first_app = next((f.app for f in window if f.app is not None), None)
    growth = None  # (backlog, errors) added over the window
    if app is not None and first_app is not None and first_app is not app:
        growth = (app.backlog - first_app.backlog, app.errors - first_app.errors)
    return Figures(
        model=frame.model,
        cpu_share=cpu_share,
        cpu_ms=cpu_share * task_ms,
        cpu_kind=str(config.get("cpu_kind", "python")),
        concurrency=int(config.get("concurrency", 0)),
        open_loop=config.get("rate") is not None,
        cores=cores or default_workers(),
        lab_alive=frame.lab_alive,
        frames=len(window),
        threads=len(frame.threads),
        probe=app is not None,
        lag_ms=_mean(
            [f.app.loop.lag_ms for f in window if f.app is not None and f.app.loop is not None]
        ),
        runnable_of_wanted=_ratio([_parts(f)[0] for f in window]),
        gil_of_cpu=_ratio([_parts(f)[1] for f in window]),
        waiting=_mean([_parts(f)[2] for f in window]),
        voluntary_per_s=_mean([f.voluntary_per_s for f in window]),
        cpu_percent=_mean([f.cpu_percent for f in window]) or 0.0,
        throughput=_mean([f.throughput_per_s for f in window]) or 0.0,
        p99_ms=frame.latency_ms.get("p99"),
        in_flight=None if app is None else app.in_flight,
        pool=None if app is None or app.pool is None
        else (app.pool.workers, app.pool.busy, app.pool.queued),
        backlog=None if app is None else app.backlog,
        backlog_growth=None if growth is None else growth[0],
        new_errors=None if growth is None else growth[1],
        last_error=None if app is None else app.last_error,
    )


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _runnable_part(frame: Frame) -> tuple[float, float] | None:
    """(runnable, executing + runnable) summed over threads; None if not measurable."""
    samples = [t for t in frame.threads if t.runnable is not None]
    if not samples:
        return None
    runnable = sum(t.runnable or 0.0 for t in samples)
    return runnable, runnable + sum(t.executing for t in samples)


def _gil_part(frame: Frame) -> tuple[float, float] | None:
    """(GIL wait, time in CPU phases) over threads the inference applies to."""
    samples = [t for t in frame.threads if t.gil_wait is not None]
    if len(samples) < 2:  # one thread cannot contend for the GIL with itself
        return None
    gil = sum(t.gil_wait or 0.0 for t in samples)
    return gil, gil + sum(t.executing + (t.runnable or 0.0) for t in samples)


_Parts = tuple[tuple[float, float] | None, tuple[float, float] | None, float | None]
#: Per-frame sums over its threads, by frame identity. Frames are immutable and
#: a frame stays in the verdict's window for a second (10 redraws): summing its
#: thousands of threads once, not on every redraw, keeps the UI thread cheap.
_parts_memo: dict[int, tuple[Frame, _Parts]] = {}
_MEMO_SIZE = 64  # a one-second window at up to 50 Hz, with room


def _parts(frame: Frame) -> _Parts:
    """(runnable part, GIL part, mean waiting share) of one frame, computed once."""
    hit = _parts_memo.get(id(frame))
    if hit is not None and hit[0] is frame:
        return hit[1]
    parts = (
        _runnable_part(frame),
        _gil_part(frame),
        _mean([t.waiting for t in frame.threads]),
    )
    if len(_parts_memo) >= _MEMO_SIZE:
        _parts_memo.clear()
    _parts_memo[id(frame)] = (frame, parts)
    return parts


def _ratio(parts_of_frames: Sequence[tuple[float, float] | None]) -> float | None:
    """Sum of numerators over sum of denominators; None unless enough thread time is busy."""
    parts = [p for p in parts_of_frames if p is not None]
    if not parts:
        return None
    top = sum(p[0] for p in parts)
    bottom = sum(p[1] for p in parts)
    if bottom < 0.5 * len(parts):  # under half a core's worth of demand: too little to judge
        return None
    return top / bottom


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def _ms(x: float) -> str:
    return f"{x:.1f} ms" if x < 100 else f"{x:.0f} ms"


# -- the rules, in priority order ------------------------------------------


def _lab_down(f: Figures) -> Verdict | None:
    if f.lab_alive:
        return None
    return Verdict("the lab has stopped → restart it (r)", "r", "lab-down")


def _settling(f: Figures) -> Verdict | None:
    if f.probe and f.frames >= 2:
        return None
    return Verdict("measuring the new lab…", None, "settling", "info")


def _errors(f: Figures) -> Verdict | None:
    if not f.new_errors or f.new_errors <= 0:
        return None
    why = f": {f.last_error}" if f.last_error else ""
    return Verdict(
        f"{f.new_errors} tasks failed in the last second{why} → restart the lab (r)",
        "r",
        "errors",
    )


def _loop_blocked(f: Figures) -> Verdict | None:
    if f.model != "asyncio" or f.cpu_share <= 0 or f.lag_ms is None:
        return None
    if f.lag_ms < max(1.0, f.cpu_ms):
        return None
    return Verdict(
        f"the loop is blocked by inline CPU work (lag {_ms(f.lag_ms)} ≥ {_ms(f.cpu_ms)} "
        "of CPU per task) → try asyncio-offload (4)",
        "4",
        "loop-blocked",
    )


def _gil_wait(f: Figures) -> Verdict | None:
    if f.gil_of_cpu is None or f.gil_of_cpu < 0.4:
        return None
    if f.model in LOOP_MODELS:
        advice, key = "try asyncio-procs (5) or native CPU work (c)", "5"
    else:
        advice, key = "try processes (7) or asyncio-procs (5)", "7"
    return Verdict(
        f"threads wait for the GIL {_pct(f.gil_of_cpu)} of their CPU time (inferred) → {advice}",
        key,
        "gil-wait",
    )


def _busy_host(f: Figures) -> Verdict | None:
    """Runnable time while the lab itself leaves cores unused: someone else has them."""
    if f.runnable_of_wanted is None or f.runnable_of_wanted < 0.3:
        return None
    if f.cpu_percent >= 70 * f.cores:
        return None
    return Verdict(
        f"threads wait for a CPU {_pct(f.runnable_of_wanted)} of the time they want one, yet "
        f"the lab uses only {f.cpu_percent:.0f} % of {f.cores * 100} %: other processes are "
        "taking the cores, so read these figures with care",
        None,
        "busy-host",
        "info",
    )


def _oversubscribed(f: Figures) -> Verdict | None:
    if f.runnable_of_wanted is None or f.runnable_of_wanted < 0.3:
        return None
    if f.model in ("pool", "processes", "asyncio-procs"):
        advice, key = "fewer workers (w)", "w"
    elif f.model == "threads":
        advice, key = "lower concurrency (-) or use a pool (2)", "-"
    else:
        advice, key = "lower concurrency (-)", "-"
    return Verdict(
        f"threads wait for a CPU {_pct(f.runnable_of_wanted)} of the time they want one: "
        f"more runnable threads than cores → {advice}",
        key,
        "oversubscribed",
    )


def _loop_late(f: Figures) -> Verdict | None:
    if f.model not in LOOP_MODELS or f.lag_ms is None or f.lag_ms < 10.0:
        return None
    if f.model == "asyncio-offload" and f.cpu_kind == "python" and f.cpu_share > 0:
        advice = "offloaded Python work holds the GIL the loop needs → try asyncio-procs (5)"
        key = "5"
    elif f.model == "mn":
        advice, key = "each core's loop is busy computing inline → lower concurrency (-)", "-"
    else:
        advice, key = "lower concurrency (-)", "-"
    return Verdict(f"the event loop runs {_ms(f.lag_ms)} late → {advice}", key, "loop-late")


def _io_threads(f: Figures) -> Verdict | None:
    if f.model not in ("threads", "pool") or f.waiting is None or f.voluntary_per_s is None:
        return None
    if f.threads < max(8, 4 * f.cores) or f.waiting < 0.8 or f.voluntary_per_s < 500:
        return None
    return Verdict(
        f"IO-bound with a thread per task: {f.threads} threads wait {_pct(f.waiting)} of the time "
        f"and switch {f.voluntary_per_s:,.0f}/s voluntarily; an event loop does this with a "
        "handful of threads (3)",
        "3",
        "io-threads",
    )


def _pool_saturated(f: Figures) -> Verdict | None:
    if f.pool is None or f.waiting is None:
        return None
    workers, busy, queued = f.pool
    if busy < workers or queued < max(1, workers) or f.waiting < 0.6:
        return None
    return Verdict(
        f"all {workers} workers busy with {queued} tasks queued, and they mostly wait on IO "
        "→ more workers (W)",
        "W",
        "pool-saturated",
    )


def _gil_saturated(f: Figures) -> Verdict | None:
    """Python CPU work in one process can use at most one core: the GIL's."""
    if f.cpu_kind != "python" or f.model not in ONE_PROCESS_MODELS or f.cpu_ms <= 0:
        return None
    demand = f.throughput * f.cpu_ms / 1000.0  # cores' worth of Python CPU work per second
    if demand < 0.7:
        return None
    flight = (
        f" (only {f.in_flight} of {f.concurrency} tasks in flight)"
        if f.in_flight is not None and f.in_flight < f.concurrency // 2
        else ""
    )
    return Verdict(
        f"the GIL is the limit: tasks need {_pct(demand)} of one core for Python work and the "
        f"GIL runs one thread at a time{flight} → try processes (7)",
        "7",
        "gil-saturated",
    )


def _backlog(f: Figures) -> Verdict | None:
    if not f.open_loop or f.backlog is None or f.backlog_growth is None:
        return None
    if f.backlog_growth <= 0 or f.backlog < max(1, f.concurrency):
        return None
    return Verdict(
        f"arrivals outpace completions: {f.backlog} tasks wait to start and the backlog grows "
        "→ raise concurrency (+)",
        "+",
        "backlog",
    )


def _healthy(f: Figures) -> Verdict | None:
    if f.cpu_percent >= 80 * f.cores:
        return Verdict(
            f"healthy: CPU-bound, all {f.cores} cores busy ({f.cpu_percent:.0f} %) — the limit "
            "is the CPU; more concurrency would only queue",
            None,
            "healthy",
            "ok",
        )
    p99 = "" if f.p99_ms is None else f", p99 {_ms(f.p99_ms)}"
    flight = "" if f.in_flight is None else f" with {f.in_flight} in flight"
    return Verdict(
        f"healthy: {f.throughput:,.0f} tasks/s{flight}{p99} — the limit is IO latency × "
        "concurrency → raise concurrency (+) for more",
        "+",
        "healthy",
        "ok",
    )


RULES: tuple[Rule, ...] = (
    Rule("lab-down", "the lab process is not running", "restart it (r)", _lab_down),
    Rule(
        "settling",
        "the probe has not reported yet, or the lab is one frame old",
        "wait a moment",
        _settling,
    ),
    Rule("errors", "tasks failed during the last second", "read the error; restart (r)", _errors),
    Rule(
        "loop-blocked",
        "asyncio with cpu-share > 0, and loop lag ≥ one task's CPU time (at least 1 ms)",
        "the loop is blocked by inline CPU work → asyncio-offload (4)",
        _loop_blocked,
    ),
    Rule(
        "gil-wait",
        "≥ 40 % of the worker threads' CPU-phase time is inferred GIL wait",
        "processes (7) or asyncio-procs (5); native CPU work (c) releases the GIL",
        _gil_wait,
    ),
    Rule(
        "busy-host",
        "threads are runnable ≥ 30 % of the time they want a CPU, but the lab uses < 70 % of "
        "the cores",
        "other processes compete for the cores: close them, or read the figures with care",
        _busy_host,
    ),
    Rule(
        "oversubscribed",
        "threads are runnable (waiting for a core) ≥ 30 % of the time they want a CPU",
        "threads: lower concurrency (-) or use a pool (2); pools: fewer workers (w)",
        _oversubscribed,
    ),
    Rule(
        "loop-late",
        "a loop model's heartbeat lag is ≥ 10 ms (clinic.js's threshold)",
        "asyncio-offload with Python CPU work → asyncio-procs (5); otherwise lower concurrency (-)",
        _loop_late,
    ),
    Rule(
        "io-threads",
        "threads or pool with ≥ 4 threads per core, ≥ 80 % waiting, ≥ 500 voluntary switches/s",
        "an event loop serves the same IO with a handful of threads (3)",
        _io_threads,
    ),
    Rule(
        "pool-saturated",
        "every pool worker busy, at least as many tasks queued, threads ≥ 60 % waiting",
        "more workers (W)",
        _pool_saturated,
    ),
    Rule(
        "gil-saturated",
        "one process, Python CPU work, and tasks/s × CPU ms per task ≥ 70 % of one core",
        "processes (7): the GIL lets one thread run Python at a time",
        _gil_saturated,
    ),
    Rule(
        "backlog",
        "open loop (--rate) and the backlog of tasks waiting to start grows",
        "raise concurrency (+)",
        _backlog,
    ),
    Rule(
        "healthy",
        "none of the above",
        "names the limit: all cores busy (CPU), or IO latency × concurrency",
        _healthy,
    ),
)
