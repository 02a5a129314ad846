"""The tour's caption panel: which scene, its title, and what to look at on screen."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

from textual.geometry import Size
from textual.strip import Strip

from tui.widgets.lines import LineBuilder, LinesWidget

__all__ = ["Caption", "CaptionPanel"]


@dataclass(frozen=True, slots=True)
class Caption:
    """What the panel shows for one scene."""

    tour: str
    index: int  # 0-based
    total: int
    title: str
    text: str


class CaptionPanel(LinesWidget):
    """Scene n/N and its title on one line, the caption wrapped below it.

    Its height follows the caption (the stylesheet caps it on short terminals),
    so the panes below keep every row the text does not need.
    """

    caption: Caption | None = None
    _version = 0

    def show(self, caption: Caption) -> None:
        if caption == self.caption:
            return
        rows = len(self._lines_for(self.draw_size.width))
        self.caption = caption
        self._version += 1
        if len(self._lines_for(self.draw_size.width)) != rows:
            self.refresh(layout=True)
        else:
            self.update_lines()

    def version(self) -> int:
        return self._version

    def _lines_for(self, width: int) -> list[str]:
        caption = self.caption
        if caption is None:
            return [""]
        text = self.glyphs.plain(caption.text)
        return ["", *textwrap.wrap(text, max(10, width - 4))]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines_for(width))

    def build(self, width: int, height: int) -> Iterable[Strip]:
        caption = self.caption
        if caption is None:
            return []
        title, dim = self.style_of("lines--title"), self.style_of("lines--dim")
        value, marker = self.style_of("lines--value"), self.style_of("lines--marker")
        head = LineBuilder().add(f" {self.glyphs.pointer} ", marker)
        head.add(f"scene {caption.index + 1}/{caption.total}", marker)
        head.add(f" {self.glyphs.bar} ", dim).add(caption.title, title)
        hint = f"n next {self.glyphs.bar} p previous "
        if head.length + len(hint) + 2 <= width:
            head.pad_to(width - len(hint)).add(hint, dim)
        lines = [head.strip(width, value)]
        for row in self._lines_for(width)[1:]:
            lines.append(LineBuilder().add("   " + row, value).strip(width, value))
        return lines
