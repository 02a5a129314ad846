"""The duel's short help: what the two sides are, how the scoreboard scores, the keys.

Generated from the scoreboard's own rows and the app's bindings, so it cannot
drift from the screen.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.binding import Binding

from tui.widgets.scoreboard import ROWS, SCORE_WINDOW_S, TIE, fmt_cpus
from workloads.config import MODEL_SUMMARIES

if TYPE_CHECKING:
    from tui.duel import CpuPlan

__all__ = ["duel_help_markdown"]

#: How each scoreboard row is measured, by row label.
ROW_HELP: dict[str, str] = {
    "throughput": "completed tasks per second (the probe's counter over the window)",
    "p99 latency": "99th percentile of submit → done over the window; lower wins",
    "switches per task": "context switches of the lab's whole tree ÷ tasks completed; lower "
    "wins: fewer trips through the kernel scheduler for the same work",
    "CPU % · per task": "CPU of the tree (100 % = one core), then CPU time ÷ completed tasks. "
    "The lower CPU time per task wins — a lab that idles because it is stuck does not",
    "memory per task": "RSS of the lab's tree (IO server excluded) ÷ tasks in flight, in KiB; "
    "includes the interpreter's own memory, so it shows what each extra process or thread "
    "costs rather than an exact per-task size; lower wins",
}


def duel_help_markdown(bindings: Iterable[Binding], plan: CpuPlan, models: tuple[str, str]) -> str:
    """The duel help as Markdown."""
    out = ["# ccviz duel", ""]
    for letter, model, cpus in (("A", models[0], plan.a), ("B", models[1], plan.b)):
        out.append(f"- **{letter} · {model}** — {MODEL_SUMMARIES.get(model, model)}; "
                   f"pinned to cpus {fmt_cpus(cpus)}.")
    out += [
        "",
        "Both labs run the same workload at the same time, each pinned to an equal share of "
        "the cores (its worker processes too; its IO server is not), so one model cannot win "
        "by borrowing the other's cores. An odd core is left to the observer; on a single "
        "core both labs share it unpinned and disturb each other.",
    ]
    if plan.note:
        out += ["", f"**Here:** {plan.note}."]
    out += [
        "",
        "## Scoreboard",
        "",
        f"Each figure covers the last {SCORE_WINDOW_S:g} s of the side's current lab. The "
        "leading figure is highlighted and the last column names the leader and by how much "
        f"(×). Within {TIE:.0%} of each other is a tie; a figure that cannot be measured is "
        "n/a and never leads.",
        "",
        "| row | how it is measured |",
        "|---|---|",
    ]
    out += [f"| {row.label} | {ROW_HELP.get(row.label, '')} |" for row in ROWS]
    out += ["", "## Keys (both labs)", "", "| key | action |", "|---|---|"]
    for binding in bindings:
        if binding.description:
            out.append(f"| `{binding.key_display or binding.key}` | "
                       f"{binding.tooltip or binding.description} |")
    out += ["", "Each side's panes are the live view's: threads, the loop or pool, context "
            "switches and throughput; `ccviz run` shows one lab with the full help.", ""]
    return "\n".join(out)
