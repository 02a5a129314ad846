"""Recordings: round trip, and errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workloads.recording import RecordingError, RecordingWriter, read_recording

FIXTURE = Path(__file__).resolve().parents[2] / "recordings" / "asyncio.jsonl"


def test_committed_recording_round_trips(tmp_path: Path) -> None:
    original = read_recording(FIXTURE)
    assert original.frames
    copy = tmp_path / "copy.jsonl"
    with RecordingWriter(copy, {k: v for k, v in original.header.items() if k != "type"}) as w:
        for frame in original.frames:
            w.write(frame)
    again = read_recording(copy)
    assert again.frames == original.frames
    assert again.header["config"] == original.header["config"]


def test_truncated_file_keeps_the_valid_prefix(tmp_path: Path) -> None:
    lines = FIXTURE.read_text().splitlines()
    broken = tmp_path / "cut.jsonl"
    broken.write_text("\n".join(lines[:6]) + "\n" + lines[6][: len(lines[6]) // 2])
    with pytest.raises(RecordingError, match=r"cut\.jsonl:7: invalid JSON"):
        read_recording(broken)
    prefix = read_recording(broken, strict=False)
    assert len(prefix.frames) == 5
    assert prefix.error is not None and ":7:" in prefix.error


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", ":1: empty file"),
        ('{"type": "frame"}\n', ":1: not a ccviz recording header"),
        ("[1, 2]\n", ":1: expected a JSON object"),
        ('{"type": "header", "schema": 99}\n', ":1: not a ccviz recording header"),
        (
            '{"type": "header", "schema": 1}\n{"type": "frame", "frame": {"seq": 1}}\n',
            ":2: malformed frame",
        ),
        ('{"type": "header", "schema": 1}\n{"type": "other"}\n', ":2: expected a frame line"),
        (b'{"type": "header", "schema": 1}\n\xff\xfe\n', ":2: not UTF-8"),
    ],
)
def test_corrupt_files_name_file_and_line(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot read"):
        read_recording(tmp_path / "nope.jsonl")


def test_overlong_line_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import workloads.recording as recording

    monkeypatch.setattr(recording, "MAX_LINE_BYTES", 100)
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"type": "header", "schema": 1, "pad": "x" * 200}) + "\n")
    with pytest.raises(RecordingError, match=":1: line longer than 100 bytes"):
        read_recording(path)
