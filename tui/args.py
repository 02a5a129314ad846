"""Command-line building blocks shared by every `ccviz` subcommand.

One place defines the workload and view options, turns them into a validated
`LabConfig`, and reports bad input as one line (`UsageError` / `ConfigError`,
exit 2) instead of argparse's usage dump.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

from workloads.config import CPU_KINDS, IO_KINDS, MODELS, ConfigError, LabConfig

__all__ = [
    "EXIT_USAGE",
    "Parser",
    "UsageError",
    "add_view_options",
    "add_workload_options",
    "check_range",
    "config_from_args",
    "number",
    "number_list",
]

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def number(flag: str, kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}: {text!r} is not a valid number") from None

    return parse


def number_list(flag: str, kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    one = number(flag, kind)

    def parse(text: str) -> list[Any]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{flag}: give at least one value")
        return [one(t) for t in items]

    return parse


def add_workload_options(p: argparse.ArgumentParser, *, lists: bool) -> None:
    g = p.add_argument_group("workload")
    if lists:
        g.add_argument(
            "--model",
            default="all",
            metavar="M[,M…]",
            help=f"models to compare, or 'all' ({', '.join(MODELS)})",
        )
        g.add_argument(
            "--cpu-share",
            type=number_list("--cpu-share", float),
            default=[0.0, 0.5, 1.0],
            metavar="S[,S…]",
            help="CPU share of each task, 0..1 (default 0,0.5,1)",
        )
        g.add_argument(
            "--concurrency",
            type=number_list("--concurrency", int),
            default=[32],
            metavar="N[,N…]",
            help="tasks in flight (closed loop; default 32)",
        )
    else:
        g.add_argument(
            "--model",
            default="threads",
            metavar="M",
            help=f"concurrency model: {', '.join(MODELS)} (default threads)",
        )
        g.add_argument(
            "--cpu-share",
            type=number("--cpu-share", float),
            default=0.1,
            metavar="S",
            help="share of each task spent on CPU, 0..1 (default 0.1)",
        )
        g.add_argument(
            "--concurrency",
            type=number("--concurrency", int),
            default=32,
            metavar="N",
            help="tasks in flight, closed loop (default 32)",
        )
    g.add_argument(
        "--task-ms",
        type=number("--task-ms", float),
        default=20.0,
        metavar="MS",
        help="duration of one task alone: CPU part + IO part (default 20)",
    )
    g.add_argument(
        "--rate",
        type=number("--rate", float),
        default=None,
        metavar="R",
        help="open loop: R tasks/s with Poisson arrivals instead of --concurrency",
    )
    g.add_argument(
        "--workers",
        type=number("--workers", int),
        default=0,
        metavar="N",
        help="pool size / worker processes (default: cores; pool: min(32, cores+4))",
    )
    g.add_argument(
        "--cpu-kind",
        default="python",
        metavar="K",
        help=f"CPU work: {' or '.join(CPU_KINDS)} (python holds the GIL)",
    )
    g.add_argument(
        "--io-kind",
        default="socket",
        metavar="K",
        help=f"IO work: {', '.join(IO_KINDS)} (default socket)",
    )
    g.add_argument(
        "--hz",
        type=number("--hz", float),
        default=10.0,
        metavar="HZ",
        help="samples per second, 1..50 (default 10)",
    )


def add_view_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ascii", action="store_true", help="ASCII only, for terminals without block characters"
    )
    p.add_argument(
        "--theme",
        choices=("default", "high-contrast"),
        default="default",
        help="colour theme; high-contrast suits projectors",
    )


def config_from_args(args: argparse.Namespace, **overrides: Any) -> LabConfig:
    values = {
        "model": args.model,
        "cpu_share": args.cpu_share,
        "task_ms": args.task_ms,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "workers": args.workers,
        "cpu_kind": args.cpu_kind,
        "io_kind": args.io_kind,
        "hz": args.hz,
        **overrides,
    }
    return LabConfig.validated(**values)


def check_range(flag: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{flag}: {value:g} is out of range; allowed {low:g} to {high:g}")
