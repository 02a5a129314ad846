"""`pool`: a fixed pool of worker threads with a queue in front.

What the viewer should show: a constant set of `pool-N` rows (default
min(32, cores + 4), Python's own default; `--workers` sets it). On IO-bound
work with concurrency above the pool size the queue fills (backlog in the
loop pane) while the rows stay Waiting; no threads are created or destroyed,
so switches per task drop compared with `threads`. On Python CPU work only one
row executes at a time and the others show inferred GIL wait.
"""

from __future__ import annotations

import queue
import threading

from workloads.models.base import Gate, LabContext, Model, SyncWorker, open_loop
from workloads.work import TaskSpec, name_thread

__all__ = ["PoolModel"]


class PoolModel(Model):
    name = "pool"

    def __init__(self, ctx: LabContext) -> None:
        super().__init__(ctx)
        self.worker = SyncWorker(ctx)
        self.size = ctx.config.effective_workers
        self.queue: queue.SimpleQueue[tuple[TaskSpec, bool] | None] = queue.SimpleQueue()
        self.gate = Gate(lambda: self.ctx.config.concurrency)
        self.tids: list[int] = []
        ctx.changed.append(self.gate.wake)
        ctx.probe.pool = lambda: {
            "workers": self.size,
            "busy": self._busy(),
            "queued": self.queue.qsize(),
        }
        ctx.probe.backlog = self.queue.qsize

    def start(self) -> None:
        for n in range(1, self.size + 1):
            threading.Thread(target=self._serve, args=(n,), daemon=True).start()
        threading.Thread(target=self._load, daemon=True).start()

    def _load(self) -> None:
        name_thread("load")
        while not self.ctx.stop.is_set():
            if self.ctx.config.rate is None:
                if self.gate.acquire(self.ctx.stop):
                    self._submit(closed=True)
            else:
                open_loop(self.ctx, lambda: self._submit(closed=False), self.queue.qsize)

    def _submit(self, *, closed: bool) -> None:
        self.ctx.probe.task_started()
        self.queue.put((self.ctx.new_spec(), closed))

    def _serve(self, n: int) -> None:
        name_thread(f"pool-{n}")
        self.ctx.probe.set_phase("idle")
        self.tids.append(threading.get_native_id())
        while not self.ctx.stop.is_set():
            item = self.queue.get()
            if item is None:
                return
            spec, closed = item
            try:
                self.worker.run(spec)
            finally:
                if closed:
                    self.gate.release()

    def _busy(self) -> int:
        phases = self.ctx.probe.phases
        return sum(1 for tid in tuple(self.tids) if phases.get(tid, "idle") != "idle")

    def stop(self) -> None:
        super().stop()
        self.gate.wake()
        for _ in range(self.size):
            self.queue.put(None)
