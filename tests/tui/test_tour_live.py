"""The tour on real labs: scene keys reconfigure the lab (a fresh lab for a model
change, a live change for a mix change), quitting leaves nothing behind, and a
rehearsal made by `ccviz tour --rehearse` replays without starting a lab."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs among the dev dependencies
import pytest

from tests.tui.helpers import wait_for
from tui.tour import TOUR_COPY, add_tour_parser, cmd_tour, load_rehearsal
from tui.tour_app import TourReplay, make_tour_app
from tui.tours import load_tour, parse_tour

pytestmark = [pytest.mark.live, pytest.mark.anyio]

TOUR = """\
title = "Live"

[[scene]]
title = "Threads"
caption = "A few threads on IO."
model = "threads"
cpu_share = 0.0
concurrency = 8

[[scene]]
title = "A loop"
caption = "The same on one loop."
model = "asyncio"

[[scene]]
title = "Some CPU"
caption = "Now with CPU work."
cpu_share = 0.3
"""


def _children() -> set[int]:
    """This test's descendants: other sessions' labs on the machine are none of its business."""
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _settle(before: set[int]) -> set[int]:
    deadline = time.monotonic() + 10
    while (_children() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _children() - before


async def test_scene_keys_reconfigure_the_real_lab() -> None:
    before = _children()
    app = make_tour_app(parse_tour(TOUR, "live.toml"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.history.appended >= 2, timeout=20)
        first = app.history.latest
        assert first is not None and first.model == "threads" and first.config["concurrency"] == 8

        await pilot.press("n")  # model change: a fresh lab
        await wait_for(
            pilot,
            lambda: app.history.latest is not None
            and app.history.latest.model == "asyncio"
            and app.history.latest.lab_pid != first.lab_pid
            and app.history.latest.app is not None,  # the new lab's probe has reported
            timeout=20,
        )
        second = app.history.latest
        assert second is not None and psutil.pid_exists(second.lab_pid)

        assert second.app is not None
        generation = second.app.generation

        await pilot.press("n")  # mix change: applied live by the same lab
        await wait_for(
            pilot,
            lambda: app.history.latest is not None
            and app.history.latest.app is not None
            and app.history.latest.app.generation > generation,
            timeout=20,
        )
        third = app.history.latest
        assert third is not None and third.lab_pid == second.lab_pid
        assert third.config["cpu_share"] == 0.3
        assert any(label and label.startswith("change") for label in app.history.markers(60))
        await pilot.press("q")
    assert not app.is_running
    assert _settle(before) == set()


async def test_a_rehearsal_replays_without_starting_labs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _children()
    tour_file = tmp_path / "live.toml"
    tour_file.write_text(TOUR, encoding="utf-8")
    folder = tmp_path / "rehearsal"
    parser = argparse.ArgumentParser()
    add_tour_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["tour", str(tour_file), "--rehearse", str(folder), "--seconds", "1"]
    )
    assert cmd_tour(args) == 0
    tour = load_tour(tour_file)
    assert (folder / TOUR_COPY).read_text(encoding="utf-8") == TOUR
    for index, scene in enumerate(tour.scenes):
        lines = (folder / tour.recording_name(index)).read_text(encoding="utf-8").splitlines()
        header = json.loads(lines[0])
        assert header["tour"]["scene"] == index + 1 and header["config"] == scene.config.to_dict()
        assert len(lines) > 3  # frames of about a second at 10 Hz

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a lab was started during a replay")

    monkeypatch.setattr("workloads.session.LabSession.__init__", refuse)
    monkeypatch.setattr("workloads.lab.LabProcess.__init__", refuse)
    replayed = load_tour(folder / TOUR_COPY)
    app = make_tour_app(replayed, recordings=load_rehearsal(folder, replayed))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.history.latest is not None)
        assert app.history.latest is not None and app.history.latest.model == "threads"
        await pilot.press("n", "n")
        await wait_for(
            pilot,
            lambda: app.history.latest is not None
            and app.history.latest.config["cpu_share"] == 0.3,
        )
        assert isinstance(app.source, TourReplay) and app.source.scene == 2
        await pilot.press("q")
    assert _settle(before) == set()  # the rehearsal's labs are gone, and none was started
