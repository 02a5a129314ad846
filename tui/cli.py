"""The `ccviz` command line: builds the parser and dispatches the subcommands.

Bad input gets one line naming the flag and what is allowed, and exit code 2.
Headless commands (`bench`, `record`, `export`, `calibrate`, `models`, in
`tui.headless`) never import Textual; `run` and `replay` open the live view.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence

from tui.args import (
    EXIT_USAGE,
    Parser,
    UsageError,
    add_view_options,
    add_workload_options,
    check_range,
    config_from_args,
    number,
)
from tui.attach_cmd import add_attach_parser, cmd_attach
from tui.duel import add_duel_parser, cmd_duel
from tui.headless import cmd_bench, cmd_calibrate, cmd_export, cmd_models, cmd_record
from tui.serve import add_serve_parser, cmd_serve
from tui.tour import add_tour_parser, cmd_tour
from workloads.config import ConfigError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="ccviz",
        description="A terminal laboratory for concurrency models: real workloads, "
        "measured from the kernel. With no command, runs the live view.",
    )
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="open the live view on a lab (the default command)",
        description="Open the live view and start a lab.",
    )
    add_workload_options(run, lists=False)
    add_view_options(run)

    replay = sub.add_parser(
        "replay",
        help="open the view on a recording",
        description="Replay a recording made by `ccviz record`.",
    )
    replay.add_argument("file", help="a .jsonl recording")
    replay.add_argument(
        "--speed",
        type=number("--speed", float),
        default=1.0,
        help="playback speed, 0.25..4 (default 1)",
    )
    add_view_options(replay)

    bench = sub.add_parser(
        "bench",
        help="compare models headless and print the figures",
        description="Run every combination of --model × --cpu-share × "
        "--concurrency in a fresh lab and print the figures.",
    )
    add_workload_options(bench, lists=True)
    bench.add_argument(
        "--seconds",
        type=number("--seconds", float),
        default=3.0,
        help="measured seconds per combination (default 3)",
    )
    bench.add_argument(
        "--warmup",
        type=number("--warmup", float),
        default=1.0,
        help="seconds discarded before measuring (default 1)",
    )
    bench.add_argument("--format", choices=("table", "json", "csv", "markdown"), default="table")
    bench.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")

    record = sub.add_parser(
        "record",
        help="record a run's frames as JSON Lines",
        description="Run a lab headless and write every frame to FILE.",
    )
    add_workload_options(record, lists=False)
    record.add_argument(
        "--seconds",
        type=number("--seconds", float),
        default=5.0,
        help="how long to record (default 5)",
    )
    record.add_argument("--output", "-o", metavar="FILE", help="the .jsonl recording to write")
    record.add_argument(
        "--perfetto",
        metavar="OUT.json",
        help="also (or only) write a Chrome trace JSON that Perfetto opens",
    )

    export = sub.add_parser(
        "export",
        help="convert a recording to a Chrome trace for Perfetto",
        description="Write a recording as Chrome trace JSON (open it in ui.perfetto.dev): one "
        "track per thread with Executing / Runnable / Waiting slices, and counter tracks.",
    )
    export.add_argument("file", help="a .jsonl recording from `ccviz record`")
    export.add_argument("--output", "-o", metavar="OUT.json", required=True, help="trace to write")

    sub.add_parser(
        "calibrate",
        help="measure this machine's context-switch cost",
        description="Measure thread↔thread and process↔process switch cost (pipe ping-pong, "
        "pinned to one CPU) and store it in the user's cache directory; the live view then "
        "estimates the CPU time lost to switching.",
    )

    add_serve_parser(sub)
    add_attach_parser(sub)
    add_duel_parser(sub)
    add_tour_parser(sub)
    sub.add_parser("models", help="list the models", description="List the concurrency models.")
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    from tui.app import make_app
    from tui.sources import LiveSource

    app = make_app(
        LiveSource(config), ascii=args.ascii, high_contrast=args.theme == "high-contrast"
    )
    app.run()
    return int(app.return_code or 0)


def cmd_replay(args: argparse.Namespace) -> int:
    from workloads.recording import RecordingError, read_recording

    check_range("--speed", args.speed, 0.25, 4.0)
    try:
        recording = read_recording(args.file, strict=False)
    except RecordingError as exc:
        raise ConfigError(str(exc)) from None
    from tui.app import make_app
    from tui.sources import ReplaySource

    app = make_app(
        ReplaySource(recording, speed=args.speed),
        ascii=args.ascii,
        high_contrast=args.theme == "high-contrast",
    )
    app.run()
    return int(app.return_code or 0)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "replay": cmd_replay,
    "bench": cmd_bench,
    "record": cmd_record,
    "export": cmd_export,
    "calibrate": cmd_calibrate,
    "serve": cmd_serve,
    "attach": cmd_attach,
    "duel": cmd_duel,
    "tour": cmd_tour,
    "models": cmd_models,
}


def _on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in ("-h", "--help")):
        args_list = ["run", *args_list]
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args = parser.parse_args(args_list)
        if args.command is None:
            args = parser.parse_args(["run"])
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError) as exc:
        print(f"ccviz: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ccviz: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ccviz models | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
