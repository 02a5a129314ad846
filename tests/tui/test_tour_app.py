"""The tour in the app, hermetic: a rehearsal built from the committed recordings
replays without ever starting a lab, and scene keys send each scene's settings to a
live source through the app's usual apply path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.tui.conftest import RECORDINGS
from tests.tui.fake_sources import FakeLive
from tests.tui.helpers import notices, wait_for
from tui.screens.compare import CompareScreen
from tui.tour import TOUR_COPY, load_rehearsal
from tui.tour_app import TourApp, TourReplay, make_tour_app
from tui.tours import Tour, TourError, load_tour
from tui.widgets.caption import Caption, CaptionPanel

pytestmark = pytest.mark.anyio

SIZE = (120, 40)

TOUR = """\
title = "Three models"

[[scene]]
title = "Threads"
caption = "One thread per task."
model = "threads"
cpu_share = 0.3

[[scene]]
title = "A pool"
caption = "A fixed set of workers."
model = "pool"

[[scene]]
title = "One loop"
caption = "Everything on one event loop; look at the lag."
model = "asyncio"
cpu_share = 0.5
concurrency = 64
"""
MODELS = ("threads", "pool", "asyncio")


@pytest.fixture
def no_labs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to start a lab fails the test."""

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a lab was started during a replay")

    monkeypatch.setattr("workloads.session.LabSession.__init__", refuse)
    monkeypatch.setattr("workloads.lab.LabProcess.__init__", refuse)


@pytest.fixture
def rehearsal(tmp_path: Path) -> tuple[Tour, Path]:
    """A rehearsal folder as `ccviz tour --rehearse` leaves it, from committed recordings."""
    (tmp_path / TOUR_COPY).write_text(TOUR, encoding="utf-8")
    tour = load_tour(tmp_path / TOUR_COPY)
    for index, model in enumerate(MODELS):
        shutil.copy(RECORDINGS / f"{model}.jsonl", tmp_path / tour.recording_name(index))
    return tour, tmp_path


def caption_text(app: TourApp) -> str:
    return "\n".join(app.query_one(CaptionPanel).lines_text())


async def test_a_rehearsed_tour_replays_scene_by_scene_without_labs(
    rehearsal: tuple[Tour, Path], no_labs: None
) -> None:
    tour, folder = rehearsal
    app = make_tour_app(tour, recordings=load_rehearsal(folder, tour))
    source = app.source
    assert isinstance(source, TourReplay)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.history.latest is not None)
        assert app.history.latest is not None and app.history.latest.model == "threads"
        assert "scene 1/3" in caption_text(app) and "One thread per task." in caption_text(app)
        for index, model in enumerate(MODELS[1:], start=1):
            await pilot.press("n")
            await wait_for(
                pilot, lambda m=model: app.history.latest is not None
                and app.history.latest.model == m,  # type: ignore[misc]
            )
            assert source.recording.path.endswith(tour.recording_name(index))
            assert f"scene {index + 1}/3" in caption_text(app)
            assert app.source.config.model == model  # the header shows the recorded config
            # the previous scene's frames were forgotten: one recording at a time
            assert {f.model for f in app.history.frames} == {model}
        await pilot.press("n")
        assert any("last scene" in n for n in notices(app))
        await pilot.press("p")
        await wait_for(pilot, lambda: app.history.latest is not None
                       and app.history.latest.model == "pool")
        assert "scene 2/3" in caption_text(app)
        await pilot.press("b")  # the compare screen needs live labs
        assert not isinstance(app.screen, CompareScreen)
        assert any("live lab" in n for n in notices(app))
        await pilot.press("q")


async def test_replay_controls_still_work_during_a_tour(
    rehearsal: tuple[Tour, Path], no_labs: None
) -> None:
    tour, folder = rehearsal
    app = make_tour_app(tour, recordings=load_rehearsal(folder, tour))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.history.latest is not None)
        await pilot.press("space")
        assert app.paused
        await pilot.press("n")  # a paused replay shows the next scene's first frame
        await wait_for(pilot, lambda: app.history.latest is not None
                       and app.history.latest.model == "pool")
        source = app.source
        assert isinstance(source, TourReplay) and source.position == 0
        await pilot.press("full_stop")
        assert source.position == 1
        await pilot.press("greater_than_sign")
        assert source.speed == 2.0


async def test_scene_keys_apply_each_scene_to_a_live_lab(rehearsal: tuple[Tour, Path]) -> None:
    tour, _ = rehearsal
    app = make_tour_app(tour, source_factory=FakeLive)
    source = app.source
    assert isinstance(source, FakeLive)
    async with app.run_test(size=SIZE) as pilot:
        assert app.source.config == tour.scenes[0].config
        await pilot.press("n")
        await wait_for(pilot, lambda: tour.scenes[1].config in source.synced)
        await pilot.press("right_square_bracket")  # every other control still works
        await wait_for(pilot, lambda: source.synced[-1].cpu_share == pytest.approx(0.4))
        await pilot.press("n")
        await wait_for(pilot, lambda: source.synced[-1] == tour.scenes[2].config)
        await pilot.press("p")  # back: the whole scene again, not only what it names
        await wait_for(pilot, lambda: source.synced[-1] == tour.scenes[1].config)
        assert "scene 2/3" in caption_text(app)


async def test_the_tour_keeps_the_main_keys_in_help(rehearsal: tuple[Tour, Path]) -> None:
    tour, _ = rehearsal
    app = make_tour_app(tour, source_factory=FakeLive)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        text = getattr(app.screen, "text", "")
        assert "next scene" in text and "pick the model" in text and "bench every model" in text


def test_a_rehearsal_with_a_missing_scene_is_refused(rehearsal: tuple[Tour, Path]) -> None:
    tour, folder = rehearsal
    (folder / tour.recording_name(2)).unlink()
    with pytest.raises(TourError, match=r"03-one-loop\.jsonl: missing recording of scene 3"):
        load_rehearsal(folder, tour)
    (folder / tour.recording_name(2)).write_text("not json\n", encoding="utf-8")
    with pytest.raises(TourError, match=r"03-one-loop\.jsonl:1"):
        load_rehearsal(folder, tour)


def test_the_caption_panel_wraps_and_speaks_ascii() -> None:
    panel = CaptionPanel(ascii=True)
    panel.show(Caption("T", 1, 8, "Many more threads", "Watch the switches — they climb. " * 4))
    lines = panel.lines_text()
    assert "scene 2/8" in lines[0] and "Many more threads" in lines[0]
    assert lines[1].startswith("   Watch the switches - they climb.")
    assert all(ord(c) < 128 for line in lines for c in line)
    assert len([ln for ln in lines if ln.strip()]) >= 3
