"""Faults the live view must survive: a killed lab, 200 rapid changes, a resize
storm, and a kernel without schedstat."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs among the dev dependencies
import pytest

from tests.tui.helpers import notices, wait_for
from tests.workloads.fakeproc import FakeProc
from tui.app import make_app
from tui.sources import LiveSource, ReplaySource
from workloads.config import MODELS, LabConfig
from workloads.frame_builder import FrameBuilder
from workloads.recording import Recording
from workloads.sampler import ProcSampler

pytestmark = [pytest.mark.anyio]


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.mark.live
async def test_a_killed_lab_is_shown_within_a_second_and_r_recovers() -> None:
    app = make_app(LiveSource(LabConfig(model="pool", concurrency=8)))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.history.appended >= 2, timeout=20)
        first = app.history.latest
        assert first is not None
        os.kill(first.lab_pid, signal.SIGKILL)
        killed = time.monotonic()
        await wait_for(
            pilot,
            lambda: app.history.latest is not None and not app.history.latest.lab_alive,
            timeout=3,
        )
        assert time.monotonic() - killed < 1.5  # said within a second (plus a sample)
        await pilot.pause(0.2)
        header = "\n".join(app.header.lines_text())
        assert "died" in header or "down" in header.lower(), header
        await pilot.press("r")
        await wait_for(
            pilot,
            lambda: (
                app.history.latest is not None
                and app.history.latest.lab_alive
                and app.history.latest.lab_index > first.lab_index
            ),
            timeout=20,
        )
        with contextlib.suppress(psutil.NoSuchProcess):  # the killed lab was reaped
            assert psutil.Process(first.lab_pid).status() != psutil.STATUS_ZOMBIE
        await pilot.press("q")


@pytest.mark.live
async def test_a_paused_view_stays_still_but_says_the_lab_died() -> None:
    app = make_app(LiveSource(LabConfig(model="pool", concurrency=8)))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.history.appended >= 2, timeout=20)
        await pilot.press("space")
        await pilot.pause(0.3)
        appended = app.history.appended
        latest = app.history.latest
        assert latest is not None
        os.kill(latest.lab_pid, signal.SIGKILL)
        await wait_for(pilot, lambda: any("died" in m for m in notices(app)), timeout=3)
        assert app.history.appended == appended  # the picture did not move
        await pilot.press("q")


@pytest.mark.live
@pytest.mark.timeout(180)
async def test_two_hundred_rapid_changes_leak_nothing() -> None:
    before_children = _children()
    app = make_app(LiveSource(LabConfig(model="asyncio", concurrency=8, task_ms=10)))
    # Every model and every mix key; each round of 20 ends where it began (asyncio, same
    # mix), so the lab at the end has the same shape as the one measured first.
    keys = [str(n) for n in range(1, len(MODELS) + 1)]
    keys += ["]", "[", "+", "-", "c", "c", "i", "i", "i", "i", "m", "m", "3"]
    assert len(keys) == 20
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.history.appended >= 3, timeout=20)
        await pilot.pause(1.0)
        base_rss, base_fds, base_threads = _rss(), _fds(), threading.active_count()
        for n in range(200):
            await pilot.press(keys[n % len(keys)])
        # settle: the newest request is what runs
        await wait_for(
            pilot,
            lambda: (
                app.history.latest is not None
                and app.history.latest.lab_alive
                and app.history.latest.model == app.source.config.model
            ),
            timeout=60,
        )
        await pilot.pause(1.0)
        latest = app.history.latest
        assert latest is not None
        tree = {p.pid for p in latest.processes}
        extra = _children() - before_children - tree
        # the IO server is the lab's child but not in the sampled tree
        extra = {pid for pid in extra if "ioserver" not in " ".join(psutil.Process(pid).cmdline())}
        assert extra == set(), f"processes of earlier labs survive: {extra}"
        # Textual's thread workers run on asyncio's default executor: a bounded pool
        names = [t.name for t in threading.enumerate()]
        pool = [n for n in names if n.startswith("asyncio_")]
        assert len(pool) <= min(32, (os.cpu_count() or 1) + 4)
        assert len(names) - len(pool) <= base_threads + 2, names
        assert _fds() <= base_fds + 4
        assert _rss() < base_rss * 1.10 + 4 * 1024 * 1024
        await pilot.press("q")


async def test_resize_storm_keeps_frames_flowing() -> None:
    from tests.tui.conftest import load_recording

    app = make_app(ReplaySource(load_recording("mn"), speed=4.0))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.history.appended >= 2, timeout=10)
        sizes = [(40, 12), (160, 48), (80, 24), (41, 13), (200, 60), (64, 20)]
        start = app.history.appended
        for n in range(60):
            await pilot.resize_terminal(*sizes[n % len(sizes)])
            await pilot.pause(0.01)
        await wait_for(pilot, lambda: app.history.appended > start, timeout=10)
        assert app.is_running


def _fake_frames(tmp_path: Path) -> Recording:
    """Frames measured on a fake /proc whose kernel has no schedstat."""
    fake = FakeProc(tmp_path / "proc")
    fake.add_process(4242, name="lab", schedstat=False)
    fake.add_thread(4242, 4243, name="worker", schedstat=False)
    clock = [100.0]
    sampler = ProcSampler(4242, proc_root=fake.path, clock=lambda: clock[0])
    builder = FrameBuilder(100.0)
    frames = []
    for n in range(5):
        fake.bump(4243, utime=5, stime=1, vol=10, invol=2)
        clock[0] += 0.1
        view = sampler.sample()
        frames.append(
            builder.build(view, None, lab_pid=4242, lab_index=1, config=LabConfig().to_dict())
        )
        assert n < 1 or view.fidelity["runnable"] is False
    sampler.close()
    return Recording(path=str(tmp_path / "fake.jsonl"), header={}, frames=tuple(frames))


async def test_no_schedstat_shows_a_reduced_fidelity_badge(tmp_path: Path) -> None:
    app = make_app(ReplaySource(_fake_frames(tmp_path), speed=4.0))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.history.appended >= 3, timeout=10)
        await pilot.pause(0.2)
        header = "\n".join(app.header.lines_text())
        assert "reduced fidelity" in header
        rows = "\n".join(app.threads.lines_text())
        assert "n/a" in rows  # runnable share is not measurable: "n/a", never 0


@pytest.mark.live
@pytest.mark.timeout(120)
async def test_quitting_with_5000_threads_blocked_in_io_is_quick_and_clean() -> None:
    config = LabConfig(model="threads", cpu_share=0.0, task_ms=60_000, concurrency=5000)
    app = make_app(LiveSource(config))
    tree: set[int] = set()
    async with app.run_test(size=(120, 40)) as pilot:

        def lab_threads() -> int:
            latest = app.history.latest
            return 0 if latest is None else sum(p.threads for p in latest.processes)

        await wait_for(pilot, lambda: lab_threads() >= 5000, timeout=60)
        latest = app.history.latest
        assert latest is not None
        tree = {p.pid for p in latest.processes}
        io_server = [
            p.pid
            for p in psutil.Process(latest.lab_pid).children()
            if "ioserver" in " ".join(p.cmdline())
        ]
        tree |= set(io_server)
        started = time.monotonic()
        await pilot.press("q")
    elapsed = time.monotonic() - started

    def gone() -> bool:
        for pid in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    return False
        return True

    assert elapsed < 2.0, f"quitting took {elapsed:.2f} s"
    while not gone() and time.monotonic() - started < 2.0:
        time.sleep(0.02)
    assert gone(), "the lab tree outlived the app by more than 2 s after q"


async def test_a_truncated_recording_replays_its_valid_prefix_and_says_so(tmp_path: Path) -> None:
    from tests.tui.conftest import RECORDINGS
    from tests.tui.helpers import notices
    from workloads.recording import read_recording

    lines = (RECORDINGS / "pool.jsonl").read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:11]) + "\n" + lines[11][:100])
    recording = read_recording(cut, strict=False)
    assert len(recording.frames) == 10
    app = make_app(ReplaySource(recording, speed=4.0))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.history.appended >= 10, timeout=10)
        assert any("valid part only" in n and "cut.jsonl:12" in n for n in notices(app))


@pytest.mark.live
async def test_thread_creation_failure_is_said_in_the_view(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.tui.helpers import notices

    # A real failure: the lab's address space has no room for more 8 MiB stacks.
    monkeypatch.setenv("CCVIZ_LAB_ADDRESS_SPACE_MB", "700")
    config = LabConfig(model="threads", cpu_share=0.0, task_ms=20, concurrency=500)
    app = make_app(LiveSource(config))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot, lambda: any("thread creation failed" in n for n in notices(app)), timeout=20
        )
        latest = app.history.latest
        assert latest is not None and latest.lab_alive  # the run goes on with what it got
        assert latest.app is not None and latest.app.completed > 0
        await pilot.press("q")
