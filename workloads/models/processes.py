"""`processes`: a process pool; each worker process runs one task at a time.

What the viewer should show: `proc-N` worker processes (one per core by
default), each a single busy thread: Executing in parallel on CPU work with no
GIL wait, Waiting on IO — and then the pool is the bottleneck, because a
process blocked on IO holds its slot (backlog grows in the pool pane). Memory
per worker is a whole interpreter.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor

from workloads.models import procworker
from workloads.models.base import Gate, LabContext, Model, open_loop
from workloads.work import TaskSpec, name_thread

__all__ = ["ProcessesModel"]


class ProcessesModel(Model):
    name = "processes"

    def __init__(self, ctx: LabContext) -> None:
        super().__init__(ctx)
        self.workers = ctx.config.effective_workers
        mp = multiprocessing.get_context("spawn")
        self.pool = ProcessPoolExecutor(
            self.workers,
            mp_context=mp,
            initializer=procworker.init_worker,
            initargs=("proc", mp.Value("i", 0), ctx.cal, ctx.port, ctx.tmpdir, mp.Lock()),
        )
        self.gate = Gate(lambda: self.ctx.config.concurrency)
        self.in_flight = 0
        self._lock = threading.Lock()
        ctx.changed.append(self.gate.wake)
        ctx.probe.pool = lambda: {
            "workers": self.workers,
            "busy": min(self.in_flight, self.workers),
            "queued": max(0, self.in_flight - self.workers),
        }
        ctx.probe.backlog = lambda: max(0, self.in_flight - self.workers)

    def start(self) -> None:
        for _ in range(self.workers):  # start the workers before the clock runs
            self.pool.submit(procworker.burn_task, 0.0, "python")
        threading.Thread(target=self._load, daemon=True).start()

    def _load(self) -> None:
        name_thread("load")
        while not self.ctx.stop.is_set():
            if self.ctx.config.rate is None:
                if self.gate.acquire(self.ctx.stop):
                    self._submit(closed=True)
            else:
                open_loop(self.ctx, lambda: self._submit(closed=False), self.ctx.probe.backlog)

    def _submit(self, *, closed: bool) -> None:
        spec = self.ctx.new_spec()
        self.ctx.probe.task_started()
        with self._lock:
            self.in_flight += 1
        try:
            future = self.pool.submit(procworker.run_task, spec)
        except RuntimeError as exc:  # the pool is broken or shut down
            self._finish(spec, closed, str(exc))
            self.ctx.stop.wait(0.1)
            return
        future.add_done_callback(lambda f: self._finish(spec, closed, _error_of(f)))

    def _finish(self, spec: TaskSpec, closed: bool, error: str | None) -> None:
        with self._lock:
            self.in_flight -= 1
        self.ctx.probe.task_done(spec.submitted, error)
        if closed:
            self.gate.release()


def _error_of(future: Future[str | None]) -> str | None:
    exc = future.exception()
    if exc is not None:
        return f"{type(exc).__name__}: {exc}"
    return future.result()
