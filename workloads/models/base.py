"""What every model shares: the lab context, load generation and the task body.

Load is either a closed loop (`concurrency` tasks in flight; a finished task
lets the next one in) or an open loop (`rate` tasks/s with Poisson arrivals,
where a backlog can grow). Live changes replace `LabContext.config`; tasks
read it when they are submitted, so a change applies to the next task.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from workloads.config import LabConfig
from workloads.probe import Probe
from workloads.work import (
    LOCK_HOLD_SHARE,
    Calibration,
    SyncSocketClient,
    TaskSpec,
    burn,
    file_io,
)

__all__ = ["MAX_BACKLOG", "Gate", "LabContext", "Model", "SyncWorker", "open_loop"]

#: Open-loop arrivals beyond this many queued tasks are refused (and counted as errors).
MAX_BACKLOG = 100_000


@dataclass
class LabContext:
    """Everything a model needs; `config` is replaced on each live change."""

    config: LabConfig
    probe: Probe
    cal: Calibration
    port: int
    tmpdir: str
    stop: threading.Event = field(default_factory=threading.Event)
    changed: list[Callable[[], None]] = field(default_factory=list)

    def new_spec(self) -> TaskSpec:
        c = self.config
        return TaskSpec(c.cpu_ms, c.io_ms, c.cpu_kind, c.io_kind, time.monotonic())

    def apply(self, config: LabConfig) -> None:
        """Install a live change and wake whatever waits on the old values."""
        self.config = config
        self.probe.generation += 1
        for hook in self.changed:
            hook()


class Model:
    """A concurrency model running in the lab process."""

    name = "?"

    def __init__(self, ctx: LabContext) -> None:
        self.ctx = ctx

    def start(self) -> None:
        raise NotImplementedError  # each model overrides; Model is abstract

    def stop(self) -> None:
        """Ask the model to wind down; the lab exits regardless after a short grace."""
        self.ctx.stop.set()


class Gate:
    """Closed-loop admission: at most `limit()` tasks in flight."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._cond = threading.Condition()
        self.in_flight = 0

    def acquire(self, stop: threading.Event) -> bool:
        with self._cond:
            while self.in_flight >= self._limit():
                if stop.is_set():
                    return False
                self._cond.wait(0.25)
            self.in_flight += 1
            return not stop.is_set()

    def try_acquire(self) -> bool:
        """Take a slot only if one is free now (for batching admissions)."""
        with self._cond:
            if self.in_flight >= self._limit():
                return False
            self.in_flight += 1
            return True

    def release(self, n: int = 1) -> None:
        with self._cond:
            self.in_flight -= n
            self._cond.notify()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


def open_loop(ctx: LabContext, submit: Callable[[], None], backlog: Callable[[], int]) -> None:
    """Poisson arrivals at `ctx.config.rate` until the lab stops (runs in the load thread)."""
    rng = random.Random()
    due = time.monotonic()
    while not ctx.stop.is_set():
        rate = ctx.config.rate
        if rate is None:
            return
        due += rng.expovariate(rate)
        delay = due - time.monotonic()
        if delay > 0 and ctx.stop.wait(delay):
            return
        if delay < -1.0:
            due = time.monotonic()  # the dispatcher fell behind; don't burst to catch up
        if backlog() >= MAX_BACKLOG:
            ctx.probe.task_started()
            ctx.probe.task_done(time.monotonic(), f"backlog full ({MAX_BACKLOG}); arrival refused")
            continue
        submit()


class SyncWorker:
    """Runs a task's work on a blocking thread: CPU, then IO, reporting phases."""

    def __init__(self, ctx: LabContext) -> None:
        self.ctx = ctx
        self.client = SyncSocketClient(ctx.port)
        self.lock = threading.Lock()

    def run(self, spec: TaskSpec) -> None:
        probe = self.ctx.probe
        try:
            probe.set_phase("cpu" if spec.cpu_kind == "python" else "native")
            burn(spec.cpu_ms, spec.cpu_kind, self.ctx.cal)
            self.io(spec)
        except Exception as exc:
            probe.task_done(spec.submitted, exc)
            time.sleep(0.05)  # a failing task holds its slot briefly: errors, not a spin
        else:
            probe.task_done(spec.submitted)
        finally:
            probe.set_phase("idle")

    def io(self, spec: TaskSpec) -> None:
        probe = self.ctx.probe
        ms = spec.io_ms
        if ms <= 0:
            return
        kind = spec.io_kind
        if kind == "socket":
            probe.set_phase("io")
            self.client.request(ms)
        elif kind == "sleep":
            probe.set_phase("io")
            time.sleep(ms / 1000.0)
        elif kind == "file":
            probe.set_phase("io")
            file_io(ms, self.ctx.tmpdir)
        else:
            probe.set_phase("lock")
            with self.lock:
                probe.set_phase("io")
                time.sleep(ms * LOCK_HOLD_SHARE / 1000.0)
            time.sleep(ms * (1 - LOCK_HOLD_SHARE) / 1000.0)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
