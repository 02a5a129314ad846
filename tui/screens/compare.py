"""The compare screen (`b`): every model benched on the current workload, as bars.

Each model runs in a fresh lab, one after the other, with the live lab's
workload (cpu share, task length, load, kinds of work, workers), through the
same `run_one` + `aggregate` as `ccviz bench`, so the bars are reproducible
headless. The runs happen in one thread worker, never on the UI thread; the
worker posts progress and results as messages and the screen owns the state.

The live lab is stopped first, so the benched labs do not compete with it for
the cores, and a fresh one starts when the screen closes. Closing cancels the
remaining runs: the runner's progress callback raises, `run_one` stops its lab
in its `finally`, and only then does the live lab restart.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, ProgressBar

from tui.widgets.bars import BarRow, CompareBars, Figure
from tui.widgets.glyphs import fmt_ms, fmt_rate
from workloads.config import MODELS, LabConfig, default_workers

__all__ = ["FIGURES", "CompareOptions", "CompareScreen", "Runner", "run_model"]

#: Runs one lab on `config` for `warmup` + `seconds` and returns its bench result;
#: calls `on_tick(fraction)` as it goes (the callback may raise to cancel).
Runner = Callable[[LabConfig, float, float, Callable[[float], None]], dict[str, Any]]

#: How long closing waits for a cancelled run to stop its lab before restarting the live one.
CANCEL_WAIT_S = 30.0

#: Per source: set once the live lab has restarted after the last comparison closed. A new
#: comparison waits for it before pausing the lab, so a late restart never runs beside it.
_restarted: weakref.WeakKeyDictionary[Any, threading.Event] = weakref.WeakKeyDictionary()


def run_model(
    config: LabConfig, seconds: float, warmup: float, on_tick: Callable[[float], None]
) -> dict[str, Any]:
    """The real runner: a fresh lab via `workloads.bench`, exactly as `ccviz bench` does."""
    from workloads.bench import aggregate, run_one  # the lab machinery, only when used

    return aggregate(config, run_one(config, seconds, warmup, on_tick))


@dataclass(frozen=True, slots=True)
class CompareOptions:
    """How the compare screen benches: seconds per model, warm-up, models, runner."""

    seconds: float = 2.0
    warmup: float = 0.5
    models: tuple[str, ...] = MODELS
    runner: Runner = run_model


def _switches(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


FIGURES: tuple[Figure, ...] = (
    Figure("throughput, tasks/s", lambda r: r["throughput_per_s"], fmt_rate, "more"),
    Figure("p99 latency", lambda r: r["latency_ms"]["p99"], fmt_ms, "less"),
    Figure("context switches per task", lambda r: r["switches_per_task"], _switches, "less"),
    Figure("CPU, % of one core", lambda r: r["cpu_percent"], lambda v: f"{v:.0f}%"),
    Figure("memory, peak RSS", lambda r: r["rss_mib_peak"], lambda v: f"{v:.0f} MiB", "less"),
)


class Pausable(Protocol):
    """The source's side of the screen: its workload, and a lab that can pause."""

    @property
    def config(self) -> LabConfig: ...

    def suspend(self) -> None: ...

    def resume(self) -> None: ...


class _Cancelled(Exception):
    """Raised from the progress callback to stop the run in progress."""


class CompareScreen(ModalScreen[None]):
    """Bars of every model's figures on the current workload, filled in as the runs end."""

    CSS_PATH = "../styles/compare.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,b", "close", "close (cancels what is left)"),
    ]

    class Progress(Message):
        """Run `index` is `fraction` done (0 while its lab starts)."""

        def __init__(self, index: int, fraction: float) -> None:
            super().__init__()
            self.index = index
            self.fraction = fraction

    class Done(Message):
        """Run `index` ended with `result`, or failed with `error`."""

        def __init__(self, index: int, result: dict[str, Any] | None, error: str | None) -> None:
            super().__init__()
            self.index = index
            self.result = result
            self.error = error

    class Paused(Message):
        """The live lab has stopped; the runs begin."""

    def __init__(
        self, source: Pausable, options: CompareOptions | None = None, *, ascii: bool = False
    ) -> None:
        super().__init__()
        self.source = source
        self.options = options or CompareOptions()
        self.base = source.config
        self.ascii = ascii
        self.rows = [BarRow(m) for m in self.options.models]
        self.started_at = time.monotonic()
        self.finished_runs = 0
        self._cancel = threading.Event()
        self._ended = threading.Event()  # the bench thread has stopped every lab it started
        self._worker_started = False
        self._restart_scheduled = False

    # -- layout ----------------------------------------------------------

    def compose(self) -> ComposeResult:
        cores = default_workers()
        with Vertical(id="compare-box"):
            yield Label("Compare every model on this workload", id="compare-title")
            yield Label(self._workload_text(), id="compare-workload")
            yield Label(
                f"The live lab is paused while these runs use the {cores} cores, so the two "
                "do not compete; a fresh live lab starts when you close this screen.",
                id="compare-note",
            )
            with Horizontal(id="compare-progress-row"):
                yield ProgressBar(
                    total=len(self.rows), show_eta=False, id="compare-progress"
                )
                yield Label("pausing the live lab…", id="compare-status")
            with VerticalScroll(id="compare-scroll"):
                yield CompareBars(
                    FIGURES, self.rows, current=self.base.model, ascii=self.ascii,
                    id="compare-bars",
                )
            yield Label(
                f"{self._pointer()} the model the live lab was running · esc closes and "
                "cancels the runs left",
                id="compare-hint",
            )

    def _pointer(self) -> str:
        return ">" if self.ascii else "▶"

    def _workload_text(self) -> str:
        c, o = self.base, self.options
        load = f"rate {c.rate:g}/s" if c.rate is not None else f"concurrency {c.concurrency}"
        workers = str(c.workers) if c.workers else "auto"
        sep = " - " if self.ascii else " · "
        return sep.join((
            f"cpu-share {c.cpu_share:.2f}", f"task {fmt_ms(c.task_ms)}", load,
            f"workers {workers}", f"cpu {c.cpu_kind}", f"io {c.io_kind}",
            f"{o.seconds:g} s per model after {o.warmup:g} s warm-up",
        ))

    def on_mount(self) -> None:
        self._worker_started = True
        self.run_worker(
            self._bench, thread=True, name="compare the models", group="compare",
            exit_on_error=False,
        )

    # -- the runs (bench thread) -------------------------------------------

    def _bench(self) -> None:
        """Pause the live lab, then run every model in turn until done or cancelled."""
        try:
            previous = _restarted.get(self.source)
            if previous is not None:
                previous.wait(CANCEL_WAIT_S * 2)
            self.source.suspend()
            if not self._post(self.Paused()):
                return
            for index, model in enumerate(self.options.models):
                if self._cancel.is_set() or not self._post(self.Progress(index, 0.0)):
                    return
                config = self.base.replace(model=model)

                def tick(fraction: float, index: int = index) -> None:
                    if self._cancel.is_set() or not self._post(self.Progress(index, fraction)):
                        raise _Cancelled

                try:
                    result = self.options.runner(
                        config, self.options.seconds, self.options.warmup, tick
                    )
                except _Cancelled:
                    return
                except Exception as exc:  # one model failing must not end the comparison
                    self._post(self.Done(index, None, f"{type(exc).__name__}: {exc}"))
                    continue
                self._post(self.Done(index, result, None))
        finally:
            self._ended.set()

    def _post(self, message: Message) -> bool:
        """Post from the bench thread; False once the screen or the app has gone."""
        try:
            return self.post_message(message)
        except RuntimeError:  # the app's event loop has closed
            return False

    # -- messages (UI thread) ----------------------------------------------

    def _status(self, text: str) -> None:
        self.query_one("#compare-status", Label).update(text)

    def _show_rows(self) -> None:
        self.query_one(CompareBars).show(self.rows)

    def on_compare_screen_paused(self, _: Paused) -> None:
        self._status("live lab paused")

    def on_compare_screen_progress(self, message: Progress) -> None:
        index, total = message.index, len(self.rows)
        row = self.rows[index]
        if row.status != "running":
            self.rows[index] = BarRow(row.model, "running")
            self._show_rows()
        self.query_one(ProgressBar).update(progress=index + message.fraction)
        o = self.options
        phase = "starting a lab"
        if message.fraction > 0:
            measuring = message.fraction * (o.seconds + o.warmup) >= o.warmup
            phase = "measuring" if measuring else "warming up"
        self._status(f"{index + 1}/{total} {row.model}: {phase}…")

    def on_compare_screen_done(self, message: Done) -> None:
        row = self.rows[message.index]
        if message.error is None:
            self.rows[message.index] = BarRow(row.model, "done", message.result)
        else:
            self.rows[message.index] = BarRow(row.model, "failed", note=message.error)
            self.notify(f"{row.model}: {message.error}", severity="error", timeout=6)
        self._show_rows()
        self.finished_runs += 1
        self.query_one(ProgressBar).update(progress=message.index + 1)
        if message.index == len(self.rows) - 1:
            took = time.monotonic() - self.started_at
            self._status(f"done: {len(self.rows)} models in {took:.0f} s")

    # -- closing -----------------------------------------------------------

    def action_close(self) -> None:
        """Cancel what is left, restart the live lab once the last run has stopped, close."""
        self._cancel.set()
        self._schedule_restart()
        self.dismiss()

    def _schedule_restart(self) -> None:
        if self._restart_scheduled:
            return
        self._restart_scheduled = True
        ended, source, waits = self._ended, self.source, self._worker_started
        restarted = _restarted[source] = threading.Event()

        def restart() -> None:
            try:
                if waits:
                    ended.wait(CANCEL_WAIT_S)
                source.resume()
            finally:
                restarted.set()

        self.app.run_worker(
            restart, thread=True, name="restart the lab", group="lab", exit_on_error=False
        )

    def on_unmount(self) -> None:
        # The app is quitting (or the screen was closed): stop the runs either way.
        # Only `action_close` restarts the live lab, never a quitting app.
        self._cancel.set()
