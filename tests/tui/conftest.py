"""Fixtures for app tests: apps replaying the committed recordings.

Pilot and snapshot tests run on real recorded frames only (`recordings/*.jsonl`,
made by `ccviz record`), never on live data, so they are deterministic.
`CCVIZ_TEST_RECORDINGS` points them at another folder of recordings.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tui.app import CcvizApp, make_app
from tui.sources import ReplaySource
from workloads.recording import Recording, read_recording

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = Path(os.environ.get("CCVIZ_TEST_RECORDINGS", ROOT / "recordings"))


def load_recording(model: str) -> Recording:
    path = RECORDINGS / f"{model}.jsonl"
    if not path.exists():
        pytest.fail(f"{path} is missing: the app tests replay the committed recordings")
    return read_recording(path)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _colour(monkeypatch: pytest.MonkeyPatch) -> None:
    """Colours are part of what is tested: NO_COLOR from the environment must not leak in."""
    monkeypatch.delenv("NO_COLOR", raising=False)


ReplayFactory = Callable[..., CcvizApp]


@pytest.fixture
def replay() -> ReplayFactory:
    """`replay(model, start_at=-1, paused=False, **make_app_options)` → an app on a recording."""

    def build(
        model: str = "threads",
        *,
        start_at: int | None = -1,
        paused: bool = False,
        speed: float = 1.0,
        ascii: bool = False,
        high_contrast: bool = False,
    ) -> CcvizApp:
        source = ReplaySource(load_recording(model), start_at=start_at, paused=paused, speed=speed)
        return make_app(source, ascii=ascii, high_contrast=high_contrast)

    return build


@pytest.fixture(autouse=True)
def _no_calibration(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """App tests never read this machine's `ccviz calibrate` result: screens stay the same
    on every machine (a test that wants a calibration writes its own)."""
    from tui.widgets import panes

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    panes.switch_cost.cache_clear()
