"""The header (what runs, for how long, and what watching it costs) and the verdict line."""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, replace

from textual.geometry import Size
from textual.strip import Strip

from tui.pacing import FIGURES_PERIOD_S, Pacer
from tui.widgets.glyphs import fmt_ms
from tui.widgets.lines import InfoLines, LineBuilder, LinesWidget
from workloads.config import MODELS, LabConfig
from workloads.frames import Frame
from workloads.verdict import Verdict

__all__ = ["HeaderInfo", "StatusHeader", "VerdictLine"]


@dataclass(frozen=True, slots=True)
class HeaderInfo:
    """Everything the header shows; built by the app from the frame and the source."""

    frame: Frame | None
    requested: LabConfig
    source: str  # "live" or "replay FILE"
    live: bool
    paused: bool = False
    playback: str | None = None  # replay position and speed, e.g. "▶ 1× 3.2/4.0 s"
    starting: bool = False  # live lab still being started
    attached: str | None = None  # "node (pid 123)" when attached to a process ccviz did not start


#: Header fields in priority order: (config key, long label, short label).
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("cpu_share", "cpu-share", "share"),
    ("concurrency", "concurrency", "conc"),
    ("task_ms", "task", "task"),
    ("workers", "workers", "wk"),
    ("cpu_kind", "cpu", "cpu"),
    ("io_kind", "io", "io"),
)


def _value(key: str, config: dict[str, object]) -> str:
    value = config.get(key)
    if key == "cpu_share" and isinstance(value, (int, float)):
        return f"{value:.2f}"
    if key == "task_ms" and isinstance(value, (int, float)):
        return fmt_ms(float(value))
    if key == "workers" and value == 0:
        return "auto"
    return str(value)


def _meaning(info: HeaderInfo) -> tuple[object, ...]:
    """What the header says apart from its clock and cost figures (a change shows at once)."""
    frame = info.frame
    lab = None if frame is None else (
        frame.lab_index, frame.lab_pid, frame.lab_alive, frame.config, frame.fidelity
    )  # fmt: skip
    return (replace(info, frame=None), lab)


class StatusHeader(InfoLines[HeaderInfo]):
    """Two lines: the running config, then the source, the observer's cost and badges.

    Live, a new frame that changes only the elapsed time and the cost figures
    is drawn at most twice a second: ten changes a second cannot be read, and
    each costs two repainted lines. Anything else (a key's effect, a badge, an
    applied change, a new lab) is drawn at once.
    """

    DEFAULT_CSS = "StatusHeader { height: 2; }"

    _pacer: Pacer | None = None

    def show(self, info: HeaderInfo) -> None:
        if info.live and info.frame is not None:
            self._pacer = self._pacer or Pacer(FIGURES_PERIOD_S)
            if not self._pacer.due(info.frame.t, _meaning(info)):
                return
        super().show(info)

    def build(self, width: int, height: int) -> Iterable[Strip]:
        info = self.info
        if info is None:
            return []
        return [self._config_line(info, width), self._cost_line(info, width)]

    def _config_line(self, info: HeaderInfo, width: int) -> Strip:
        if info.attached is not None:
            return self._attach_line(info, info.attached, width)
        frame = info.frame
        running = frame.config if frame is not None else info.requested.to_dict()
        requested = info.requested.to_dict()
        for form in ("long", "medium", "short"):
            line = self._config_parts(info, running, requested, form=form)
            if line.length <= width:
                break
        return line.strip(width, self.style_of("lines--value"))

    def _config_parts(
        self,
        info: HeaderInfo,
        running: dict[str, object],
        requested: dict[str, object],
        *,
        form: str,
    ) -> LineBuilder:
        """The config line in a `long`, `medium` (no separators) or `short` (terse) form."""
        title, label, value = (
            self.style_of("lines--title"),
            self.style_of("lines--dim"),
            self.style_of("lines--value"),
        )
        warn = self.style_of("lines--warn")
        bar = f" {self.glyphs.bar} " if form == "long" else "  "
        model = str(running.get("model", "?"))
        number = MODELS.index(model) + 1 if model in MODELS else 0
        line = LineBuilder().add(" ccviz" if form == "long" else "", title)
        line.add(bar if form == "long" else " ", label).add(f"[{number}] {model}", title)
        if requested.get("model") != model:
            line.add(f" → {requested.get('model')}", warn)
        # Short form: elapsed time and lab pid move up, so a cropped line keeps them.
        lab_after = 3 if form == "short" else len(FIELDS)
        for n, (key, long_label, short_label) in enumerate(FIELDS):
            if n == lab_after:
                self._lab_parts(line, info.frame, bar)
            line.add(bar, label)
            line.add(f"{short_label if form == 'short' else long_label} ", label)
            line.add(_value(key, running), value)
            if requested.get(key) != running.get(key):
                line.add(f"→{_value(key, requested)}", warn)
        if lab_after == len(FIELDS):
            self._lab_parts(line, info.frame, bar)
        return line

    def _attach_line(self, info: HeaderInfo, target: str, width: int) -> Strip:
        """No config to show: what ccviz is attached to, for how long, and its command."""
        title, label = self.style_of("lines--title"), self.style_of("lines--dim")
        value = self.style_of("lines--value")
        bar = f" {self.glyphs.bar} "
        line = LineBuilder().add(" ccviz", title).add(bar, label)
        line.add("ATTACH ", title).add(target, title)
        frame = info.frame
        if frame is not None:
            line.add(bar, label).add(f"{frame.t:.1f}s", value)
            line.add(bar, label).add(str(frame.config.get("cmdline", "")), value)
        return line.strip(width, value)

    def _lab_parts(self, line: LineBuilder, frame: Frame | None, bar: str) -> None:
        if frame is None:
            return
        label, value = self.style_of("lines--dim"), self.style_of("lines--value")
        line.add(bar, label).add(f"{frame.t:.1f}s", value)
        line.add(bar, label).add("lab ", label).add(f"{frame.lab_pid}", value)
        line.add(f" #{frame.lab_index}", label)

    def _cost_line(self, info: HeaderInfo, width: int) -> Strip:
        label, value = self.style_of("lines--dim"), self.style_of("lines--value")
        warn, bad = self.style_of("lines--warn"), self.style_of("lines--bad")
        bar = f" {self.glyphs.bar} "
        line = LineBuilder().add(" ")
        if info.live:
            line.add("LIVE", self.style_of("lines--good"))
        else:
            line.add(info.source.upper()[:6], warn).add(info.source[6:], value)
            if info.playback:
                line.add(f" {info.playback}", value)
        if info.paused:
            line.add(bar, label).add("PAUSED (space)", warn)
        frame = info.frame
        if info.attached is not None:
            line.add(bar, label).add("kernel view only", label)
        if info.starting and frame is None:
            line.add(bar, label).add("attaching…" if info.attached else "starting the lab…", warn)
        if frame is not None:
            cost = frame.cost
            line.add(bar, label).add("observer ", label)
            line.add(f"{cost.observer_cpu_percent:.1f}% cpu", value)
            line.add(" · sampler ", label).add(f"{cost.sampler_us:.0f}µs", value)
            line.add(f" ({cost.sampler_us_per_thread:.1f}µs/thread)", label)
            line.add(" · dropped ", label).add(f"{cost.dropped_frames}", value)
            if not frame.fidelity.get("runnable", True):
                line.add(bar, label).add("reduced fidelity: runnable n/a", warn)
            if not frame.lab_alive:
                down = "PROCESS EXITED" if info.attached is not None else "LAB DOWN — r restarts"
                line.add(bar, label).add(down, bad)
        return line.strip(width, value)


class VerdictLine(LinesWidget):
    """The verdict: one plain sentence naming the bottleneck and the key that relieves it.

    Wraps to a second line on narrow terminals rather than cutting the advice off.
    """

    DEFAULT_CSS = "VerdictLine { height: auto; max-height: 2; }"

    verdict: Verdict | None = None
    message: str | None = None  # overrides the verdict (e.g. a lab that failed to start)
    _version = 0

    _pacer: Pacer | None = None

    def show(
        self, verdict: Verdict | None, message: str | None = None, *, t: float | None = None
    ) -> None:
        """Show a verdict; given `t` (a live frame's time), figures alone move twice a second.

        The same rule with new figures in its sentence is redrawn at most every
        `FIGURES_PERIOD_S`; a different rule or message is drawn at once.
        """
        if (verdict, message) == (self.verdict, self.message):
            return
        if t is not None:
            self._pacer = self._pacer or Pacer(FIGURES_PERIOD_S)
            meaning = (message, None if verdict is None else (verdict.rule, verdict.level))
            if not self._pacer.due(t, meaning):
                return
        width = self.draw_size.width
        rows = len(self._wrapped(width))
        self.verdict, self.message = verdict, message
        self._version += 1
        if len(self._wrapped(width)) != rows:
            self.refresh(layout=True)  # a layout pass costs more than a repaint: only if needed
        else:
            self.update_lines()

    def version(self) -> int:
        return self._version

    def _text(self) -> tuple[str, str]:
        if self.message is not None:
            return self.message, "lines--bad"
        if self.verdict is None:
            return "waiting for the first frame…", "lines--dim"
        style = {"ok": "lines--good", "info": "lines--dim"}.get(self.verdict.level, "lines--warn")
        return self.verdict.text, style

    def _wrapped(self, width: int) -> list[str]:
        text, _ = self._text()
        return _wrap(self.glyphs.plain(f"{self.glyphs.pointer} {text}"), max(10, width - 1))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._wrapped(width))

    def build(self, width: int, height: int) -> Iterable[Strip]:
        _, style_name = self._text()
        style = self.style_of(style_name)
        return [LineBuilder().add(" " + line, style).strip(width, style)
                for line in self._wrapped(width)]


@functools.lru_cache(maxsize=16)
def _wrap(text: str, width: int) -> list[str]:
    """At most two lines (asked several times per frame for the same text: kept)."""
    return textwrap.wrap(text, width, subsequent_indent="  ")[:2] or [""]
