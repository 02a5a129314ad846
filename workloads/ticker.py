"""A fixed-rate loop for the sampler threads and the lab's reporter.

Ticks are due at whole periods from the start. A tick that comes late does
not make the next ones burst to catch up: when the loop falls behind, it
skips to now. That is what a sampler wants — frames carry absolute counters,
so a skipped tick loses nothing but its time step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["every"]


def every(period: float, stop: threading.Event, tick: Callable[[], bool | None]) -> None:
    """Call `tick` every `period` seconds until `stop` is set or `tick` returns False."""
    due = time.monotonic()
    while not stop.is_set():
        due += period
        delay = due - time.monotonic()
        if delay > 0:
            if stop.wait(delay):
                return
        else:
            due = time.monotonic()  # fell behind: skip, don't burst
        if tick() is False:
            return
