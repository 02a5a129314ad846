"""The duel app: two live labs on the same workload, mirrored panes and a scoreboard.

Each side is a `PinnedSource` (its lab and workers pinned to the side's CPUs)
feeding its own `FrameHistory`; frames arrive as `SideFrames` messages from
the two sampler threads. The mix and load keys change both labs: each change
is validated once on the UI thread, then applied to each lab by its own
thread worker, so a slow lab start on one side never holds up the other.
Quitting (or any exit) stops both sessions, in parallel.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from tui.controls import KIND_WORKER_BINDINGS, LOAD_BINDINGS, MixControls
from tui.duel import CpuPlan
from tui.duel_source import PinnedSource, SideFrames, side_post
from tui.screens.duel_help import duel_help_markdown
from tui.screens.help import HelpScreen
from tui.themes import DEFAULT_THEME, HIGH_CONTRAST_THEME, THEMES
from tui.widgets.panes import LoopPane, SwitchesPane, ThroughputPane
from tui.widgets.scoreboard import (
    BannerInfo,
    DuelBanner,
    Scoreboard,
    SideHeader,
    SideInfo,
    side_figures,
)
from tui.widgets.status import VerdictLine
from tui.widgets.threads import ThreadsPane
from workloads.config import ConfigError, LabConfig, default_workers
from workloads.history import FrameHistory
from workloads.lab import START_TIMEOUT_S
from workloads.verdict import verdict

__all__ = ["DuelApp", "DuelSide"]

#: Seconds to wait for both labs to stop when the app exits: a lab still starting
#: is waited for (at most its start timeout), then stopped.
STOP_TIMEOUT_S = START_TIMEOUT_S + 5.0


class DuelSide:
    """One lab of the duel: its source, its frames and its own set of panes."""

    def __init__(self, index: int, config: LabConfig, cpus: frozenset[int] | None,
                 *, ascii: bool) -> None:
        self.index = index
        self.letter = "AB"[index]
        self.cpus = cpus
        self.source = PinnedSource(config, cpus)
        self.history = FrameHistory()
        self.starting = True
        self.error: str | None = None
        key = self.letter.lower()
        self.header = SideHeader(ascii=ascii, id=f"header-{key}", classes="side-header")
        self.verdict = VerdictLine(ascii=ascii, id=f"verdict-{key}", classes="side-verdict")
        self.threads = ThreadsPane(ascii=ascii, id=f"threads-{key}", classes="side-threads")
        self.small = Horizontal(id=f"small-{key}", classes="side-small")
        self.panes = (
            LoopPane(ascii=ascii, id=f"loop-{key}"),
            SwitchesPane(ascii=ascii, id=f"switches-{key}"),
            ThroughputPane(ascii=ascii, id=f"throughput-{key}"),
        )

    @property
    def model(self) -> str:
        return self.source.config.model

    @property
    def group(self) -> str:
        """The worker group of this side's lab changes."""
        return f"lab-{self.letter}"

    @property
    def pending(self) -> bool:
        """The lab does not run the requested config yet."""
        frame = self.history.latest
        return frame is not None and frame.config != self.source.config.to_dict()


class DuelApp(MixControls, App[None]):
    """Model A against model B on one workload, each lab on its own cores, scored live."""

    # The app's stylesheet brings the pane colours and the help screen; ours lays out the duel.
    CSS_PATH = ["styles/app.tcss", "styles/duel.tcss"]  # noqa: RUF012 - as BREAKPOINTS below
    TITLE = "ccviz duel"
    ENABLE_COMMAND_PALETTE = False
    # See CcvizApp: Textual's annotation makes a ClassVar annotation an error for mypy.
    VERTICAL_BREAKPOINTS = [(0, "-h-short"), (36, "-h-mid"), (48, "-h-tall")]  # noqa: RUF012
    HORIZONTAL_BREAKPOINTS = [(0, "-w-narrow"), (120, "-w-wide")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        *LOAD_BINDINGS,
        *KIND_WORKER_BINDINGS,
        Binding("space", "pause", "pause", tooltip="freeze both sides of the display"),
        Binding("r", "restart", "restart", tooltip="fresh labs on both sides, same settings"),
        Binding("d", "density", "density",
                tooltip="threads panes: rows with strips, or one cell per thread"),
        Binding("question_mark", "help", "help", key_display="?", tooltip="this help"),
        Binding("q", "quit", "quit", tooltip="quit; both labs stop with the app"),
    ]

    def __init__(self, config_a: LabConfig, config_b: LabConfig, plan: CpuPlan, *,
                 ascii: bool = False, high_contrast: bool = False) -> None:
        super().__init__()
        self.plan = plan
        self.ascii = ascii
        self.paused = False
        self.density = False
        self.sides = (
            DuelSide(0, config_a, plan.a, ascii=ascii),
            DuelSide(1, config_b, plan.b, ascii=ascii),
        )
        self.banner = DuelBanner(ascii=ascii, id="banner")
        self.scoreboard = Scoreboard(ascii=ascii, id="scoreboard")
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = (HIGH_CONTRAST_THEME if high_contrast else DEFAULT_THEME).name

    @property
    def requested(self) -> LabConfig:
        """The shared workload as asked for (side A's config; B differs only in model)."""
        return self.sides[0].source.config

    # -- layout ----------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.banner
        yield self.scoreboard
        with Horizontal(id="duel-body"):
            for side in self.sides:
                with Vertical(id=f"side-{side.letter.lower()}", classes="duel-side"):
                    yield side.header
                    yield side.verdict
                    yield side.threads
                    with side.small:
                        yield from side.panes
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_class(self.ascii, "-ascii")
        for side in self.sides:
            post = side_post(side.index, self.post_message)
            self._in_background(side, "start the lab", lambda s=side, p=post: s.source.start(p))
        self._redraw_all()

    def on_unmount(self) -> None:
        """Stop both labs at once: each stop may wait seconds for a lab tree to end."""
        stoppers = [
            threading.Thread(target=side.source.stop, name=f"stop lab {side.letter}")
            for side in self.sides
        ]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join(STOP_TIMEOUT_S)

    # -- frames ----------------------------------------------------------

    def on_side_frames(self, message: SideFrames) -> None:
        side = self.sides[message.side]
        if not message.frames:
            return
        side.starting = False
        side.source.shown(message.frames[-1])
        if self.paused and not message.reset:
            return  # consumed on purpose: not a drop
        if message.reset:
            side.history.clear()
        for frame in message.frames:
            side.history.append(frame)
            for event in frame.events:
                self.notify(f"{side.letter}: {event}", timeout=4)
        self._redraw(side)

    def _redraw_all(self) -> None:
        for side in self.sides:
            self._redraw(side)

    def _redraw(self, side: DuelSide) -> None:
        """Point one side's panes at its history, and refresh what both sides share."""
        if not side.threads.is_attached:  # quitting: the panes are gone
            return
        frame = side.history.latest
        with self.batch_update():
            side.header.show(SideInfo(side.letter, side.model, side.cpus, frame, side.starting))
            found = None if frame is None else verdict(
                frame, side.history, cores=self.plan.per_side
            )
            side.verdict.show(found, side.error)
            side.threads.show(side.history)
            if side.small.display:  # hidden on short terminals: skip the work
                for pane in side.panes:
                    pane.show(side.history)
            self._redraw_shared()

    def _redraw_shared(self) -> None:
        a, b = self.sides
        self.scoreboard.show(
            side_figures(a.history), side_figures(b.history),
            (f"A {a.model}", f"B {b.model}"),
        )
        frames = [s.history.latest for s in self.sides if s.history.latest is not None]
        first = a.history.latest
        self.banner.show(
            BannerInfo(
                requested=self.requested,
                running=None if first is None else first.config,
                pending=any(s.pending for s in self.sides),
                observer_cpu=frames[0].cost.observer_cpu_percent if frames else None,
                dropped=sum(f.cost.dropped_frames for f in frames),
                paused=self.paused,
                note=self.plan.note,
            )
        )

    # -- workers ---------------------------------------------------------

    def _in_background(self, side: DuelSide, what: str, job: Any) -> None:
        self.run_worker(job, thread=True, name=f"{side.letter}: {what}", group=side.group,
                        exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a failed start, change or restart is reported, on its side."""
        worker = event.worker
        side = next((s for s in self.sides if s.group == worker.group), None)
        if side is None:
            return
        if event.state == WorkerState.ERROR:
            side.error = f"{worker.name} failed: {worker.error}"
            self.notify(side.error, severity="error", timeout=8)
            self._redraw(side)
        elif event.state == WorkerState.SUCCESS and side.error is not None:
            side.error = None
            self._redraw(side)

    # -- changes (both labs) ---------------------------------------------

    def _change(self, **changes: Any) -> None:
        """Validate once, then have each side's worker apply the change to its lab."""
        try:
            self.requested.replace(**changes)
        except ConfigError as exc:
            self.notify(str(exc), severity="error")
            return
        what = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in changes.items())
        for side in self.sides:
            before = side.source.config
            if side.source.request(**changes) != before:
                self._in_background(side, f"apply {what}", side.source.sync)
        self._redraw_shared()

    def _workers_now(self) -> int:
        """Workers in use: the configured number, or a pool's real size when "auto"."""
        if self.requested.workers:
            return self.requested.workers
        for side in self.sides:
            frame = side.history.latest
            if frame is not None and frame.app is not None and frame.app.pool is not None:
                return frame.app.pool.workers
        return self.plan.per_side or default_workers()

    def _controls_config(self) -> LabConfig:
        return self.requested

    def action_restart(self) -> None:
        for side in self.sides:
            self._in_background(side, "restart the lab", side.source.restart)
        self.notify("restarting both labs…", timeout=2)

    # -- view ------------------------------------------------------------

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._redraw_shared()

    def action_density(self) -> None:
        self.density = not self.density
        for side in self.sides:
            side.threads.set_density(self.density)

    def action_help(self) -> None:
        shown = [b for b in self.BINDINGS if isinstance(b, Binding) and b.show]
        text = duel_help_markdown(shown, self.plan, (self.sides[0].model, self.sides[1].model))
        self.push_screen(HelpScreen(text, ascii=self.ascii))
