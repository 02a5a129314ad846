"""`ccviz tour`: a guided path through the argument, live, rehearsed or replayed.

- `ccviz tour [FILE]` opens the app on a live lab set to scene 1; `n` / `p`
  move between scenes and the lab follows.
- `ccviz tour [FILE] --rehearse DIR` records every scene headless, each in a
  fresh lab for `--seconds`, as ``DIR/NN-<slug>.jsonl``, with the tour file
  copied in as ``DIR/tour.toml``.
- `ccviz tour --replay DIR` plays those recordings instead of live labs (for
  venues where a live run is risky); no lab is ever started.

Without FILE the built-in tour (`tui/tours/article.toml`) is used. A bad tour
file, or a rehearsal that does not match it, raises `TourError` (a
`ConfigError`), which the CLI prints as one line with exit code 2. The
rehearsal is headless and imports no Textual.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.tours import Tour, TourError, load_tour
from workloads.config import ConfigError

if TYPE_CHECKING:
    from workloads.recording import Recording

__all__ = [
    "DEFAULT_SECONDS",
    "TOUR_COPY",
    "add_tour_parser",
    "cmd_tour",
    "load_rehearsal",
    "rehearse",
]

DEFAULT_SECONDS = 6.0
#: The name of the tour file inside a rehearsal folder.
TOUR_COPY = "tour.toml"


def add_tour_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Add the `tour` command to the CLI's subparsers (their `parser_class` is used)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "tour",
        help="a guided tour of the models, scene by scene (n / p)",
        description="Walk through the concurrency models scene by scene: each scene sets the "
        "lab and shows a caption; n and p move between scenes and every other key still "
        "works. Without FILE, the built-in tour follows the article's argument.",
    )
    parser.add_argument("file", nargs="?", help="a tour TOML file (default: the built-in tour)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--rehearse", metavar="DIR",
        help="record every scene headless into DIR (NN-<slug>.jsonl plus tour.toml)",
    )
    mode.add_argument(
        "--replay", metavar="DIR",
        help="play a rehearsal from DIR instead of live labs (no lab is started)",
    )
    parser.add_argument(
        "--seconds", type=float, default=DEFAULT_SECONDS, metavar="S",
        help=f"--rehearse: seconds recorded per scene, 0.5..600 (default {DEFAULT_SECONDS:g})",
    )
    parser.add_argument(
        "--ascii", action="store_true", help="ASCII only, for terminals without block characters"
    )
    parser.add_argument(
        "--theme", choices=("default", "high-contrast"), default="default",
        help="colour theme; high-contrast suits projectors",
    )
    return parser


def cmd_tour(args: argparse.Namespace) -> int:
    """Run `ccviz tour`; raises `ConfigError` (a `TourError` for the file) on bad input."""
    if args.rehearse:
        if not 0.5 <= args.seconds <= 600:
            raise ConfigError(f"--seconds: {args.seconds:g} is out of range; allowed 0.5 to 600")
        tour = load_tour(args.file)
        rehearse(tour, Path(args.rehearse), args.seconds, report=_stderr)
        return 0
    recordings = None
    if args.replay:
        directory = Path(args.replay)
        if not directory.is_dir():
            raise ConfigError(f"--replay: {directory} is not a folder")
        tour = load_tour(args.file or directory / TOUR_COPY)
        recordings = load_rehearsal(directory, tour)
    else:
        tour = load_tour(args.file)
    from tui.tour_app import make_tour_app  # Textual only for the app

    app = make_tour_app(
        tour,
        recordings=recordings,
        ascii=args.ascii,
        high_contrast=args.theme == "high-contrast",
    )
    app.run()
    return int(app.return_code or 0)


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def rehearse(
    tour: Tour,
    directory: Path,
    seconds: float = DEFAULT_SECONDS,
    *,
    report: Callable[[str], None] | None = None,
) -> list[Path]:
    """Record every scene in a fresh lab for `seconds`; return the recordings' paths.

    Each scene starts from a clean lab rather than the previous scene's, so a
    recording holds exactly one scene and replays on its own.
    """
    from workloads.bench import machine_info
    from workloads.recording import RecordingWriter
    from workloads.session import LabSession

    say = report or (lambda _: None)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / TOUR_COPY).write_text(tour.text, encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or exc
        raise ConfigError(f"--rehearse: cannot write to {directory}: {reason}") from None
    machine = machine_info()
    written: list[Path] = []
    for index, scene in enumerate(tour.scenes):
        path = directory / tour.recording_name(index)
        say(f"scene {index + 1}/{len(tour.scenes)} {scene.title}: recording {seconds:g} s…")
        header = {
            "config": scene.config.to_dict(),
            "machine": machine,
            "tour": {"title": tour.title, "scene": index + 1, "scene_title": scene.title},
        }
        with RecordingWriter(path, header) as writer:
            session = LabSession(scene.config, on_frame=writer.write)
            try:
                session.start()
                time.sleep(seconds)
            finally:
                session.stop()  # joins the sampler: no frame is written after this
        say(f"  wrote {writer.frames} frames to {path}")
        written.append(path)
    return written


def load_rehearsal(directory: Path, tour: Tour) -> list[Recording]:
    """The recordings of a rehearsal, one per scene in order; `TourError` if one is missing."""
    from workloads.recording import RecordingError, read_recording

    recordings = []
    for index in range(len(tour.scenes)):
        path = directory / tour.recording_name(index)
        if not path.is_file():
            raise TourError(
                f"{path}: missing recording of scene {index + 1}; make them with "
                f"`ccviz tour --rehearse {directory}`"
            )
        try:
            recording = read_recording(path, strict=False)
        except RecordingError as exc:
            raise TourError(str(exc)) from None
        if not recording.frames:
            raise TourError(f"{path}: no frames recorded")
        recordings.append(recording)
    return recordings
