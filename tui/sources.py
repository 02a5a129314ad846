"""Where the app's frames come from: a live lab, or a recording replayed.

Both sources speak one interface to the app (`Source`): they post `FrameReady`
messages, accept requested changes (validated on the UI thread, applied off
it), and stop. A live source's frames arrive on the sampler thread; a replay's
on the UI thread from the app's tick. Controls on a replay change only the
view (what is requested and shown), never the recorded data.
"""

from __future__ import annotations

import bisect
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.message import Message

from workloads.config import LabConfig
from workloads.frames import Frame
from workloads.recording import Recording

if TYPE_CHECKING:
    from workloads.session import LabSession

__all__ = ["SPEEDS", "FrameReady", "LiveSource", "ReplaySource", "Source"]

#: Replay speeds offered by `<` and `>`.
SPEEDS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)

#: How many frames a replay seek re-feeds so strips and sparklines are full again.
REFILL_FRAMES = 240


class FrameReady(Message):
    """New frames for the app, oldest first.

    Live frames coalesce: when the UI falls behind, a newer live message
    replaces an older one still queued, so only the newest frame is drawn.
    Frames carry absolute counters, so a skipped frame loses nothing but its
    strip cell; the source counts skips as dropped frames. `reset` asks the app
    to forget its history first (a replay seek).
    """

    def __init__(
        self, frames: tuple[Frame, ...], *, reset: bool = False, replaceable: bool = False
    ) -> None:
        super().__init__()
        self.frames = frames
        self.reset = reset
        self.replaceable = replaceable

    def can_replace(self, message: Message) -> bool:
        return (
            self.replaceable
            and isinstance(message, FrameReady)
            and message.replaceable
            and not message.reset
        )


Post = Callable[[FrameReady], object]


class Source(ABC):
    """The app's view of a frame source: live lab or replay."""

    live: ClassVar[bool]
    #: Whether the compare screen may pause this source's lab and bench every model on
    #: its workload: only a lab ccviz started itself (see `LiveSource.suspend`).
    benchable: ClassVar[bool] = False

    def __init__(self, config: LabConfig) -> None:
        self._requested = config
        self._post: Post | None = None

    @property
    def config(self) -> LabConfig:
        """The configuration the user asked for (may still be being applied)."""
        return self._requested

    @property
    def cores(self) -> int | None:
        """Cores of the machine the frames were measured on, if known."""
        return None

    @property
    @abstractmethod
    def label(self) -> str:
        """A short description for the header: "live" or "replay FILE"."""

    def request(self, **changes: Any) -> LabConfig:
        """Validate and remember a change (UI thread). Raises `ConfigError`."""
        self._requested = self._requested.replace(**changes)
        return self._requested

    @abstractmethod
    def start(self, post: Post) -> None:
        """Begin delivering frames through `post`. May block: call from a thread worker."""

    def tick(self, now: float) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Called on the UI thread several times a second; a replay advances here."""

    @abstractmethod
    def sync(self) -> None:
        """Apply what was requested. May block: call from a thread worker."""

    @abstractmethod
    def restart(self) -> None:
        """A fresh lab with the same config. May block: call from a thread worker."""

    def shown(self, frame: Frame) -> None:  # noqa: B027 - optional hook
        """The app drew `frame` (drop accounting)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop for good; idempotent."""


class LiveSource(Source):
    """Frames from a real lab, sampled on the session's sampler thread."""

    live = True
    benchable = True

    def __init__(self, config: LabConfig, *, proc_root: str = "/proc") -> None:
        super().__init__(config)
        self._proc_root = proc_root
        self._session: LabSession | None = None
        self._apply_lock = threading.Lock()
        self._last_seq: int | None = None
        self._stopped = False
        self._paused = False
        self._reset_next = False  # the first frame after `resume` starts a new history

    @property
    def label(self) -> str:
        return "live"

    @property
    def lab_pid(self) -> int | None:
        return None if self._session is None else self._session.lab_pid

    def start(self, post: Post) -> None:
        # Imported here so that replaying a recording never needs the lab machinery.
        from workloads.session import LabSession

        self._post = post
        with self._apply_lock:
            if self._stopped:
                return
            self._session = LabSession(
                self._requested, on_frame=self._on_frame, proc_root=self._proc_root
            )
            self._session.pause(self._paused)
            self._session.start()

    def set_paused(self, paused: bool) -> None:
        """The display is paused: stop sampling meanwhile (only a dead lab makes a frame)."""
        self._paused = paused
        session = self._session
        if session is not None:
            session.pause(paused)

    def suspend(self) -> None:
        """Stop the lab but not the source (the compare screen needs the cores). May block."""
        with self._apply_lock:
            session, self._session = self._session, None
        if session is not None:
            session.stop()

    def resume(self) -> None:
        """A fresh lab on the requested config after `suspend`. May block: call from a worker.

        The new session counts labs and time from zero again, so its first frame
        asks the app to start a new history.
        """
        from workloads.session import LabSession

        with self._apply_lock:
            if self._stopped or self._session is not None or self._post is None:
                return
            self._last_seq = None
            self._reset_next = True
            session = self._session = LabSession(
                self._requested, on_frame=self._on_frame, proc_root=self._proc_root
            )
            session.pause(self._paused)
            session.start()
            if self._stopped:  # `stop` ran while this lab started: it must not outlive us
                session.stop()

    def _on_frame(self, frame: Frame) -> None:
        """Sampler thread: hand the frame to the UI; never touch app state here."""
        post = self._post
        if post is None:
            return
        reset, self._reset_next = self._reset_next, False
        try:
            post(FrameReady((frame,), reset=reset, replaceable=not reset))
        except RuntimeError:  # the app's event loop closed while we were quitting
            self._post = None

    def sync(self) -> None:
        """Apply the difference between the running and the requested config.

        Serialised by a lock, and always applies the newest request, so quick
        repeated key presses end in the state of the last one.
        """
        with self._apply_lock:
            if self._session is None or self._stopped:
                return
            running = self._session.config.to_dict()
            changes = {
                k: v for k, v in self._requested.to_dict().items() if running.get(k) != v
            }
            if changes:
                try:
                    self._session.apply(**changes)
                except Exception:
                    # Show what really runs again, not a request that failed.
                    self._requested = self._session.config
                    raise

    def restart(self) -> None:
        with self._apply_lock:
            if self._session is not None and not self._stopped:
                self._session.restart()

    def shown(self, frame: Frame) -> None:
        last, self._last_seq = self._last_seq, frame.seq
        if last is not None and frame.seq > last + 1 and self._session is not None:
            self._session.note_dropped(frame.seq - last - 1)

    def stop(self) -> None:
        self._stopped = True
        self._post = None
        session = self._session
        if session is not None:
            session.stop()


class ReplaySource(Source):
    """A recording played back on a virtual clock with pause, step, speed and seek."""

    live = False

    def __init__(
        self,
        recording: Recording,
        *,
        speed: float = 1.0,
        start_at: int | None = None,
        paused: bool = False,
    ) -> None:
        super().__init__(LabConfig())
        self.speed = speed
        self.paused = paused
        self._start_at = start_at
        self._use(recording)

    def _use(self, recording: Recording) -> None:
        frames = recording.frames
        header_config = recording.header.get("config")
        if isinstance(header_config, dict):
            self._requested = LabConfig.from_dict(header_config)
        elif frames:
            self._requested = LabConfig.from_dict(frames[0].config)
        else:
            self._requested = LabConfig()
        self.recording = recording
        self.frames = frames
        self._times = [f.t for f in frames]
        self.position = -1  # index of the last frame delivered
        self._vt = 0.0  # virtual seconds since the first frame
        self._last_tick: float | None = None

    def load(self, recording: Recording) -> None:
        """Play another recording from its start (a rehearsed tour's next scene).

        Speed and pause carry over; the view starts a new history.
        """
        self._use(recording)
        if self.frames:
            self.position = 0
            self._emit(self.frames[:1], reset=True)

    @property
    def label(self) -> str:
        return f"replay {Path(self.recording.path).name}"

    @property
    def cores(self) -> int | None:
        machine = self.recording.header.get("machine")
        if isinstance(machine, dict):
            for key in ("cpus", "cores", "cpu_count"):
                value = machine.get(key)
                if isinstance(value, int) and value > 0:
                    return value
        return None

    @property
    def duration(self) -> float:
        return self._times[-1] - self._times[0] if self._times else 0.0

    @property
    def at(self) -> float:
        """Seconds into the recording of the frame on screen."""
        return self._times[self.position] - self._times[0] if self.position >= 0 else 0.0

    @property
    def at_end(self) -> bool:
        return self.position >= len(self.frames) - 1

    def start(self, post: Post) -> None:
        self._post = post
        if not self.frames:
            return
        target = 0 if self._start_at is None else self._start_at
        self.seek_index(target if target >= 0 else len(self.frames) + target)

    def tick(self, now: float) -> None:
        last, self._last_tick = self._last_tick, now
        if self.paused or last is None or self.position < 0 or self.at_end:
            return
        self._vt += (now - last) * self.speed
        stop = bisect.bisect_right(self._times, self._times[0] + self._vt) - 1
        if stop > self.position:
            batch = self.frames[self.position + 1 : stop + 1]
            self.position = stop
            self._emit(batch)

    def step(self, n: int) -> None:
        """Show the frame `n` frames away (n may be negative)."""
        if self.frames:
            self.seek_index(self.position + n)

    def seek(self, seconds: float) -> None:
        """Jump `seconds` forward (or back, if negative) from the frame on screen."""
        if self.frames:
            target = self._times[0] + self.at + seconds
            self.seek_index(bisect.bisect_right(self._times, target + 1e-9) - 1)

    def seek_index(self, index: int) -> None:
        """Show frame `index`, re-feeding enough earlier frames to fill strips and sparklines."""
        if not self.frames:
            return
        index = max(0, min(len(self.frames) - 1, index))
        if index == self.position + 1:
            self._emit(self.frames[index : index + 1])
        else:
            first = max(0, index - REFILL_FRAMES + 1)
            self._emit(self.frames[first : index + 1], reset=True)
        self.position = index
        self._vt = self._times[index] - self._times[0]
        self._last_tick = None

    def set_speed(self, speed: float) -> float:
        self.speed = min(SPEEDS, key=lambda s: abs(s - speed))
        return self.speed

    def faster(self, direction: int) -> float:
        """One step along `SPEEDS`; returns the new speed."""
        index = SPEEDS.index(self.set_speed(self.speed)) + direction
        return self.set_speed(SPEEDS[max(0, min(len(SPEEDS) - 1, index))])

    def sync(self) -> None:
        """Nothing to apply: a recording cannot change."""

    def restart(self) -> None:
        self.seek_index(0)

    def stop(self) -> None:
        self._post = None

    def _emit(self, frames: tuple[Frame, ...], *, reset: bool = False) -> None:
        if self._post is not None and frames:
            self._post(FrameReady(frames, reset=reset))

