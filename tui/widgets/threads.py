"""The threads pane: one row per OS thread of the lab's tree, busiest first.

Each row carries a scrolling state strip (one cell per sample, newest at the
right) coloured and shaped by the dominant state, the current shares and the
switch rates. When threads outnumber rows, the last row summarises the rest;
the density view (`d`) draws one cell per thread so thousands fit at once.
One widget draws every row through the Line API: a widget per row would cost
a core at a few hundred threads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from rich.style import Style
from textual import events
from textual.strip import Strip

from tui.widgets.glyphs import fmt_pct, fmt_rate
from tui.widgets.lines import LineBuilder, LinesWidget
from workloads.frames import ThreadSample, ThreadState
from workloads.history import FrameHistory

__all__ = ["STATE_CLASS", "ThreadsPane"]

#: Component class that colours each state.
STATE_CLASS: dict[ThreadState | None, str] = {
    ThreadState.EXECUTING: "state--executing",
    ThreadState.RUNNABLE: "state--runnable",
    ThreadState.GIL_WAIT: "state--gil",
    ThreadState.WAITING: "state--waiting",
    ThreadState.GONE: "state--gone",
    None: "state--gone",
}

#: The order states are counted in, with the words used in summaries.
STATE_WORDS: tuple[tuple[ThreadState, str], ...] = (
    (ThreadState.EXECUTING, "executing"),
    (ThreadState.RUNNABLE, "runnable"),
    (ThreadState.GIL_WAIT, "GIL wait"),
    (ThreadState.WAITING, "waiting"),
)

#: Stands in for a state where a change marker is drawn.
_MARKER = object()

MAX_STRIP = 60
MIN_STRIP = 16


@dataclass(frozen=True, slots=True)
class Layout:
    """Which columns fit: widths of the id and name, and the figure columns shown."""

    id_width: int
    name_width: int
    figures: tuple[str, ...]  # exe run gil wait vol inv


FIGURE_WIDTH = {"exe": 5, "run": 5, "gil": 5, "wait": 6, "vol": 7, "inv": 7}
FIGURE_TITLE = {"exe": "exe%", "run": "run%", "gil": "gil%", "wait": "wait%",
                "vol": "vol/s", "inv": "inv/s"}

#: Richest first; the first whose fixed columns leave MIN_STRIP cells is used.
LAYOUTS: tuple[Layout, ...] = (
    Layout(13, 15, ("exe", "run", "gil", "wait", "vol", "inv")),
    Layout(7, 15, ("exe", "run", "gil", "wait", "vol", "inv")),
    Layout(7, 12, ("exe", "run", "gil", "vol", "inv")),
    Layout(7, 10, ("exe", "run", "gil", "vol")),
    Layout(7, 8, ("exe", "run", "vol")),
    Layout(7, 0, ("exe",)),
    Layout(7, 0, ()),
)


def _fixed(layout: Layout) -> int:
    name = layout.name_width + 1 if layout.name_width else 0
    return layout.id_width + 1 + name + 1 + sum(FIGURE_WIDTH[f] for f in layout.figures)


def choose_layout(width: int) -> tuple[Layout, int]:
    """The richest layout that fits `width`, and the strip's width in it."""
    for layout in LAYOUTS:
        if _fixed(layout) + MIN_STRIP <= width:
            return layout, min(MAX_STRIP, width - _fixed(layout))
    layout = LAYOUTS[-1]
    return layout, max(0, width - _fixed(layout))


class ThreadsPane(LinesWidget):
    """Threads as rows of state strips, or as a density grid of one cell each."""

    BORDER_TITLE = "Threads"

    history: FrameHistory | None = None
    figures_due = True
    density = False
    scroll_rows = 0  # rows scrolled past with the mouse wheel
    _cells: dict[object, tuple[str, Style]] | None = None
    _cells_for: object = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Figure segments of the rows last built, by (pid, tid, figure columns).
        self._figures: dict[tuple[int, int, tuple[str, ...]], list[tuple[str, Style]]] = {}
        self._figures_next: dict[tuple[int, int, tuple[str, ...]], list[tuple[str, Style]]] = {}
        self._fresh_line: Strip | None = None

    def show(self, history: FrameHistory, *, figures_due: bool = True) -> None:
        """Draw the latest frame; its strips always, its figures only if `figures_due`.

        The strips are the animation and move every frame. The figures (a
        row's shares and rates, the `+N new` line) are redrawn only when
        `figures_due` (live: twice a second, see `tui.pacing`); until then a
        row keeps the figures it showed, so a quiet thread's row does not
        change at all. A thread's first row always has its own figures.
        """
        self.history = history
        self.figures_due = figures_due
        self.update_lines()

    def set_density(self, on: bool) -> None:
        self.density = on
        self.scroll_rows = 0
        self.refresh()

    def version(self) -> int:
        appended = -1 if self.history is None else self.history.appended
        return hash((appended, self.density, self.scroll_rows))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.scroll_rows += 3
        self.refresh()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.scroll_rows = max(0, self.scroll_rows - 3)
        self.refresh()

    # -- building --------------------------------------------------------

    def build(self, width: int, height: int) -> Iterable[Strip]:
        history = self.history
        frame = None if history is None else history.latest
        if history is None or frame is None:
            self.set_title("Threads")
            text = "waiting for the first frame…"
            return [LineBuilder().add(text, self.style_of("lines--dim")).strip(width)]
        if self.density:
            return self._density(frame.threads, width, height)
        return self._rows(history, history.busiest(frame.threads), width, height)

    def _rows(
        self, history: FrameHistory, threads: Sequence[ThreadSample], width: int, height: int
    ) -> list[Strip]:
        layout, cells = choose_layout(width)
        # Threads seen for the first time have no measured interval yet: one
        # line lists them, and each gets a row from its first measured sample.
        fresh = [t for t in threads if t.new]
        if fresh:
            threads = [t for t in threads if not t.new]
        body = max(0, height - 1 - (1 if fresh and height > 2 else 0))
        total = len(threads)
        if total > body:
            shown_rows = max(0, body - 1)  # the last row summarises the rest
            self.scroll_rows = min(self.scroll_rows, max(0, total - shown_rows))
        else:
            shown_rows = body
            self.scroll_rows = 0
        start = self.scroll_rows
        shown = threads[start : start + shown_rows]
        self.set_title(
            f"Threads ({total + len(fresh)})"
            if len(shown) == total
            else f"Threads {start + 1}–{start + len(shown)} of {total}"
            + (f" (+{len(fresh)} new)" if fresh else "")
        )
        markers = history.markers(cells)
        lines = [self._header(layout, cells, markers, width)]
        self._figures_next = {}  # the shown rows' figures: kept for the next build
        for sample in shown:
            cells_states = history.strip((sample.pid, sample.tid), cells)
            lines.append(self._row(sample, layout, cells_states, markers, width))
        self._figures = self._figures_next
        rest = [t for i, t in enumerate(threads) if not start <= i < start + len(shown)]
        if rest and body > 0:
            lines.append(self._summary(rest, f"+{len(rest)} more", width, hint=True))
        if fresh and height > 2:
            fresh_line = self._fresh_line
            if self.figures_due or fresh_line is None or fresh_line.cell_length != width:
                fresh_line = self._fresh_line = self._fresh(fresh, width)
            lines.append(fresh_line)
        else:
            self._fresh_line = None
        return lines

    def _fresh(self, fresh: Sequence[ThreadSample], width: int) -> Strip:
        """'+12 new, measured from the next sample: task-17, task-18, …' (by tid).

        A thread-per-task lab starts about ten such threads a frame and most
        are gone by the next sample (a 20 ms task): as rows they would be
        blank strips with nothing measured, a different ten every frame. The
        line keeps the churn visible without drawing figures nobody measured.
        """
        line = LineBuilder().add(f"+{len(fresh)} new", self.style_of("lines--label"))
        line.add(", measured from the next sample: ", self.style_of("lines--dim"))
        names: list[str] = []
        room = width - line.length
        for sample in sorted(fresh, key=lambda t: (t.pid, t.tid)):
            room -= len(sample.name) + 2
            if room < 0:
                names.append(self.glyphs.more)
                break
            names.append(sample.name)
        line.add(", ".join(names), self.style_of("lines--value"))
        return line.strip(width, self.style_of("lines--value"))

    def _header(
        self, layout: Layout, cells: int, markers: Sequence[str | None], width: int
    ) -> Strip:
        dim = self.style_of("lines--dim")
        line = LineBuilder()
        line.add("pid/tid".rjust(layout.id_width) if layout.id_width > 7 else "tid".rjust(7), dim)
        line.add(" ")
        if layout.name_width:
            line.add("name".ljust(layout.name_width) + " ", dim)
        line.add(self._strip_title(cells, markers), dim)
        line.add(" ")
        for figure in layout.figures:
            line.add(FIGURE_TITLE[figure].rjust(FIGURE_WIDTH[figure]), dim)
        return line.strip(width, dim)

    def _strip_title(self, cells: int, markers: Sequence[str | None]) -> str:
        """'states, newest →' with each change's label above its marker column."""
        title = list("states, newest →"[:cells].ljust(cells))
        for column, label in enumerate(markers):
            if label is None:
                continue
            if column + 1 + len(label) <= cells:  # label to the right of its marker
                text, start = self.glyphs.marker + label, column
            else:  # no room: the label ends at its marker
                text = label + self.glyphs.marker
                start = max(0, column + 1 - len(text))
                text = text[-(column + 1 - start) :]
            title[start : start + len(text)] = text
        return "".join(title)

    def _row(
        self,
        sample: ThreadSample,
        layout: Layout,
        states: Sequence[ThreadState | None],
        markers: Sequence[str | None],
        width: int,
    ) -> Strip:
        value, dim = self.style_of("lines--value"), self.style_of("lines--dim")
        line = LineBuilder()
        ident = f"{sample.pid}/{sample.tid}" if layout.id_width > 7 else str(sample.tid)
        line.add(ident[-layout.id_width :].rjust(layout.id_width) + " ", dim)
        if layout.name_width:
            line.add(sample.name[: layout.name_width].ljust(layout.name_width) + " ", value)
        self._strip_cells(line, states, markers)
        key = (sample.pid, sample.tid, layout.figures)
        figures = None if self.figures_due else self._figures.get(key)
        if figures is None:
            figures = self._figures_next[key] = self._figure_segments(sample, layout)
        else:
            self._figures_next[key] = figures
        for text, style in figures:
            line.add(text, style)
        return line.strip(width, value)

    def _figure_segments(self, sample: ThreadSample, layout: Layout) -> list[tuple[str, Style]]:
        """The row's figures; those sharing a style in one segment (Textual pays per segment)."""
        segments: list[tuple[str, Style]] = []
        text, style = " ", self.style_of("lines--dim")
        for figure in layout.figures:
            figure_text, figure_style = self._figure(sample, figure)
            if figure_style is not style and text.strip():
                segments.append((text, style))
                text = ""
            text += figure_text.rjust(FIGURE_WIDTH[figure])
            style = figure_style
        segments.append((text, style))
        return segments

    def _strip_cells(
        self,
        line: LineBuilder,
        states: Sequence[ThreadState | None],
        markers: Sequence[str | None],
    ) -> None:
        """Append the strip, joining runs of equal cells into one segment.

        Runs are found with `groupby` over the states (markers overwrite their
        column), so a row costs a few segments, not a Python step per cell.
        """
        table = self._cell_table()
        keys: Sequence[object] = states
        if markers.count(None) != len(markers):
            keys = [_MARKER if m is not None else s for s, m in zip(states, markers, strict=True)]
        if keys and keys.count(keys[0]) == len(keys):  # one state all along: common
            char, style = table[keys[0]]
            line.add_cells(char * len(keys), style)
            return
        run, run_style = "", None
        for key, group in groupby(keys):
            char, style = table[key]
            text = char * len(list(group))
            if style is run_style or style == run_style:
                run += text
                continue
            if run:
                line.add_cells(run, run_style)
            run, run_style = text, style
        if run:
            line.add_cells(run, run_style)

    def _cell_table(self) -> dict[object, tuple[str, Style]]:
        """Each state's (glyph, style), and the marker's; built once per styling."""
        table = self._cells
        if table is None or self._cells_for is not self.glyphs:
            table = {state: (self.glyphs.state(state), self.style_of(cls))
                     for state, cls in STATE_CLASS.items()}  # fmt: skip
            table[_MARKER] = (self.glyphs.marker, self.style_of("lines--marker"))
            self._cells, self._cells_for = table, self.glyphs
        return table

    def notify_style_update(self) -> None:
        self._cells = None
        self._figures.clear()
        self._fresh_line = None
        super().notify_style_update()

    def _figure(self, sample: ThreadSample, figure: str) -> tuple[str, Style]:
        if figure == "exe":
            return fmt_pct(sample.executing), self.style_of("state--executing")
        if figure == "run":
            return fmt_pct(sample.runnable), self.style_of("state--runnable")
        if figure == "gil":
            return fmt_pct(sample.gil_wait), self.style_of("state--gil")
        if figure == "wait":
            return fmt_pct(sample.waiting), self.style_of("lines--dim")
        if figure == "vol":
            return fmt_rate(sample.voluntary_per_s), self.style_of("lines--value")
        return fmt_rate(sample.involuntary_per_s), self.style_of("lines--value")

    def _summary(
        self, threads: Sequence[ThreadSample], lead: str, width: int, *, hint: bool = False
    ) -> Strip:
        counts = Counter(t.state for t in threads)
        line = LineBuilder().add(lead, self.style_of("lines--label"))
        for state, word in STATE_WORDS:
            if counts[state]:
                line.add("  ")
                line.add(self.glyphs.state(state), self.style_of(STATE_CLASS[state]))
                line.add(f" {counts[state]} {word}", self.style_of("lines--value"))
        if hint:
            line.add("   d: density view", self.style_of("lines--dim"))
        return line.strip(width, self.style_of("lines--value"))

    def _density(self, threads: Sequence[ThreadSample], width: int, height: int) -> list[Strip]:
        """One cell per thread in a stable order (pid, tid), so patterns stay put.

        Few threads get bigger cells (up to 12×6) so the grid fills the pane;
        thousands get one character each.
        """
        ordered = sorted(threads, key=lambda t: (t.pid, t.tid))
        rows = max(0, height - 1)
        cell_w, cell_h = density_cell(len(ordered), width, rows)
        per_row = max(1, width // cell_w)
        capacity = per_row * (rows // cell_h)
        reserve = len(f"{self.glyphs.more}+{len(ordered)}")
        overflow = len(ordered) > capacity
        shown = ordered[: max(0, capacity - reserve)] if overflow else ordered
        self.set_title(f"Threads — density, one cell per thread ({len(ordered)})")
        lines = [self._summary(ordered, f"{len(ordered)} threads", width)]
        value = self.style_of("lines--value")
        draw_w = cell_w - 1 if cell_w > 1 else 1  # a gap column between big cells
        draw_h = cell_h - 1 if cell_h > 1 else 1  # and a gap row between big rows
        for start in range(0, max(1, capacity), per_row):
            row = shown[start : start + per_row]
            last_row = overflow and start + per_row >= capacity
            if not row and not last_row:
                break
            for sub in range(cell_h):
                line = LineBuilder()
                if sub < draw_h:
                    for sample in row:
                        style = self.style_of(STATE_CLASS[sample.state])
                        line.add(self.glyphs.state(sample.state) * draw_w, style)
                        line.add(" " * (cell_w - draw_w), value)
                if last_row and sub == 0:
                    more = f"{self.glyphs.more}+{len(ordered) - len(shown)}"
                    line.pad_to(width - len(more), value).add(more, self.style_of("lines--label"))
                lines.append(line.strip(width, value))
        return lines


def density_cell(count: int, width: int, rows: int) -> tuple[int, int]:
    """The largest cell (width, height), about twice as wide as tall, that fits `count`."""
    for cell_h in range(6, 1, -1):
        cell_w = cell_h * 2
        per_row = width // cell_w
        if per_row and -(-count // per_row) * cell_h <= rows:
            return cell_w, cell_h
    return 1, 1
