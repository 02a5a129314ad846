"""Chrome trace export: the shape Perfetto expects, exact merging, None respected."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.tui.factories import make_app_facts, make_frame, make_loop, make_thread
from workloads.config import LabConfig
from workloads.frames import Frame, ProcessSample, ThreadSample
from workloads.perfetto import COUNTERS_PID, TraceWriter, to_chrome_trace, write_chrome_trace
from workloads.recording import Recording, read_recording

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = sorted((ROOT / "recordings").glob("*.jsonl"))
HEADER = {"config": LabConfig().to_dict(), "machine": {"cores": 2, "cpu": "test"}}


def recording(frames: list[Frame]) -> Recording:
    return Recording(path="test.jsonl", header=HEADER, frames=tuple(frames))


def events(trace: dict[str, Any], ph: str) -> list[dict[str, Any]]:
    return [e for e in trace["traceEvents"] if e["ph"] == ph]


def slices(trace: dict[str, Any], tid: int) -> list[tuple[str, int, int]]:
    return [(e["name"], e["ts"], e["dur"]) for e in events(trace, "X") if e["tid"] == tid]


def counters(trace: dict[str, Any], name: str) -> list[tuple[int, dict[str, Any]]]:
    return [(e["ts"], e["args"]) for e in events(trace, "C") if e["name"] == name]


def check_well_formed(trace: dict[str, Any]) -> None:
    """The invariants every export must hold, whatever the frames were."""
    assert list(trace) == ["displayTimeUnit", "traceEvents", "otherData"]
    json.dumps(trace, allow_nan=False)
    thread_names = {(e["pid"], e["tid"]) for e in events(trace, "M") if e["name"] == "thread_name"}
    process_names = {e["pid"] for e in events(trace, "M") if e["name"] == "process_name"}
    per_thread: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for e in events(trace, "X"):
        assert isinstance(e["ts"], int) and isinstance(e["dur"], int)
        assert e["ts"] >= 0 and e["dur"] > 0, e
        assert (e["pid"], e["tid"]) in thread_names, e
        assert e["pid"] in process_names, e
        per_thread[(e["pid"], e["tid"])].append(e)
    for track in per_thread.values():
        starts = [e["ts"] for e in track]
        assert starts == sorted(starts)
        for a, b in itertools.pairwise(track):
            assert a["ts"] + a["dur"] <= b["ts"], (a, b)
    for e in events(trace, "C"):
        assert e["pid"] in process_names
        assert e["args"] and all(math.isfinite(v) for v in e["args"].values())
    for e in events(trace, "i"):
        assert e["s"] == "g"


# -- the committed recordings -----------------------------------------------------------


def test_every_model_has_a_recording() -> None:
    assert len(RECORDINGS) >= 7


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_recordings_export_well_formed(path: Path, tmp_path: Path) -> None:
    rec = read_recording(path)
    trace = to_chrome_trace(rec)
    check_well_formed(trace)
    assert events(trace, "X"), "no thread slices"
    assert counters(trace, "context switches/s") and counters(trace, "cpu %")
    assert trace["otherData"]["machine"] == rec.header["machine"]
    assert trace["otherData"]["config"] == rec.header["config"]
    names = {e["args"]["name"] for e in events(trace, "M") if e["name"] == "process_name"}
    assert "ccviz counters" in names
    assert f"lab ({rec.frames[0].model})" in names
    if rec.frames[-1].app is not None and rec.frames[-1].app.loop is not None:
        assert counters(trace, "ready queue") and counters(trace, "loop lag")
    out = tmp_path / "trace.json"
    write_chrome_trace(rec, out)
    streamed = json.loads(out.read_text(encoding="utf-8"))
    check_well_formed(streamed)
    key = json.dumps
    assert sorted(map(key, streamed["traceEvents"])) == sorted(map(key, trace["traceEvents"]))
    assert list(tmp_path.iterdir()) == [out]


def test_slices_span_each_thread_from_first_to_last_sample() -> None:
    rec = read_recording(ROOT / "recordings" / "asyncio.jsonl")
    trace = to_chrome_trace(rec)
    first, last = rec.frames[0], rec.frames[-1]
    end = round((last.t - first.t) * 1e6)
    for sample in first.threads:
        track = slices(trace, sample.tid)
        assert track[0][1] == 0
        assert track[-1][1] + track[-1][2] == end
        assert sum(dur for _, _, dur in track) == end  # no gaps either


# -- hand-built frames: exact merging ---------------------------------------------------

LAB = 1000


def frame(seq: int, *threads: ThreadSample, **changes: Any) -> Frame:
    """Frame `seq` at t = seq/10 s covering the 0.1 s before it (seq 1 has dt = 0)."""
    changes.setdefault("dt", 0.0 if seq == 1 else 0.1)
    return make_frame(seq, threads=threads, **changes)


def ex(tid: int = LAB, pid: int = LAB, **kw: Any) -> ThreadSample:
    return make_thread(tid, pid=pid, executing=0.9, runnable=0.05, **kw)


def rq(tid: int = LAB, pid: int = LAB, **kw: Any) -> ThreadSample:
    return make_thread(tid, pid=pid, executing=0.2, runnable=0.7, **kw)


def wt(tid: int = LAB, pid: int = LAB, **kw: Any) -> ThreadSample:
    return make_thread(tid, pid=pid, executing=0.1, runnable=0.0, **kw)


def gil(tid: int = LAB, pid: int = LAB, **kw: Any) -> ThreadSample:
    return make_thread(tid, pid=pid, executing=0.0, runnable=0.1, gil_wait=0.85, phase="cpu", **kw)


def new(sample: ThreadSample) -> ThreadSample:
    return sample._replace(executing=0.0, runnable=0.0, waiting=0.0, switches_per_s=0.0, new=True)


def test_consecutive_intervals_of_one_state_merge() -> None:
    frames = [
        frame(1, new(ex())),
        frame(2, ex()),
        frame(3, ex()),
        frame(4, rq(), new(wt(7))),
        frame(5, wt(), wt(7)),
        frame(6, wt(), wt(7)),
        frame(7, gil(), ex(7)),
        frame(8, ex()),  # thread 7 is gone
    ]
    trace = to_chrome_trace(recording(frames))
    check_well_formed(trace)
    assert slices(trace, LAB) == [
        ("Executing", 0, 200_000),
        ("Runnable", 200_000, 100_000),
        ("Waiting", 300_000, 200_000),
        ("GIL wait (inferred)", 500_000, 100_000),
        ("Executing", 600_000, 100_000),
    ]
    # Thread 7 first appears at 0.4 s (no measured interval yet) and ends at 0.6 s.
    assert slices(trace, 7) == [("Waiting", 300_000, 200_000), ("Executing", 500_000, 100_000)]
    merged = next(e for e in events(trace, "X") if e["tid"] == LAB)
    assert merged["args"] == {
        "executing": 0.9, "runnable": 0.05, "waiting": 0.05,
        "switches/s": 11.0, "samples": 2,
    }  # fmt: skip
    gil_slice = next(e for e in events(trace, "X") if e["name"] == "GIL wait (inferred)")
    assert gil_slice["args"]["gil_wait (inferred)"] == 0.85
    names = {
        (e["tid"], e["args"]["name"]) for e in events(trace, "M") if e["name"] == "thread_name"
    }
    assert names >= {(LAB, f"worker-{LAB}"), (7, "worker-7")}


def test_a_thread_seen_only_once_gets_no_slice_and_no_track() -> None:
    trace = to_chrome_trace(recording([frame(1, ex()), frame(2, ex(), new(ex(9))), frame(3, ex())]))
    check_well_formed(trace)
    assert slices(trace, 9) == []
    assert all(e["tid"] != 9 for e in events(trace, "M"))


def test_last_thread_and_process_names_win() -> None:
    def renamed(seq: int, name: str) -> Frame:
        proc = ProcessSample(LAB, 1, name, "worker", 1, 1 << 20, 10.0)
        return frame(seq, ex(name=name), processes=(proc,))

    trace = to_chrome_trace(
        recording([renamed(1, "python"), renamed(2, "python"), renamed(3, "proc-1")])
    )
    meta = {(e["name"], e["args"].get("name")) for e in events(trace, "M")}
    assert ("thread_name", "proc-1") in meta
    assert ("process_name", "proc-1 (worker, threads)") in meta
    assert ("thread_name", "python") not in meta


def test_none_is_left_out_never_written_as_zero() -> None:
    unknown = make_thread(LAB, pid=LAB, executing=0.9, runnable=None)
    frames = [
        frame(1, unknown),
        frame(2, unknown, voluntary_per_s=None, involuntary_per_s=None, app=None),
        frame(
            3, unknown, cpu_percent=math.nan, app=make_app_facts(loop=make_loop(lag_ms=math.inf))
        ),
    ]
    trace = to_chrome_trace(recording(frames))
    check_well_formed(trace)
    (only,) = events(trace, "X")
    assert "runnable" not in only["args"]
    assert counters(trace, "context switches/s") == [
        (0, {"total": 420.0}),
        (100_000, {"voluntary": 400.0, "involuntary": 20.0, "total": 420.0}),
    ]
    assert counters(trace, "cpu %") == [
        (0, {"lab": 50.0, "observer": 2.5}),
        (100_000, {"observer": 2.5}),
    ]
    assert counters(trace, "throughput") == [(100_000, {"tasks/s": 150.0})]
    assert counters(trace, "in flight") == [(100_000, {"tasks": 10})]
    assert counters(trace, "ready queue") == [(100_000, {"depth": 3, "max": 5})]
    assert counters(trace, "loop lag") == []


def test_no_interval_no_garbage() -> None:
    """dt == 0, a dead lab and time going backwards add no slices or counters."""
    frames = [
        frame(1, ex()),
        frame(2, ex()),  # [0, 0.1 s]
        frame(3, ex(), dt=0.0),
        frame(4, ex(), lab_alive=False, events=("lab 1 (pid 1000) died",)),  # ends the thread
        frame(5, ex(), dt=-0.1),  # the thread is back, nothing measured yet
        frame(6, ex(), t=0.45),  # backwards in time
        frame(7, ex(), dt=math.nan),
        frame(8, ex()),  # [0.6 s, 0.7 s] after the first frame
        frame(9, ex(), t=math.nan),
    ]
    trace = to_chrome_trace(recording(frames))
    check_well_formed(trace)
    assert slices(trace, LAB) == [("Executing", 0, 100_000), ("Executing", 600_000, 100_000)]
    assert [ts for ts, _ in counters(trace, "cpu %")] == [0, 600_000]
    assert [e["name"] for e in events(trace, "i")] == ["lab 1 (pid 1000) died"]
    assert trace["otherData"]["frames"] == 8


def test_lab_restarts_and_config_changes_are_marked() -> None:
    pool = LabConfig(model="pool")
    frames = [
        frame(1, ex(), events=("lab 1 started: threads (pid 1000)",)),
        frame(2, ex()),
        frame(3, ex(), config=LabConfig(cpu_share=0.8)),
        frame(4, ex(2000, pid=2000), lab_index=2, lab_pid=2000, config=pool),
        frame(5, ex(2000, pid=2000), lab_index=2, lab_pid=2000, config=pool),
    ]
    trace = to_chrome_trace(recording(frames))
    check_well_formed(trace)
    marks = [(e["ts"], e["name"]) for e in events(trace, "i")]
    assert marks[0] == (0, "lab 1 started: threads (pid 1000)")
    assert marks[1][0] == 200_000 and marks[1][1].startswith("config: cpu-share")
    assert marks[2] == (300_000, "lab 2 started: pool (pid 2000)")
    names = {e["args"]["name"] for e in events(trace, "M") if e["name"] == "process_name"}
    assert {"lab 1 (threads)", "lab 2 (pool)", "ccviz counters"} <= names
    assert all(e["pid"] == COUNTERS_PID for e in events(trace, "i") + events(trace, "C"))


# -- streaming ----------------------------------------------------------------------------


def test_writer_streams_from_another_thread(tmp_path: Path) -> None:
    out = tmp_path / "live.json"
    frames = [frame(1, new(ex())), *(frame(seq, ex() if seq % 3 else wt()) for seq in range(2, 40))]
    writer = TraceWriter(out, HEADER)

    def feed() -> None:
        for f in frames:
            writer.add(f)

    feeder = threading.Thread(target=feed)
    feeder.start()
    feeder.join(timeout=10)
    assert not out.exists()  # only moved into place on close
    writer.close()
    writer.close()
    writer.add(frame(41, ex()))  # ignored after close
    trace = json.loads(out.read_text(encoding="utf-8"))
    check_well_formed(trace)
    expected = to_chrome_trace(recording(frames))
    assert trace["otherData"] == expected["otherData"]
    key = json.dumps
    assert sorted(map(key, trace["traceEvents"])) == sorted(map(key, expected["traceEvents"]))
    assert writer.frames == len(frames)
    assert list(tmp_path.iterdir()) == [out]


def test_writer_failure_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "broken.json"
    with pytest.raises(RuntimeError), TraceWriter(out, HEADER) as writer:
        writer.add(frame(1, ex()))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_export_imports_neither_textual_nor_rich() -> None:
    code = (
        "import sys, workloads.perfetto\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'tui')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, "[]"), out.stderr


def test_a_disk_error_never_reaches_the_sampler_and_surfaces_on_close(tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "full.json", HEADER)

    def no_space(text: str) -> int:
        raise OSError(28, "No space left on device")

    writer._file.write = no_space  # type: ignore[method-assign]
    for seq in range(1, 5):
        writer.add(frame(seq, ex()))  # must not raise in the sampler thread
    with pytest.raises(OSError, match="No space"):
        writer.close()
    assert list(tmp_path.iterdir()) == []
