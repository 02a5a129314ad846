"""`ccviz attach PID`: the live view on a process ccviz did not start.

Two functions for the CLI: `add_attach_parser` adds the subcommand to the
`ccviz` parser, `cmd_attach` runs it. A bad pid is refused before any screen
opens, with one line (`AttachError`, a `ConfigError`: the CLI prints
``ccviz: error: …`` and exits 2). Textual is imported only once the pid is
known to be readable, so a refusal stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any

from workloads.attach import inspect_target, parse_pid
from workloads.config import LabConfig

__all__ = ["add_attach_parser", "cmd_attach"]

DESCRIPTION = (
    "Show the kernel's view of a running process ccviz did not start — a Node server, a Go "
    "binary, a JVM, a Python program: every thread's state, context switches and CPU, read "
    "from /proc. Nothing is started, changed or stopped; app facts (event loop, tasks/s, "
    "latency) are not available. Examples to try: workloads/examples/."
)


def _hz(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hz: {text!r} is not a valid number") from None


def add_attach_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `attach PID [--hz HZ] [--ascii] [--theme …]` to the `ccviz` subparsers.

    `subparsers` is what `ArgumentParser.add_subparsers()` returned (argparse
    keeps that class private, hence `Any`).
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "attach",
        help="the kernel view of a running process (any pid you may read)",
        description=DESCRIPTION,
    )
    parser.add_argument("pid", metavar="PID", help="the process to watch")
    parser.add_argument(
        "--hz", type=_hz, default=10.0, metavar="HZ", help="samples per second, 1..50 (default 10)"
    )
    # The same view options as `run` and `replay`, defined once in the CLI. Imported
    # here, not at the top, because the CLI imports this module.
    from tui.args import add_view_options as _add_view_options

    _add_view_options(parser)
    return parser


def cmd_attach(args: argparse.Namespace) -> int:
    """Open the live view on `args.pid`; `ConfigError` (exit 2) for a pid that cannot be read."""
    pid = parse_pid(args.pid)
    LabConfig.validated(hz=args.hz)  # the `--hz: …` message, before any screen opens
    inspect_target(pid)
    from tui.app import make_app
    from tui.attach_source import AttachSource

    source = AttachSource(pid, hz=args.hz)  # checks again: the pid may have exited meanwhile
    app = make_app(source, ascii=args.ascii, high_contrast=args.theme == "high-contrast")
    app.run()
    return int(app.return_code or 0)
