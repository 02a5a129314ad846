"""Pilot tests on replayed recordings: every key changes what it should."""

from __future__ import annotations

import pytest
from textual.widgets import Select

from tests.tui.conftest import ReplayFactory
from tests.tui.helpers import notices, wait_for
from tui.app import CcvizApp
from tui.screens.help import HelpScreen
from tui.sources import ReplaySource
from tui.widgets import SettingsPanel, StatusHeader, ThreadsPane, VerdictLine
from tui.widgets.lines import LinesWidget
from workloads.config import CPU_KINDS, IO_KINDS, MODELS

pytestmark = pytest.mark.anyio

SIZE = (120, 40)


def replay_source(app: CcvizApp) -> ReplaySource:
    assert isinstance(app.source, ReplaySource)
    return app.source


async def test_replay_fills_every_pane(replay: ReplayFactory) -> None:
    app = replay("asyncio")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.history.latest is not None)
        await pilot.pause()  # let the size breakpoints settle the layout
        threads = app.query_one(ThreadsPane).lines_text()
        assert "pid/tid" in threads[0] and any("asyncio" in ln or "/" in ln for ln in threads[1:])
        header = app.query_one(StatusHeader).lines_text()
        assert "asyncio" in header[0] and header[1].startswith(" REPLAY")
        assert app.query_one(VerdictLine).verdict is not None


async def test_opening_the_app_requests_nothing(replay: ReplayFactory) -> None:
    app = replay("asyncio")
    recorded = replay_source(app).config
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.source.config == recorded and recorded.model == "asyncio"
        assert not any("view only" in n for n in notices(app))


async def test_number_keys_request_each_model_and_say_it_is_view_only(
    replay: ReplayFactory,
) -> None:
    app = replay("threads")
    async with app.run_test(size=SIZE) as pilot:
        for number, model in reversed(list(enumerate(MODELS, start=1))):
            await pilot.press(str(number))
            assert app.source.config.model == model
        await pilot.press("2")
        assert "[1] threads → pool" in app.query_one(StatusHeader).lines_text()[0]
        assert any("view only" in n or "cannot change" in n for n in notices(app))
        # the recorded frames are untouched
        assert all(f.model == "threads" for f in replay_source(app).frames)


async def test_m_cycles_the_models_in_order(replay: ReplayFactory) -> None:
    app = replay("threads")
    async with app.run_test(size=SIZE) as pilot:
        seen = []
        for _ in MODELS:
            await pilot.press("m")
            seen.append(app.source.config.model)
        assert seen == [*MODELS[1:], MODELS[0]]


async def test_brackets_change_the_cpu_share_by_a_tenth(replay: ReplayFactory) -> None:
    app = replay("threads")
    async with app.run_test(size=SIZE) as pilot:
        start = app.source.config.cpu_share
        await pilot.press("right_square_bracket")
        assert app.source.config.cpu_share == pytest.approx(start + 0.1)
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert app.source.config.cpu_share == pytest.approx(start - 0.1)
        for _ in range(15):
            await pilot.press("left_square_bracket")
        assert app.source.config.cpu_share == 0.0
        assert any("already 0.0" in n for n in notices(app))


async def test_minus_plus_and_equals_halve_and_double_concurrency(
    replay: ReplayFactory,
) -> None:
    app = replay("threads")
    async with app.run_test(size=SIZE) as pilot:
        start = app.source.config.concurrency
        await pilot.press("minus")
        assert app.source.config.concurrency == max(1, start // 2)
        await pilot.press("plus")
        await pilot.press("equals_sign")
        assert app.source.config.concurrency == max(1, start // 2) * 4


async def test_w_and_shift_w_change_the_workers(replay: ReplayFactory) -> None:
    app = replay("pool")
    async with app.run_test(size=SIZE) as pilot:
        start = app.source.config.effective_workers
        await pilot.press("W")
        assert app.source.config.workers == start + 1
        await pilot.press("w", "w")
        assert app.source.config.workers == max(1, start - 1)
        # From "auto", W counts up from the pool's real size, not from the core count.
        app.source.request(workers=0)
        frame = app.history.latest
        assert frame is not None and frame.app is not None and frame.app.pool is not None
        await pilot.press("W")
        assert app.source.config.workers == frame.app.pool.workers + 1


async def test_c_toggles_and_i_cycles_the_kinds_of_work(replay: ReplayFactory) -> None:
    app = replay("threads")
    async with app.run_test(size=SIZE) as pilot:
        cpu = app.source.config.cpu_kind
        await pilot.press("c")
        assert app.source.config.cpu_kind != cpu and app.source.config.cpu_kind in CPU_KINDS
        await pilot.press("c")
        assert app.source.config.cpu_kind == cpu
        kinds = []
        for _ in IO_KINDS:
            await pilot.press("i")
            kinds.append(app.source.config.io_kind)
        assert sorted(kinds) == sorted(IO_KINDS)


async def test_space_pauses_the_display_and_resumes_it(replay: ReplayFactory) -> None:
    app = replay("asyncio", start_at=0, speed=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.history.appended >= 2)
        await pilot.press("space")
        assert app.paused and replay_source(app).paused
        frozen = app.history.appended
        assert "PAUSED" in app.query_one(StatusHeader).lines_text()[1]
        await pilot.pause(0.5)  # the replay clock keeps ticking; nothing may arrive
        assert app.history.appended == frozen
        await pilot.press("space")
        await wait_for(pilot, lambda: app.history.appended > frozen)


async def test_replay_step_speed_and_seek(replay: ReplayFactory) -> None:
    app = replay("asyncio", start_at=0, paused=True)
    async with app.run_test(size=SIZE) as pilot:
        source = replay_source(app)
        await pilot.press("space")  # the app's pause follows the replay's
        await pilot.press("full_stop", "full_stop")
        assert source.position == 2 and app.history.latest is source.frames[2]
        await pilot.press("comma")
        assert source.position == 1
        await pilot.press("greater_than_sign")
        assert source.speed == 2.0
        await pilot.press("less_than_sign", "less_than_sign", "less_than_sign")
        assert source.speed == 0.25
        await pilot.press("end")
        assert source.at_end and app.history.latest is source.frames[-1]
        await pilot.press("left")
        assert source.at == pytest.approx(source.duration - 1.0, abs=0.2)
        await pilot.press("home")
        assert source.position == 0 and app.history.appended == 1


async def test_r_restarts_a_replay_from_its_start(replay: ReplayFactory) -> None:
    app = replay("threads", paused=True)
    async with app.run_test(size=SIZE) as pilot:
        assert replay_source(app).at_end
        await pilot.press("r")
        assert replay_source(app).position == 0


async def test_question_mark_opens_and_closes_help(replay: ReplayFactory) -> None:
    app = replay("threads")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.text
        for needle in ("Runnable", "GIL wait (inferred)", "schedstat", "loop-blocked", *MODELS):
            assert needle in text
        await pilot.press("question_mark")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_frames_keep_arriving_under_the_help_screen(replay: ReplayFactory) -> None:
    app = replay("asyncio", start_at=0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        before = app.history.appended
        await wait_for(pilot, lambda: app.history.appended > before + 1)
        await pilot.press("escape")
        assert app.query_one(ThreadsPane).lines_text()[0].strip()


async def test_d_toggles_the_density_view(replay: ReplayFactory) -> None:
    app = replay("threads")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        pane = app.query_one(ThreadsPane)
        assert pane.density and "threads" in pane.lines_text()[0]
        assert pane.border_title is not None and "density" in pane.border_title
        await pilot.press("d")
        assert not pane.density


async def test_settings_panel_works_with_the_mouse(replay: ReplayFactory) -> None:
    app = replay("threads")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("s")
        panel = app.query_one(SettingsPanel)
        assert panel.has_class("-open") and panel.display
        share = app.source.config.cpu_share
        await pilot.click("#cpu-up")
        assert app.source.config.cpu_share == pytest.approx(share + 0.1)
        await pilot.click("#conc-down")
        assert app.source.config.concurrency == max(1, 32 // 2)
        app.query_one("#set-model", Select).value = "mn"
        await pilot.pause()
        assert app.source.config.model == "mn"
        await pilot.press("s")
        assert not panel.has_class("-open")


async def test_q_quits(replay: ReplayFactory) -> None:
    app = replay("threads")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 0


@pytest.mark.parametrize("size", [(40, 12), (64, 20), (80, 24), (100, 30), (200, 60)])
async def test_any_size_from_tiny_up_draws_without_overflow(
    replay: ReplayFactory, size: tuple[int, int]
) -> None:
    app = replay("asyncio")
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        threads = app.query_one(ThreadsPane)
        assert threads.region.height >= 4 and threads.region.right <= size[0]
        side = app.query_one("#side")
        assert side.display == (size[0] >= 64 and not (size[1] < 20 and size[0] < 130))
        for widget in app.query(LinesWidget):
            if widget.display and widget.region.width:
                assert widget.region.right <= size[0] and widget.region.bottom <= size[1]


async def test_resizing_while_running_never_crashes(replay: ReplayFactory) -> None:
    app = replay("threads", start_at=0)
    async with app.run_test(size=(160, 48)) as pilot:
        for width, height in ((80, 24), (40, 12), (20, 6), (120, 40)):
            await pilot.resize_terminal(width, height)
            await pilot.pause()
        assert app.is_running


async def test_ascii_mode_draws_no_block_characters(replay: ReplayFactory) -> None:
    app = replay("threads", ascii=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for widget in app.query(LinesWidget):
            for line in widget.lines_text():
                assert all(ord(c) < 128 for c in line), line


async def test_high_contrast_theme(replay: ReplayFactory) -> None:
    app = replay("threads", high_contrast=True)
    async with app.run_test(size=SIZE):
        assert app.theme == "ccviz-high-contrast"
