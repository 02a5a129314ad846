"""Snapshot tests: the app replaying committed recordings, at 80×24 and 160×48.

Update the stored SVGs after a deliberate change with
`pytest tests/tui/test_snapshots.py --snapshot-update`, and look at them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from tests.tui.conftest import ReplayFactory
from tests.tui.helpers import wait_for
from tui.app import CcvizApp

SIZES = [(80, 24), (160, 48)]
SnapCompare = Callable[..., bool]


async def _settled(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, CcvizApp)
    await wait_for(pilot, lambda: app.history.latest is not None)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("model", ["asyncio", "processes"])
def test_replay_at_its_last_frame(
    snap_compare: SnapCompare, replay: ReplayFactory, model: str, size: tuple[int, int]
) -> None:
    assert snap_compare(replay(model), terminal_size=size, run_before=_settled)


def test_density_view(snap_compare: SnapCompare, replay: ReplayFactory) -> None:
    assert snap_compare(
        replay("mn"), terminal_size=(160, 48), run_before=_settled, press=["d"]
    )


def test_help_screen(snap_compare: SnapCompare, replay: ReplayFactory) -> None:
    assert snap_compare(
        replay("threads"), terminal_size=(80, 24), run_before=_settled, press=["question_mark"]
    )


def test_tiny_terminal(snap_compare: SnapCompare, replay: ReplayFactory) -> None:
    assert snap_compare(replay("pool", ascii=True), terminal_size=(40, 12), run_before=_settled)
