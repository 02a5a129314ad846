"""Frame sources without an app: coalescing, replay clock, seek, drop accounting."""

from __future__ import annotations

from typing import Any

import pytest

from tests.tui.factories import make_frame
from tui.sources import REFILL_FRAMES, SPEEDS, FrameReady, LiveSource, ReplaySource
from workloads.config import ConfigError, LabConfig
from workloads.recording import Recording


def recording(n: int = 40, **header: Any) -> Recording:
    config = LabConfig(model="asyncio")
    frames = tuple(make_frame(seq, config=config) for seq in range(1, n + 1))  # 10 Hz
    return Recording("rec.jsonl", {"type": "header", "config": config.to_dict(), **header}, frames)


class Sink:
    def __init__(self) -> None:
        self.messages: list[FrameReady] = []

    def __call__(self, message: FrameReady) -> None:
        self.messages.append(message)

    @property
    def seqs(self) -> list[int]:
        return [f.seq for m in self.messages for f in m.frames]


def test_live_frames_coalesce_but_resets_and_replays_do_not() -> None:
    one, two = make_frame(1), make_frame(2)
    live_old, live_new = FrameReady((one,), replaceable=True), FrameReady((two,), replaceable=True)
    assert live_new.can_replace(live_old)
    assert not live_new.can_replace(FrameReady((one,), reset=True, replaceable=True))
    assert not FrameReady((two,)).can_replace(FrameReady((one,)))


def test_replay_starts_at_the_first_frame_and_plays_at_speed() -> None:
    sink, source = Sink(), ReplaySource(recording())
    source.start(sink)
    assert sink.seqs == [1] and not sink.messages[0].reset
    source.tick(100.0)  # the first tick only sets the clock
    source.tick(100.5)  # 0.5 s at 1× → frames up to t = 0.6 s
    assert sink.seqs == [1, 2, 3, 4, 5, 6]
    source.set_speed(4.0)
    source.tick(101.0)  # 0.5 s at 4× = 2 s more
    assert sink.seqs[-1] == 26
    assert len(sink.messages) == 3  # one batch per tick


def test_replay_pause_stops_the_clock_and_step_moves_one_frame() -> None:
    sink, source = Sink(), ReplaySource(recording(), paused=True)
    source.start(sink)
    source.tick(0.0)
    source.tick(5.0)
    assert sink.seqs == [1]
    source.step(1)
    source.step(1)
    assert sink.seqs == [1, 2, 3]
    source.step(-1)
    assert sink.messages[-1].reset and [f.seq for f in sink.messages[-1].frames] == [1, 2]


def test_replay_seek_refeeds_history_and_clamps_to_the_ends() -> None:
    sink, source = Sink(), ReplaySource(recording(400))
    source.start(sink)
    source.seek(30.0)
    last = sink.messages[-1]
    assert last.reset and last.frames[-1].seq == 301 and len(last.frames) == REFILL_FRAMES
    assert source.at == pytest.approx(30.0)
    source.seek(-1000.0)
    assert source.position == 0
    source.seek_index(10_000)
    assert source.at_end and sink.messages[-1].frames[-1].seq == 400
    source.tick(1.0)
    source.tick(2.0)  # at the end nothing more arrives
    assert sink.messages[-1].frames[-1].seq == 400


def test_replay_can_start_at_its_end() -> None:
    sink, source = Sink(), ReplaySource(recording(), start_at=-1)
    source.start(sink)
    assert sink.messages[0].reset and sink.seqs[-1] == 40 and source.at_end


def test_replay_speed_steps_through_the_allowed_range() -> None:
    source = ReplaySource(recording())
    speeds = [source.faster(1) for _ in range(5)]
    assert speeds == [2.0, 4.0, 4.0, 4.0, 4.0]
    assert [source.faster(-1) for _ in range(5)][-1] == SPEEDS[0] == 0.25


def test_replay_requests_change_the_view_config_only() -> None:
    rec = recording(machine={"cores": 8})
    source = ReplaySource(rec)
    assert source.config.model == "asyncio" and source.cores == 8 and not source.live
    assert source.request(model="pool").model == "pool"
    assert source.config.model == "pool"
    assert all(f.model == "asyncio" for f in source.frames)
    with pytest.raises(ConfigError, match="--cpu-share"):
        source.request(cpu_share=1.5)
    source.sync()  # nothing to apply, never raises


class FakeSession:
    def __init__(self) -> None:
        self.config = LabConfig()
        self.dropped = 0
        self.applied: list[dict[str, Any]] = []
        self.stopped = False

    def note_dropped(self, n: int = 1) -> None:
        self.dropped += n

    def apply(self, **changes: Any) -> LabConfig:
        self.applied.append(changes)
        self.config = self.config.replace(**changes)
        return self.config

    def stop(self) -> None:
        self.stopped = True


def test_live_source_counts_skipped_frames_and_applies_only_differences() -> None:
    source = LiveSource(LabConfig())
    fake = FakeSession()
    source._session = fake  # type: ignore[assignment]  # a stand-in for LabSession
    for seq in (1, 2, 5, 6, 10):
        source.shown(make_frame(seq))
    assert fake.dropped == 2 + 3
    source.request(concurrency=64)
    source.request(concurrency=128, cpu_share=0.5)
    source.sync()
    source.sync()  # nothing left to apply
    assert fake.applied == [{"cpu_share": 0.5, "concurrency": 128}]
    source.stop()
    assert fake.stopped


def test_a_failed_change_falls_back_to_what_runs() -> None:
    source = LiveSource(LabConfig())
    fake = FakeSession()

    def refuse(**changes: Any) -> LabConfig:
        raise RuntimeError("lab failed to start")

    fake.apply = refuse  # type: ignore[method-assign]
    source._session = fake  # type: ignore[assignment]
    source.request(model="pool")
    with pytest.raises(RuntimeError):
        source.sync()
    assert source.config == fake.config


def test_live_source_posts_coalescing_messages_from_the_sampler() -> None:
    sink, source = Sink(), LiveSource(LabConfig())
    source._post = sink
    source._on_frame(make_frame(7))
    assert sink.messages[0].replaceable and sink.seqs == [7]

    def closed(message: FrameReady) -> None:
        raise RuntimeError("Event loop is closed")

    source._post = closed
    source._on_frame(make_frame(8))  # swallowed: the app is quitting
    assert source._post is None
