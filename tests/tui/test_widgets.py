"""Panes rendered without an app: assert on `render_line(y).text`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import pytest
from rich.style import Style
from textual.geometry import Size

from tests.tui.factories import make_app_facts, make_frame, make_loop, make_pool, make_thread
from tui.widgets.glyphs import ASCII, UNICODE, fmt_ms, fmt_rate
from tui.widgets.panes import LoopPane, SwitchesPane, ThroughputPane
from tui.widgets.sparkline import SparkStyles, sparkline
from tui.widgets.status import HeaderInfo, StatusHeader, VerdictLine
from tui.widgets.threads import ThreadsPane, choose_layout, density_cell
from workloads.config import LabConfig
from workloads.frames import Frame
from workloads.history import FrameHistory
from workloads.verdict import Verdict


def history_of(*frames: Frame) -> FrameHistory:
    history = FrameHistory()
    for frame in frames:
        history.append(frame)
    return history


P = TypeVar("P", ThreadsPane, LoopPane, SwitchesPane, ThroughputPane)


def pane(
    cls: type[P], history: FrameHistory, size: tuple[int, int] = (120, 12), ascii: bool = False
) -> P:
    widget = cls(ascii=ascii)
    widget.fallback_size = Size(*size)
    widget.show(history)
    return widget


# -- threads ---------------------------------------------------------------


def test_threads_rows_busiest_first_with_shares_and_rates() -> None:
    threads = (
        make_thread(11, name="idle", executing=0.0, voluntary_per_s=5.0),
        make_thread(12, name="hot", executing=0.8, runnable=0.15, voluntary_per_s=1500.0),
    )
    widget = pane(ThreadsPane, history_of(make_frame(1, threads=threads)))
    lines = widget.lines_text()
    assert "pid/tid" in lines[0] and "vol/s" in lines[0] and "states, newest →" in lines[0]
    assert "1000/12 hot" in lines[1] and lines[2].lstrip().startswith("1000/11 idle")
    assert " 80 " in lines[1] and " 15 " in lines[1] and "1.5k" in lines[1]
    assert widget.border_title == "Threads (2)"


def test_threads_strip_cells_scroll_with_glyph_per_state() -> None:
    states = [
        make_thread(1, executing=1.0),
        make_thread(1, executing=0.1, runnable=0.8),
        make_thread(1, executing=0.1, runnable=0.0, gil_wait=0.8, phase="cpu"),
        make_thread(1, executing=0.0),
    ]
    history = history_of(*(make_frame(n, threads=(t,)) for n, t in enumerate(states, 1)))
    line = pane(ThreadsPane, history).render_line(1).text
    assert "█▓▚·" in line
    ascii_line = pane(ThreadsPane, history, ascii=True).render_line(1).text
    assert "#+g." in ascii_line
    assert all(ord(c) < 128 for c in ascii_line)


def test_unmeasurable_shares_show_na_not_zero() -> None:
    thread = make_thread(1, executing=0.5, runnable=None, voluntary_per_s=None)
    line = pane(ThreadsPane, history_of(make_frame(1, threads=(thread,)))).render_line(1).text
    assert line.count("n/a") >= 3  # runnable, GIL wait, voluntary/s


def test_change_marker_cuts_through_the_strips_with_its_label() -> None:
    t = (make_thread(1, executing=1.0),)
    history = history_of(
        make_frame(1, threads=t, app=make_app_facts(generation=0)),
        make_frame(2, threads=t, app=make_app_facts(generation=1)),
        make_frame(3, threads=t, app=make_app_facts(generation=1)),
    )
    lines = pane(ThreadsPane, history).lines_text()
    assert "change 1│" in lines[0]  # no room to its right: the label ends at its marker
    assert "█│█" in lines[1]


def test_summary_row_for_the_threads_that_do_not_fit() -> None:
    threads = tuple(make_thread(t, executing=0.5 if t < 3 else 0.0) for t in range(1, 21))
    widget = pane(ThreadsPane, history_of(make_frame(1, threads=threads)), size=(120, 6))
    lines = widget.lines_text()
    assert len([ln for ln in lines if "worker-" in ln]) == 4
    assert lines[5].startswith("+16 more") and "16 waiting" in lines[5]
    assert "d: density view" in lines[5]
    assert widget.border_title == "Threads 1–4 of 20"


def test_threads_seen_once_share_one_line_until_they_are_measured() -> None:
    old = tuple(make_thread(t, executing=0.5) for t in (1, 2))
    fresh = tuple(make_thread(t, name=f"task-{t}")._replace(new=True) for t in (7, 5, 6))
    widget = pane(ThreadsPane, history_of(make_frame(1, threads=old + fresh)), size=(120, 10))
    lines = widget.lines_text()
    assert [ln.split()[1] for ln in lines[1:3]] == ["worker-1", "worker-2"]
    assert lines[3].startswith("+3 new, measured from the next sample: task-5, task-6, task-7")
    assert not any("task-" in ln for ln in lines[:3] + lines[4:])  # no row of zeros for them
    assert widget.border_title == "Threads (5)"
    narrow = pane(ThreadsPane, history_of(make_frame(1, threads=old + fresh)), size=(50, 10))
    assert narrow.lines_text()[3].rstrip().endswith("task-5, …")


def test_density_view_draws_one_cell_per_thread() -> None:
    threads = tuple(
        make_thread(t, executing=1.0 if t % 10 == 0 else 0.0) for t in range(1, 2001)
    )
    widget = pane(ThreadsPane, history_of(make_frame(1, threads=threads)), size=(100, 30))
    widget.set_density(True)
    lines = widget.lines_text()
    assert lines[0].startswith("2000 threads") and "200 executing" in lines[0]
    assert "1800 waiting" in lines[0]
    cells = "".join(lines[1:21])
    assert cells.count("█") == 200 and cells.count("·") == 1800
    assert widget.border_title is not None and "density" in widget.border_title


def test_density_view_says_how_many_did_not_fit() -> None:
    threads = tuple(make_thread(t) for t in range(1, 501))
    widget = pane(ThreadsPane, history_of(make_frame(1, threads=threads)), size=(40, 5))
    widget.set_density(True)
    lines = widget.lines_text()
    assert lines[-1].rstrip().endswith("…+345")  # 4 rows × 40 cells, less the note


def test_density_cells_grow_when_few_threads_fill_the_pane() -> None:
    threads = tuple(make_thread(t, executing=1.0 if t == 1 else 0.0) for t in range(1, 15))
    widget = pane(ThreadsPane, history_of(make_frame(1, threads=threads)), size=(100, 30))
    widget.set_density(True)
    lines = widget.lines_text()
    assert lines[1].startswith("███████████ ···········")  # 12×6 cells: 11 drawn + a gap
    assert lines[1:6] == [lines[1]] * 5 and not lines[6].strip()
    assert density_cell(14, 100, 29) == (12, 6)
    assert density_cell(2000, 100, 29) == (1, 1)


def test_layout_drops_columns_before_squeezing_the_strip() -> None:
    wide, cells = choose_layout(160)
    assert wide.id_width == 13 and "inv" in wide.figures and cells == 60
    narrow, cells = choose_layout(70)
    assert narrow.id_width == 7 and "wait" not in narrow.figures and cells >= 16
    tiny, cells = choose_layout(20)
    assert tiny.figures == () and cells == 11


def test_threads_pane_before_any_frame() -> None:
    widget = pane(ThreadsPane, FrameHistory())
    assert widget.render_line(0).text.startswith("waiting for the first frame")


# -- the small panes -------------------------------------------------------


def test_loop_pane_shows_tasks_queue_and_lag() -> None:
    loop = make_loop(ready_queue=7, lag_ms=12.5, tasks_alive=64, tasks_waiting=60)
    config = LabConfig(model="asyncio-offload")
    history = history_of(
        *(make_frame(s, config=config, app=make_app_facts(loop=loop)) for s in (1, 2))
    )
    widget = pane(LoopPane, history, size=(50, 12))
    text = "\n".join(widget.lines_text())
    assert "tasks 64 · running 1 · ready 3 · waiting 60" in text
    assert "ready queue  7" in text and "lag  12.5ms" in text
    assert "executor backlog 0" in text
    assert widget.border_title == "Event loop"


def test_loop_pane_shows_the_pool_for_pool_models() -> None:
    history = history_of(make_frame(1, app=make_app_facts(pool=make_pool(4, 3, 12))))
    widget = pane(LoopPane, history, size=(50, 10))
    text = "\n".join(widget.lines_text())
    assert widget.border_title == "Pool"
    assert "workers 4 · busy 3 · queued 12" in text and "busy workers  3" in text


def test_loop_pane_is_never_empty() -> None:
    widget = pane(LoopPane, history_of(make_frame(1)), size=(50, 10))
    text = "\n".join(widget.lines_text())
    assert "one OS thread per task" in text and "threads  1" in text


def test_metric_headings_drop_figures_rather_than_cut_them() -> None:
    history = history_of(make_frame(1), make_frame(2, voluntary_per_s=1800.0))
    assert pane(SwitchesPane, history, size=(40, 8)).lines_text()[0].rstrip() == (
        "voluntary/s  1.8k  p99 1.8k  max 1.8k"
    )
    narrow = pane(SwitchesPane, history, size=(24, 8)).lines_text()[0]
    assert narrow.rstrip() == "voluntary/s  1.8k"


def test_small_panes_drop_charts_before_overflowing() -> None:
    history = history_of(*(make_frame(seq) for seq in range(1, 7)))  # one closed column
    widget = pane(SwitchesPane, history, size=(40, 3))
    lines = widget.lines_text()
    assert lines[0].startswith("voluntary/s  400")
    assert len([ln for ln in lines if ln.strip()]) == 3


def test_a_chart_column_is_half_a_second_and_the_chart_moves_only_when_one_closes() -> None:
    history = history_of(*(make_frame(seq, voluntary_per_s=100.0 * seq) for seq in range(1, 11)))
    widget = pane(SwitchesPane, history, size=(40, 12))
    lines = widget.lines_text()
    chart = widget._charts["voluntary_per_s"][1]
    # 10 frames at 10 Hz: two columns of five (means 300 and 800), at the right
    rows = lines[1:5]
    assert all(not row[:-2].strip() for row in rows), rows
    assert rows[-1].endswith("██") and rows[0].endswith(" █"), rows  # 300 is under half
    assert lines[0].startswith("voluntary/s  1.0k")  # the heading follows every frame
    history.append(make_frame(11, voluntary_per_s=5000.0))
    widget.show(history)
    assert widget.lines_text()[0].startswith("voluntary/s  5.0k")
    assert widget._charts["voluntary_per_s"][1] is chart  # the open column is not drawn
    for seq in range(12, 16):
        history.append(make_frame(seq, voluntary_per_s=5000.0))
        widget.show(history)
    assert widget.lines_text()[1].endswith("  █")  # the new column sets the scale
    assert widget._charts["voluntary_per_s"][1] is not chart  # a column closed


def test_switches_pane_rates_totals_and_na() -> None:
    history = history_of(make_frame(1, involuntary_per_s=None, switches_per_task=None))
    text = "\n".join(pane(SwitchesPane, history, size=(60, 8)).lines_text())
    assert "voluntary/s  400" in text and "involuntary/s  n/a" in text
    assert "total 12k · per task n/a" in text


def test_throughput_pane() -> None:
    history = history_of(make_frame(1), make_frame(2, throughput_per_s=2500.0))
    text = "\n".join(pane(ThroughputPane, history, size=(60, 10)).lines_text())
    assert "tasks/s  2.5k  max 2.5k" in text
    assert "p50 20.0ms · p99 40.0ms" in text and "in flight 10 · errors 0" in text


def test_sparkline_gaps_baseline_and_marker() -> None:
    styles = SparkStyles(Style(), Style(), Style(bold=True))
    rows = sparkline(
        [None, 0.0, 4.0, 8.0, 8.0], [None, None, None, "lab 2", None],
        height=1, glyphs=UNICODE, styles=styles,
    )
    assert "".join(s.text for s in rows[0]) == " ▁▄██"
    tall = sparkline([0.0, 8.0, 2.0], [None, "x", None], height=2, glyphs=ASCII, styles=styles)
    assert ["".join(s.text for s in row) for row in tall] == [" @ ", "_@="]
    empty = sparkline([0.0, None], ["m", None], height=1, glyphs=UNICODE, styles=styles)
    assert "".join(s.text for s in empty[0]) == "│ "


def test_earlier_labs_are_dimmed_and_do_not_set_the_scale() -> None:
    styles = SparkStyles(Style(color="blue"), Style(dim=True), Style(bold=True))
    row = sparkline([80.0, 80.0, 2.0, 4.0], [None] * 4, height=1, glyphs=UNICODE,
                    styles=styles, dim_before=2)[0]
    assert "".join(s.text for s in row) == "██▄█"  # the old lab's 80s are clipped
    assert row[0].style == styles.baseline and row[-1].style == styles.bar


def test_metric_figures_cover_only_the_current_lab() -> None:
    frames = [make_frame(s, voluntary_per_s=5000.0) for s in (1, 2, 3)]
    frames += [make_frame(s, lab_index=2, voluntary_per_s=40.0) for s in (4, 5)]
    history = history_of(*frames)
    assert history.lab_samples == 2
    head = pane(SwitchesPane, history, size=(60, 8)).lines_text()[0]
    assert head.startswith("voluntary/s  40  p99 40  max 40")


# -- header and verdict ----------------------------------------------------


def header(info: HeaderInfo, width: int = 160) -> list[str]:
    widget = StatusHeader()
    widget.fallback_size = Size(width, 2)
    widget.show(info)
    return widget.lines_text()


def test_header_names_the_config_lab_and_cost() -> None:
    config = LabConfig(model="asyncio", cpu_share=0.3, concurrency=64)
    frame = make_frame(42, config=config, lab_pid=4321, lab_index=2)
    top, cost = header(HeaderInfo(frame, config, "live", live=True))
    assert "[3] asyncio" in top and "cpu-share 0.30" in top and "concurrency 64" in top
    assert "task 20.0ms" in top and "4.2s" in top and "lab 4321 #2" in top
    assert cost.startswith(" LIVE") and "observer 2.5% cpu" in cost
    assert "sampler 120µs" in cost and "dropped 0" in cost
    assert "reduced fidelity" not in cost


def test_header_shows_pending_changes_badges_and_short_form() -> None:
    running = LabConfig(model="threads", cpu_share=0.2)
    requested = running.replace(model="pool", concurrency=64)
    frame = make_frame(1, config=running, fidelity={"runnable": False}, lab_alive=False)
    info = HeaderInfo(frame, requested, "replay rec.jsonl", live=False, paused=True,
                      playback="⏸ 1× 0.1/4.0s")
    top, cost = header(info)
    assert "[1] threads → pool" in top and "concurrency 32→64" in top
    assert cost.startswith(" REPLAY rec.jsonl ⏸ 1× 0.1/4.0s") and "PAUSED" in cost
    assert "reduced fidelity: runnable n/a" in cost and "LAB DOWN" in cost
    medium, _ = header(info, width=130)
    assert medium.startswith(" [1] threads → pool  cpu-share") and "concurrency 32→64" in medium
    short, _ = header(info, width=80)
    assert short.startswith(" [1] threads") and "conc 32→64" in short and "share 0.20" in short
    assert "lab 1000 #1" in short


def test_live_header_redraws_its_clock_twice_a_second_but_a_change_at_once() -> None:
    config = LabConfig()
    widget = StatusHeader()
    widget.fallback_size = Size(160, 2)

    def show(t: float, requested: LabConfig = config, **changes: Any) -> list[str]:
        frame = make_frame(int(t * 10), t=t, **changes)
        widget.show(HeaderInfo(frame, requested, "live", live=True))
        return widget.lines_text()

    assert "1.0s" in show(1.0)[0]
    assert "1.0s" in show(1.2)[0]  # only the clock moved: not yet
    assert "1.5s" in show(1.5)[0]
    top, cost = show(1.6, lab_alive=False)  # a badge: at once
    assert "1.6s" in top and "LAB DOWN" in cost
    assert "concurrency 32→64" in show(1.7, config.replace(concurrency=64))[0]  # a key: at once


def test_verdict_line_wraps_rather_than_cutting_the_advice() -> None:
    widget = VerdictLine()
    widget.fallback_size = Size(40, 2)
    widget.show(Verdict("the loop is blocked by inline CPU work → try asyncio-offload (4)",
                        "4", "loop-blocked"))
    first, second = widget.lines_text()
    assert first.startswith(" ▶ the loop is blocked") and second.strip().endswith("(4)")
    widget.show(None, "start the lab failed: boom")
    assert widget.lines_text()[0].startswith(" ▶ start the lab failed")


def test_live_verdict_figures_move_twice_a_second_but_a_new_rule_at_once() -> None:
    widget = VerdictLine()
    widget.fallback_size = Size(120, 2)
    widget.show(Verdict("lag 30 ms", "4", "loop-blocked"), t=1.0)
    widget.show(Verdict("lag 31 ms", "4", "loop-blocked"), t=1.2)
    assert "lag 30 ms" in widget.lines_text()[0]  # same rule, new figure: not yet
    widget.show(Verdict("lag 32 ms", "4", "loop-blocked"), t=1.5)
    assert "lag 32 ms" in widget.lines_text()[0]
    widget.show(Verdict("all good", None, "healthy", "ok"), t=1.6)
    assert "all good" in widget.lines_text()[0]  # another rule: at once


def test_formats() -> None:
    assert [fmt_rate(v) for v in (None, 0, 5.25, 950, 12_345, 4_100_000)] == [
        "n/a", "0", "5.2", "950", "12k", "4.1M"
    ]
    assert [fmt_ms(v) for v in (None, 0.25, 12.34, 250, 12_500)] == [
        "n/a", "250µs", "12.3ms", "250ms", "12.5s"
    ]


def test_switches_pane_estimates_cpu_lost_with_a_calibration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.widgets import panes
    from workloads.calibrate import SwitchCost, save

    frame = make_frame(1)
    assert panes.lost_to_switching(frame) == ("switch cost", "not measured: ccviz calibrate")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    save(SwitchCost(thread_us=2.0, process_us=3.0, measured_at="2026-01-01T00:00:00+00:00",
                    machine={}, method="test"))
    panes.switch_cost.cache_clear()
    label, text = panes.lost_to_switching(frame)
    expected = frame.switches_per_s * 2.0 / 1e4  # switches/s × µs / 1e6 × 100
    assert label == "lost to switching"
    assert text.startswith(f"≈{expected:.1f}% of a core") and "2.0µs" in text
    panes.switch_cost.cache_clear()
