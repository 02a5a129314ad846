"""The help screen: state legend, models, verdict rules and keys.

Everything is generated from the same tables the app uses (the glyphs, the
models in `MODELS` order, `workloads.verdict.RULES`, the app's bindings), so
the help cannot drift from what the screen shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.widgets import Markdown

from tui.widgets.glyphs import Glyphs
from tui.widgets.lines import LineBuilder, LinesWidget
from tui.widgets.threads import STATE_CLASS
from workloads.config import MODEL_SUMMARIES, MODELS
from workloads.frames import ThreadState
from workloads.verdict import RULES

__all__ = ["MODEL_HELP", "HelpScreen", "help_markdown"]

#: Per model: how it works, and what the panes should show while it runs.
MODEL_HELP: dict[str, tuple[str, str]] = {
    "threads": (
        "A new OS thread for every task. The kernel schedules them: each blocking call is a "
        "voluntary switch, and with more runnable threads than cores it preempts "
        "(involuntary switches).",
        "As many rows as tasks in flight. IO: rows of quiet dots and a high voluntary "
        "rate. Python CPU work: cross-hatched GIL-wait cells spread over every strip, "
        "about one core of CPU in total. Native CPU work: runnable cells once threads "
        "outnumber cores.",
    ),
    "pool": (
        "A fixed set of worker threads (w / W) takes tasks from a queue in front of them.",
        "Only the workers' rows are busy; the Pool pane's queue grows when tasks arrive "
        "faster than workers finish. More workers help IO-heavy tasks, not Python CPU work.",
    ),
    "asyncio": (
        "One thread runs an event loop: tasks wait for sockets in epoll, and CPU work runs "
        "inline on the loop's thread.",
        "One busy row and few switches per task. With cpu-share above 0 the heartbeat lag "
        "climbs to about one task's CPU time and the ready queue piles up: the loop cannot "
        "serve IO while it computes.",
    ),
    "asyncio-offload": (
        "One event loop; each task's CPU part is sent to a thread pool (like Node's worker "
        "pool or Python's `to_thread`).",
        "Lag drops compared with asyncio, but Python CPU work still holds the GIL: the pool "
        "threads and the loop thread show GIL wait. Native CPU work (c) releases the GIL and "
        "lets the pool use every core.",
    ),
    "asyncio-procs": (
        "One event loop; each task's CPU part is sent to a process pool, escaping the GIL.",
        "Worker processes execute in parallel on all cores with no GIL wait and the loop's "
        "lag stays low; the price is pickling and more switches per task.",
    ),
    "mn": (
        "M:N: one worker process per core, each an event loop running many tasks (like Go's "
        "goroutines or Kotlin's coroutines).",
        "One busy row per core, mostly executing, with few switches per task. CPU work is "
        "inline, so each loop's lag rises with the cpu share.",
    ),
    "processes": (
        "A process pool; each process runs one task at a time.",
        "One row per worker process. CPU work runs in parallel without GIL wait; during IO a "
        "process waits with nothing else to do, so throughput follows the worker count.",
    ),
}

STATE_HELP: tuple[tuple[ThreadState, str, str], ...] = (
    (
        ThreadState.EXECUTING,
        "Executing",
        "on a CPU: Δ schedstat field 1 (ns on CPU) ÷ Δt, from the kernel.",
    ),
    (
        ThreadState.RUNNABLE,
        "Runnable",
        "ready, but waiting for a core: Δ schedstat field 2 (ns on a run queue) ÷ Δt, from "
        "the kernel. Shown as n/a where the kernel does not expose it (reduced fidelity).",
    ),
    (
        ThreadState.WAITING,
        "Waiting",
        "the rest of the interval: blocked on IO, a lock, a sleep (stat letter S or D).",
    ),
    (
        ThreadState.GIL_WAIT,
        "GIL wait (inferred)",
        "the probe inside the lab says the thread is in a CPU phase, yet the kernel says it "
        "was neither executing nor runnable for most of the interval: it is blocked on the "
        "GIL. Never measured directly.",
    ),
)


def help_markdown(glyphs: Glyphs, bindings: Iterable[Binding]) -> str:
    """The whole help text as Markdown."""
    out = ["# ccviz help", "", "## Thread states", ""]
    out.append("Each strip cell is one sample (newest at the right); it shows the state that "
               "took most of that interval. Threads seen for the first time have no interval "
               "yet: they share one `+N new` line and get a row from their next sample.")
    out.append("")
    out.append("| cell | state | how it is known |")
    out.append("|---|---|---|")
    for state, name, how in STATE_HELP:
        out.append(f"| `{glyphs.state(state)}` | {name} | {how} |")
    out.append(f"| `{glyphs.marker}` | change | a new lab started or a live change was applied "
               "here (also in the sparklines) |")
    out += ["", "## Models (keys 1–7)", ""]
    for number, model in enumerate(MODELS, start=1):
        mechanics, look = MODEL_HELP[model]
        out.append(f"### {number} · {model} — {MODEL_SUMMARIES[model]}")
        out.append("")
        out.append(f"**How it works.** {mechanics}")
        out.append("")
        out.append(f"**What to look for.** {look}")
        out.append("")
    out += ["## Verdict rules", "", "The first rule that holds, in this order, names the "
            "bottleneck. Figures are averaged over the last second; a figure that cannot be "
            "measured never triggers a rule.", "", "| rule | when | advice |", "|---|---|---|"]
    for rule in RULES:
        out.append(f"| {rule.id} | {rule.condition} | {rule.advice} |")
    out += ["", "## Keys", "", "| key | action |", "|---|---|"]
    for binding in bindings:
        if binding.description:
            key = binding.key_display or binding.key
            out.append(f"| `{key}` | {binding.tooltip or binding.description} |")
    out += ["", "On a replay, the model and load keys change only what is requested on "
            "screen; the recording itself cannot change.", ""]
    return "\n".join(out)


class Legend(LinesWidget):
    """The state glyphs in their real colours (Markdown cannot colour them)."""

    DEFAULT_CSS = "Legend { height: 1; margin: 1 0 0 2; }"

    def build(self, width: int, height: int) -> Iterable[Strip]:
        line = LineBuilder()
        for state, name, _ in STATE_HELP:
            line.add(self.glyphs.state(state) * 3, self.style_of(STATE_CLASS[state]))
            line.add(f" {name.lower()}   ", self.style_of("lines--value"))
        line.add(self.glyphs.marker, self.style_of("lines--marker"))
        line.add(" change", self.style_of("lines--value"))
        return [line.strip(width)]


class HelpScreen(ModalScreen[None]):
    """A scrollable help page over the app; `?`, `escape` or `q` closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "close help"),
    ]

    def __init__(self, text: str, *, ascii: bool = False) -> None:
        super().__init__()
        self.text = text
        self.ascii = ascii

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-scroll"):
            yield Legend(ascii=self.ascii)
            yield Markdown(self.text, id="help-text")
