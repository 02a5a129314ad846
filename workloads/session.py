"""A live session: one lab at a time, sampled from outside, turned into frames.

`LabSession` owns the current `LabProcess`, a `ProcSampler` on its process
tree and a sampler thread that builds one immutable `Frame` per interval and
hands it to `on_frame` (called on the sampler thread; consumers must not block
it). Live changes go over the lab's control channel; a model, worker or rate
of sampling change starts a fresh lab, so counters and threads start clean.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from workloads.config import LIVE_FIELDS, LabConfig
from workloads.frame_builder import FrameBuilder
from workloads.frames import Frame
from workloads.lab import LabError, LabProcess
from workloads.sampler import ProcSampler
from workloads.ticker import every

__all__ = ["LabError", "LabSession"]

_live_sessions: weakref.WeakSet[LabSession] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:  # a safety net: every exit path ends its labs
    for session in list(_live_sessions):
        session.stop()


class LabSession:
    """Runs labs for one consumer (the TUI, bench, the recorder)."""

    def __init__(
        self,
        config: LabConfig,
        *,
        on_frame: Callable[[Frame], None],
        proc_root: str = "/proc",
        cpus: frozenset[int] | None = None,
    ) -> None:
        """`cpus` pins every lab (and its workers) to those CPUs, e.g. for a duel."""
        self._config = config
        self._dict: dict[str, Any] = {}
        self._dict_of: LabConfig | None = None  # the config `_dict` was made from
        self.cpus = cpus
        self._on_frame = on_frame
        self._proc_root = proc_root
        self._lock = threading.RLock()
        self._lab: LabProcess | None = None
        self._sampler: ProcSampler | None = None
        self._lab_index = 0
        self._events: list[str] = []
        self._pending: dict[int, str] = {}
        self._generation = 0
        self._dead_reported = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._builder = FrameBuilder(time.monotonic())
        self._paused = False
        self.started_at = time.monotonic()

    # -- public API -------------------------------------------------------

    @property
    def config(self) -> LabConfig:
        return self._config

    @property
    def lab_pid(self) -> int | None:
        lab = self._lab
        return lab.pid if lab is not None else None

    @property
    def lab(self) -> LabProcess | None:
        return self._lab

    def start(self) -> None:
        """Start the first lab and the sampler thread (blocks until the lab is ready)."""
        _live_sessions.add(self)
        self._swap_lab(self._config)
        self._thread = threading.Thread(target=self._run, name="ccviz-sampler", daemon=True)
        self._thread.start()

    def apply(self, **changes: Any) -> LabConfig:
        """Validate and apply changes; a non-live field starts a new lab."""
        config = self._config.replace(**changes)
        changed = {k: v for k, v in changes.items() if getattr(self._config, k) != v}
        if not changed:
            return config
        if set(changed) - LIVE_FIELDS:
            self._swap_lab(config)
            return config
        with self._lock:
            self._config = config
            lab = self._lab
            if lab is not None and lab.alive:
                self._generation += 1
                self._pending[self._generation] = ", ".join(
                    f"{k.replace('_', '-')} {v}" for k, v in changed.items()
                )
                lab.send(changed)
        return config

    def restart(self) -> None:
        self._swap_lab(self._config)

    def pause(self, paused: bool = True) -> None:
        """While paused, do not sample: only watch that the lab is alive.

        A paused display draws nothing, so sampling would be pure cost. Each
        tick still asks the OS whether the lab exited (a `waitpid`, no /proc
        read); when it has, one frame carries the news. The first frame after
        resuming covers the whole pause, so its rates are the pause's averages.
        """
        self._paused = paused

    def note_dropped(self, n: int = 1) -> None:
        self._builder.dropped += n

    def stop(self) -> None:
        """End the lab tree and the sampler thread; idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)
        with self._lock:
            self._retire(self._lab, self._sampler)
            self._lab, self._sampler = None, None
        _live_sessions.discard(self)

    # -- internals --------------------------------------------------------

    def _swap_lab(self, config: LabConfig) -> None:
        """Start a lab for `config`, then retire the old one (frames pause meanwhile)."""
        with self._lock:
            if self._stop.is_set():
                return
            old_lab, old_sampler = self._lab, self._sampler
            self._lab, self._sampler = None, None
            self._retire(old_lab, old_sampler)
            lab = LabProcess(config, self.cpus)
            try:
                lab.wait_ready()
            except LabError:
                self._events.append(f"lab failed to start: model {config.model}")
                raise
            io_pid = lab.io_server_pid
            self._sampler = ProcSampler(
                lab.pid,
                proc_root=self._proc_root,
                exclude_pids=lambda: (io_pid,) if io_pid else (),
            )
            self._lab = lab
            self._config = config
            self._lab_index += 1
            self._generation = 0
            self._pending.clear()
            self._dead_reported = False
            self._builder.reset()
            self._events.append(f"lab {self._lab_index} started: {config.model} (pid {lab.pid})")

    @staticmethod
    def _retire(lab: LabProcess | None, sampler: ProcSampler | None) -> None:
        known = sampler.pids if sampler is not None else frozenset()
        if sampler is not None:
            sampler.close()
        if lab is not None:
            lab.stop(known_pids=known)

    def _run(self) -> None:
        every(1.0 / self._config.hz, self._stop, self._tick)

    def _tick(self) -> None:
        if self._paused and not self._lab_died():
            return
        frame = self._sample()
        if frame is not None:
            self._on_frame(frame)

    def _lab_died(self) -> bool:
        """The current lab exited and that has not been reported yet."""
        lab = self._lab
        return lab is not None and not self._dead_reported and not lab.alive

    def _sample(self) -> Frame | None:
        with self._lock:
            lab, sampler = self._lab, self._sampler
            if lab is None or sampler is None:
                return None
            raw = lab.facts
            phases = None
            if raw is not None:
                phases = {int(k): v for k, v in raw["phases"].items()}
                self._note_generation(int(raw["generation"]))
            view = sampler.sample(phases)
            alive = view.root_alive and lab.alive
            if not alive and not self._dead_reported:
                self._dead_reported = True
                code = lab.proc.poll()
                self._events.append(
                    f"lab {self._lab_index} (pid {lab.pid}) died"
                    + (f", exit {code}" if code is not None else "")
                    + " — press r to restart"
                )
            events, self._events = tuple(self._events), []
            return self._builder.build(
                view,
                raw,
                lab_pid=lab.pid,
                lab_index=self._lab_index,
                config=self._config_dict(),
                events=events,
                lab_alive=alive,
            )

    def _config_dict(self) -> dict[str, Any]:
        """The config in force as a dict, made once per config: frames share it, read-only."""
        config = self._config
        if self._dict_of is not config:
            self._dict, self._dict_of = config.to_dict(), config
        return self._dict

    def _note_generation(self, generation: int) -> None:
        for g in sorted(self._pending):
            if g <= generation:
                self._events.append(f"applied: {self._pending.pop(g)}")
