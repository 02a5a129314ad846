"""Sparklines drawn as Line-API segments, with change markers and gaps.

One column per sample, newest at the right, auto-scaled to the largest value
on screen. A sparkline may be several rows tall (eight levels per row), which
fills a tall pane on a projector. A sample that was not measurable (None) is a
gap, never a zero; zero is a dim baseline. A column where the lab changed
(new lab or applied live change) is drawn in the marker style, with the
marker glyph where the bar is empty, so the change shows as a vertical line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style

from tui.widgets.glyphs import Glyphs

__all__ = ["SparkStyles", "sparkline"]


@dataclass(frozen=True, slots=True)
class SparkStyles:
    bar: Style
    baseline: Style
    marker: Style


def sparkline(
    values: Sequence[float | None],
    markers: Sequence[str | None],
    *,
    height: int,
    glyphs: Glyphs,
    styles: SparkStyles,
    top: float | None = None,
    dim_before: int = 0,
) -> list[list[Segment]]:
    """Rows of segments, top row first; `values` and `markers` align, one per column.

    Columns before `dim_before` belong to an earlier lab: they are drawn dim and
    do not set the scale (taller ones are clipped), so a switch from a busy
    model to a quiet one does not flatten the new lab's chart.
    """
    current = [v for v in values[dim_before:] if v is not None]
    known = current or [v for v in values if v is not None]
    scale = top if top is not None else max(known, default=0.0)
    steps = len(glyphs.levels)
    rows: list[list[tuple[str, Style]]] = [[] for _ in range(height)]
    for column, (value, marker) in enumerate(zip(values, markers, strict=True)):
        fill = _fill(value, scale, steps * height)
        bar = styles.bar if column >= dim_before else styles.baseline
        for r in range(height):
            level = height - 1 - r  # 0 = bottom row
            cell = fill - level * steps
            if value is None:
                char, style = glyphs.gap, styles.baseline
            elif cell >= 1:
                char, style = glyphs.levels[min(steps, cell) - 1], bar
            elif level == 0:
                char, style = glyphs.levels[0], styles.baseline
            else:
                char, style = " ", styles.baseline
            if marker is not None:
                style = styles.marker
                if char in (" ", glyphs.levels[0]) and (cell < 1 or value is None):
                    char = glyphs.marker
            rows[r].append((char, style))
    return [_merge(row) for row in rows]


def _fill(value: float | None, scale: float, total: int) -> int:
    """How many of `total` eighths a value fills; at least one if above zero."""
    if value is None or value <= 0 or scale <= 0:
        return 0
    return max(1, min(total, math.ceil(value / scale * total)))


def _merge(cells: list[tuple[str, Style]]) -> list[Segment]:
    """Join runs of cells with the same style into one segment each."""
    out: list[Segment] = []
    text: list[str] = []
    current: Style | None = None
    for char, style in cells:
        if style is not current and text:
            out.append(Segment("".join(text), current))
            text = []
        current = style
        text.append(char)
    if text:
        out.append(Segment("".join(text), current))
    return out
