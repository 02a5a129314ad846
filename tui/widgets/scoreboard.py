"""The duel's own panes: the scoreboard comparing two labs, a header per side, the banner.

The scoreboard reads each side's `FrameHistory` over the last few seconds of
its current lab, so a figure does not flicker from frame to frame, and marks
the side that leads each row. A figure that could not be measured is "n/a"
and never leads: "not measurable" is not "zero". Ties (within `TIE`) lead
nobody, so noise between two identical labs does not crown a winner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from textual.geometry import Size
from textual.strip import Strip

from tui.widgets.glyphs import fmt_ms, fmt_rate
from tui.widgets.lines import InfoLines, LineBuilder, LinesWidget
from tui.widgets.status import FIELDS, _value
from workloads.config import MODELS, LabConfig
from workloads.frames import Frame
from workloads.history import FrameHistory

__all__ = [
    "ROWS",
    "SCORE_WINDOW_S",
    "TIE",
    "BannerInfo",
    "DuelBanner",
    "Row",
    "Scoreboard",
    "SideFigures",
    "SideHeader",
    "SideInfo",
    "fmt_cpus",
    "leader",
    "side_figures",
]

#: Seconds of the current lab the scoreboard averages over.
SCORE_WINDOW_S = 3.0
#: Relative difference below which a row is a tie.
TIE = 0.05
#: Widest a side's column grows: wider only pushes the leader column out of sight.
MAX_COLUMN = 30
LEAD_WIDTH = 10


@dataclass(frozen=True, slots=True)
class SideFigures:
    """One side's scoreboard figures; None where they cannot be measured (yet)."""

    throughput: float | None = None  # completed tasks/s
    p99_ms: float | None = None  # latency, submit → done
    switches_per_task: float | None = None  # context switches of the tree ÷ completed tasks
    cpu_percent: float | None = None  # the tree's CPU, 100 = one core
    cpu_ms_per_task: float | None = None  # CPU time ÷ completed tasks
    rss_bytes: int | None = None  # RSS of the lab's tree (IO server excluded)
    kib_per_task: float | None = None  # RSS ÷ tasks in flight


def side_figures(history: FrameHistory, window: float = SCORE_WINDOW_S) -> SideFigures:
    """The figures of the latest `window` seconds of the side's current lab."""
    frames = history.recent(window)
    if not frames:
        return SideFigures()
    latest = frames[-1]
    rss = sum(p.rss_bytes for p in latest.processes) if latest.processes else None
    kib = None
    if rss is not None and latest.app is not None and latest.app.in_flight > 0:
        kib = rss / 1024 / latest.app.in_flight
    timed = [f for f in frames if f.dt > 0]
    cpu = sum(f.cpu_percent for f in timed) / len(timed) if timed else None
    facts = [f for f in frames if f.app is not None]
    throughput = per_task = None
    if len(facts) >= 2:
        first, last = facts[0], facts[-1]
        assert first.app is not None and last.app is not None
        done = last.app.completed - first.app.completed
        span = last.app.t - first.app.t
        throughput = done / span if span > 0 else None
        if done > 0:
            per_task = (last.switches_total - first.switches_total) / done
    p99 = history.hist_percentile(
        lambda f: None if f.app is None else f.app.latency_hist, 99, window
    )
    cpu_ms = None
    if cpu is not None and throughput:
        cpu_ms = cpu / 100 * 1000 / throughput
    return SideFigures(throughput, p99, per_task, cpu, cpu_ms, rss, kib)


def leader(a: float | None, b: float | None, *, higher_better: bool) -> str | None:
    """Which side leads: "A", "B", "tie", or None when either cannot be measured."""
    if a is None or b is None:
        return None
    if abs(a - b) <= TIE * max(abs(a), abs(b)):
        return "tie"
    return "A" if (a > b) == higher_better else "B"


def _factor(a: float, b: float) -> str:
    """How far the leader is ahead, e.g. ×2.3 (blank when the other side is 0)."""
    high, low = max(abs(a), abs(b)), min(abs(a), abs(b))
    if low == 0:
        return ""
    ratio = high / low
    return f" ×{ratio:.1f}" if ratio < 10 else f" ×{min(ratio, 999):.0f}"


def _fmt_per_task(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def _fmt_cpu(f: SideFigures) -> str:
    if f.cpu_percent is None:
        return "n/a"
    per = "" if f.cpu_ms_per_task is None else f" · {fmt_ms(f.cpu_ms_per_task)}/task"
    return f"{f.cpu_percent:.0f}%{per}"


def _fmt_mem(f: SideFigures) -> str:
    if f.kib_per_task is None:
        return "n/a"
    kib = f.kib_per_task
    per = f"{kib:.1f} KiB/task" if kib < 100 else f"{kib:,.0f} KiB/task"
    return per if f.rss_bytes is None else f"{per} · {f.rss_bytes / 2**20:.0f} MiB"


@dataclass(frozen=True, slots=True)
class Row:
    """A scoreboard row: label, how to show a side, what is compared and which way wins."""

    label: str
    show: Callable[[SideFigures], str]
    score: Callable[[SideFigures], float | None]
    higher_better: bool


#: The rows, in order. CPU leads by CPU time per task: less CPU for the same work wins.
ROWS: tuple[Row, ...] = (
    Row("throughput", lambda f: f"{fmt_rate(f.throughput)} tasks/s"
        if f.throughput is not None else "n/a", lambda f: f.throughput, True),
    Row("p99 latency", lambda f: fmt_ms(f.p99_ms), lambda f: f.p99_ms, False),
    Row("switches per task", lambda f: _fmt_per_task(f.switches_per_task),
        lambda f: f.switches_per_task, False),
    Row("CPU % · per task", _fmt_cpu, lambda f: f.cpu_ms_per_task, False),
    Row("memory per task", _fmt_mem, lambda f: f.kib_per_task, False),
)


class Scoreboard(LinesWidget):
    """Both sides' figures row by row, the leader's figure highlighted and named."""

    DEFAULT_CSS = "Scoreboard { height: auto; }"
    BORDER_TITLE = "Scoreboard"

    figures: tuple[SideFigures, SideFigures] = (SideFigures(), SideFigures())
    names: tuple[str, str] = ("A", "B")
    _version = 0

    def show(self, a: SideFigures, b: SideFigures, names: tuple[str, str]) -> None:
        if (a, b) == self.figures and names == self.names:
            return
        self.figures, self.names = (a, b), names
        self._version += 1
        self.update_lines()

    def version(self) -> int:
        return self._version

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 1 + len(ROWS)

    def leaders(self) -> list[str | None]:
        a, b = self.figures
        return [leader(r.score(a), r.score(b), higher_better=r.higher_better) for r in ROWS]

    def build(self, width: int, height: int) -> Iterable[Strip]:
        label, value = self.style_of("lines--label"), self.style_of("lines--value")
        dim, good = self.style_of("lines--dim"), self.style_of("lines--good")
        title = self.style_of("lines--title")
        first = 19
        col = max(8, min(MAX_COLUMN, (width - first - LEAD_WIDTH) // 2))
        head = LineBuilder().add(" window ", dim).add(f"{SCORE_WINDOW_S:g}s", value)
        head.pad_to(first)
        head.add(self.names[0][: col - 1], title).pad_to(first + col)
        head.add(self.names[1][: col - 1], title).pad_to(first + 2 * col)
        head.add("leads", dim)
        lines = [head.strip(width, value)]
        a, b = self.figures
        for row, lead in zip(ROWS, self.leaders(), strict=True):
            line = LineBuilder().add(f" {row.label}", label).pad_to(first)
            for n, (side, figures) in enumerate((("A", a), ("B", b))):
                text = row.show(figures)
                style = good if lead == side else (dim if text == "n/a" else value)
                line.pad_to(first + n * col).add(text[: col - 1], style)
            line.pad_to(first + 2 * col)
            if lead in ("A", "B"):
                sa, sb = row.score(a), row.score(b)
                assert sa is not None and sb is not None
                line.add(f"{lead}{_factor(sa, sb)}", good)
            else:
                line.add("n/a" if lead is None else "tie", dim)
            lines.append(line.strip(width, value))
        return lines


def fmt_cpus(cpus: frozenset[int] | None) -> str:
    """CPU numbers compactly: "0", "0-3", "0,2,5-7"; "any" when not pinned."""
    if not cpus:
        return "any"
    ordered = sorted(cpus)
    parts: list[str] = []
    start = prev = ordered[0]
    for cpu in [*ordered[1:], None]:
        if cpu is not None and cpu == prev + 1:
            prev = cpu
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if cpu is not None:
            start = prev = cpu
    return ",".join(parts)


@dataclass(frozen=True, slots=True)
class SideInfo:
    """What a side's header shows."""

    letter: str
    model: str
    cpus: frozenset[int] | None
    frame: Frame | None
    starting: bool = False


class SideHeader(InfoLines[SideInfo]):
    """One line per side: the letter, the model, its pinned CPUs, the lab's pid and state."""

    DEFAULT_CSS = "SideHeader { height: 1; }"

    def build(self, width: int, height: int) -> Iterable[Strip]:
        info = self.info
        if info is None:
            return []
        title, label, value = (
            self.style_of("lines--title"), self.style_of("lines--dim"),
            self.style_of("lines--value"),
        )
        bar = f" {self.glyphs.bar} "
        number = MODELS.index(info.model) + 1 if info.model in MODELS else 0
        line = LineBuilder().add(f" {info.letter} ", title).add(f"[{number}] {info.model}", title)
        line.add(bar, label).add("cpus ", label).add(fmt_cpus(info.cpus), value)
        frame = info.frame
        if frame is not None:
            line.add(bar, label).add("lab ", label).add(str(frame.lab_pid), value)
            line.add(f" #{frame.lab_index}", label)
            line.add(bar, label).add(f"{frame.t:.1f}s", value)
            if not frame.lab_alive:
                line.add(bar, label).add("LAB DOWN — r restarts", self.style_of("lines--bad"))
        elif info.starting:
            line.add(bar, label).add("starting the lab…", self.style_of("lines--warn"))
        return [line.strip(width, value)]


@dataclass(frozen=True, slots=True)
class BannerInfo:
    """The shared workload (requested, and what runs on side A), observer cost, notes."""

    requested: LabConfig
    running: dict[str, object] | None
    pending: bool  # some side does not run the requested config yet
    observer_cpu: float | None
    dropped: int
    paused: bool = False
    note: str | None = None  # e.g. one core: labs unpinned


class DuelBanner(InfoLines[BannerInfo]):
    """The workload both labs run (one set of controls), what watching costs, and notes."""

    DEFAULT_CSS = "DuelBanner { height: 1; }"

    def build(self, width: int, height: int) -> Iterable[Strip]:
        info = self.info
        if info is None:
            return []
        label, value = self.style_of("lines--dim"), self.style_of("lines--value")
        warn = self.style_of("lines--warn")
        bar = f" {self.glyphs.bar} "
        requested = info.requested.to_dict()
        running = info.running or requested
        line = LineBuilder().add(" ccviz duel", self.style_of("lines--title"))
        if info.paused:
            line.add(bar, label).add("PAUSED (space)", warn)
        for key, long_label, _ in FIELDS:
            line.add(bar, label).add(f"{long_label} ", label).add(_value(key, running), value)
            if requested.get(key) != running.get(key):
                line.add(f"→{_value(key, requested)}", warn)
        if info.pending:
            line.add(bar, label).add("applying…", warn)
        if info.observer_cpu is not None:
            line.add(bar, label).add("observer ", label).add(f"{info.observer_cpu:.1f}% cpu", value)
            line.add(" · dropped ", label).add(str(info.dropped), value)
        if info.note:
            line.add(bar, label).add(info.note, warn)
        return [line.strip(width, value)]
