"""The ccviz app: panes fed by immutable frames, keys that change the running lab.

Frames arrive as `FrameReady` messages (from the sampler thread for a live
lab, from the replay's clock otherwise). The app appends them to its
`FrameHistory` on the UI thread and redraws every visible pane inside one
`batch_update`. Changes to the lab are validated here and applied by a thread
worker, because starting a new lab takes up to a second; nothing here reads
/proc or waits on the lab.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from tui.attach_source import NOTHING_TO_CHANGE, AttachSource
from tui.controls import KIND_WORKER_BINDINGS, LOAD_BINDINGS, MixControls
from tui.pacing import FIGURES_PERIOD_S, Pacer
from tui.screens.compare import CompareOptions, CompareScreen
from tui.screens.help import HelpScreen, help_markdown
from tui.sources import FrameReady, LiveSource, ReplaySource, Source
from tui.themes import DEFAULT_THEME, HIGH_CONTRAST_THEME, THEMES
from tui.widgets.panes import LoopPane, SwitchesPane, ThroughputPane
from tui.widgets.settings import SettingsPanel
from tui.widgets.status import HeaderInfo, StatusHeader, VerdictLine
from tui.widgets.threads import ThreadsPane
from workloads.attach import ATTACH_MODEL, attach_verdict
from workloads.config import MODELS, ConfigError, LabConfig
from workloads.frames import Frame
from workloads.history import FrameHistory
from workloads.verdict import verdict

__all__ = ["CcvizApp", "make_app"]

TICK_S = 0.05  # the replay clock's resolution
REPLAY_ACTIONS = frozenset({"step", "speed", "seek", "seek_to"})


def _model_bindings() -> list[BindingType]:
    return [
        Binding(str(n), f"model({n - 1})", "model", key_display="1-7", show=n == 1,
                tooltip="pick the model: " + ", ".join(f"{i} {m}" for i, m in enumerate(MODELS, 1)))
        for n in range(1, len(MODELS) + 1)
    ]


class CcvizApp(MixControls, App[None]):
    """Threads, event loop, context switches and throughput of a running lab, live."""

    CSS_PATH = "styles/app.tcss"
    TITLE = "ccviz"
    # Themes are chosen with --theme; the palette would only crowd the footer.
    ENABLE_COMMAND_PALETTE = False
    # Textual annotates these as `ClassVar[...] | None`, which mypy reads as an instance
    # variable, so a ClassVar annotation here is an error; hence the noqa for ruff.
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012
        (0, "-w-tiny"), (64, "-w-narrow"), (130, "-w-wide"),
    ]
    VERTICAL_BREAKPOINTS = [  # noqa: RUF012
        (0, "-h-tiny"), (20, "-h-short"), (36, "-h-tall"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        *_model_bindings(),
        *LOAD_BINDINGS,
        Binding("space", "pause", "pause", tooltip="freeze the display (a replay stops too)"),
        Binding("question_mark", "help", "help", key_display="?", tooltip="this help"),
        Binding("q", "quit", "quit", tooltip="quit; the lab stops with the app"),
        Binding("m", "cycle_model", "cycle", tooltip="next model, in the order of keys 1-7"),
        *KIND_WORKER_BINDINGS,
        Binding("r", "restart", "restart", tooltip="a fresh lab, same settings"),
        Binding("d", "density", "density",
                tooltip="threads pane: rows with strips, or one cell per thread"),
        Binding("s", "toggle_settings", "settings", tooltip="the same controls, for the mouse"),
        Binding("b", "compare", "compare",
                tooltip="bench every model on this workload, as bars (the live lab pauses)"),
        Binding("full_stop", "step(1)", "step", key_display=", .",
                tooltip="replay: pause and step one frame back (,) or forward (.)"),
        Binding("comma", "step(-1)", "step back", show=False),
        Binding("greater_than_sign", "speed(1)", "speed", key_display="< >",
                tooltip="replay: slower (<) or faster (>), 0.25× to 4×"),
        Binding("less_than_sign", "speed(-1)", "slower", show=False),
        Binding("right", "seek(1.0)", "seek", key_display="← →",
                tooltip="replay: one second back or forward; home / end jump to the ends"),
        Binding("left", "seek(-1.0)", "seek back", show=False),
        Binding("home", "seek_to(0)", "to start", show=False),
        Binding("end", "seek_to(-1)", "to end", show=False),
    ]

    def __init__(
        self,
        source: Source,
        *,
        ascii: bool = False,
        high_contrast: bool = False,
        compare: CompareOptions | None = None,
    ):
        super().__init__()
        self.source = source
        self.compare_options = compare or CompareOptions()
        self.ascii = ascii
        self.history = FrameHistory()
        self.paused = False
        self._figures_pacer = Pacer(FIGURES_PERIOD_S)
        self._warned: set[tuple[int, str]] = set()
        self.density = False
        self.error: str | None = None
        self.starting = source.live
        # Held directly: frames keep arriving while the help screen is on top,
        # and a query would search that screen instead of the main one.
        self.header = StatusHeader(ascii=ascii, id="header")
        self.verdict_line = VerdictLine(ascii=ascii, id="verdict")
        self.threads = ThreadsPane(ascii=ascii, id="threads")
        self.side = Vertical(id="side")
        self.side_panes = (
            LoopPane(ascii=ascii, id="loop"),
            SwitchesPane(ascii=ascii, id="switches"),
            ThroughputPane(ascii=ascii, id="throughput"),
        )
        self.settings = SettingsPanel(source.config, id="settings")
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = (HIGH_CONTRAST_THEME if high_contrast else DEFAULT_THEME).name

    # -- layout ----------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.verdict_line
        with Horizontal(id="body"):
            yield self.threads
            with self.side:
                yield from self.side_panes
            yield self.settings
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_class(self.ascii, "-ascii")
        if self.source.live:
            self.run_worker(self._start_live, thread=True, name="start the lab", group="lab",
                            exit_on_error=False)
        else:
            self.source.start(self.post_message)
            self.set_interval(TICK_S, self._tick)
            if isinstance(self.source, ReplaySource) and self.source.recording.error:
                # a truncated or corrupt file: its valid prefix plays, and we say where it ends
                self.notify(
                    f"replaying the valid part only: {self.source.recording.error}",
                    severity="warning",
                    timeout=10,
                )
        self._redraw()

    def _start_live(self) -> None:
        self.source.start(self.post_message)

    def _tick(self) -> None:
        self.source.tick(time.monotonic())

    def on_unmount(self) -> None:
        self.source.stop()

    # -- frames ----------------------------------------------------------

    def on_frame_ready(self, message: FrameReady) -> None:
        if not message.frames:
            return
        self.starting = False
        if self.paused and self.source.live and not message.reset:
            # Consumed on purpose (not a drop); the picture stays still, but
            # news (the lab died) is still said.
            self.source.shown(message.frames[-1])
            self._announce(message.frames)
            return
        if message.reset:
            self.history.clear()
        for frame in message.frames:
            self.history.append(frame)
        self.source.shown(message.frames[-1])
        if not message.reset:
            self._announce(message.frames)
        self._redraw()

    def _announce(self, frames: Sequence[Frame]) -> None:
        for frame in frames:
            for event in frame.events:
                self.notify(event, timeout=4)
            self._warn(frame)

    def _warn(self, frame: Frame) -> None:
        """The lab's own warnings (e.g. thread creation failed), each said once per lab."""
        if frame.app is None:
            return
        for text in frame.app.messages:
            key = (frame.lab_index, text)
            if key not in self._warned:
                self._warned.add(key)
                self.notify(text, title="the lab says", severity="warning", timeout=10)

    def _redraw(self) -> None:
        """Point every visible pane at the history; each rebuilds when it is painted."""
        frame = self.history.latest
        if not self.threads.is_attached:  # quitting: the panes are gone
            return
        with self.batch_update():
            self.header.show(self._header_info())
            judge = verdict if frame is None or frame.model != ATTACH_MODEL else attach_verdict
            found = None if frame is None else judge(frame, self.history, cores=self.source.cores)
            ticking = frame.t if frame is not None and self.source.live else None
            self.verdict_line.show(found, self.error, t=ticking)
            figures_due = self._figures_due(frame)
            self.threads.show(self.history, figures_due=figures_due)
            if self.side.display and figures_due:  # hidden at small sizes
                for pane in self.side_panes:
                    pane.show(self.history)
            if self.settings.has_class("-open"):
                self.settings.sync(self.source.config)

    def _figures_due(self, frame: Frame | None) -> bool:
        """Live, figures follow at most every `FIGURES_PERIOD_S` (at once for a new lab).

        The side panes and the threads pane's figures cannot be read at ten
        changes a second; the threads pane's strips, the animation, keep
        every frame. Paused, replayed or stepped frames are always shown whole.
        """
        if frame is None or not self.source.live or self.paused:
            return True
        return self._figures_pacer.due(frame.t, frame.lab_index)

    def _header_info(self) -> HeaderInfo:
        source = self.source
        playback = None
        if isinstance(source, ReplaySource):
            state = "⏸" if self.paused else ("■ end" if source.at_end else "▶")
            playback = f"{state} {source.speed:g}× {source.at:.1f}/{source.duration:.1f}s"
        return HeaderInfo(
            frame=self.history.latest,
            requested=source.config,
            source=source.label,
            live=source.live,
            paused=self.paused,
            playback=playback,
            starting=self.starting,
            attached=source.target.label if isinstance(source, AttachSource) else None,
        )

    # -- workers ---------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a failed start, change or restart is reported."""
        worker = event.worker
        if event.state == WorkerState.ERROR:
            reason = f"{worker.name} failed: {worker.error}"
            self.error = reason
            self.notify(reason, severity="error", timeout=8)
            self._redraw()
        elif event.state == WorkerState.SUCCESS and self.error is not None:
            self.error = None
            self._redraw()

    def _apply_in_background(self, what: str, job: Any) -> None:
        self.run_worker(job, thread=True, name=what, group="lab", exit_on_error=False)

    # -- changes ---------------------------------------------------------

    def _change(self, **changes: Any) -> None:
        """Validate a change, then apply it off the UI thread (live) or only show it (replay)."""
        if isinstance(self.source, AttachSource):  # we did not start it: nothing to change
            self.notify(NOTHING_TO_CHANGE, timeout=3)
            return
        before = self.source.config
        try:
            after = self.source.request(**changes)
        except ConfigError as exc:
            self.notify(str(exc), severity="error")
            return
        if after == before:
            return
        what = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in changes.items())
        if self.source.live:
            self._apply_in_background(f"apply {what}", self.source.sync)
        else:
            self.notify(
                f"{what}: shown as requested only — a recording cannot change. "
                "Run `ccviz run` to try it live.",
                title="replay: view only",
                timeout=4,
            )
        self._redraw()

    def action_model(self, index: int) -> None:
        self._change(model=MODELS[index % len(MODELS)])

    def action_cycle_model(self) -> None:
        self.action_model(MODELS.index(self.source.config.model) + 1)

    def action_set_field(self, key: str, value: str) -> None:
        self._change(**{key: value})

    def _workers_now(self) -> int:
        """Workers in use: the configured number, or the pool's real size when "auto"."""
        config = self.source.config
        frame = self.history.latest
        same_model = frame is not None and frame.model == config.model
        pool = None if frame is None or frame.app is None else frame.app.pool
        if config.workers == 0 and same_model and pool is not None:
            return pool.workers
        return config.effective_workers

    def _controls_config(self) -> LabConfig:
        return self.source.config

    def action_restart(self) -> None:
        if isinstance(self.source, AttachSource):
            self.notify(NOTHING_TO_CHANGE, timeout=3)
        elif self.source.live:
            self._apply_in_background("restart the lab", self.source.restart)
            self.notify("restarting the lab…", timeout=2)
        else:
            self.source.restart()

    # -- view ------------------------------------------------------------

    def action_pause(self) -> None:
        self.paused = not self.paused
        if isinstance(self.source, ReplaySource):
            self.source.paused = self.paused
        elif isinstance(self.source, LiveSource):
            self.source.set_paused(self.paused)
        self._redraw()

    def action_density(self) -> None:
        self.density = not self.density
        self.threads.set_density(self.density)

    def action_toggle_settings(self) -> None:
        panel = self.settings
        panel.toggle_class("-open")
        if panel.has_class("-open"):
            panel.sync(self.source.config)

    def action_help(self) -> None:
        glyphs = self.threads.glyphs
        shown = [b for b in self.BINDINGS if isinstance(b, Binding) and b.show]
        self.push_screen(HelpScreen(help_markdown(glyphs, shown), ascii=self.ascii))

    def action_compare(self) -> None:
        """Bench every model on the current workload (only on a lab ccviz started)."""
        source = self.source
        if not isinstance(source, LiveSource) or not source.benchable:
            self.notify(
                "Comparing runs every model in real labs: it needs a live lab "
                "(`ccviz run`), not a recording or an attached process.",
                title="compare", timeout=5,
            )
            return
        self.push_screen(CompareScreen(source, self.compare_options, ascii=self.ascii))

    # -- replay ----------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Replay controls are hidden from the footer and inert on a live lab.
        return action not in REPLAY_ACTIONS or isinstance(self.source, ReplaySource)

    def action_step(self, frames: int) -> None:
        if isinstance(self.source, ReplaySource):
            if not self.paused:
                self.action_pause()
            self.source.step(frames)

    def action_speed(self, direction: int) -> None:
        if isinstance(self.source, ReplaySource):
            speed = self.source.faster(direction)
            self.notify(f"replay speed {speed:g}×", timeout=2)
            self._redraw()

    def action_seek(self, seconds: float) -> None:
        if isinstance(self.source, ReplaySource):
            self.source.seek(seconds)

    def action_seek_to(self, index: int) -> None:
        if isinstance(self.source, ReplaySource):
            self.source.seek_index(index if index >= 0 else len(self.source.frames) - 1)


def make_app(
    source: Source,
    *,
    ascii: bool = False,
    high_contrast: bool = False,
    compare: CompareOptions | None = None,
) -> CcvizApp:
    """Build the app on a frame source (used by the CLI, the tests and the screenshots).

    `compare` sets how the compare screen (`b`) benches: seconds, models, runner.
    """
    return CcvizApp(source, ascii=ascii, high_contrast=high_contrast, compare=compare)
