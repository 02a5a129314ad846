"""Live, the side panes and the header follow at a calmer pace than the threads pane."""

from __future__ import annotations

import pytest

from tests.tui.factories import make_frame, make_thread
from tests.tui.fake_sources import FakeLive
from tests.tui.helpers import wait_for
from tui.app import make_app
from tui.pacing import Pacer
from tui.sources import FrameReady
from tui.widgets.panes import SwitchesPane

pytestmark = [pytest.mark.anyio]


async def test_side_panes_follow_twice_a_second_the_threads_pane_every_frame() -> None:
    app = make_app(FakeLive())
    async with app.run_test(size=(160, 48)) as pilot:
        switches = app.query_one(SwitchesPane)

        async def post(seq: int, rate: float) -> list[str]:
            app.post_message(FrameReady((make_frame(seq, voluntary_per_s=rate),)))
            await wait_for(pilot, lambda: app.history.appended == seq)
            return switches.lines_text()

        assert (await post(1, 100.0))[0].startswith("voluntary/s  100")
        for seq in (2, 3, 4):  # 0.1-0.3 s later: not yet
            assert (await post(seq, 100.0 * seq))[0].startswith("voluntary/s  100")
        assert (await post(5, 300.0))[0].startswith("voluntary/s  300")  # 0.4 s: shown
        await pilot.press("space")  # paused: the latest frame is shown whole
        await pilot.pause()
        app.paused = False
        assert (await post(6, 400.0))[0].startswith("voluntary/s  300")
        await pilot.press("space")
        await pilot.pause()
        assert switches.lines_text()[0].startswith("voluntary/s  400")


def test_pacer_lets_a_new_key_through_at_once_and_the_same_key_once_a_period() -> None:
    pacer = Pacer(0.5)
    assert pacer.due(1.0, "a")
    assert not pacer.due(1.2, "a")
    assert pacer.due(1.25, "b")  # what is shown changed: at once
    assert not pacer.due(1.5, "b")
    assert pacer.due(1.65, "b")  # a period on, within the jitter slack
    assert pacer.due(0.5, "b")  # time went back (a new session): due


async def test_thread_rows_keep_their_figures_between_figure_turns_but_not_their_strips() -> None:
    app = make_app(FakeLive())
    async with app.run_test(size=(160, 48)) as pilot:

        async def post(seq: int, executing: float, extra: tuple[int, ...] = ()) -> dict[str, str]:
            threads = tuple(make_thread(t, executing=executing) for t in (1, *extra))
            before = app.history.appended
            app.post_message(FrameReady((make_frame(seq, threads=threads),)))
            await wait_for(pilot, lambda: app.history.appended == before + 1)
            rows = [ln.strip("│ ") for ln in app.threads.lines_text() if "worker-" in ln]
            return {row.split()[1]: row for row in rows}

        def exe(row: str) -> str:
            return row.split()[-6]  # exe% run% gil% wait% vol/s inv/s

        first = await post(1, 0.5)
        assert exe(first["worker-1"]) == "50"
        rows = await post(2, 0.9, extra=(2,))  # 0.1 s later: figures not due
        assert exe(rows["worker-1"]) == "50"  # the figures it showed
        assert rows["worker-1"] != first["worker-1"]  # but its strip moved on
        assert exe(rows["worker-2"]) == "90"  # a new row has its own figures at once
        rows = await post(5, 0.9, extra=(2,))  # 0.4 s: due
        assert exe(rows["worker-1"]) == "90"
