"""`threads`: one OS thread per task ("just add threads").

What the viewer should show: one `task-N` row per task in flight, each born
and gone within a task's time. On IO-bound work almost every row is Waiting
(blocked in the kernel on its socket) and each task costs at least two
voluntary switches. As concurrency climbs past the cores on CPU-bound work,
rows turn Runnable (native CPU) or inferred GIL wait (Python CPU), and the
voluntary switch rate climbs with them. On Python CPU work fewer tasks are in
flight than asked: the `load` thread must win the GIL several times to start
each thread (`Thread.start` waits for the new thread to run), and CPU-bound
threads hold it for 5 ms switch intervals — the convoy effect, measured.
"""

from __future__ import annotations

import itertools
import threading

from workloads.models.base import Gate, LabContext, Model, SyncWorker, open_loop
from workloads.work import TaskSpec, name_thread

__all__ = ["ThreadsModel"]


class ThreadsModel(Model):
    name = "threads"

    def __init__(self, ctx: LabContext) -> None:
        super().__init__(ctx)
        self.worker = SyncWorker(ctx)
        self.gate = Gate(lambda: self.ctx.config.concurrency)
        self._numbers = itertools.count(1)
        ctx.changed.append(self.gate.wake)
        ctx.probe.pool = lambda: None

    def start(self) -> None:
        threading.Thread(target=self._load, name="load", daemon=True).start()

    def _load(self) -> None:
        name_thread("load")
        while not self.ctx.stop.is_set():
            if self.ctx.config.rate is None:
                if self.gate.acquire(self.ctx.stop):
                    self._spawn(closed=True)
            else:
                open_loop(self.ctx, lambda: self._spawn(closed=False), lambda: 0)

    def _spawn(self, *, closed: bool) -> None:
        spec = self.ctx.new_spec()
        number = next(self._numbers)
        thread = threading.Thread(target=self._task, args=(spec, number, closed), daemon=True)
        self.ctx.probe.task_started()
        try:
            thread.start()
        except RuntimeError as exc:  # "can't start new thread": RLIMIT_NPROC or memory
            self.ctx.probe.message(
                f"thread creation failed ({exc}); running with {threading.active_count()} threads"
            )
            self.ctx.probe.task_done(spec.submitted, exc)
            if closed:
                self.gate.release()
            self.ctx.stop.wait(0.1)

    def _task(self, spec: TaskSpec, number: int, closed: bool) -> None:
        name_thread(f"task-{number}")
        try:
            self.worker.run(spec)
        finally:
            self.ctx.probe.forget_thread()
            if closed:
                self.gate.release()
