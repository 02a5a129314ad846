"""The headless commands: `models`, `bench`, `record`, `export`, `calibrate`.

None of them imports Textual; `bench` and `record` run the same labs and
frames as the live view, so every figure they print is one the view shows.
"""

from __future__ import annotations

import argparse
import sys
import time

from tui.args import UsageError, check_range, config_from_args
from workloads.config import MODEL_SUMMARIES, MODELS, ConfigError

__all__ = ["cmd_bench", "cmd_calibrate", "cmd_export", "cmd_models", "cmd_record"]


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
        config_from_args(args, model=models[0], cpu_share=share, concurrency=args.concurrency[0])
    for conc in args.concurrency:
        config_from_args(args, model=models[0], cpu_share=args.cpu_share[0], concurrency=conc)
    for model in models:
        config_from_args(
            args, model=model, cpu_share=args.cpu_share[0], concurrency=args.concurrency[0]
        )
    check_range("--seconds", args.seconds, 0.5, 3600)
    check_range("--warmup", args.warmup, 0.0, 600)
    base = config_from_args(
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

    config = config_from_args(args)
    check_range("--seconds", args.seconds, 0.5, 24 * 3600)
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
