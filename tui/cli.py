"""The `ccviz` command line: run (the TUI), replay, bench, record, models.

Bad input gets one line naming the flag and what is allowed, and exit code 2.
Headless commands (`bench`, `record`, `models`) never import Textual.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from tui.attach_cmd import add_attach_parser, cmd_attach
from tui.duel import add_duel_parser, cmd_duel
from tui.serve import add_serve_parser, cmd_serve
from tui.tour import add_tour_parser, cmd_tour
from workloads.config import CPU_KINDS, IO_KINDS, MODEL_SUMMARIES, MODELS, ConfigError, LabConfig

__all__ = ["build_parser", "main"]

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _number(flag: str, kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}: {text!r} is not a valid number") from None

    return parse


def _list(flag: str, kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    one = _number(flag, kind)

    def parse(text: str) -> list[Any]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{flag}: give at least one value")
        return [one(t) for t in items]

    return parse


def _add_workload_options(p: argparse.ArgumentParser, *, lists: bool) -> None:
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
            type=_list("--cpu-share", float),
            default=[0.0, 0.5, 1.0],
            metavar="S[,S…]",
            help="CPU share of each task, 0..1 (default 0,0.5,1)",
        )
        g.add_argument(
            "--concurrency",
            type=_list("--concurrency", int),
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
            type=_number("--cpu-share", float),
            default=0.1,
            metavar="S",
            help="share of each task spent on CPU, 0..1 (default 0.1)",
        )
        g.add_argument(
            "--concurrency",
            type=_number("--concurrency", int),
            default=32,
            metavar="N",
            help="tasks in flight, closed loop (default 32)",
        )
    g.add_argument(
        "--task-ms",
        type=_number("--task-ms", float),
        default=20.0,
        metavar="MS",
        help="duration of one task alone: CPU part + IO part (default 20)",
    )
    g.add_argument(
        "--rate",
        type=_number("--rate", float),
        default=None,
        metavar="R",
        help="open loop: R tasks/s with Poisson arrivals instead of --concurrency",
    )
    g.add_argument(
        "--workers",
        type=_number("--workers", int),
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
        type=_number("--hz", float),
        default=10.0,
        metavar="HZ",
        help="samples per second, 1..50 (default 10)",
    )


def _add_view_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ascii", action="store_true", help="ASCII only, for terminals without block characters"
    )
    p.add_argument(
        "--theme",
        choices=("default", "high-contrast"),
        default="default",
        help="colour theme; high-contrast suits projectors",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ccviz",
        description="A terminal laboratory for concurrency models: real workloads, "
        "measured from the kernel. With no command, runs the live view.",
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="open the live view on a lab (the default command)",
        description="Open the live view and start a lab.",
    )
    _add_workload_options(run, lists=False)
    _add_view_options(run)

    replay = sub.add_parser(
        "replay",
        help="open the view on a recording",
        description="Replay a recording made by `ccviz record`.",
    )
    replay.add_argument("file", help="a .jsonl recording")
    replay.add_argument(
        "--speed",
        type=_number("--speed", float),
        default=1.0,
        help="playback speed, 0.25..4 (default 1)",
    )
    _add_view_options(replay)

    bench = sub.add_parser(
        "bench",
        help="compare models headless and print the figures",
        description="Run every combination of --model × --cpu-share × "
        "--concurrency in a fresh lab and print the figures.",
    )
    _add_workload_options(bench, lists=True)
    bench.add_argument(
        "--seconds",
        type=_number("--seconds", float),
        default=3.0,
        help="measured seconds per combination (default 3)",
    )
    bench.add_argument(
        "--warmup",
        type=_number("--warmup", float),
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
    _add_workload_options(record, lists=False)
    record.add_argument(
        "--seconds",
        type=_number("--seconds", float),
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


def _config(args: argparse.Namespace, **overrides: Any) -> LabConfig:
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


def _check_seconds(flag: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{flag}: {value:g} is out of range; allowed {low:g} to {high:g}")


def cmd_models(_: argparse.Namespace) -> int:
    width = max(map(len, MODELS))
    for n, name in enumerate(MODELS, start=1):
        print(f"{n}  {name:<{width}}  {MODEL_SUMMARIES[name]}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from tui import bench_output
    from workloads.bench import BenchPlan, run_bench

    models = (
        list(MODELS)
        if args.model == "all"
        else [m.strip() for m in args.model.split(",") if m.strip()]
    )
    if not models:
        raise ConfigError("--model: give at least one model, or 'all'")
    for share in args.cpu_share:
        _config(args, model=models[0], cpu_share=share, concurrency=args.concurrency[0])
    for conc in args.concurrency:
        _config(args, model=models[0], cpu_share=args.cpu_share[0], concurrency=conc)
    for model in models:
        _config(args, model=model, cpu_share=args.cpu_share[0], concurrency=args.concurrency[0])
    _check_seconds("--seconds", args.seconds, 0.5, 3600)
    _check_seconds("--warmup", args.warmup, 0.0, 600)
    base = _config(
        args, model=models[0], cpu_share=args.cpu_share[0], concurrency=args.concurrency[0]
    )
    plan = BenchPlan(base, models, args.cpu_share, args.concurrency, args.seconds, args.warmup)
    report = bench_output.run_with_progress(plan, run_bench)
    text = bench_output.render(report, args.format)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    elif args.format == "table":
        bench_output.print_table(report)
    else:
        sys.stdout.write(text)
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from workloads.bench import machine_info
    from workloads.frames import Frame
    from workloads.perfetto import TraceWriter
    from workloads.recording import RecordingWriter
    from workloads.session import LabSession

    config = _config(args)
    _check_seconds("--seconds", args.seconds, 0.5, 24 * 3600)
    if not args.output and not args.perfetto:
        raise UsageError("record: give --output FILE.jsonl and/or --perfetto OUT.json")
    header = {"config": config.to_dict(), "machine": machine_info()}
    writer = trace = None
    try:
        if args.output:
            writer = RecordingWriter(args.output, header)
        if args.perfetto:
            trace = TraceWriter(args.perfetto, header)
    except OSError as exc:
        flag = "--perfetto" if writer is not None else "--output"
        if writer is not None:
            writer.close()
        raise ConfigError(f"{flag}: cannot write: {exc.strerror or exc}") from None

    def on_frame(frame: Frame) -> None:
        if writer is not None:
            writer.write(frame)
        if trace is not None:
            trace.add(frame)

    session = LabSession(config, on_frame=on_frame)
    try:
        session.start()
        time.sleep(args.seconds)
    finally:
        session.stop()
        if writer is not None:
            writer.close()
        if trace is not None:
            trace.close()
    for target, count in ((args.output, writer), (args.perfetto, trace)):
        if target and count is not None:
            print(f"wrote {count.frames} frames to {target}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from workloads.perfetto import write_chrome_trace
    from workloads.recording import RecordingError, read_recording

    try:
        recording = read_recording(args.file, strict=False)
    except RecordingError as exc:
        raise ConfigError(str(exc)) from None
    try:
        write_chrome_trace(recording, args.output)
    except OSError as exc:
        raise ConfigError(f"--output: cannot write {args.output}: {exc.strerror or exc}") from None
    note = f" (stopped at: {recording.error})" if recording.error else ""
    print(f"wrote {len(recording.frames)} frames to {args.output}{note}", file=sys.stderr)
    return 0


def cmd_calibrate(_: argparse.Namespace) -> int:
    from workloads.calibrate import format_report, measure, save

    cost = measure()
    path = save(cost)
    print(format_report(cost))
    print(f"saved to {path}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    config = _config(args)
    from tui.app import make_app
    from tui.sources import LiveSource

    app = make_app(
        LiveSource(config), ascii=args.ascii, high_contrast=args.theme == "high-contrast"
    )
    app.run()
    return int(app.return_code or 0)


def cmd_replay(args: argparse.Namespace) -> int:
    from workloads.recording import RecordingError, read_recording

    _check_seconds("--speed", args.speed, 0.25, 4.0)
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


if __name__ == "__main__":
    sys.exit(main())
