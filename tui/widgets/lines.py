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

    def add_cells(self, text: str, style: Style | None = None) -> LineBuilder:
        """`add` for text known to be one cell per character (state glyphs)."""
        self.segments.append(Segment(text, style))
        self.length += len(text)
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
        self._lines: list[Strip] | None = None  # styled, as drawn
        self._raw: list[Strip] = []  # as built, before the pane's base style
        self._base: Style | None = None
        self._blank = Strip([])
        self._blank_base: Style | None = None
        self._rich_style_kept: Style | None = None
        self._built_for: tuple[Size, int] | None = None
        self._styles_cache_local: dict[str, Style] = {}
        self._styles_mounted: dict[str, Style] = {}

    # -- styles ----------------------------------------------------------

    def style_of(self, name: str) -> Style:
        """The Rich style of a component class (fallback palette when unmounted)."""
        if self.is_mounted:
            # Looked up per cell while strips are built: cache until the styles change.
            # The pane's own colours come first, so a built line needs no restyling.
            style = self._styles_mounted.get(name)
            if style is None:
                style = self._pane_style() + self.get_component_rich_style(name)
                self._styles_mounted[name] = style
            return style
        cached = self._styles_cache_local.get(name)
        if cached is None:
            cached = self._styles_cache_local[name] = Style.parse(FALLBACK.get(name, "") or "none")
        return cached

    def _pane_style(self) -> Style:
        """The pane's own colours (Textual walks every ancestor for them: kept until restyled)."""
        style = self._rich_style_kept
        if style is None:
            style = self._rich_style_kept = self.rich_style
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._rich_style_kept = None
        self._styles_mounted.clear()
        self.invalidate()  # a theme change recolours every cached strip

    def set_title(self, title: str) -> None:
        """Set the border title, repainting only the top border line.

        Assigning `border_title` makes Textual repaint every line of the pane.
        The threads pane's title counts threads, which changes on most frames
        of a lab that starts a thread per task, and repainting its ~40 unchanged
        lines for that was a third of the pane's cost. So the title is stored
        as Textual's setter stores it, and only its line is marked dirty.
        """
        if self.border_title == title:
            return
        if not self.is_mounted or self._border_title is None:
            self.border_title = title  # the first title: a full repaint anyway
            return
        self._border_title = self.render_str(title).expand_tabs(4).split()[0]
        x, y = self.content_offset
        self.refresh(Region(-x, -y, self.outer_size.width, 1))

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
        and Textual's cost is per painted line, so only changed lines are marked
        dirty, in one `refresh` call (each call also clears the widget's caches).
        A hidden or unmounted pane is left alone: it rebuilds when next painted.
        """
        if not self.is_mounted or not self.display:
            return
        size = self.draw_size
        key = (size, self.version())
        if key == self._built_for:
            return
        same_size = self._built_for is not None and self._built_for[0] == size
        old = len(self._lines) if same_size and self._lines is not None else None
        changed = self._rebuild(size)
        self._built_for = key
        if old is None:
            self.refresh()
            return
        new = len(self._lines or ())
        changed.extend(range(new, old))  # lines that are now blank
        regions: list[Region] = []
        for y in changed:
            last = regions[-1] if regions else None
            if last is not None and last.bottom == y:  # extend the run
                regions[-1] = Region(0, last.y, size.width, last.height + 1)
            else:
                regions.append(Region(0, y, size.width, 1))
        if regions:
            self.refresh(*regions)

    def render_line(self, y: int) -> Strip:
        size = self.draw_size
        key = (size, self.version())
        if self._lines is None or self._built_for != key:
            self._rebuild(size)
            self._built_for = key
        assert self._lines is not None
        return self._lines[y] if 0 <= y < len(self._lines) else self._blank

    def _rebuild(self, size: Size) -> list[int]:
        """Build the lines for `size`; the indices of lines that differ from the last build.

        A line equal to the one built last time at the same place keeps its
        styled strip: no restyling, and no repaint.
        """
        raw = list(self.build(size.width, size.height))[: size.height]
        if self.glyphs.translate:
            raw = [self._plain(line, size.width) for line in raw]
        base = self._pane_style() if self.is_mounted else None
        prev_raw, prev = self._raw, self._lines
        if prev is None or base != self._base or len(prev_raw) != len(prev):
            prev_raw, prev = [], []
        lines: list[Strip] = []
        changed: list[int] = []
        for y, line in enumerate(raw):
            if y < len(prev_raw) and prev_raw[y] == line:
                lines.append(prev[y])
                continue
            lines.append(line if base is None else _fill_unstyled(line, base))
            changed.append(y)
        self._raw, self._lines, self._base = raw, lines, base
        if self._blank.cell_length != size.width or self._blank_base != base:
            self._blank, self._blank_base = Strip.blank(size.width, base), base
        return changed

    def _plain(self, line: Strip, width: int) -> Strip:
        segments = [Segment(self.glyphs.plain(s.text), s.style) for s in line]
        return Strip(segments).adjust_cell_length(width)

    def lines_text(self) -> list[str]:
        """Every drawn line as plain text (for tests and debugging)."""
        return [self.render_line(y).text for y in range(self.draw_size.height)]


def _fill_unstyled(line: Strip, base: Style) -> Strip:
    """Give unstyled segments (gaps, padding) the pane's colours.

    Styled segments already carry them (`style_of` puts the pane's style
    first), so this is `line.apply_style(base)` without a style sum per segment.
    """
    segments = list(line)
    if all(segment.style is not None for segment in segments):
        return line
    return Strip(
        [segment if segment.style is not None else Segment(segment.text, base)
         for segment in segments],
        line.cell_length,
    )  # fmt: skip


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
