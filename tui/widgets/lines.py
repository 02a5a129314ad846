"""A Line-API base for the panes: build a few cached strips, draw them per line.

Every pane is one widget that renders its content as a list of `Strip`s,
rebuilt only when its data or size changes (the Line API keeps a 1,000-row
pane cheap; one widget per row would not be). Styles come from component
classes set in the `.tcss` on theme variables; before the widget is mounted
(unit tests without an app) a fixed fallback palette stands in, so tests can
assert on `render_line(y).text` alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Generic, TypeVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

from tui.widgets.glyphs import ASCII, UNICODE, Glyphs

__all__ = ["LineBuilder", "LinesWidget"]

#: Palette used when a widget is not mounted (no stylesheet to read).
FALLBACK: dict[str, str] = {
    "lines--label": "bold",
    "lines--value": "",
    "lines--dim": "dim",
    "lines--title": "bold",
    "lines--marker": "bold cyan",
    "lines--spark": "blue",
    "lines--good": "green",
    "lines--warn": "yellow",
    "lines--bad": "red",
    "state--executing": "green",
    "state--runnable": "yellow",
    "state--gil": "magenta",
    "state--waiting": "dim",
    "state--gone": "dim",
}


class LineBuilder:
    """Collects styled pieces of one line, then crops or pads it to a width."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.length = 0

    def add(self, text: str, style: Style | None = None) -> LineBuilder:
        if text:
            self.segments.append(Segment(text, style))
            self.length += cell_len(text)
        return self

    def pad_to(self, column: int, style: Style | None = None) -> LineBuilder:
        """Spaces up to `column` (at least one if already there and not at 0)."""
        return self.add(" " * max(0, column - self.length), style)

    def strip(self, width: int, style: Style | None = None) -> Strip:
        return Strip(self.segments, self.length).adjust_cell_length(width, style)


class LinesWidget(Widget):
    """A pane drawn with the Line API from a cached list of strips."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set(FALLBACK)

    DEFAULT_CSS = """
    LinesWidget { height: 1fr; }
    """

    #: Size used before layout (unit tests); a laid-out widget uses its real size.
    fallback_size = Size(80, 24)

    def __init__(
        self,
        *,
        ascii: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.glyphs: Glyphs = ASCII if ascii else UNICODE
        self._lines: list[Strip] | None = None
        self._blank = Strip([])
        self._built_for: tuple[Size, int] | None = None
        self._styles_cache_local: dict[str, Style] = {}
        self._styles_mounted: dict[str, Style] = {}

    # -- styles ----------------------------------------------------------

    def style_of(self, name: str) -> Style:
        """The Rich style of a component class (fallback palette when unmounted)."""
        if self.is_mounted:
            # Looked up per cell while strips are built: cache until the styles change.
            style = self._styles_mounted.get(name)
            if style is None:
                style = self._styles_mounted[name] = self.get_component_rich_style(name)
            return style
        cached = self._styles_cache_local.get(name)
        if cached is None:
            cached = self._styles_cache_local[name] = Style.parse(FALLBACK.get(name, "") or "none")
        return cached

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles_mounted.clear()
        self.invalidate()  # a theme change recolours every cached strip

    def set_title(self, title: str) -> None:
        """Set the border title only if it changed (each assignment costs a repaint)."""
        if self.border_title != title:
            self.border_title = title

    # -- drawing ---------------------------------------------------------

    @property
    def draw_size(self) -> Size:
        size = self.content_size
        return size if size.width and size.height else self.fallback_size

    def invalidate(self) -> None:
        """Drop the cached strips and redraw."""
        self._lines = None
        self.refresh()

    def version(self) -> int:
        """Changes whenever the data drawn changes; override (strips rebuild lazily)."""
        return 0

    def build(self, width: int, height: int) -> Iterable[Strip]:
        """The pane's lines for this size; override. At most `height` are drawn."""
        return ()

    def update_lines(self) -> None:
        """Rebuild now and repaint only the lines that changed.

        Most of a pane is stable from one frame to the next (blank rows, labels),
        and Textual's cost is per painted cell, so this halves the UI's CPU.
        A hidden or unmounted pane is left alone: it rebuilds when next painted.
        """
        if not self.is_mounted or not self.display:
            return
        size = self.draw_size
        key = (size, self.version())
        if key == self._built_for:
            return
        same_size = self._built_for is not None and self._built_for[0] == size
        old = self._lines if same_size else None
        self._rebuild(size)
        self._built_for = key
        new = self._lines or []
        if old is None:
            self.refresh()
            return
        start: int | None = None
        for y in range(max(len(old), len(new)) + 1):
            differs = y < max(len(old), len(new)) and (
                y >= len(old) or y >= len(new) or old[y] != new[y]
            )
            if differs and start is None:
                start = y
            elif not differs and start is not None:
                self.refresh(Region(0, start, size.width, y - start))
                start = None

    def render_line(self, y: int) -> Strip:
        size = self.draw_size
        key = (size, self.version())
        if self._lines is None or self._built_for != key:
            self._rebuild(size)
            self._built_for = key
        assert self._lines is not None
        return self._lines[y] if 0 <= y < len(self._lines) else self._blank

    def _rebuild(self, size: Size) -> None:
        lines = list(self.build(size.width, size.height))[: size.height]
        if self.glyphs.translate:
            lines = [self._plain(line, size.width) for line in lines]
        base = self.rich_style if self.is_mounted else None  # costly: once per build
        if base is not None:  # unstyled gaps take the pane's own colours
            lines = [line.apply_style(base) for line in lines]
        self._lines = lines
        self._blank = Strip.blank(size.width, base)

    def _plain(self, line: Strip, width: int) -> Strip:
        segments = [Segment(self.glyphs.plain(s.text), s.style) for s in line]
        return Strip(segments).adjust_cell_length(width)

    def lines_text(self) -> list[str]:
        """Every drawn line as plain text (for tests and debugging)."""
        return [self.render_line(y).text for y in range(self.draw_size.height)]


InfoT = TypeVar("InfoT")


class InfoLines(LinesWidget, Generic[InfoT]):
    """A Line-API widget drawn from one immutable `info` value.

    `show` redraws only when the value changed; `build` reads `self.info`.
    """

    info: InfoT | None = None
    _version = 0

    def show(self, info: InfoT) -> None:
        if info == self.info:
            return
        self.info = info
        self._version += 1
        self.update_lines()

    def version(self) -> int:
        return self._version
