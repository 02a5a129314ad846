"""FrameHistory: strips and series scroll together, markers mark changes, gaps stay gaps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.tui.factories import make_app_facts, make_frame, make_loop, make_thread
from workloads.frames import Frame, ThreadState
from workloads.history import FrameHistory

E, W, R = ThreadState.EXECUTING, ThreadState.WAITING, ThreadState.RUNNABLE


def test_strips_scroll_in_lockstep_and_new_threads_are_left_padded() -> None:
    history = FrameHistory(strip_len=4)
    busy = make_thread(1, executing=0.9)
    idle = make_thread(2)
    history.append(make_frame(1, threads=(busy,)))
    history.append(make_frame(2, threads=(busy, idle)))
    assert history.strip((1000, 1)) == (None, None, E, E)
    assert history.strip((1000, 2)) == (None, None, None, W)
    assert history.strip((1000, 2), 2) == (None, W)
    assert history.strip((1000, 99)) == (None,) * 4


def test_a_vanished_thread_scrolls_out_then_is_forgotten() -> None:
    history = FrameHistory(strip_len=3)
    history.append(make_frame(1, threads=(make_thread(1, executing=1.0), make_thread(2))))
    for seq in range(2, 4):
        history.append(make_frame(seq, threads=(make_thread(2),)))
    assert history.strip((1000, 1)) == (E, None, None)
    history.append(make_frame(4, threads=(make_thread(2),)))
    assert history.strip((1000, 1)) == (None, None, None)
    assert (1000, 1) not in history._strips  # pruned after a full strip of absence


def test_a_thread_missing_for_a_few_samples_comes_back_after_a_gap() -> None:
    E = ThreadState.EXECUTING
    history = FrameHistory(strip_len=6)
    here = (make_thread(1, executing=1.0), make_thread(2))
    history.append(make_frame(1, threads=here))
    history.append(make_frame(2, threads=here))
    for seq in (3, 4):
        history.append(make_frame(seq, threads=(make_thread(2),)))
    assert history.strip((1000, 1)) == (None, None, E, E, None, None)
    history.append(make_frame(5, threads=here))
    assert history.strip((1000, 1)) == (None, E, E, None, None, E)
    assert history.strip((1000, 1), 2) == (None, E)
    assert history.strip((1000, 1), 8) == (None, None, None, E, E, None, None, E)


def test_markers_where_the_lab_or_the_generation_changed() -> None:
    history = FrameHistory(strip_len=5)
    history.append(make_frame(1, app=make_app_facts(generation=0)))
    history.append(make_frame(2, app=make_app_facts(generation=0)))
    history.append(make_frame(3, app=make_app_facts(generation=1)))
    history.append(make_frame(4, lab_index=2, app=make_app_facts(generation=0)))
    assert history.markers(5) == (None, None, None, "change 1", "lab 2: threads")
    assert [c.label for c in history.changes] == ["change 1", "lab 2: threads"]


def test_a_probe_that_has_not_reported_is_not_a_change() -> None:
    history = FrameHistory()
    history.append(make_frame(1, app=None))
    history.append(make_frame(2, app=make_app_facts(generation=3)))
    assert history.markers(2) == (None, None)


def test_series_keep_unmeasurable_values_as_gaps_not_zeros() -> None:
    history = FrameHistory(series_len=8)
    history.append(make_frame(1, voluntary_per_s=None))
    history.append(make_frame(2, voluntary_per_s=100.0))
    history.append(make_frame(3, voluntary_per_s=300.0))
    assert history.series("voluntary_per_s", 4) == (None, None, 100.0, 300.0)
    stats = history.stats("voluntary_per_s")
    assert (stats.current, stats.p99, stats.max) == (300.0, 300.0, 300.0)
    assert history.series("ready_queue", 1) == (None,)  # no loop in these frames
    assert history.stats("ready_queue").max is None


def test_columns_average_closed_groups_aligned_to_the_append_count() -> None:
    history = FrameHistory()
    values = [None, 2.0, 4.0, 6.0, None, None, 10.0]
    for seq, value in enumerate(values, start=1):
        history.append(make_frame(seq, voluntary_per_s=value))
    # 7 appended, groups of 3: [None 2 4] [6 None None] close; [10] is still open.
    assert history.open_samples(3) == 1
    assert history.columns("voluntary_per_s", 4, 3) == (None, None, 3.0, 6.0)
    assert history.columns("voluntary_per_s", 4, 3, peak=True) == (None, None, 4.0, 6.0)
    history.append(make_frame(8, voluntary_per_s=None))
    assert history.columns("voluntary_per_s", 2, 3) == (3.0, 6.0)  # still open: unchanged
    history.append(make_frame(9, voluntary_per_s=None))
    assert history.columns("voluntary_per_s", 2, 3) == (6.0, 10.0)  # closed: moves once
    assert history.columns("voluntary_per_s", 2, 1) == history.series("voluntary_per_s", 2)


def test_a_column_with_no_measured_sample_is_a_gap() -> None:
    history = FrameHistory()
    for seq in range(1, 5):
        history.append(make_frame(seq, voluntary_per_s=None))
    assert history.columns("voluntary_per_s", 2, 2) == (None, None)


def test_column_markers_keep_a_change_inside_its_column() -> None:
    history = FrameHistory()
    for seq in range(1, 7):
        history.append(make_frame(seq, lab_index=1 if seq < 5 else 2))
    assert history.markers(6) == (None, None, None, None, "lab 2: threads", None)
    assert history.column_markers(3, 2) == (None, None, "lab 2: threads")


def test_stats_p99_is_a_nearest_rank_over_the_window() -> None:
    history = FrameHistory()
    for seq in range(1, 101):
        history.append(make_frame(seq, throughput_per_s=float(seq)))
    stats = history.stats("throughput_per_s", 100)
    assert (stats.current, stats.p99, stats.max) == (100.0, 99.0, 100.0)


def test_recent_covers_only_the_current_lab_and_the_window() -> None:
    history = FrameHistory()
    for seq in range(1, 6):
        history.append(make_frame(seq, lab_index=1))
    for seq in range(6, 30):
        history.append(make_frame(seq, lab_index=2))
    assert [f.seq for f in history.recent(0.45)] == [25, 26, 27, 28, 29]
    assert all(f.lab_index == 2 for f in history.recent(100))
    assert history.lab_elapsed is not None and abs(history.lab_elapsed - 2.3) < 1e-9


def test_hist_percentile_subtracts_the_oldest_snapshot_in_the_window() -> None:
    history = FrameHistory()
    old = {10: 1000}  # a burst of small lags long ago
    history.append(make_frame(1, app=make_app_facts(loop=make_loop(lag_hist=old))))
    history.append(make_frame(2, app=make_app_facts(loop=make_loop(lag_hist={10: 1000, 60: 5}))))

    def read(f: Frame) -> dict[int, int] | None:
        return None if f.app is None or f.app.loop is None else f.app.loop.lag_hist

    p99 = history.hist_percentile(read, 99, 10.0)
    assert p99 is not None and 0.8 < p99 < 1.0  # only the 5 new samples (bucket 60 ≈ 1 ms)


def test_busiest_orders_by_smoothed_activity() -> None:
    history = FrameHistory()
    a, b = make_thread(1, executing=0.9), make_thread(2, executing=0.1)
    for seq in range(1, 5):
        history.append(make_frame(seq, threads=(a, b)))
    # One busy sample of b does not overtake a's steady activity.
    a2, b2 = make_thread(1, executing=0.5), make_thread(2, executing=1.0)
    history.append(make_frame(5, threads=(a2, b2)))
    assert [t.tid for t in history.busiest((b2, a2))] == [1, 2]


def test_clear_forgets_everything() -> None:
    history = FrameHistory()
    history.append(make_frame(1))
    history.clear()
    assert history.latest is None and history.appended == 0
    assert history.series("threads") == ()


def test_workloads_history_and_verdict_never_import_textual_or_rich() -> None:
    code = (
        "import sys, workloads.history, workloads.verdict; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'tui')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
