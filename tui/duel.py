"""`ccviz duel A B`: two labs, one workload, side by side, each on its own cores.

This module is the duel's entry point and stays free of Textual, because the
CLI builds every sub-command's parser even for headless commands (`bench`,
`models`), which must not import it. The app itself is `tui.duel_app.DuelApp`
(also reachable as `tui.duel.DuelApp`, loaded on first use).

Cores are split fairly: each lab gets ⌊n/2⌋ of the cores this process may use,
so neither side wins by having more; on an odd count the last core is left to
the observer and the two IO servers. On a single core the labs cannot be kept
apart, so both run unpinned on it and the banner says so: the duel still runs,
but the two sides compete for the one core and their figures are not
independent.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workloads.config import CPU_KINDS, IO_KINDS, MODELS, ConfigError, LabConfig

if TYPE_CHECKING:
    from tui.duel_app import DuelApp

__all__ = [
    "CpuPlan",
    "DuelApp",
    "add_duel_parser",
    "cmd_duel",
    "duel_config",
    "make_duel_app",
    "split_cpus",
]


@dataclass(frozen=True, slots=True)
class CpuPlan:
    """Which CPUs each side is pinned to (None: unpinned), and a note for the banner."""

    a: frozenset[int] | None
    b: frozenset[int] | None
    spare: frozenset[int] = frozenset()
    note: str | None = None

    @property
    def per_side(self) -> int | None:
        """Cores each lab may use; None when unpinned."""
        return None if self.a is None else len(self.a)


def split_cpus(cpus: Iterable[int] | None = None) -> CpuPlan:
    """Two equal, disjoint shares of `cpus` (default: this process's affinity)."""
    available = sorted(set(os.sched_getaffinity(0) if cpus is None else cpus))
    if len(available) < 2:
        return CpuPlan(
            None, None,
            note="one core: both labs share it unpinned, so their figures interfere",
        )
    half = len(available) // 2
    a, b = frozenset(available[:half]), frozenset(available[half : 2 * half])
    spare = frozenset(available[2 * half :])
    note = None
    if spare:
        note = f"cpu {', '.join(map(str, sorted(spare)))} left to the observer"
    return CpuPlan(a, b, spare, note)


def duel_config(model_a: str, model_b: str, base: LabConfig) -> tuple[LabConfig, LabConfig]:
    """One config per side: `base` with each model; a bad name raises `ConfigError`."""
    configs = []
    for position, model in (("A", model_a), ("B", model_b)):
        if model not in MODELS:
            raise ConfigError(
                f"--model {position}: unknown model {model!r}; choose from {', '.join(MODELS)}"
            )
        configs.append(base.replace(model=model))
    return configs[0], configs[1]


def make_duel_app(
    model_a: str,
    model_b: str,
    base_config: LabConfig,
    *,
    ascii: bool = False,
    high_contrast: bool = False,
    plan: CpuPlan | None = None,
) -> DuelApp:
    """Build the duel app (used by the CLI, the tests and the screenshots).

    Validates the models first, so a bad name fails before anything starts.
    `plan` overrides the core split (tests); by default the cores are halved.
    """
    config_a, config_b = duel_config(model_a, model_b, base_config)
    from tui.duel_app import DuelApp

    return DuelApp(
        config_a, config_b, plan or split_cpus(), ascii=ascii, high_contrast=high_contrast
    )


def __getattr__(name: str) -> Any:
    # PEP 562: `tui.duel.DuelApp` without importing Textual when only the CLI is needed.
    if name == "DuelApp":
        from tui.duel_app import DuelApp

        return DuelApp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- command line ------------------------------------------------------------

_DEFAULTS = LabConfig()


def _number(flag: str, kind: type[float] | type[int]) -> Any:
    def parse(text: str) -> float | int:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}: {text!r} is not a valid number") from None

    return parse


def add_duel_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `duel A B [workload options] [--ascii --theme]` to the CLI's sub-commands."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "duel",
        help="two models side by side on the same workload, each on its own cores",
        description="Run model A and model B on the same workload at once, each lab pinned to "
        "half of the cores, with a scoreboard comparing them. The mix and load keys change "
        "both labs. A and B may be the same model (to see the noise between two runs).",
    )
    p.add_argument("model_a", metavar="A", help=f"left model: {', '.join(MODELS)}")
    p.add_argument("model_b", metavar="B", help="right model")
    g = p.add_argument_group("workload (both labs)")
    numbers: tuple[tuple[str, type[float] | type[int], float | None, str, str], ...] = (
        ("--cpu-share", float, _DEFAULTS.cpu_share, "S", "share of each task spent on CPU, 0..1"),
        ("--concurrency", int, _DEFAULTS.concurrency, "N", "tasks in flight, closed loop"),
        ("--task-ms", float, _DEFAULTS.task_ms, "MS", "duration of one task alone"),
        ("--rate", float, None, "R", "open loop: R tasks/s (Poisson) instead of --concurrency"),
        ("--workers", int, None, "N", "pool size / worker processes (default: the cores of "
         "one side; pool: those + 4)"),
        ("--hz", float, _DEFAULTS.hz, "HZ", "samples per second per lab, 1..50"),
    )
    for flag, kind, default, metavar, text in numbers:
        suffix = "" if default is None else f" (default {default:g})"
        g.add_argument(flag, type=_number(flag, kind), metavar=metavar, help=text + suffix,
                       default=_DEFAULTS.workers if flag == "--workers" else default)
    g.add_argument("--cpu-kind", default=_DEFAULTS.cpu_kind, metavar="K",
                   help=f"CPU work: {' or '.join(CPU_KINDS)} (python holds the GIL)")
    g.add_argument("--io-kind", default=_DEFAULTS.io_kind, metavar="K",
                   help=f"IO work: {', '.join(IO_KINDS)} (default {_DEFAULTS.io_kind})")
    p.add_argument("--ascii", action="store_true", help="ASCII only")
    p.add_argument("--theme", choices=("default", "high-contrast"), default="default",
                   help="colour theme; high-contrast suits projectors")
    return p


def _base_config(args: argparse.Namespace) -> LabConfig:
    return LabConfig.validated(
        model=_DEFAULTS.model,
        cpu_share=args.cpu_share,
        task_ms=args.task_ms,
        concurrency=args.concurrency,
        rate=args.rate,
        workers=args.workers,
        cpu_kind=args.cpu_kind,
        io_kind=args.io_kind,
        hz=args.hz,
    )


def cmd_duel(args: argparse.Namespace) -> int:
    """Run the duel until the user quits; bad input raises `ConfigError` before any lab starts."""
    app = make_duel_app(
        args.model_a,
        args.model_b,
        _base_config(args),
        ascii=args.ascii,
        high_contrast=args.theme == "high-contrast",
    )
    app.run()
    return int(app.return_code or 0)
