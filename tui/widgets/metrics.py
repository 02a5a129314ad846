"""The base of the small panes: text lines plus labelled sparklines.

A pane lists what to show for the latest frame as `Text` lines and `Metric`s;
this base lays them out for any size: each metric is a heading (label and
figures) over a sparkline as wide as the pane, and the sparklines share the
rows left over, so a tall pane on a projector gets tall charts while an
80×24 terminal still gets one row each.

A chart column is half a second of samples (five frames at the default 10 Hz;
the heading's figures still change with every frame). That shows a minute of
history in a wide pane rather than six seconds, and a chart only moves twice a
second, so between moves its rows are reused as they are and the terminal
repaints only the headings: the side panes are most of the screen, and
redrawing every row of them ten times a second was most of ccviz's own CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from textual.strip import Strip

from tui.widgets.glyphs import fmt_count
from tui.widgets.lines import LineBuilder, LinesWidget
from tui.widgets.sparkline import SparkStyles, sparkline
from workloads.frames import Frame
from workloads.history import FrameHistory

__all__ = ["Metric", "MetricPane", "Text"]

MAX_SPARK_ROWS = 8

#: Seconds of samples per chart column.
COLUMN_S = 0.5


@dataclass(frozen=True, slots=True)
class Text:
    """A line of label/value pairs: ((label, value), ...)."""

    parts: tuple[tuple[str, str], ...]
    optional: bool = False  # dropped first when the pane is short


@dataclass(frozen=True, slots=True)
class Metric:
    """A series drawn as a sparkline under a heading with now / p99 / max."""

    label: str
    series: str
    fmt: Callable[[float | None], str] = fmt_count
    top: float | None = None  # fixed scale (e.g. a pool's size); None = auto
    p99: bool = True
    p99_override: float | None = None  # e.g. from a histogram rather than the series
    peak: bool = False  # a column shows its samples' peak, not their mean (spikes matter)


Item = Text | Metric


class MetricPane(LinesWidget):
    """A pane of text lines and metrics, all read from the frame history."""

    history: FrameHistory | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # series -> (what the chart was drawn from, its rows): reused until a column closes
        self._charts: dict[str, tuple[tuple[object, ...], list[Strip]]] = {}

    def notify_style_update(self) -> None:
        self._charts.clear()
        super().notify_style_update()

    _shown = -1  # history.appended when last shown: a pane not shown a frame keeps its lines

    def show(self, history: FrameHistory) -> None:
        """Point the pane at the history and redraw what changed."""
        self.history = history
        self._shown = history.appended
        self.update_lines()

    def version(self) -> int:
        return self._shown

    def items(self, frame: Frame, history: FrameHistory) -> Sequence[Item]:
        """What this pane shows for `frame`; override."""
        return ()

    def waiting_text(self) -> str:
        return "waiting for the first frame…"

    def build(self, width: int, height: int) -> Iterable[Strip]:
        history = self.history
        frame = None if history is None else history.latest
        if history is None or frame is None:
            line = LineBuilder().add(self.waiting_text(), self.style_of("lines--dim"))
            return [line.strip(width)]
        items = list(self.items(frame, history))
        metrics = [i for i in items if isinstance(i, Metric)]
        if len(items) + len(metrics) > height:  # short of room: optional lines go first
            items = [i for i in items if not (isinstance(i, Text) and i.optional)]
        texts = len(items) - len(metrics)
        # Drop metrics from the end until each has its heading and one row.
        while metrics and texts + 2 * len(metrics) > height:
            items.remove(metrics.pop())
        rows = 1
        if metrics:
            rows = max(1, min(MAX_SPARK_ROWS, (height - texts - len(metrics)) // len(metrics)))
        lines: list[Strip] = []
        for item in items:
            if isinstance(item, Text):
                lines.append(self._text_line(item, width))
            else:
                lines.extend(self._metric_lines(item, history, width, rows))
        return lines

    def _text_line(self, item: Text, width: int) -> Strip:
        line = LineBuilder()
        label, value = self.style_of("lines--dim"), self.style_of("lines--value")
        for n, (name, figure) in enumerate(item.parts):
            if n:
                line.add(" · ", label)
            if name:
                line.add(f"{name} ", label)
            line.add(figure, value)
        return line.strip(width, value)

    def _metric_lines(
        self, metric: Metric, history: FrameHistory, width: int, rows: int
    ) -> list[Strip]:
        latest = history.latest
        hz = latest.config.get("hz") if latest is not None else None
        per = max(1, round(COLUMN_S * float(hz))) if isinstance(hz, int | float) and hz > 0 else 1
        open_ = history.open_samples(per)
        # Columns wholly of this lab's samples; older ones are drawn dim and do not scale.
        ours = max(0, min(width, (history.lab_samples - open_) // per))
        window = max(1, min(history.lab_samples, width * per + open_))
        stats = history.stats(metric.series, window)
        p99 = metric.p99_override if metric.p99_override is not None else stats.p99
        dim, value = self.style_of("lines--dim"), self.style_of("lines--value")
        # The heading drops p99, then max, rather than cut a figure in half.
        for show_p99, show_max in ((metric.p99, True), (False, True), (False, False)):
            head = LineBuilder().add(metric.label, self.style_of("lines--label"))
            head.add("  ").add(metric.fmt(stats.current), value)
            if show_p99:
                head.add("  p99 ", dim).add(metric.fmt(p99), value)
            if show_max:
                head.add("  max ", dim).add(metric.fmt(stats.max), value)
            if head.length <= width:
                break
        styles = SparkStyles(
            bar=self.style_of("lines--spark"),
            baseline=self.style_of("lines--dim"),
            marker=self.style_of("lines--marker"),
        )
        key = (history.appended - open_, per, width, rows, ours, metric.top, metric.peak, styles)
        cached = self._charts.get(metric.series)
        if cached is not None and cached[0] == key:
            chart = cached[1]
        else:
            chart = [
                Strip(row, width)
                for row in sparkline(
                    history.columns(metric.series, width, per, peak=metric.peak),
                    history.column_markers(width, per),
                    height=rows,
                    glyphs=self.glyphs,
                    styles=styles,
                    top=metric.top,
                    dim_before=width - ours,
                )
            ]
            self._charts[metric.series] = (key, chart)
        return [head.strip(width, value), *chart]
