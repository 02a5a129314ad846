"""Live labs, a second or two each: every model runs, and the physics holds."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import gone, wait_until
from workloads.bench import BenchPlan, aggregate, run_bench, run_one
from workloads.config import MODELS, LabConfig
from workloads.frames import Frame
from workloads.lab import FACTS_PREFIX
from workloads.labmain import _Out
from workloads.recording import read_recording
from workloads.session import LabSession

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_leaks")]


def run(seconds: float = 1.0, warmup: float = 0.5, **values: object) -> tuple[list[Frame], dict]:  # type: ignore[type-arg]
    config = LabConfig.validated(**values)  # type: ignore[arg-type]
    frames = run_one(config, seconds, warmup)
    return frames, aggregate(config, frames)


@pytest.mark.parametrize("model", MODELS)
def test_every_model_runs_and_completes_tasks(model: str) -> None:
    frames, result = run(model=model, cpu_share=0.2, task_ms=10, concurrency=16, workers=2)
    assert frames, "no frames"
    assert result["tasks_completed"] > 10
    assert result["errors"] == 0
    assert result["throughput_per_s"] > 0
    assert result["latency_ms"]["p50"] is not None
    assert all(f.lab_alive for f in frames)
    assert any(f.threads for f in frames)
    names = {t.name for f in frames for t in f.threads}
    assert "lab" in names


def lab_threads(frames: list[Frame]) -> int:
    return max(p.threads for f in frames for p in f.processes if p.role == "lab")


def test_threads_model_has_a_thread_per_task_and_asyncio_a_handful() -> None:
    threads, _ = run(model="threads", cpu_share=0.0, task_ms=50, concurrency=32)
    loop, _ = run(model="asyncio", cpu_share=0.0, task_ms=50, concurrency=32)
    assert lab_threads(threads) >= 32
    assert lab_threads(loop) <= 6
    assert any(t.name.startswith("task-") for f in threads for t in f.threads)
    assert any(t.name == "loop" for f in loop for t in f.threads)


def test_cpu_work_blocks_the_loop_unless_offloaded() -> None:
    _, inline = run(model="asyncio", cpu_share=1.0, task_ms=20, concurrency=8)
    _, offload = run(model="asyncio-offload", cpu_share=1.0, task_ms=20, concurrency=8)
    assert inline["loop"]["lag_ms_max"] >= 20.0  # at least one task's CPU time
    assert inline["loop"]["lag_ms_p99"] >= 20.0
    # offloaded Python CPU still holds the GIL, so the loop waits a few switch
    # intervals (5 ms each), but never a whole queue of tasks' CPU time
    assert offload["loop"]["lag_ms_p99"] < inline["loop"]["lag_ms_p99"] / 2


@pytest.mark.parametrize(("model", "prefix"), [("processes", "proc-"), ("mn", "mn-")])
def test_process_models_run_one_process_per_worker(model: str, prefix: str) -> None:
    frames, result = run(model=model, cpu_share=0.5, task_ms=10, concurrency=8, workers=2)
    last = frames[-1]
    workers = [p for p in last.processes if p.name.startswith(prefix) and p.role == "worker"]
    assert len(workers) == 2, [p.name for p in last.processes]
    assert result["processes_peak"] >= 3


def test_python_cpu_on_a_pool_shows_inferred_gil_wait() -> None:
    _, result = run(model="pool", cpu_share=1.0, task_ms=10, concurrency=16, workers=4)
    assert result["shares"]["gil_wait"] is not None
    assert result["shares"]["gil_wait"] > 0.2


def test_per_thread_switches_agree_with_the_kernels_status_totals() -> None:
    frames: list[Frame] = []
    session = LabSession(
        LabConfig.validated(model="pool", cpu_share=0.3, task_ms=5, concurrency=16, workers=4),
        on_frame=frames.append,
    )
    session.start()
    try:
        assert wait_until(lambda: len(frames) >= 10, timeout=10)
        frame = frames[-1]
        status_total = 0
        for t in frame.threads:
            path = f"/proc/{t.pid}/task/{t.tid}/status"
            with open(path, encoding="utf-8") as fh:
                fields = dict(line.split(":", 1) for line in fh if "ctxt" in line)
            status_total += int(fields["voluntary_ctxt_switches"]) + int(
                fields["nonvoluntary_ctxt_switches"]
            )
        sampled = sum(t.switches for t in frame.threads)
        # status is read a little after the sample; the lab keeps switching meanwhile
        assert sampled <= status_total <= sampled * 1.15 + 200
    finally:
        session.stop()


def test_live_changes_apply_and_a_model_change_starts_a_new_lab() -> None:
    frames: list[Frame] = []
    session = LabSession(
        LabConfig.validated(model="asyncio", cpu_share=0.0), on_frame=frames.append
    )
    session.start()
    try:
        first_pid = session.lab_pid
        assert wait_until(lambda: any(f.app for f in frames), timeout=10)
        session.apply(cpu_share=0.5, concurrency=4)
        assert wait_until(
            lambda: any(f.app and f.app.generation >= 1 for f in frames[-5:]), timeout=5
        )
        assert any("applied: cpu-share 0.5" in e for f in frames for e in f.events)
        session.apply(model="pool")
        assert session.lab_pid != first_pid
        assert wait_until(
            lambda: frames[-1].lab_index == 2 and frames[-1].model == "pool", timeout=5
        )
        assert gone({first_pid} if first_pid else set())
    finally:
        session.stop()


def test_a_killed_lab_is_reported() -> None:
    frames: list[Frame] = []
    session = LabSession(LabConfig.validated(model="threads"), on_frame=frames.append)
    session.start()
    try:
        pid = session.lab_pid
        assert pid is not None
        assert wait_until(lambda: len(frames) >= 2, timeout=10)
        os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: not frames[-1].lab_alive, timeout=2)
        assert any("died" in e for f in frames for e in f.events)
        session.restart()
        assert wait_until(lambda: frames[-1].lab_alive and frames[-1].lab_index == 2, timeout=5)
    finally:
        session.stop()


def test_nothing_survives_a_bench_run() -> None:
    plan = BenchPlan(LabConfig(), ["threads", "processes"], [0.5], [8], seconds=0.5, warmup=0.2)
    report = run_bench(plan)
    assert len(report["results"]) == 2
    # the no_leaks fixture checks that no lab or IO server is left


def test_nothing_survives_a_sigkilled_observer(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from workloads.config import LabConfig
        from workloads.session import LabSession
        frames = []
        s = LabSession(LabConfig.validated(model="mn", workers=2), on_frame=frames.append)
        s.start()
        while len(frames) < 5:
            time.sleep(0.05)
        pids = set(s._sampler.pids) | {s.lab.io_server_pid}
        print(" ".join(map(str, pids)), flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        pids = {int(p) for p in proc.stdout.readline().split()}
        assert len(pids) >= 4  # lab, two workers, IO server
        proc.kill()
        proc.wait(5)
        assert wait_until(lambda: gone(pids), timeout=2.0), "the lab tree outlived its observer"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def test_cli_bench_json_schema(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "bench",
            "--model",
            "asyncio,threads",
            "--cpu-share",
            "0",
            "--concurrency",
            "8",
            "--seconds",
            "0.6",
            "--warmup",
            "0.2",
            "--format",
            "json",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["schema"] == 1
    assert report["machine"]["cores"] >= 1
    keys = {
        "model",
        "cpu_share",
        "concurrency",
        "throughput_per_s",
        "latency_ms",
        "cpu_percent",
        "ctx_switches_per_s",
        "switches_per_task",
        "threads_peak",
        "processes_peak",
        "rss_mib_peak",
        "shares",
        "loop",
        "backlog_max",
        "tasks_completed",
        "errors",
    }
    by_model = {r["model"]: r for r in report["results"]}
    for result in by_model.values():
        assert keys <= result.keys()
        assert set(result["latency_ms"]) == {"p50", "p95", "p99"}
        assert set(result["shares"]) == {"executing", "runnable", "waiting", "gil_wait"}
        assert set(result["ctx_switches_per_s"]) == {"voluntary", "involuntary"}
    assert by_model["threads"]["loop"] is None
    assert set(by_model["asyncio"]["loop"]) == {"lag_ms_p99", "lag_ms_max", "ready_queue_max"}


def test_cli_record_writes_a_readable_recording(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "record",
            "--model",
            "pool",
            "--seconds",
            "1",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    recording = read_recording(out)
    assert recording.header["config"]["model"] == "pool"
    assert "cores" in recording.header["machine"]
    assert len(recording.frames) >= 5
    assert recording.frames[-1].app is not None


def test_a_paused_session_stops_sampling_but_reports_a_dead_lab() -> None:
    frames: list[Frame] = []
    session = LabSession(
        LabConfig.validated(model="asyncio", concurrency=4), on_frame=frames.append
    )
    session.start()
    try:
        assert wait_until(lambda: len(frames) >= 3, timeout=10)
        session.pause(True)
        time.sleep(0.2)  # a tick already under way may still land
        paused_at = len(frames)
        time.sleep(1.5)  # counting frames over a span of time is the point here
        assert len(frames) == paused_at  # nothing sampled while paused
        lab_pid = session.lab_pid
        assert lab_pid is not None
        os.kill(lab_pid, signal.SIGKILL)
        assert wait_until(lambda: len(frames) > paused_at, timeout=3)
        dead = frames[paused_at]
        assert not dead.lab_alive
        assert any("died" in e for e in dead.events), dead.events
        time.sleep(0.5)
        assert len(frames) == paused_at + 1  # the news once, then quiet again
        session.pause(False)
        resumed_at = len(frames)
        assert wait_until(lambda: len(frames) - resumed_at >= 5, timeout=3)
    finally:
        session.stop()


def test_facts_lines_carry_the_prefix_the_observer_recognises() -> None:
    """The reader keeps facts lines unparsed by their prefix: labmain must write it."""
    stream = io.StringIO()
    _Out(stream).send({"type": "facts", "t": 1.0, "phases": {"7": "cpu"}})
    assert stream.getvalue().encode().startswith(FACTS_PREFIX)
