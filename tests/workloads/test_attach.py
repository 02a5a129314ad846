"""`ccviz attach`'s session: fake /proc trees (hermetic), bad pids, and real example programs."""

from __future__ import annotations

import errno
import os
import select
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import wait_until
from tests.tui.factories import make_frame, make_thread
from tests.workloads.fakeproc import FakeProc
from workloads import attach
from workloads.attach import (
    ATTACH_MODEL,
    AttachError,
    AttachSession,
    attach_verdict,
    inspect_target,
    parse_pid,
)
from workloads.config import ConfigError
from workloads.examples import example_path
from workloads.frames import Frame

pytestmark = pytest.mark.timeout(30)

MS = 1_000_000  # ns
PID = 4242


class Frames:
    """Collects frames from the sampler thread; read them from the test thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frames: list[Frame] = []

    def __call__(self, frame: Frame) -> None:
        with self._lock:
            self._frames.append(frame)

    @property
    def all(self) -> list[Frame]:
        with self._lock:
            return list(self._frames)

    def first(self, predicate: Callable[[Frame], bool], timeout: float = 10.0) -> Frame:
        found: list[Frame] = []

        def check() -> bool:
            found[:] = [f for f in self.all if predicate(f)]
            return bool(found)

        assert wait_until(check, timeout=timeout), f"no such frame among {len(self.all)}"
        return found[0]


@pytest.fixture
def fake(tmp_path: Path) -> FakeProc:
    f = FakeProc(tmp_path / "proc")
    f.add_process(PID, name="server", cpu_ns=5 * MS, slices=10, vol=8, invol=2)
    f.add_thread(PID, PID + 1, name="libuv-worker", cpu_ns=MS, slices=4, vol=3, invol=1)
    f.add_thread(PID, PID + 2, name="libuv-worker", cpu_ns=MS, slices=4, vol=3, invol=1)
    (f.root / str(PID) / "cmdline").write_bytes(b"node\0server.js\0--port\0" + b"0\0")
    return f


@pytest.fixture
def session(fake: FakeProc) -> Iterator[tuple[AttachSession, Frames]]:
    frames = Frames()
    s = AttachSession(PID, on_frame=frames, hz=50.0, proc_root=fake.path)
    yield s, frames
    s.stop()


# -- hermetic: a fake /proc tree -----------------------------------------------------


def test_attach_to_a_fake_tree_yields_frames_with_its_threads(
    session: tuple[AttachSession, Frames], fake: FakeProc
) -> None:
    s, frames = session
    target = s.start()
    assert (target.pid, target.name, target.cmdline) == (PID, "server", "node server.js --port 0")
    fake.bump(PID + 1, cpu_ns=3 * MS, slices=2)
    frame = frames.first(lambda f: len(f.threads) == 3 and f.seq >= 2)
    assert frame.app is None and frame.lab_alive and frame.lab_pid == PID
    assert frame.config["model"] == ATTACH_MODEL and frame.model == "attach"
    assert frame.config["pid"] == PID and frame.config["cmdline"] == "node server.js --port 0"
    assert sorted(t.name for t in frame.threads) == ["libuv-worker", "libuv-worker", "server"]
    first = frames.all[0]
    assert any("attached to pid 4242: node server.js" in e for e in first.events)


def test_an_exiting_target_is_reported_once_and_sampling_ends(
    session: tuple[AttachSession, Frames], fake: FakeProc
) -> None:
    s, frames = session
    s.start()
    frames.first(lambda f: f.seq >= 2)
    fake.remove_process(PID)
    dead = frames.first(lambda f: not f.lab_alive)
    assert any("pid 4242 (server) exited" in e for e in dead.events)
    assert wait_until(lambda: not s.alive and s._thread is not None and not s._thread.is_alive())
    assert [f for f in frames.all if not f.lab_alive] == [dead]  # one frame says so, then quiet


def test_stop_is_idempotent_and_never_touches_the_target(
    session: tuple[AttachSession, Frames], fake: FakeProc
) -> None:
    s, frames = session
    s.start()
    frames.first(lambda f: f.seq >= 1)
    s.stop()
    s.stop()
    assert (fake.root / str(PID) / "stat").read_bytes()  # still "running"


# -- bad pids ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, "abc", "", "1.5", True, None, 2.0])
def test_pids_that_are_not_positive_integers_are_refused(bad: object) -> None:
    with pytest.raises(AttachError, match=r"^pid .*: not a positive integer$"):
        parse_pid(bad)


def test_parse_pid_accepts_ints_and_decimal_strings() -> None:
    assert parse_pid(17) == 17 and parse_pid(" 42 ") == 42


def test_a_missing_pid_is_no_such_process(fake: FakeProc) -> None:
    with pytest.raises(AttachError, match=r"^pid 999999: no such process$"):
        inspect_target(999999, proc_root=fake.path)


def test_ccviz_itself_is_refused(fake: FakeProc) -> None:
    fake.add_process(os.getpid(), name="ccviz")
    with pytest.raises(AttachError, match="that is ccviz itself"):
        inspect_target(os.getpid(), proc_root=fake.path)


def test_a_zombie_is_refused(fake: FakeProc) -> None:
    fake.add_process(77, name="defunct", state="Z")
    with pytest.raises(AttachError, match=r"^pid 77: has exited"):
        inspect_target(77, proc_root=fake.path)


def test_a_thread_id_names_its_process(fake: FakeProc) -> None:
    os.symlink(fake.root / str(PID), fake.root / str(PID + 1))  # /proc/<tid> exists too
    with pytest.raises(AttachError, match=r"^pid 4243: is a thread of process 4242"):
        inspect_target(PID + 1, proc_root=fake.path)


def test_an_unreadable_task_directory_says_permission_denied(
    fake: FakeProc, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root reads everything, so the kernel's EACCES (hidepid, another user) is faked.
    real = os.listdir
    task = f"{fake.path}/{PID}/task"

    def listdir(path: str) -> list[str]:
        if str(path) == task:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "listdir", listdir)
    with pytest.raises(AttachError) as info:
        AttachSession(PID, on_frame=lambda f: None, proc_root=fake.path).start()
    assert str(info.value) == f"pid {PID}: cannot read {task}: permission denied"
    assert isinstance(info.value, ConfigError)  # so the CLI exits 2


def test_an_unreadable_schedstat_says_permission_denied(
    fake: FakeProc, monkeypatch: pytest.MonkeyPatch
) -> None:
    schedstat = f"{fake.path}/{PID}/task/{PID}/schedstat"

    def fake_open(path: str, mode: str = "r") -> IO[bytes]:
        if str(path) == schedstat:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return open(path, "rb")

    # Only the attach module's `open` (its validation reads) is replaced.
    monkeypatch.setattr(attach, "open", fake_open, raising=False)
    with pytest.raises(
        AttachError, match=r"^pid 4242: cannot read .*/schedstat: permission denied"
    ):
        inspect_target(PID, proc_root=fake.path)


def test_a_bad_rate_is_refused_with_the_flag() -> None:
    with pytest.raises(AttachError, match=r"^--hz: "):
        AttachSession(1, on_frame=lambda f: None, hz=500.0)


# -- the verdict line ----------------------------------------------------------------


def _attached(seq: int, **changes: Any) -> Frame:
    config = {"model": ATTACH_MODEL, "pid": 7, "name": "node", "cmdline": "node x.js", "hz": 10.0}
    return replace(make_frame(seq, app=None, lab_pid=7, **changes), config=config)


def test_the_verdict_names_an_exited_process_and_never_gives_lab_advice() -> None:
    dead = _attached(3, lab_alive=False)
    found = attach_verdict(dead)
    assert found.rule == "attach-exited" and "pid 7 (node) has exited" in found.text
    assert found.key_hint is None


def test_the_verdict_points_at_one_saturated_thread() -> None:
    from workloads.history import FrameHistory

    history = FrameHistory()
    loop = make_thread(7, pid=7, name="node-loop", executing=0.95, runnable=0.0)
    idle = make_thread(8, pid=7, name="libuv-worker", executing=0.0)
    for seq in range(1, 6):
        history.append(_attached(seq, threads=(loop, idle), cpu_percent=95.0))
    latest = history.latest
    assert latest is not None
    found = attach_verdict(latest, history, cores=2)
    assert found.rule == "attach-one-thread" and "node-loop (7)" in found.text


# -- live: the example programs ------------------------------------------------------


def _start(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """An example in its own session; its stdin is a pipe, so closing it ends the program."""
    return subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env=env,
    )


def _first_line(proc: subprocess.Popen[str], timeout: float = 15.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the example printed nothing"
    return proc.stdout.readline()


def _finish(proc: subprocess.Popen[str]) -> None:
    """Close its stdin (it exits by itself), kill it by pid if it does not."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    finally:
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.live
def test_attach_to_the_python_example_sees_its_named_threads() -> None:
    demo = example_path("py_threads_demo.py")
    proc = _start([sys.executable, str(demo), "--seconds", "60"])
    frames = Frames()
    session = AttachSession(proc.pid, on_frame=frames, hz=20.0)
    try:
        assert f"pid {proc.pid}" in _first_line(proc)
        session.start()
        wanted = {"demo-cpu", "demo-hash", "demo-tick", "demo-io-1", "demo-io-2", "demo-io-3"}
        frame = frames.first(lambda f: wanted <= {t.name for t in f.threads})
        assert frame.app is None and frame.lab_alive and frame.config["pid"] == proc.pid
        assert "py_threads_demo.py" in frame.config["cmdline"]
        busy = frames.first(lambda f: f.cpu_percent > 10 and f.voluntary_per_s is not None)
        assert busy.switches_per_s > 0
        assert proc.stdin is not None
        proc.stdin.close()  # the example ends: the session says so and stops
        dead = frames.first(lambda f: not f.lab_alive)
        assert any(f"pid {proc.pid}" in e and "exited" in e for e in dead.events)
    finally:
        session.stop()
        _finish(proc)


@pytest.mark.live
def test_attach_to_the_node_example_sees_the_loop_and_the_libuv_pool() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    env = {**os.environ, "UV_THREADPOOL_SIZE": "4"}
    proc = _start([node, str(example_path("node_loop_pool.js")), "--seconds", "60"], env)
    frames = Frames()
    session = AttachSession(proc.pid, on_frame=frames, hz=20.0)
    try:
        line = _first_line(proc)
        assert "listening on 127.0.0.1:" in line
        session.start()

        def pool_and_loop(f: Frame) -> bool:
            names = [t.name for t in f.threads]
            return names.count("libuv-worker") >= 4 and "node-loop" in names

        frame = frames.first(pool_and_loop, timeout=15)
        assert len(frame.threads) > 5
        loop = next(t for t in frame.threads if t.name == "node-loop")
        assert loop.tid == proc.pid  # the event loop is the main thread
        assert frame.app is None and frame.config["name"] in ("node", "node-loop")
        worked = frames.first(
            lambda f: any(t.name == "libuv-worker" and t.cpu_ns > 0 for t in f.threads)
        )
        assert worked.lab_alive
    finally:
        session.stop()
        _finish(proc)


def test_attach_imports_neither_textual_nor_rich() -> None:
    code = (
        "import sys, workloads.attach, workloads.examples\n"
        "print(','.join(sorted(m for m in sys.modules\n"
        "      if m.split('.')[0] in ('textual', 'rich', 'tui'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
