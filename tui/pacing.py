"""Pacing for live figures: a change of what is shown at once, new figures at a readable rate.

Ten changes a second cannot be read, and each repaints lines (most of
ccviz's own CPU). So a live view's figures (a clock, a cost, a rate in a
sentence) are let through at most once a period, while anything that changes
what the view means (a key's effect, a badge, a new lab, another verdict)
goes through at once. Times are frame times, so a test drives it exactly.
"""

from __future__ import annotations

import math

__all__ = ["FIGURES_PERIOD_S", "Pacer"]

#: Live figures (the header's clock and cost, the verdict's rates, the side
#: panes, the thread rows' figures) change at most twice a second; the
#: threads pane's strips keep every frame.
FIGURES_PERIOD_S = 0.5

#: Frames a period apart must be due despite jitter: due after this share of it.
_SLACK = 0.75


class Pacer:
    """Says whether a view is due: its `key` changed, or `period` s passed since the last one."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._t = -math.inf
        self._key: object = object()  # equal to nothing: the first call is due

    def due(self, t: float, key: object) -> bool:
        """Whether to draw now (at frame time `t`); if so, remember `t` and `key`."""
        if key == self._key and 0.0 <= t - self._t < _SLACK * self.period:
            return False
        self._t, self._key = t, key
        return True
