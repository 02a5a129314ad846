"""The frame source for `ccviz attach PID`: a process ccviz did not start.

It speaks the same `Source` interface as `LiveSource` and `ReplaySource`, so
the app needs no other path for it: frames arrive on the attach session's
sampler thread as coalescing `FrameReady` messages. What differs is that
nothing can be requested, applied or restarted; the app checks for this
source to say so instead of acting.
"""

from __future__ import annotations

import threading
from typing import Any

from tui.sources import FrameReady, Post, Source
from workloads.attach import AttachSession, Target, inspect_target
from workloads.config import ConfigError, LabConfig
from workloads.frames import Frame

__all__ = ["NOTHING_TO_CHANGE", "AttachSource"]

#: What every control says on an attached process.
NOTHING_TO_CHANGE = "attached: nothing to change"


class AttachSource(Source):
    """Frames from a process ccviz did not start (`ccviz attach PID`): kernel view only.

    The pid is checked when the source is built, so a bad one fails before any
    screen opens (`AttachError`, a `ConfigError`). There is nothing to request,
    apply or restart: the config is a placeholder and every change is refused.
    """

    live = True

    def __init__(self, pid: object, *, hz: float = 10.0, proc_root: str = "/proc") -> None:
        super().__init__(LabConfig.validated(hz=hz))
        self.target: Target = inspect_target(pid, proc_root=proc_root)
        self._hz = hz
        self._proc_root = proc_root
        self._session: AttachSession | None = None
        self._lock = threading.Lock()
        self._last_seq: int | None = None
        self._stopped = False

    @property
    def label(self) -> str:
        return f"attach {self.target.label}"

    def request(self, **changes: Any) -> LabConfig:
        raise ConfigError(NOTHING_TO_CHANGE)

    def start(self, post: Post) -> None:
        self._post = post
        with self._lock:
            if self._stopped:
                return
            self._session = AttachSession(
                self.target.pid, on_frame=self._on_frame, hz=self._hz, proc_root=self._proc_root
            )
            self._session.start()

    def _on_frame(self, frame: Frame) -> None:
        """Sampler thread: hand the frame to the UI; never touch app state here."""
        post = self._post
        if post is None:
            return
        try:
            post(FrameReady((frame,), replaceable=True))
        except RuntimeError:  # the app's event loop closed while we were quitting
            self._post = None

    def sync(self) -> None:
        """Nothing to apply: ccviz did not start this process and changes nothing in it."""

    def restart(self) -> None:
        """Nothing to restart, for the same reason."""

    def shown(self, frame: Frame) -> None:
        last, self._last_seq = self._last_seq, frame.seq
        if last is not None and frame.seq > last + 1 and self._session is not None:
            self._session.note_dropped(frame.seq - last - 1)

    def stop(self) -> None:
        """Stop sampling; the attached process runs on untouched."""
        with self._lock:
            self._stopped = True
            self._post = None
            session = self._session
        if session is not None:
            session.stop()
