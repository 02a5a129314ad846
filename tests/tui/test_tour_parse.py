"""Tour files: the built-in tour is valid, and every malformed file gets one line naming
the file, the line and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tui.tours import BUILTIN_TOUR, TourError, load_tour, parse_tour
from tui.tours.parse import MAX_TOUR_BYTES
from workloads.config import MODELS, ConfigError, LabConfig

GOOD = """\
title = "Two scenes"

[[scene]]
title = "Threads on IO"
caption = "Sixteen threads wait on sockets."
model = "threads"
cpu_share = 0
concurrency = 16

[[scene]]
title = "One loop"
caption = '''
  The same work on one event loop,
  written over two lines.'''
model = "asyncio"
rate = 50.5

[[scene]]
title = "Closed loop again"
caption = "Back to a fixed number in flight."
rate = "closed"
workers = 3
"""


def write(tmp_path: Path, text: str, name: str = "talk.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(TourError) as caught:
        load_tour(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:"), message
    return message


def line_of(message: str) -> int:
    found = re.match(r".*?:(\d+): ", message)
    assert found, message
    return int(found.group(1))


def test_a_good_tour_applies_each_scene_on_top_of_the_previous(tmp_path: Path) -> None:
    tour = load_tour(write(tmp_path, GOOD))
    assert tour.title == "Two scenes" and len(tour.scenes) == 3
    first, second, third = tour.scenes
    assert first.config == LabConfig(model="threads", cpu_share=0.0, concurrency=16)
    assert second.config == first.config.replace(model="asyncio", rate=50.5)
    assert third.config == second.config.replace(rate=None, workers=3)
    assert second.caption == "The same work on one event loop, written over two lines."
    assert [s.line for s in tour.scenes] == [3, 10, 18]
    assert tour.recording_name(1) == "02-one-loop.jsonl"
    assert tour.text == GOOD


def test_the_built_in_tour_follows_the_article() -> None:
    tour = load_tour()
    assert tour.path == "built-in tour" and BUILTIN_TOUR.is_file()
    models = [s.config.model for s in tour.scenes]
    assert models[0] == models[1] == "threads"
    assert models[2:] == ["pool", "asyncio", "asyncio", "asyncio-offload", "asyncio-procs", "mn"]
    assert tour.scenes[1].config.concurrency > tour.scenes[0].config.concurrency
    assert tour.scenes[3].config.cpu_share == 0 < tour.scenes[4].config.cpu_share
    assert all(m in MODELS for m in models)
    for scene in tour.scenes:
        sentences = scene.caption.count(". ") + 1
        assert 1 <= sentences <= 3 and len(scene.caption) <= 400, scene.title
    assert len({tour.recording_name(i) for i in range(len(tour.scenes))}) == len(tour.scenes)


def test_tour_error_is_a_config_error() -> None:
    # so the CLI prints it as one line with exit 2, like every other bad input
    assert issubclass(TourError, ConfigError)


def test_a_syntax_error_names_file_line_and_field(tmp_path: Path) -> None:
    text = GOOD.replace('model = "asyncio"', "model = asyncio")
    message = error_of(tmp_path, text)
    assert line_of(message) == 15
    assert "'model'" in message and "syntax" in message


def test_an_unknown_key_names_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("rate = 50.5", "rate = 50.5\ncolour = \"red\"")
    message = error_of(tmp_path, text)
    assert line_of(message) == 17
    assert "scene 2" in message and "'colour'" in message and "unknown key" in message


def test_an_unknown_top_level_key(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'author = "me"\n' + GOOD)
    assert line_of(message) == 1 and "'author'" in message


def test_an_out_of_range_value_names_the_field_and_the_limits(tmp_path: Path) -> None:
    text = GOOD.replace("concurrency = 16", "concurrency = 0")
    message = error_of(tmp_path, text)
    assert line_of(message) == 8
    assert "scene 1" in message and "'concurrency'" in message and "allowed 1 to" in message
    assert "--concurrency" not in message  # the tour's own names, not the CLI's flags


def test_an_unknown_model_lists_the_models(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD.replace('model = "asyncio"', 'model = "fibers"'))
    assert line_of(message) == 15 and "'model'" in message and "asyncio-offload" in message


@pytest.mark.parametrize(
    ("replace", "by", "line", "field", "expected"),
    [
        ("concurrency = 16", "concurrency = 16.5", 8, "concurrency", "whole number"),
        ("concurrency = 16", "concurrency = true", 8, "concurrency", "whole number"),
        ("cpu_share = 0", 'cpu_share = "half"', 7, "cpu_share", "number"),
        ('model = "threads"', "model = 3", 6, "model", "text"),
        ("rate = 50.5", 'rate = "open"', 16, "rate", '"closed"'),
        ('caption = "Sixteen threads wait on sockets."', "caption = 5", 5, "caption", "text"),
    ],
)
def test_a_wrong_type_says_what_was_expected(
    tmp_path: Path, replace: str, by: str, line: int, field: str, expected: str
) -> None:
    message = error_of(tmp_path, GOOD.replace(replace, by))
    assert line_of(message) == line
    assert f"'{field}'" in message and expected in message


def test_a_scene_without_a_caption_points_at_its_table(tmp_path: Path) -> None:
    text = GOOD.replace('caption = "Back to a fixed number in flight."\n', "")
    message = error_of(tmp_path, text)
    assert line_of(message) == 18 and "scene 3" in message and "'caption'" in message


def test_a_tour_needs_a_title_and_scenes(tmp_path: Path) -> None:
    assert "'title'" in error_of(tmp_path, "[[scene]]\ntitle='a'\ncaption='b'\n")
    assert "'scene'" in error_of(tmp_path, 'title = "empty"\n')
    assert "'scene'" in error_of(tmp_path, 'title = "x"\nscene = 3\n')


def test_an_inline_array_of_scenes_still_points_at_a_line(tmp_path: Path) -> None:
    text = 'title = "x"\n\nscene = [{title = "a", caption = "b", workers = -1}]\n'
    message = error_of(tmp_path, text)
    assert line_of(message) == 3 and "'workers'" in message


def test_size_encoding_and_missing_files(tmp_path: Path) -> None:
    big = write(tmp_path, "# " + "x" * MAX_TOUR_BYTES, "big.toml")
    with pytest.raises(TourError, match="larger than"):
        load_tour(big)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b'title = "x"\n\xff\xfe\n')
    with pytest.raises(TourError, match=r"bin\.toml:2: not UTF-8"):
        load_tour(binary)
    with pytest.raises(TourError, match="cannot read"):
        load_tour(tmp_path / "missing.toml")
    with pytest.raises(TourError, match="larger than"):
        parse_tour("#" * (MAX_TOUR_BYTES + 1))
