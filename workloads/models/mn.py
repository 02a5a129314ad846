"""`mn`: M:N scheduling, one worker process per core, each an event loop.

This is the Go / Kotlin shape in Python: M tasks multiplexed onto N workers,
where N is the core count (`--workers`). The lab feeds task descriptions into
one shared queue; each `mn-N` worker process pulls from it (never more than
its share of the concurrency at once) and runs the tasks as coroutines. Tasks
travel in batches both ways (whatever is ready at that moment), so the
plumbing between processes costs a few switches per batch, not per task.

What the viewer should show: exactly one busy `mn-N` row per core, Executing
on CPU work in parallel (separate interpreters, so no GIL wait) and Waiting on
IO with few switches per task; the loop pane sums the workers' loops (tasks,
ready queue) and shows the worst loop's lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import queue
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any

from workloads.models.base import Gate, LabContext, Model, open_loop
from workloads.probe import LoopMonitor
from workloads.work import (
    LOCK_HOLD_SHARE,
    AsyncSocketClient,
    Calibration,
    TaskSpec,
    burn,
    file_io,
    name_library_threads,
    name_thread,
)

__all__ = ["MNModel", "worker_main"]


class MNModel(Model):
    name = "mn"

    def __init__(self, ctx: LabContext) -> None:
        super().__init__(ctx)
        self.workers = ctx.config.effective_workers
        mp = multiprocessing.get_context("spawn")
        self.down: Any = mp.Queue()
        self.up: Any = mp.Queue()
        self.gate = Gate(lambda: self.ctx.config.concurrency)
        self.procs: list[BaseProcess] = [
            mp.Process(
                target=worker_main,
                args=(n, self.down, self.up, ctx.cal, ctx.port, ctx.tmpdir, ctx.config.hz),
                name=f"mn-{n}",
                daemon=True,
            )
            for n in range(1, self.workers + 1)
        ]
        self.alive_by_slot: dict[int, int] = {}
        ctx.changed.append(self.gate.wake)
        ctx.probe.backlog = self._backlog
        ctx.probe.pool = lambda: {
            "workers": sum(1 for p in self.procs if p.is_alive()),
            "busy": sum(1 for v in self.alive_by_slot.values() if v),
            "queued": self._backlog(),
        }

    def _backlog(self) -> int:
        with contextlib.suppress(NotImplementedError, OSError):
            return int(self.down.qsize())
        return 0

    def start(self) -> None:
        for proc in self.procs:
            proc.start()
        threading.Thread(target=self._collect, daemon=True).start()
        threading.Thread(target=self._load, daemon=True).start()

    def _cap(self) -> int:
        return math.ceil(self.ctx.config.concurrency / self.workers)

    def _load(self) -> None:
        name_thread("load")
        while not self.ctx.stop.is_set():
            if self.ctx.config.rate is None:
                if self.gate.acquire(self.ctx.stop):
                    self._submit(closed=True)
            else:
                open_loop(self.ctx, lambda: self._submit(closed=False), self._backlog)

    def _submit(self, *, closed: bool) -> None:
        batch = [self.ctx.new_spec()]
        if closed:  # take every other free slot now: one message instead of many
            while len(batch) < 256 and self.gate.try_acquire():
                batch.append(self.ctx.new_spec())
        for _ in batch:
            self.ctx.probe.task_started()
        self.down.put((batch, closed, self._cap()))

    def _collect(self) -> None:
        """Completions and loop facts coming back from the workers."""
        name_thread("mn-collect")
        probe = self.ctx.probe
        while not self.ctx.stop.is_set():
            try:
                message = self.up.get(timeout=0.5)
            except queue.Empty:
                self._check_workers()
                continue
            kind = message[0]
            if kind == "done":
                closed_count = 0
                for submitted, finished, error, closed in message[1]:
                    probe.task_done(submitted, error, finished=finished)
                    closed_count += closed
                if closed_count:
                    self.gate.release(closed_count)
            elif kind == "stats":
                _, slot, loop_facts, phases = message
                probe.remote_loops[slot] = loop_facts
                probe.remote_phases[slot] = phases
                self.alive_by_slot[slot] = loop_facts["tasks_alive"]

    def _check_workers(self) -> None:
        for n, proc in enumerate(self.procs, start=1):
            if not proc.is_alive() and n in self.alive_by_slot:
                lost = self.alive_by_slot.pop(n)
                self.ctx.probe.remote_loops.pop(n, None)
                self.ctx.probe.message(
                    f"worker mn-{n} died (exit {proc.exitcode}); {lost} tasks lost"
                )
                for _ in range(lost):
                    self.ctx.probe.task_done(time.monotonic(), f"worker mn-{n} died")
                    self.gate.release()

    def stop(self) -> None:
        super().stop()
        self.gate.wake()
        for _ in self.procs:
            with contextlib.suppress(Exception):
                self.down.put(None)


class _Worker:
    """One `mn-N` process: an event loop running up to its share of the tasks."""

    def __init__(self, slot: int, down: Any, up: Any, cal: Calibration, port: int, tmpdir: str):
        self.slot, self.down, self.up, self.cal, self.tmpdir = slot, down, up, cal, tmpdir
        self.loop = asyncio.new_event_loop()
        self.monitor = LoopMonitor(self.loop)
        self.client = AsyncSocketClient(port)
        self.lock = asyncio.Lock()
        self.cap = 1
        self.room = threading.Condition()
        self.phase: dict[int, str] = {}
        self.done: list[tuple[Any, ...]] = []

    def feed(self) -> None:
        """Pull tasks from the shared queue while this worker has room."""
        name_thread(f"mn-{self.slot}-feed")
        while True:
            with self.room:
                while self.monitor.alive >= self.cap:
                    self.room.wait(0.1)
            item = self.down.get()
            if item is None:
                self.loop.call_soon_threadsafe(self.loop.stop)
                return
            batch, closed, self.cap = item
            with self.room:
                self.monitor.alive += len(batch)  # counted here so the feeder sees it at once
            self.loop.call_soon_threadsafe(self._spawn, batch, closed)

    def report(self, hz: float) -> None:
        name_thread(f"mn-{self.slot}-probe")
        while True:
            time.sleep(1.0 / hz)
            name_library_threads()
            self.up.put(("stats", self.slot, self.monitor.snapshot(), dict(self.phase)))

    def _spawn(self, batch: list[TaskSpec], closed: bool) -> None:
        for spec in batch:
            self.loop.create_task(self._task(spec, closed))

    def _flush(self) -> None:
        """Send every completion of this loop iteration in one message."""
        done, self.done = self.done, []
        self.up.put(("done", done))

    async def _task(self, spec: TaskSpec, closed: bool) -> None:
        error = None
        try:
            await self._io(spec)
            if spec.cpu_ms > 0:
                self.monitor.running += 1
                self.phase[self.monitor.tid] = "cpu" if spec.cpu_kind == "python" else "native"
                try:
                    burn(spec.cpu_ms, spec.cpu_kind, self.cal)
                finally:
                    self.phase[self.monitor.tid] = "io"
                    self.monitor.running -= 1
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(0.05)
        if not self.done:
            self.loop.call_soon(self._flush)
        self.done.append((spec.submitted, time.monotonic(), error, closed))
        with self.room:
            self.monitor.alive -= 1
            self.room.notify()

    async def _io(self, spec: TaskSpec) -> None:
        ms = spec.io_ms
        if ms <= 0:
            return
        if spec.io_kind == "socket":
            await self.client.request(ms)
        elif spec.io_kind == "sleep":
            await asyncio.sleep(ms / 1000.0)
        elif spec.io_kind == "file":
            await self.loop.run_in_executor(None, file_io, ms, self.tmpdir)
        else:
            async with self.lock:
                await asyncio.sleep(ms * LOCK_HOLD_SHARE / 1000.0)
            await asyncio.sleep(ms * (1 - LOCK_HOLD_SHARE) / 1000.0)

    def run(self, hz: float) -> None:
        name_thread(f"mn-{self.slot}")
        asyncio.set_event_loop(self.loop)
        self.monitor.start()
        self.phase[self.monitor.tid] = "io"
        threading.Thread(target=self.feed, daemon=True).start()
        threading.Thread(target=self.report, args=(hz,), daemon=True).start()
        self.loop.run_forever()


def worker_main(
    slot: int, down: Any, up: Any, cal: Calibration, port: int, tmpdir: str, hz: float
) -> None:
    """Entry point of an `mn-N` worker process (spawned)."""
    _Worker(slot, down, up, cal, port, tmpdir).run(hz)
