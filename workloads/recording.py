"""Recordings: a JSON Lines file of one run's frames, for replay and tests.

Line 1 is a header ``{"type": "header", "schema": 1, "config": …, "machine": …}``;
every further line is ``{"type": "frame", "frame": <Frame.to_dict()>}``. Files
are parsed as JSON only (never pickles or code), with limits on line and file
size; errors name the file and line. A truncated file still yields its valid
prefix when `strict=False`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from workloads.frames import Frame

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_LINE_BYTES",
    "SCHEMA",
    "Recording",
    "RecordingError",
    "RecordingWriter",
    "read_recording",
]

SCHEMA = 1
MAX_LINE_BYTES = 8 * 1024 * 1024
MAX_FILE_BYTES = 1024 * 1024 * 1024


class RecordingError(ValueError):
    """A recording is unreadable; the message names the file and line."""


@dataclass(frozen=True)
class Recording:
    path: str
    header: dict[str, Any]
    frames: tuple[Frame, ...]
    error: str | None = None  # set when only a valid prefix could be read


class RecordingWriter:
    """Appends frames to a JSON Lines file; flushes each line."""

    def __init__(self, path: str | os.PathLike[str], header: dict[str, Any]) -> None:
        self._file: IO[str] = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._file.write(json.dumps({"type": "header", "schema": SCHEMA, **header}) + "\n")
        self._file.flush()
        self.frames = 0

    def write(self, frame: Frame) -> None:
        self._file.write(json.dumps({"type": "frame", "frame": frame.to_dict()}) + "\n")
        self._file.flush()
        self.frames += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_recording(path: str | os.PathLike[str], *, strict: bool = True) -> Recording:
    """Read a recording. With strict=False a bad line ends the read, keeping the prefix."""
    name = str(path)
    try:
        size = os.path.getsize(name)
    except OSError as exc:
        raise RecordingError(f"{name}: cannot read: {exc.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise RecordingError(f"{name}: file is larger than {MAX_FILE_BYTES} bytes")
    lines = _lines(name)
    try:
        _, first = next(lines)
    except StopIteration:
        raise RecordingError(f"{name}:1: empty file, expected a ccviz recording header") from None
    except RecordingError:
        raise
    header = _parse(name, 1, first)
    if header.get("type") != "header" or header.get("schema") != SCHEMA:
        raise RecordingError(f"{name}:1: not a ccviz recording header (schema {SCHEMA})")
    frames: list[Frame] = []
    error = None
    try:
        for number, line in lines:
            if not line.strip():
                continue
            obj = _parse(name, number, line)
            if obj.get("type") != "frame" or not isinstance(obj.get("frame"), dict):
                raise RecordingError(f"{name}:{number}: expected a frame line")
            try:
                frames.append(Frame.from_dict(obj["frame"]))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise RecordingError(f"{name}:{number}: malformed frame ({exc})") from None
    except RecordingError as exc:
        if strict or not frames:
            raise
        error = str(exc)
    return Recording(path=name, header=header, frames=tuple(frames), error=error)


def _lines(name: str) -> Iterator[tuple[int, str]]:
    with Path(name).open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise RecordingError(f"{name}:{number}: line longer than {MAX_LINE_BYTES} bytes")
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError:
                raise RecordingError(f"{name}:{number}: not UTF-8 text") from None


def _parse(name: str, number: int, line: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordingError(f"{name}:{number}: invalid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise RecordingError(f"{name}:{number}: expected a JSON object")
    return obj
