"""The duel without labs: core split, scoreboard figures and rendering, CLI, keys on both sides."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from textual.geometry import Size

from tests.tui.factories import make_app_facts, make_frame
from tests.tui.helpers import wait_for
from tui.duel import CpuPlan, add_duel_parser, cmd_duel, duel_config, make_duel_app, split_cpus
from tui.duel_app import DuelApp
from tui.screens.duel_help import duel_help_markdown
from tui.sources import Post, Source
from tui.widgets.lines import FALLBACK
from tui.widgets.scoreboard import (
    ROWS,
    Scoreboard,
    SideFigures,
    fmt_cpus,
    leader,
    side_figures,
)
from workloads.config import ConfigError, LabConfig
from workloads.frames import Frame
from workloads.history import FrameHistory

pytestmark = pytest.mark.timeout(30)


# -- cores -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpus", "a", "b", "spare"),
    [
        ({0, 1}, {0}, {1}, set()),
        ({0, 1, 2}, {0}, {1}, {2}),
        (set(range(8)), {0, 1, 2, 3}, {4, 5, 6, 7}, set()),
        ({1, 3, 5, 7, 9}, {1, 3}, {5, 7}, {9}),
    ],
)
def test_cores_split_into_equal_disjoint_shares(
    cpus: set[int], a: set[int], b: set[int], spare: set[int]
) -> None:
    plan = split_cpus(cpus)
    assert (plan.a, plan.b, plan.spare) == (frozenset(a), frozenset(b), frozenset(spare))
    assert plan.per_side == len(a)
    assert (plan.note is None) == (not spare)
    if spare:
        assert plan.note is not None and "left to the observer" in plan.note


def test_one_core_runs_unpinned_and_says_so() -> None:
    plan = split_cpus({3})
    assert plan.a is None and plan.b is None and plan.per_side is None
    assert plan.note is not None and "one core" in plan.note


def test_default_split_uses_this_process_affinity() -> None:
    plan = split_cpus()
    assert plan.a is None or plan.a.isdisjoint(plan.b or frozenset())


def test_fmt_cpus_compacts_ranges() -> None:
    assert fmt_cpus(frozenset({0})) == "0"
    assert fmt_cpus(frozenset({0, 1, 2, 3})) == "0-3"
    assert fmt_cpus(frozenset({0, 2, 5, 6, 7})) == "0,2,5-7"
    assert fmt_cpus(None) == "any"


# -- scoreboard figures ------------------------------------------------------


def _frame(seq: int, completed: int, switches: int, **changes: Any) -> Frame:
    app = make_app_facts(t=seq / 10, completed=completed, in_flight=changes.pop("in_flight", 8))
    return make_frame(seq, app=app, switches_total=switches, **changes)


def test_side_figures_over_the_window() -> None:
    history = FrameHistory()
    # 10 frames, 0.1 s apart: 20 tasks and 100 switches per frame, 50 % CPU.
    for n in range(1, 11):
        history.append(_frame(n, completed=20 * n, switches=100 * n, cpu_percent=50.0))
    figures = side_figures(history)
    assert figures.throughput == pytest.approx(200.0)
    assert figures.switches_per_task == pytest.approx(5.0)
    assert figures.cpu_percent == pytest.approx(50.0)
    assert figures.cpu_ms_per_task == pytest.approx(2.5)  # 0.5 core-s/s ÷ 200 tasks/s
    assert figures.rss_bytes == 30 << 20
    assert figures.kib_per_task == pytest.approx(30 * 1024 / 8)


def test_side_figures_unmeasurable_are_none() -> None:
    assert side_figures(FrameHistory()) == SideFigures()
    history = FrameHistory()
    history.append(make_frame(1, app=None))
    figures = side_figures(history)
    assert figures.throughput is None and figures.switches_per_task is None
    assert figures.p99_ms is None and figures.kib_per_task is None
    history.append(_frame(2, completed=5, switches=10, in_flight=0))
    history.append(_frame(3, completed=5, switches=20, in_flight=0))
    figures = side_figures(history)
    assert figures.throughput == 0.0 and figures.switches_per_task is None  # nothing completed
    assert figures.cpu_ms_per_task is None and figures.kib_per_task is None


def test_leader_direction_tie_and_unknown() -> None:
    assert leader(200, 100, higher_better=True) == "A"
    assert leader(200, 100, higher_better=False) == "B"
    assert leader(100, 103, higher_better=True) == "tie"
    assert leader(None, 3, higher_better=True) is None
    assert leader(0.0, 0.0, higher_better=False) == "tie"


def _board(a: SideFigures, b: SideFigures, width: int = 100) -> Scoreboard:
    board = Scoreboard()
    board.fallback_size = Size(width, 1 + len(ROWS))
    board.show(a, b, ("A threads", "B asyncio"))
    return board


def test_scoreboard_highlights_the_leader_and_names_it() -> None:
    a = SideFigures(throughput=100.0, p99_ms=40.0, switches_per_task=8.0, cpu_percent=50.0,
                    cpu_ms_per_task=5.0, rss_bytes=30 << 20, kib_per_task=960.0)
    b = SideFigures(throughput=250.0, p99_ms=41.0, switches_per_task=0.5, cpu_percent=40.0,
                    cpu_ms_per_task=1.6, rss_bytes=60 << 20, kib_per_task=1920.0)
    board = _board(a, b)
    lines = board.lines_text()
    assert "A threads" in lines[0] and "B asyncio" in lines[0] and "leads" in lines[0]
    rows = {row.label: line for row, line in zip(ROWS, lines[1:], strict=True)}
    assert "100 tasks/s" in rows["throughput"] and rows["throughput"].rstrip().endswith("B ×2.5")
    assert rows["p99 latency"].rstrip().endswith("tie")  # 40 vs 41 ms: within 5 %
    assert rows["switches per task"].rstrip().endswith("B ×16")
    assert "50% · 5.0ms/task" in rows["CPU % · per task"]
    assert rows["memory per task"].rstrip().endswith("A ×2.0")
    assert "960 KiB/task · 30 MiB" in rows["memory per task"]
    assert board.leaders() == ["B", "tie", "B", "B", "A"]
    good = FALLBACK["lines--good"]
    throughput = board.render_line(1)
    styled = {seg.text: str(seg.style) for seg in throughput if seg.text.strip()}
    assert styled["250 tasks/s"] == good and styled["100 tasks/s"] != good


def test_scoreboard_shows_n_a_and_never_crowns_it() -> None:
    board = _board(SideFigures(throughput=5.0), SideFigures())
    lines = board.lines_text()[1:]
    for line in lines:
        assert "n/a" in line
        assert not line.rstrip().endswith(("A", "B")) and "×" not in line
    assert board.leaders() == [None] * len(ROWS)


# -- models and command line -------------------------------------------------


def test_duel_config_names_the_bad_model_and_allows_twins() -> None:
    with pytest.raises(ConfigError, match=r"^--model B: unknown model 'nope'; choose from"):
        duel_config("threads", "nope", LabConfig())
    a, b = duel_config("pool", "pool", LabConfig(concurrency=8))
    assert a == b and a.model == "pool" and a.concurrency == 8


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ccviz")
    add_duel_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_parser_reads_models_workload_and_view_options() -> None:
    args = _parse(["duel", "threads", "asyncio", "--cpu-share", "0.5", "--concurrency", "64",
                   "--io-kind", "sleep", "--ascii", "--theme", "high-contrast"])
    assert (args.model_a, args.model_b) == ("threads", "asyncio")
    assert (args.cpu_share, args.concurrency, args.io_kind) == (0.5, 64, "sleep")
    assert args.ascii and args.theme == "high-contrast" and args.rate is None


def test_cmd_duel_rejects_bad_input_before_starting_anything() -> None:
    with pytest.raises(ConfigError, match=r"^--model A: unknown model 'fibers'"):
        cmd_duel(_parse(["duel", "fibers", "threads"]))
    with pytest.raises(ConfigError, match=r"^--cpu-share"):
        cmd_duel(_parse(["duel", "threads", "pool", "--cpu-share", "2"]))


def test_help_lists_the_rows_and_the_split() -> None:
    plan = CpuPlan(frozenset({0}), frozenset({1}))
    text = duel_help_markdown(DuelApp.BINDINGS, plan, ("threads", "asyncio"))  # type: ignore[arg-type]
    assert "pinned to cpus 0" in text and "pinned to cpus 1" in text
    for row in ROWS:
        assert f"| {row.label} |" in text


# -- the app on fake sources: keys change both sides --------------------------


class FakeSource(Source):
    """A live-looking source that posts one frame and records what it was asked to do."""

    live = True

    def __init__(self, config: LabConfig) -> None:
        super().__init__(config)
        self.synced: list[LabConfig] = []
        self.restarts = 0
        self.stopped = False

    @property
    def label(self) -> str:
        return "fake"

    def start(self, post: Post) -> None:
        from tui.sources import FrameReady

        post(FrameReady((make_frame(1, config=self.config),), replaceable=True))

    def sync(self) -> None:
        self.synced.append(self.config)

    def restart(self) -> None:
        self.restarts += 1

    def stop(self) -> None:
        self.stopped = True


def _fake_duel() -> tuple[DuelApp, list[FakeSource]]:
    plan = CpuPlan(frozenset({0}), frozenset({1}))
    app = make_duel_app("threads", "asyncio", LabConfig(cpu_share=0.2, concurrency=8), plan=plan)
    fakes = []
    for side in app.sides:
        fake = FakeSource(side.source.config)
        side.source = fake  # type: ignore[assignment]
        fakes.append(fake)
    return app, fakes


@pytest.mark.anyio
async def test_keys_change_both_labs_and_quit_stops_both() -> None:
    app, fakes = _fake_duel()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: all(s.history.appended for s in app.sides))
        assert app.sides[1].header.lines_text()[0].startswith(" B [3] asyncio │ cpus 1 │ lab")
        await pilot.press("right_square_bracket", "plus")
        await wait_for(pilot, lambda: all(len(f.synced) >= 2 for f in fakes))
        for fake, model in zip(fakes, ("threads", "asyncio"), strict=True):
            assert fake.config.model == model
            assert (fake.config.cpu_share, fake.config.concurrency) == (0.3, 16)
        assert "applying" in app.banner.lines_text()[0]  # frames still show the old config
        await pilot.press("r")
        await wait_for(pilot, lambda: all(f.restarts == 1 for f in fakes))
        await pilot.press("q")
    assert all(f.stopped for f in fakes)


def test_the_cli_side_of_the_duel_does_not_import_textual() -> None:
    """The CLI builds every parser, even for headless commands: `tui.duel` must stay light."""
    import subprocess
    import sys

    code = (
        "import sys, argparse\n"
        "from tui.duel import add_duel_parser\n"
        "add_duel_parser(argparse.ArgumentParser().add_subparsers())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
