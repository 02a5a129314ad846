"""Helpers for Pilot tests: wait for conditions, never for time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from tui.app import CcvizApp

__all__ = ["notices", "wait_for"]


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(0.05)


def notices(app: CcvizApp) -> list[str]:
    """Messages of the notifications on screen (Textual keeps them in a private list)."""
    return [n.message for n in app._notifications]
