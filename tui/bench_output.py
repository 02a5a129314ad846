"""Headless output of `ccviz bench`: a progress bar, then a table, JSON, CSV or Markdown."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from workloads.bench import BenchPlan
from workloads.config import LabConfig

__all__ = ["COLUMNS", "print_table", "render", "run_with_progress"]

#: (header, how to get the value from a result, format)
COLUMNS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("model", lambda r: r["model"], "{}"),
    ("cpu", lambda r: r["cpu_share"], "{:.2f}"),
    ("conc", lambda r: r["concurrency"], "{}"),
    ("tasks/s", lambda r: r["throughput_per_s"], "{:,.0f}"),
    ("p50 ms", lambda r: r["latency_ms"]["p50"], "{:.1f}"),
    ("p99 ms", lambda r: r["latency_ms"]["p99"], "{:.1f}"),
    ("cpu %", lambda r: r["cpu_percent"], "{:.0f}"),
    ("vol/s", lambda r: r["ctx_switches_per_s"]["voluntary"], "{:,.0f}"),
    ("invol/s", lambda r: r["ctx_switches_per_s"]["involuntary"], "{:,.0f}"),
    ("sw/task", lambda r: r["switches_per_task"], "{:.1f}"),
    ("threads", lambda r: r["threads_peak"], "{}"),
    ("procs", lambda r: r["processes_peak"], "{}"),
    ("RSS MiB", lambda r: r["rss_mib_peak"], "{:.0f}"),
    ("exec", lambda r: r["shares"]["executing"], "{:.0%}"),
    ("runnable", lambda r: r["shares"]["runnable"], "{:.0%}"),
    ("GIL wait*", lambda r: r["shares"]["gil_wait"], "{:.0%}"),
    ("lag p99", lambda r: (r["loop"] or {}).get("lag_ms_p99"), "{:.1f}"),
    ("lag max", lambda r: (r["loop"] or {}).get("lag_ms_max"), "{:.1f}"),
    ("backlog", lambda r: r["backlog_max"], "{:,}"),
    ("errors", lambda r: r["errors"], "{:,}"),
]


def _cell(result: dict[str, Any], getter: Callable[[dict[str, Any]], Any], fmt: str) -> str:
    value = getter(result)
    if value is None:
        return "n/a"
    return fmt.format(value)


def run_with_progress(plan: BenchPlan, run: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """Run the plan with a Rich progress bar on stderr."""
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.1f}/{task.total:.0f}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=len(plan))

        def on_progress(index: int, config: LabConfig, fraction: float) -> None:
            progress.update(
                task,
                completed=index + fraction,
                description=f"{config.model} cpu {config.cpu_share:g} ×{config.concurrency}",
            )

        return run(plan, on_progress)


def print_table(report: dict[str, Any]) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=220)
    table = Table(title="ccviz bench", caption=_caption(report))
    for header, _, _ in COLUMNS:
        table.add_column(header, justify="left" if header == "model" else "right")
    for result in report["results"]:
        table.add_row(*(_cell(result, get, fmt) for _, get, fmt in COLUMNS))
    console.print(table)
    for result in report["results"]:
        for message in result.get("messages", []):
            console.print(f"[yellow]{result['model']}: {message}[/]")


def _caption(report: dict[str, Any]) -> str:
    m = report["machine"]
    return (
        f"{m['cores']} cores, {m['cpu']}, Python {m['python']}, "
        f"sampler loop in {m.get('sampler_loop', '?')}. "
        "* GIL wait is inferred (CPU phase + kernel says not running); n/a = not measurable here."
    )


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([h for h, _, _ in COLUMNS])
        for result in report["results"]:
            writer.writerow(["" if (v := get(result)) is None else v for _, get, _ in COLUMNS])
        return out.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(h for h, _, _ in COLUMNS) + " |"]
        lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
        for result in report["results"]:
            lines.append("| " + " | ".join(_cell(result, g, f) for _, g, f in COLUMNS) + " |")
        return "\n".join(lines) + "\n\n" + _caption(report) + "\n"
    console = Console(file=io.StringIO(), width=200)
    table = Table(title="ccviz bench")
    for header, _, _ in COLUMNS:
        table.add_column(header)
    for result in report["results"]:
        table.add_row(*(_cell(result, g, f) for _, g, f in COLUMNS))
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined, no-any-return]
