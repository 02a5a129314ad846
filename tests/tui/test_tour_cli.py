"""`ccviz tour` arguments: bad input is one `ConfigError` line, before anything starts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

import pytest

from tui.tour import DEFAULT_SECONDS, add_tour_parser, cmd_tour
from tui.tours import TourError
from workloads.config import ConfigError


class _Refusing(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def parse(*argv: str) -> argparse.Namespace:
    parser = _Refusing(prog="ccviz")
    add_tour_parser(parser.add_subparsers(dest="command", parser_class=_Refusing))
    return parser.parse_args(["tour", *argv])


def test_defaults() -> None:
    args = parse()
    assert args.file is None and args.rehearse is None and args.replay is None
    assert args.seconds == DEFAULT_SECONDS and args.theme == "default" and not args.ascii


def test_the_given_parser_class_reports_errors() -> None:
    with pytest.raises(ValueError, match="not allowed with"):
        parse("--rehearse", "a", "--replay", "b")
    with pytest.raises(ValueError, match="invalid float"):
        parse("--seconds", "soon")


def test_a_bad_tour_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "x"\n[[scene]]\ntitle = "a"\ncaption = "b"\nmodel = "fibers"\n')
    with pytest.raises(TourError, match=r"bad\.toml:5: scene 1: field 'model'"):
        cmd_tour(parse(str(bad)))
    with pytest.raises(TourError, match=r"bad\.toml:5"):
        cmd_tour(parse(str(bad), "--rehearse", str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()  # nothing was recorded


def test_rehearse_checks_seconds_and_replay_needs_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--seconds: 0\.1 is out of range"):
        cmd_tour(parse("--rehearse", str(tmp_path), "--seconds", "0.1"))
    with pytest.raises(ConfigError, match=r"--replay: .* is not a folder"):
        cmd_tour(parse("--replay", str(tmp_path / "nowhere")))
    with pytest.raises(TourError, match=r"tour\.toml: cannot read"):
        cmd_tour(parse("--replay", str(tmp_path)))  # no rehearsal in it
