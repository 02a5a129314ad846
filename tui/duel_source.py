"""A live source pinned to a set of CPUs, and the message that carries one side's frames.

`PinnedSource` is `LiveSource` with one difference: its `LabSession` pins
every lab it starts (and the lab's workers) to `cpus`. `SideFrames` tags
frames with the side they belong to; it coalesces only with a newer message
of the same side, so a burst from one lab never drops the other lab's frames.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from textual.message import Message

from tui.sources import FrameReady, LiveSource, Post
from workloads.config import LabConfig
from workloads.frames import Frame
from workloads.lab import START_TIMEOUT_S

__all__ = ["PinnedSource", "SideFrames", "side_post"]


class SideFrames(Message):
    """New live frames of side `side` (0 = A, 1 = B), oldest first."""

    def __init__(self, side: int, frames: tuple[Frame, ...], *, reset: bool = False) -> None:
        super().__init__()
        self.side = side
        self.frames = frames
        self.reset = reset  # forget this side's history first

    def can_replace(self, message: Message) -> bool:
        return (
            not self.reset
            and isinstance(message, SideFrames)
            and message.side == self.side
            and not message.reset
        )


class PinnedSource(LiveSource):
    """Frames from a real lab whose processes may run only on `cpus` (None: anywhere)."""

    # `suspend`/`resume` (the compare screen) would start an unpinned lab; the duel has
    # no compare screen, and this keeps any future one from offering it.
    benchable = False

    def __init__(self, config: LabConfig, cpus: frozenset[int] | None) -> None:
        super().__init__(config)
        self.cpus = cpus
        self._starting = threading.Event()  # start() has begun…
        self._started = threading.Event()  # …and returned

    def start(self, post: Post) -> None:
        # LiveSource.start with `cpus` passed on to the session. Reads LiveSource's
        # private state: a `cpus` argument on LiveSource would make this class vanish.
        from workloads.session import LabSession

        self._starting.set()
        try:
            self._post = post
            with self._apply_lock:
                if self._stopped:
                    return
                session = LabSession(
                    self._requested,
                    on_frame=self._on_frame,
                    proc_root=self._proc_root,
                    cpus=self.cpus,
                )
                self._session = session
                session.start()
            if self._stopped:  # quit while the lab was starting: stop() may have missed it
                session.stop()
        finally:
            self._started.set()

    def stop(self, start_timeout: float = START_TIMEOUT_S) -> None:
        """Stop for good; if the lab is still starting, wait for it and stop it too.

        Without the wait, quitting during start-up would return before the new
        lab exists, and it would be stopped only later by the start worker.
        """
        super().stop()
        if self._starting.is_set():
            self._started.wait(start_timeout)


def side_post(side: int, post: Callable[[Message], object]) -> Post:
    """A `Post` for one side: re-wraps the source's `FrameReady` as `SideFrames`."""

    def forward(message: FrameReady) -> object:
        return post(SideFrames(side, message.frames, reset=message.reset))

    return forward
