"""The verdict rules: each fires on its figures, none fires on unmeasurable ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.tui.factories import (
    make_app_facts,
    make_frame,
    make_loop,
    make_pool,
    make_thread,
)
from workloads.config import LabConfig
from workloads.frames import Frame
from workloads.history import FrameHistory
from workloads.verdict import RULES, Verdict, figures, verdict


def judge(build: Callable[[int], Frame], n: int = 5, cores: int = 2) -> Verdict:
    """The verdict on the last of `n` frames built by `build(seq)`."""
    history = FrameHistory()
    for seq in range(1, n + 1):
        history.append(build(seq))
    latest = history.latest
    assert latest is not None
    return verdict(latest, history, cores=cores)


def frame(seq: int, *, model: str = "threads", **changes: Any) -> Frame:
    config = changes.pop("config", None) or LabConfig(model=model)
    return make_frame(seq, config=config, **changes)


def test_rules_have_unique_ids_and_words_for_the_help() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert all(r.condition and r.advice for r in RULES)
    assert RULES[-1].id == "healthy"


def test_a_dead_lab_comes_first() -> None:
    found = judge(lambda s: frame(s, lab_alive=False))
    assert (found.rule, found.key_hint) == ("lab-down", "r")


def test_settling_until_the_probe_reports() -> None:
    assert judge(lambda s: frame(s, app=None)).rule == "settling"
    assert judge(lambda s: frame(s), n=1).rule == "settling"


def test_loop_blocked_by_inline_cpu_on_asyncio() -> None:
    config = LabConfig(model="asyncio", cpu_share=0.5, task_ms=20.0)  # 10 ms CPU per task
    loop = make_loop(lag_ms=25.0)
    found = judge(lambda s: frame(s, config=config, app=make_app_facts(loop=loop)))
    assert found.rule == "loop-blocked"
    assert found.key_hint == "4"
    assert "asyncio-offload (4)" in found.text and "25.0 ms" in found.text


def test_loop_lag_below_one_tasks_cpu_time_is_not_blocked() -> None:
    config = LabConfig(model="asyncio", cpu_share=0.5, task_ms=20.0)
    loop = make_loop(lag_ms=4.0)
    app = make_app_facts(loop=loop)
    found = judge(lambda s: frame(s, config=config, app=app, throughput_per_s=50.0))
    assert found.rule == "healthy"


def _gil_threads() -> tuple[Any, ...]:
    return tuple(
        make_thread(t, executing=0.2, runnable=0.0, gil_wait=0.7, phase="cpu") for t in (1, 2, 3)
    )


def test_gil_wait_suggests_processes_for_thread_models() -> None:
    found = judge(lambda s: frame(s, threads=_gil_threads()))
    assert found.rule == "gil-wait" and found.key_hint == "7"
    assert "78 %" in found.text and "inferred" in found.text


def test_gil_wait_suggests_asyncio_procs_for_loop_models() -> None:
    found = judge(lambda s: frame(s, model="asyncio-offload", threads=_gil_threads()))
    assert found.rule == "gil-wait" and found.key_hint == "5"


def test_gil_wait_never_fires_when_it_cannot_be_inferred() -> None:
    threads = tuple(
        make_thread(t, executing=0.2, runnable=0.0, gil_wait=None) for t in (1, 2, 3)
    )
    assert judge(lambda s: frame(s, threads=threads)).rule != "gil-wait"


def test_oversubscribed_when_threads_wait_for_a_core() -> None:
    threads = tuple(make_thread(t, executing=0.4, runnable=0.4) for t in range(1, 6))
    found = judge(lambda s: frame(s, threads=threads, cpu_percent=190.0))
    assert found.rule == "oversubscribed" and found.key_hint == "-"
    assert "50 %" in found.text
    found = judge(lambda s: frame(s, model="pool", threads=threads, cpu_percent=190.0))
    assert found.key_hint == "w"


def test_runnable_while_the_lab_leaves_cores_idle_blames_the_host() -> None:
    threads = tuple(make_thread(t, executing=0.2, runnable=0.3) for t in range(1, 6))
    found = judge(lambda s: frame(s, model="processes", threads=threads, cpu_percent=60.0))
    assert found.rule == "busy-host" and found.key_hint is None
    assert "only 60 % of 200 %" in found.text


def test_oversubscribed_never_fires_without_a_runnable_measurement() -> None:
    threads = tuple(make_thread(t, executing=0.4, runnable=None) for t in range(1, 6))
    found = judge(lambda s: frame(s, threads=threads))
    assert found.rule != "oversubscribed"
    assert figures(make_frame(1, threads=threads)).runnable_of_wanted is None


def test_loop_late_on_offload_with_python_cpu() -> None:
    config = LabConfig(model="asyncio-offload", cpu_share=0.5)
    app = make_app_facts(loop=make_loop(lag_ms=30.0))
    found = judge(lambda s: frame(s, config=config, app=app))
    assert found.rule == "loop-late" and found.key_hint == "5"


def test_io_bound_thread_per_task() -> None:
    threads = tuple(make_thread(t, executing=0.02) for t in range(1, 33))
    found = judge(lambda s: frame(s, threads=threads, voluntary_per_s=3000.0))
    assert found.rule == "io-threads" and found.key_hint == "3"
    assert "32 threads" in found.text


def test_io_threads_needs_a_measured_voluntary_rate() -> None:
    threads = tuple(make_thread(t, executing=0.02) for t in range(1, 33))
    found = judge(lambda s: frame(s, threads=threads, voluntary_per_s=None))
    assert found.rule != "io-threads"


def test_pool_saturated_with_io_bound_workers() -> None:
    app = make_app_facts(pool=make_pool(workers=2, busy=2, queued=30))
    threads = (make_thread(1, executing=0.05), make_thread(2, executing=0.05))
    found = judge(lambda s: frame(s, model="pool", threads=threads, app=app))
    assert found.rule == "pool-saturated" and found.key_hint == "W"


def test_gil_saturated_when_python_work_needs_a_whole_core() -> None:
    config = LabConfig(model="threads", cpu_share=0.3, task_ms=20.0, concurrency=32)  # 6 ms
    app = make_app_facts(in_flight=3)
    found = judge(lambda s: frame(s, config=config, app=app, throughput_per_s=130.0))
    assert found.rule == "gil-saturated" and found.key_hint == "7"
    assert "78 % of one core" in found.text and "only 3 of 32" in found.text
    native = config.replace(cpu_kind="native")
    assert judge(lambda s: frame(s, config=native, throughput_per_s=130.0)).rule == "healthy"


def test_backlog_growing_in_an_open_loop() -> None:
    config = LabConfig(model="asyncio", rate=500.0, concurrency=8, cpu_share=0.0)

    def build(seq: int) -> Frame:
        return frame(seq, config=config, app=make_app_facts(backlog=10 * seq))

    found = judge(build)
    assert found.rule == "backlog" and found.key_hint == "+"


def test_errors_are_reported_with_the_last_message() -> None:
    def build(seq: int) -> Frame:
        return frame(seq, app=make_app_facts(errors=seq, last_error="ConnectionResetError"))

    found = judge(build)
    assert found.rule == "errors"
    assert "ConnectionResetError" in found.text


def test_healthy_names_the_cpu_when_every_core_is_busy() -> None:
    found = judge(lambda s: frame(s, model="processes", cpu_percent=195.0))
    assert found.rule == "healthy" and found.level == "ok"
    assert "CPU-bound" in found.text and "2 cores" in found.text


def test_healthy_io_names_latency_and_concurrency() -> None:
    found = judge(lambda s: frame(s, model="asyncio", cpu_percent=20.0))
    assert found.rule == "healthy"
    assert "IO latency × concurrency" in found.text and "p99 40.0 ms" in found.text


@pytest.mark.parametrize("rule", [r for r in RULES if r.id != "healthy"], ids=lambda r: r.id)
def test_no_rule_fires_on_a_frame_of_unmeasurable_figures(rule: Any) -> None:
    """Every optional figure None: only lab-down, settling or healthy may speak."""
    threads = tuple(
        make_thread(t, runnable=None, gil_wait=None, voluntary_per_s=None, involuntary_per_s=None)
        for t in range(1, 40)
    )
    app = make_app_facts(in_flight=0)

    def build(seq: int) -> Frame:
        return frame(
            seq, threads=threads, app=app, voluntary_per_s=None, involuntary_per_s=None,
            switches_per_task=None, latency_ms={"p50": None, "p99": None},
        )

    history = FrameHistory()
    for seq in range(1, 5):
        history.append(build(seq))
    assert history.latest is not None
    figs = figures(history.latest, history, cores=2)
    if rule.id not in ("lab-down", "settling"):
        assert rule.check(figs) is None
