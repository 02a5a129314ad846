"""Horizontal bars: every model's figure side by side, for the compare screen.

One block per figure (a heading, then a row per model: name, bar, number),
laid out in as many columns as the width allows. Bars are scaled to the
largest value of their figure; the best value (where more or less is better)
is highlighted, the model the live lab was running is marked, and a figure
that could not be measured reads "n/a".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from textual.geometry import Size
from textual.strip import Strip

from tui.widgets.lines import LineBuilder, LinesWidget
from workloads.frames import ThreadState

__all__ = ["BarRow", "CompareBars", "Figure"]

NAME_WIDTH = 16
VALUE_WIDTH = 10
MIN_BLOCK = 44  # narrowest useful block: name, a short bar, the number
GAP = 3
#: Partial cells of a horizontal bar, in eighths (Unicode only).
EIGHTHS = " ▏▎▍▌▋▊▉"


@dataclass(frozen=True, slots=True)
class Figure:
    """One compared figure, read from a bench result (`workloads.bench.aggregate`)."""

    title: str
    read: Callable[[Mapping[str, Any]], float | None]
    fmt: Callable[[float], str]
    better: str | None = None  # "more", "less", or None when neither is better


@dataclass(frozen=True, slots=True)
class BarRow:
    """A model's place in the comparison: waiting, running, done or failed."""

    model: str
    status: str = "waiting"
    result: Mapping[str, Any] | None = None
    note: str = ""  # why it failed


class CompareBars(LinesWidget):
    """Every figure as a block of bars, one bar per model."""

    DEFAULT_CSS = "CompareBars { height: auto; }"

    def __init__(
        self,
        figures: Sequence[Figure],
        rows: Sequence[BarRow],
        *,
        current: str | None = None,
        ascii: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(ascii=ascii, id=id)
        self.figures = tuple(figures)
        self.rows = tuple(rows)
        self.current = current
        self._version = 0

    def show(self, rows: Sequence[BarRow]) -> None:
        self.rows = tuple(rows)
        self._version += 1
        self.update_lines()

    def version(self) -> int:
        return self._version

    def columns(self, width: int) -> int:
        return max(1, min(len(self.figures), (width + GAP) // (MIN_BLOCK + GAP)))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        blocks = -(-len(self.figures) // self.columns(width))
        return blocks * (len(self.rows) + 2) - 1

    def build(self, width: int, height: int) -> Iterable[Strip]:
        columns = self.columns(width)
        block_width = (width - GAP * (columns - 1)) // columns
        gap = Strip.blank(GAP)
        lines: list[Strip] = []
        for start in range(0, len(self.figures), columns):
            if lines:
                lines.append(Strip.blank(width))
            blocks = [self._block(f, block_width) for f in self.figures[start : start + columns]]
            for y in range(len(self.rows) + 1):
                parts: list[Strip] = []
                for n, block in enumerate(blocks):
                    if n:
                        parts.append(gap)
                    parts.append(block[y])
                lines.append(Strip.join(parts).adjust_cell_length(width))
        return lines

    # -- one figure --------------------------------------------------------

    def _values(self, figure: Figure) -> dict[str, float | None]:
        values: dict[str, float | None] = {}
        for row in self.rows:
            if row.status == "done" and row.result is not None:
                try:
                    values[row.model] = figure.read(row.result)
                except (KeyError, TypeError):  # a result without this figure
                    values[row.model] = None
        return values

    def _block(self, figure: Figure, width: int) -> list[Strip]:
        dim, label = self.style_of("lines--dim"), self.style_of("lines--label")
        head = LineBuilder().add(figure.title, label)
        if figure.better is not None:
            head.add(f"  {figure.better} is better", dim)
        lines = [head.strip(width)]
        values = self._values(figure)
        known = [v for v in values.values() if v is not None]
        top = max(known, default=0.0)
        best = None
        if known and figure.better is not None:
            best = max(known) if figure.better == "more" else min(known)
        bar_width = max(1, width - 2 - NAME_WIDTH - VALUE_WIDTH)
        for row in self.rows:
            lines.append(self._row(row, figure, values, top, best, bar_width, width))
        return lines

    def _row(
        self,
        row: BarRow,
        figure: Figure,
        values: Mapping[str, float | None],
        top: float,
        best: float | None,
        bar_width: int,
        width: int,
    ) -> Strip:
        value_style = self.style_of("lines--value")
        line = LineBuilder()
        if row.model == self.current:
            line.add(f"{self.glyphs.pointer} ", self.style_of("lines--marker"))
            line.add(row.model[: NAME_WIDTH - 1], self.style_of("lines--title"))
        else:
            line.add("  ").add(row.model[: NAME_WIDTH - 1], value_style)
        line.pad_to(2 + NAME_WIDTH)
        if row.status != "done":
            status, status_style = {
                "running": ("running…", "lines--warn"),
                "failed": (f"failed {row.note}".strip(), "lines--bad"),
            }.get(row.status, ("waiting", "lines--dim"))
            line.add(status[: bar_width + VALUE_WIDTH], self.style_of(status_style))
            return line.strip(width)
        value = values.get(row.model)
        winner = value is not None and value == best
        bar_style = self.style_of("lines--good" if winner else "lines--spark")
        line.add(self._bar(value, top, bar_width), bar_style)
        text = "n/a" if value is None else figure.fmt(value)
        style = self.style_of("lines--good") if winner else value_style
        if value is None:
            style = self.style_of("lines--dim")
        line.pad_to(width - VALUE_WIDTH).add(text.rjust(VALUE_WIDTH)[-VALUE_WIDTH:], style)
        return line.strip(width)

    def _bar(self, value: float | None, top: float, width: int) -> str:
        if value is None or value <= 0 or top <= 0:
            return ""
        cells = min(1.0, value / top) * (width - 1)  # keep one cell before the number
        full = self.glyphs.state(ThreadState.EXECUTING)  # a solid cell in either glyph set
        whole = int(cells)
        if self.glyphs.translate:  # ASCII: whole cells only, at least one for a non-zero value
            return full * max(1, round(cells))
        part = EIGHTHS[int((cells - whole) * 8)].strip()
        return (full * whole + part) or EIGHTHS[1]
