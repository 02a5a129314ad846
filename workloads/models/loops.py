"""The event-loop models: `asyncio`, `asyncio-offload` and `asyncio-procs`.

All three run one asyncio loop on a thread named `loop`, with every task a
coroutine and IO awaited on the loop (sockets and sleeps in epoll; file IO on
a small `io-offload-N` thread pool, as asyncio code does). They differ only in
where the CPU part of a task runs.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from workloads.models import procworker
from workloads.models.base import MAX_BACKLOG, LabContext, Model
from workloads.probe import LoopMonitor
from workloads.work import LOCK_HOLD_SHARE, AsyncSocketClient, TaskSpec, burn, file_io, name_thread

__all__ = ["AsyncioModel", "AsyncioOffloadModel", "AsyncioProcsModel"]

IO_OFFLOAD_THREADS = 8


def _thread_namer(prefix: str) -> Callable[[], None]:
    """An executor initializer naming its threads `<prefix>-1`, `<prefix>-2`, …"""
    numbers = itertools.count(1)

    def init() -> None:
        name_thread(f"{prefix}-{next(numbers)}")

    return init


class _EventLoopModel(Model):
    """One loop; subclasses decide where CPU work runs (`_cpu`)."""

    def __init__(self, ctx: LabContext) -> None:
        super().__init__(ctx)
        self.loop = asyncio.new_event_loop()
        self.monitor = LoopMonitor(self.loop)
        self.workers = ctx.config.effective_workers
        self.offloaded = 0  # CPU parts sent to an executor, not yet back
        self.not_started = 0  # tasks created but not yet run once: the backlog
        self.io_pool = ThreadPoolExecutor(
            IO_OFFLOAD_THREADS, initializer=_thread_namer("io-offload")
        )
        ctx.probe.loops.append(self.monitor)
        ctx.probe.backlog = lambda: self.not_started
        ctx.changed.append(self._changed)

    def _changed(self) -> None:
        self.loop.call_soon_threadsafe(self._top_up)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def stop(self) -> None:
        super().stop()
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)

    def _run(self) -> None:
        name_thread("loop")
        asyncio.set_event_loop(self.loop)
        self.client = AsyncSocketClient(self.ctx.port)
        self.lock = asyncio.Lock()
        self.monitor.start()
        self.ctx.probe.set_phase("io")
        self.loop.call_soon(self._top_up)
        self.loop.create_task(self._arrivals())
        self.loop.run_forever()

    def _top_up(self) -> None:
        """Closed loop: keep `concurrency` tasks alive."""
        config = self.ctx.config
        if config.rate is not None or self.ctx.stop.is_set():
            return
        while self.monitor.alive < config.concurrency:
            self._spawn(self.ctx.new_spec())

    async def _arrivals(self) -> None:
        """Open loop: Poisson arrivals; late wake-ups (a blocked loop) arrive all at once."""
        rng = random.Random()
        due = time.monotonic()
        while not self.ctx.stop.is_set():
            rate = self.ctx.config.rate
            if rate is None:
                await asyncio.sleep(0.1)
                due = time.monotonic()
                continue
            due += rng.expovariate(rate)
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.monitor.alive >= MAX_BACKLOG:
                self.ctx.probe.task_started()
                self.ctx.probe.task_done(due, f"backlog full ({MAX_BACKLOG}); arrival refused")
                continue
            c = self.ctx.config
            self._spawn(TaskSpec(c.cpu_ms, c.io_ms, c.cpu_kind, c.io_kind, due))

    def _spawn(self, spec: TaskSpec) -> None:
        self.monitor.alive += 1
        self.not_started += 1
        self.ctx.probe.task_started()
        self.loop.create_task(self._task(spec)).add_done_callback(self._done)

    def _done(self, _task: asyncio.Task[None]) -> None:
        self._top_up()

    async def _task(self, spec: TaskSpec) -> None:
        self.not_started -= 1
        probe = self.ctx.probe
        try:
            await self._io(spec)
            await self._cpu(spec)
        except Exception as exc:
            probe.task_done(spec.submitted, exc)
            await asyncio.sleep(0.05)  # a failing task holds its slot briefly
        else:
            probe.task_done(spec.submitted)
        finally:
            # Counted out here, not in the done callback: a blocked loop runs
            # callbacks late, and a finished task is no longer alive meanwhile.
            self.monitor.alive -= 1

    async def _io(self, spec: TaskSpec) -> None:
        ms = spec.io_ms
        if ms <= 0:
            return
        if spec.io_kind == "socket":
            await self.client.request(ms)
        elif spec.io_kind == "sleep":
            await asyncio.sleep(ms / 1000.0)
        elif spec.io_kind == "file":
            await self.loop.run_in_executor(self.io_pool, self._file, ms)
        else:
            async with self.lock:
                await asyncio.sleep(ms * LOCK_HOLD_SHARE / 1000.0)
            await asyncio.sleep(ms * (1 - LOCK_HOLD_SHARE) / 1000.0)

    def _file(self, ms: float) -> None:
        self.ctx.probe.set_phase("io")
        file_io(ms, self.ctx.tmpdir)
        self.ctx.probe.set_phase("idle")

    async def _cpu(self, spec: TaskSpec) -> None:
        raise NotImplementedError  # each loop model overrides where CPU runs

    async def _offload(self, executor: Executor, fn: object, *args: object) -> None:
        self.offloaded += 1
        try:
            await self.loop.run_in_executor(executor, fn, *args)  # type: ignore[arg-type]
        finally:
            self.offloaded -= 1


class AsyncioModel(_EventLoopModel):
    """`asyncio`: one event loop; CPU work runs inline on it.

    What the viewer should show: a handful of threads, the `loop` row mostly
    Waiting on IO-bound work with almost no switches per task — and the moment
    CPU share rises, the loop row turns Executing, heartbeat lag jumps to at
    least one task's CPU time and the ready queue grows: the loop is blocked.
    """

    name = "asyncio"

    async def _cpu(self, spec: TaskSpec) -> None:
        if spec.cpu_ms <= 0:
            return
        probe = self.ctx.probe
        self.monitor.running += 1
        probe.set_phase("cpu" if spec.cpu_kind == "python" else "native")
        try:
            burn(spec.cpu_ms, spec.cpu_kind, self.ctx.cal)
        finally:
            probe.set_phase("io")
            self.monitor.running -= 1


class AsyncioOffloadModel(_EventLoopModel):
    """`asyncio-offload`: one event loop; CPU work goes to a thread pool.

    What the viewer should show: the loop stays responsive (lag stays low),
    `cpu-offload-N` rows take the CPU work — and with Python CPU work they
    share one GIL, so at most one executes while the others show inferred GIL
    wait; with `native` CPU (c) they run in parallel on all cores.
    """

    name = "asyncio-offload"

    def __init__(self, ctx: LabContext) -> None:
        super().__init__(ctx)
        self.cpu_pool = ThreadPoolExecutor(self.workers, initializer=self._init_offload)
        self._numbers = itertools.count(1)
        self.monitor.executor_backlog = lambda: max(0, self.offloaded - self.workers)
        ctx.probe.pool = lambda: {
            "workers": self.workers,
            "busy": min(self.offloaded, self.workers),
            "queued": max(0, self.offloaded - self.workers),
        }

    def _init_offload(self) -> None:
        name_thread(f"cpu-offload-{next(self._numbers)}")
        self.ctx.probe.set_phase("idle")

    def _burn(self, ms: float, kind: str) -> None:
        probe = self.ctx.probe
        probe.set_phase("cpu" if kind == "python" else "native")
        try:
            burn(ms, kind, self.ctx.cal)
        finally:
            probe.set_phase("idle")

    async def _cpu(self, spec: TaskSpec) -> None:
        if spec.cpu_ms > 0:
            await self._offload(self.cpu_pool, self._burn, spec.cpu_ms, spec.cpu_kind)


class AsyncioProcsModel(_EventLoopModel):
    """`asyncio-procs`: one event loop; CPU work goes to a process pool.

    What the viewer should show: `cpu-proc-N` worker processes (one per core
    by default) Executing in parallel even on Python CPU work — no GIL wait —
    while the loop keeps low lag; each offload costs a round trip through
    pipes, visible as extra switches per task.
    """

    name = "asyncio-procs"

    def __init__(self, ctx: LabContext) -> None:
        super().__init__(ctx)
        mp = multiprocessing.get_context("spawn")
        self.cpu_pool = ProcessPoolExecutor(
            self.workers,
            mp_context=mp,
            initializer=procworker.init_worker,
            initargs=("cpu-proc", mp.Value("i", 0), ctx.cal, ctx.port, ctx.tmpdir, mp.Lock()),
        )
        self.monitor.executor_backlog = lambda: max(0, self.offloaded - self.workers)
        ctx.probe.pool = lambda: {
            "workers": self.workers,
            "busy": min(self.offloaded, self.workers),
            "queued": max(0, self.offloaded - self.workers),
        }

    def start(self) -> None:
        # Start every worker now, so the first tasks don't pay for process start-up.
        for _ in range(self.workers):
            self.cpu_pool.submit(procworker.burn_task, 0.0, "python")
        super().start()

    async def _cpu(self, spec: TaskSpec) -> None:
        if spec.cpu_ms > 0:
            await self._offload(self.cpu_pool, procworker.burn_task, spec.cpu_ms, spec.cpu_kind)
