"""Regenerate `screenshots/*.svg` from the committed recordings in `recordings/`.

One screenshot per recording (the app replaying it, stopped at its last
frame, at 160×48), plus an 80×24 one of the first recording, the density
view of the recording with the most threads, and the help screen. The
pictures come from recorded measurements only, so they change only when the
recordings or the app change.

    python scripts/screenshots.py [--recordings DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.app import make_app  # noqa: E402 - needs the repository on sys.path first
from tui.sources import ReplaySource  # noqa: E402
from workloads.config import MODELS  # noqa: E402
from workloads.recording import read_recording  # noqa: E402

WIDE = (160, 48)
SMALL = (80, 24)


async def shoot(
    recording_path: Path, out: Path, size: tuple[int, int], keys: Sequence[str] = ()
) -> None:
    """Replay `recording_path` to its last frame, press `keys`, save an SVG."""
    recording = read_recording(recording_path, strict=False)
    app = make_app(ReplaySource(recording, start_at=-1, paused=True))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.pause(0.2)
        svg = app.export_screenshot(title=f"ccviz — {recording_path.stem}")
    out.write_text(svg, encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


def _threads(path: Path) -> int:
    frames = read_recording(path, strict=False).frames
    return len(frames[-1].threads) if frames else 0


def _order(path: Path) -> tuple[int, str]:
    return (MODELS.index(path.stem) if path.stem in MODELS else len(MODELS), path.stem)


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=Path, default=ROOT / "recordings")
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args(argv)
    os.environ.pop("NO_COLOR", None)  # colours are the point of a screenshot
    recordings = sorted(args.recordings.glob("*.jsonl"), key=_order)
    if not recordings:
        print(f"no recordings in {args.recordings}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for path in recordings:
        await shoot(path, args.out / f"{path.stem}.svg", WIDE)
    first = recordings[0]
    await shoot(first, args.out / f"{first.stem}-80x24.svg", SMALL)
    crowded = max(recordings, key=_threads)
    await shoot(crowded, args.out / f"{crowded.stem}-density.svg", WIDE, ["d"])
    await shoot(first, args.out / "help.svg", WIDE, ["question_mark"])
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
