"""Glyphs and number formats shared by the panes.

States are drawn by shape as well as colour, so a strip reads on a monochrome
projector or for a colour-blind viewer: solid for executing, dense shade for
runnable, a cross-hatch for the inferred GIL wait, a low dot for waiting.
`--ascii` swaps every glyph for a 7-bit one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from workloads.frames import ThreadState

__all__ = ["ASCII", "UNICODE", "Glyphs", "fmt_count", "fmt_ms", "fmt_pct", "fmt_rate"]


@dataclass(frozen=True, slots=True)
class Glyphs:
    """One character per state, plus sparkline levels and a change marker."""

    states: dict[ThreadState | None, str]
    levels: str  # lowest to highest; index 0 is drawn for exactly zero
    marker: str
    gap: str  # a sample that could not be measured
    more: str  # ellipsis
    bar: str  # separators in the header
    pointer: str  # leads the verdict
    translate: dict[int, str] | None = None  # applied to all drawn text (ASCII mode)

    def plain(self, text: str) -> str:
        """`text` as this glyph set can draw it (arrows become ->, and so on)."""
        return text.translate(self.translate) if self.translate else text

    def state(self, state: ThreadState | None) -> str:
        return self.states.get(state, " ")

    def level(self, value: float | None, top: float) -> str:
        """The sparkline glyph of `value` on a 0..top scale."""
        if value is None:
            return self.gap
        if value <= 0 or top <= 0:
            return self.levels[0]
        steps = len(self.levels) - 1
        return self.levels[max(1, min(steps, math.ceil(value / top * steps)))]


UNICODE = Glyphs(
    states={
        ThreadState.EXECUTING: "█",
        ThreadState.RUNNABLE: "▓",
        ThreadState.GIL_WAIT: "▚",
        ThreadState.WAITING: "·",
        ThreadState.GONE: "×",
        None: " ",
    },
    levels="▁▂▃▄▅▆▇█",
    marker="│",
    gap=" ",
    more="…",
    bar="│",
    pointer="▶",
)

ASCII = Glyphs(
    states={
        ThreadState.EXECUTING: "#",
        ThreadState.RUNNABLE: "+",
        ThreadState.GIL_WAIT: "g",
        ThreadState.WAITING: ".",
        ThreadState.GONE: "x",
        None: " ",
    },
    levels="_.-=+*#@",
    marker="|",
    gap=" ",
    more="~",
    bar="|",
    pointer=">",
    translate=str.maketrans(
        {
            "→": "->", "←": "<-", "≥": ">=", "≤": "<=", "…": "...", "·": "-", "—": "-",
            "–": "-", "µ": "u", "×": "x", "÷": "/", "▶": ">", "│": "|", "Δ": "d",
            "■": "#", "⏸": "||",
        }
    ),
)


def fmt_rate(value: float | None) -> str:
    """A per-second figure in at most 5 cells: 950, 12.3k, 4.1M; n/a when unmeasured."""
    if value is None:
        return "n/a"
    if value < 1000:
        return f"{value:.0f}" if value >= 10 or value == 0 else f"{value:.1f}"
    if value < 1e6:
        return f"{value / 1e3:.1f}k" if value < 1e4 else f"{value / 1e3:.0f}k"
    return f"{value / 1e6:.1f}M"


def fmt_count(value: float | None) -> str:
    """A whole count, compact: 12, 1.2k, 3.4M."""
    if value is None:
        return "n/a"
    return fmt_rate(float(round(value))) if value >= 1000 else f"{value:.0f}"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value < 1:
        return f"{value * 1000:.0f}µs"
    if value < 100:
        return f"{value:.1f}ms"
    if value < 10_000:
        return f"{value:.0f}ms"
    return f"{value / 1000:.1f}s"


def fmt_pct(share: float | None) -> str:
    """A 0..1 share as a whole percentage in 3 cells (or n/a)."""
    if share is None:
        return "n/a"
    return f"{share * 100:3.0f}"
