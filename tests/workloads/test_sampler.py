"""ProcSampler on fake /proc trees (hermetic) and on a real child process (live)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.workloads.fakeproc import FakeProc
from workloads import procfs
from workloads import sampler as sampler_module
from workloads.frames import ThreadSample
from workloads.procfs import ProcessGone
from workloads.sampler import KernelView, ProcSampler

MS = 1_000_000  # ns


@pytest.fixture(autouse=True, params=["C", "Python"])
def hot_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs with each hot loop: the C one (if built) and the Python one."""
    if request.param == "C":
        if sampler_module._HOTLOOP is None:
            pytest.skip("the C hot loop is not built (or CCVIZ_PURE_PYTHON is set)")
        monkeypatch.setattr(ProcSampler, "_scan", ProcSampler._scan_threads_c)
    else:
        monkeypatch.setattr(ProcSampler, "_scan", ProcSampler._scan_threads)
    return str(request.param)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def fake(tmp_path: Path) -> FakeProc:
    f = FakeProc(tmp_path / "proc")
    f.add_process(100, name="lab", cpu_ns=5 * MS, slices=10, vol=8, invol=2, utime=1)
    f.add_thread(100, 101, name="a) b (c", cpu_ns=MS, slices=4, vol=3, invol=1)
    return f


@pytest.fixture
def clock() -> Clock:
    return Clock()


Make = Callable[..., ProcSampler]


@pytest.fixture
def make(fake: FakeProc, clock: Clock) -> Iterator[Make]:
    """Samplers on the fake tree rooted at pid 100, closed after the test."""
    made: list[ProcSampler] = []

    def factory(**kw: float) -> ProcSampler:
        s = ProcSampler(100, proc_root=fake.path, clock=clock, **kw)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.close()


def by_tid(view: KernelView) -> dict[int, ThreadSample]:
    return {t.tid: t for t in view.threads}


def step(
    s: ProcSampler, clock: Clock, dt: float = 0.1, phases: dict[int, str] | None = None
) -> KernelView:
    clock.t += dt
    return s.sample(phases)


def test_first_sample_names_threads_and_marks_them_new(make: Make, fake: FakeProc) -> None:
    view = make().sample()
    assert view.dt == 0.0 and view.root_alive
    t = by_tid(view)
    assert t[101].name == "a) b (c" and t[101].state_letter == "S"
    assert t[101].new and t[101].executing == 0.0 and t[101].switches_per_s == 0.0
    assert (t[101].cpu_ns, t[101].runq_ns, t[101].switches) == (MS, 0, 4)
    assert (t[101].voluntary, t[101].involuntary) == (3, 1)
    assert view.switches_total == 14 and view.threads_seen == 2
    (proc,) = view.processes
    assert (proc.pid, proc.ppid, proc.name, proc.role, proc.threads) == (100, 1, "lab", "lab", 2)
    assert proc.rss_bytes == 100 * procfs.PAGE_SIZE
    assert view.fidelity == {"schedstat": True, "runnable": True, "status": True}


def test_shares_from_deltas_over_the_injected_clock(
    make: Make, fake: FakeProc, clock: Clock
) -> None:
    s = make()
    s.sample()
    fake.bump(101, cpu_ns=50 * MS, runq_ns=20 * MS, slices=5)
    view = step(s, clock, 0.1)
    t = by_tid(view)[101]
    assert not t.new
    assert t.executing == pytest.approx(0.5)
    assert t.runnable == pytest.approx(0.2)
    assert t.waiting == pytest.approx(0.3)
    assert t.switches_per_s == pytest.approx(50.0)
    assert view.cpu_percent == pytest.approx(50.0)
    assert view.processes[0].cpu_percent == pytest.approx(50.0)
    assert view.switches_per_s == pytest.approx(50.0)
    assert view.switches_total == 19
    assert view.threads[0].tid == 101  # busiest first


def test_shares_are_clamped(make: Make, fake: FakeProc, clock: Clock) -> None:
    s = make()
    s.sample()
    fake.bump(101, cpu_ns=300 * MS, runq_ns=300 * MS, slices=1)
    t = by_tid(step(s, clock, 0.1))[101]
    assert t.executing == 1.0 and t.runnable == 1.0 and t.waiting == 0.0


def test_idle_thread_reuses_its_sample(make: Make, fake: FakeProc, clock: Clock) -> None:
    s = make()
    s.sample()
    step(s, clock)
    a = by_tid(step(s, clock))[101]
    b = by_tid(step(s, clock))[101]
    assert a is b and a.waiting == 1.0 and a.executing == 0.0


def test_vanished_thread_is_dropped_and_keeps_its_switches(
    make: Make, fake: FakeProc, clock: Clock
) -> None:
    s = make()
    s.sample()
    fake.bump(101, slices=6)
    assert step(s, clock).switches_total == 20
    fake.remove_thread(101)
    view = step(s, clock)
    assert set(by_tid(view)) == {100}
    assert view.switches_total == 20 and view.root_alive
    assert view.processes[0].threads == 1


def test_thread_listed_but_gone_before_its_read_is_skipped(
    make: Make, fake: FakeProc, clock: Clock
) -> None:
    fake.ghost_thread(100, 102)  # in the listing, no files left
    s = make()
    view = s.sample()
    assert set(by_tid(view)) == {100, 101}
    fake.add_thread(100, 103)  # the count changes: listed again, ghost still skipped
    assert set(by_tid(step(s, clock))) == {100, 101, 103}


def test_new_thread_is_discovered_when_the_count_changes(
    make: Make, fake: FakeProc, clock: Clock
) -> None:
    s = make()
    s.sample()
    fake.add_thread(100, 105, name="late", slices=2)
    view = step(s, clock)
    t = by_tid(view)[105]
    assert t.new and t.name == "late"
    assert view.switches_total == 16
    assert [x.tid for x in view.threads] == [100, 101, 105]  # idle ones by tid
    assert not by_tid(step(s, clock))[105].new


def test_tid_reuse_with_new_start_time_is_a_new_thread(
    make: Make, fake: FakeProc, clock: Clock
) -> None:
    s = make()
    s.sample()
    fake.bump(101, cpu_ns=40 * MS, slices=20)
    step(s, clock)
    fake.reuse_tid(101, start=5000, name="reborn", cpu_ns=2 * MS, slices=1)
    view = step(s, clock)
    t = by_tid(view)[101]
    assert t.new and t.name == "reborn" and t.cpu_ns == 2 * MS
    assert t.executing == 0.0 and t.switches_per_s == 0.0
    assert view.switches_total == 10 + 24 + 1  # the old thread's total is kept
    fake.bump(101, cpu_ns=10 * MS, slices=1)
    t = by_tid(step(s, clock))[101]
    assert t.executing == pytest.approx(0.1) and t.switches_per_s == pytest.approx(10.0)


def test_tid_reuse_is_caught_when_reading_by_path(
    make: Make, fake: FakeProc, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No fds to hold: every read goes by path, so a reused tid reads the new
    # thread's file; the counters going back reveal it.
    monkeypatch.setattr(procfs, "raise_fd_limit", lambda: procfs.FD_RESERVE + 1)
    s = make()
    s.sample()
    fake.bump(101, cpu_ns=40 * MS, slices=20)
    step(s, clock)
    th = fake.threads[101]
    th.start, th.cpu_ns, th.slices = 5000, 2 * MS, 1
    fake.update(101)  # rewritten in place: no exit is visible, only the counters
    view = step(s, clock)
    t = by_tid(view)[101]
    assert t.new and t.cpu_ns == 2 * MS and t.executing == 0.0
    assert view.switches_total == 10 + 24 + 1


def test_thread_vanishing_mid_scan(
    make: Make, fake: FakeProc, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = make()
    s.sample()
    fake.bump(101, slices=2)
    real = procfs.pread

    def pread_then_remove(fd: int, size: int = 4096) -> bytes:
        data = real(fd, size)
        if 101 in fake.threads:
            fake.remove_thread(101)  # exits right after the scan read the main thread
        return data

    monkeypatch.setattr(procfs, "pread", pread_then_remove)
    view = step(s, clock)
    assert set(by_tid(view)) == {100} and view.root_alive
    assert view.switches_total == 14  # its last known count is kept


def test_missing_schedstat_falls_back_to_stat_ticks(tmp_path: Path, clock: Clock) -> None:
    fake = FakeProc(tmp_path)
    fake.add_process(100, schedstat=False, utime=10, stime=5, vol=7, invol=3)
    with ProcSampler(100, proc_root=fake.path, clock=clock, status_interval=0.0) as s:
        view = s.sample()
        t = by_tid(view)[100]
        tick = 1_000_000_000 // procfs.CLK_TCK
        assert t.cpu_ns == 15 * tick and t.runq_ns is None and t.runnable is None
        assert t.switches == 10
        assert view.fidelity == {"schedstat": False, "runnable": False, "status": True}
        fake.bump(100, utime=procfs.CLK_TCK // 20, vol=4)  # 50 ms of CPU
        t = by_tid(step(s, clock, 0.1))[100]
        assert t.executing == pytest.approx(0.5) and t.runnable is None
        assert t.waiting == pytest.approx(0.5) and t.switches == 14


def test_zero_schedstat_for_a_thread_that_ran_falls_back(tmp_path: Path, clock: Clock) -> None:
    fake = FakeProc(tmp_path)
    fake.add_process(100, utime=20, stime=0, cpu_ns=0, runq_ns=0, slices=0, vol=5)
    with ProcSampler(100, proc_root=fake.path, clock=clock) as s:
        view = s.sample()
        t = by_tid(view)[100]
        assert t.runnable is None and t.cpu_ns > 0 and t.switches == 5
        assert view.fidelity["schedstat"] is False and view.fidelity["runnable"] is False


def test_fallback_converts_threads_already_tracked(
    make: Make, fake: FakeProc, clock: Clock
) -> None:
    s = make()
    s.sample()
    fake.add_thread(100, 102, schedstat=False, utime=3)
    view = step(s, clock)
    view = step(s, clock)
    assert all(t.runnable is None for t in view.threads)
    assert view.fidelity["schedstat"] is False


def test_gil_wait_rule(make: Make, fake: FakeProc, clock: Clock) -> None:
    for tid in (102, 103, 104):
        fake.add_thread(100, tid)
    s = make()
    s.sample()
    fake.bump(101, cpu_ns=5 * MS, slices=1)  # waiting 0.95
    fake.bump(102, cpu_ns=80 * MS, slices=1)  # waiting 0.2
    phases = {101: "cpu", 102: "cpu", 103: "io"}
    t = by_tid(step(s, clock, phases=phases))
    assert t[101].gil_wait == pytest.approx(0.95) and t[101].phase == "cpu"
    assert t[102].gil_wait == 0.0
    assert t[103].gil_wait == 0.0 and t[103].phase == "io"
    assert t[104].gil_wait is None and t[104].phase is None
    t = by_tid(step(s, clock, phases={101: "io"}))  # phase changes refresh idle samples
    assert t[101].phase == "io" and t[101].gil_wait == 0.0 and t[103].phase is None


def test_status_is_read_less_often_and_rates_hold_between_reads(
    make: Make, fake: FakeProc, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = make(status_interval=1.0)
    s.sample()
    reads = _count_reads(monkeypatch, "/status")
    rates = []
    for _ in range(30):
        fake.bump(101, cpu_ns=MS, slices=3, vol=2, invol=1)
        rates.append(by_tid(step(s, clock))[101].voluntary_per_s)
    assert 2 <= sum(r.endswith("/101/status") for r in reads) <= 4  # 3 s at 1 Hz, not 30
    assert len(set(rates)) <= 5  # held between refreshes
    assert rates[-1] == pytest.approx(20.0)  # 2 per 0.1 s


def test_status_refreshes_are_staggered(
    make: Make, fake: FakeProc, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for tid in range(200, 240):
        fake.add_thread(100, tid)
    per_sample: list[int] = []
    s = make(status_interval=1.0)
    s.sample()
    reads = _count_reads(monkeypatch, "/status")
    for _ in range(20):
        for tid in range(200, 240):
            fake.bump(tid, cpu_ns=MS, slices=1, vol=1)
        before = len(reads)
        step(s, clock)
        per_sample.append(len(reads) - before)
    assert sum(per_sample) == pytest.approx(80, abs=8)  # 40 threads x 2 s
    assert max(per_sample) <= 10  # about 4 per sample, never all 40 at once


def test_tree_with_children_files_and_exclusions(tmp_path: Path) -> None:
    _tree_case(FakeProc(tmp_path, children_files=True))


def test_tree_without_children_files_scans_ppids(tmp_path: Path) -> None:
    _tree_case(FakeProc(tmp_path, children_files=False))


def _tree_case(fake: FakeProc) -> None:
    clock = Clock()
    fake.add_process(1, ppid=0, name="init")
    fake.add_process(100, ppid=1, name="lab")
    fake.add_thread(100, 101)
    fake.add_process(200, ppid=100, name="worker")
    fake.add_process(300, ppid=200, name="grandchild")
    fake.add_process(400, ppid=100, name="ioserver")
    fake.add_process(401, ppid=400, name="io-child")
    fake.add_process(500, ppid=1, name="unrelated")
    with ProcSampler(100, proc_root=fake.path, clock=clock, exclude_pids=lambda: {400}) as s:
        view = s.sample()
        assert s.pids == {100, 200, 300}
        assert [p.pid for p in view.processes] == [100, 200, 300]
        assert [p.role for p in view.processes] == ["lab", "worker", "worker"]
        assert {t.pid for t in view.threads} == {100, 200, 300}
        fake.add_process(600, ppid=100, name="late")
        assert 600 not in {p.pid for p in step(s, clock, 0.1).processes}  # not due yet
        assert 600 in {p.pid for p in step(s, clock, 0.5).processes}
        fake.remove_process(300)
        view = step(s, clock, 0.1)
        assert {p.pid for p in view.processes} == {100, 200, 600} and view.root_alive


def test_root_exit_and_zombie_end_the_view(make: Make, fake: FakeProc, clock: Clock) -> None:
    s = make()
    fake.bump(101, slices=1)
    s.sample()
    fake.update(100, state="Z")
    fake.remove_thread(101)
    view = step(s, clock)
    assert not view.root_alive and view.threads == () and view.processes == ()
    assert view.cpu_percent == 0.0 and view.switches_per_s == 0.0 and view.voluntary_per_s is None
    assert view.switches_total == 15
    assert not step(s, clock).root_alive


def test_root_removed_outright(make: Make, fake: FakeProc, clock: Clock) -> None:
    s = make()
    s.sample()
    fake.remove_process(100)
    assert not step(s, clock).root_alive


def test_bad_root_raises_process_gone(tmp_path: Path) -> None:
    with pytest.raises(ProcessGone):
        ProcSampler(4242, proc_root=str(tmp_path))


def test_close_is_idempotent_and_closes_fds(make: Make) -> None:
    before = len(os.listdir("/proc/self/fd"))
    s = make()
    s.sample()
    assert len(os.listdir("/proc/self/fd")) > before
    s.close()
    s.close()
    assert len(os.listdir("/proc/self/fd")) == before
    with pytest.raises(ValueError):
        s.sample()


def test_fd_budget_overflow_reads_by_path(
    make: Make, fake: FakeProc, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for tid in range(200, 220):
        fake.add_thread(100, tid)
    monkeypatch.setattr(procfs, "raise_fd_limit", lambda: procfs.FD_RESERVE + 6)
    s = make()
    assert len(s.sample().threads) == 22
    fake.bump(219, cpu_ns=30 * MS, slices=2)
    assert by_tid(step(s, clock))[219].executing == pytest.approx(0.3)
    fake.remove_thread(219)
    assert 219 not in by_tid(step(s, clock))


def _count_reads(monkeypatch: pytest.MonkeyPatch, suffix: str) -> list[str]:
    """Paths of the stat or status reads from now on, through held fds or by path.

    Every thread stat read goes through `Tracker._stat_bytes`; every status
    read through `Tracker._status_bytes`, or is one the C loop makes itself,
    which it announces to `ProcSampler._status_hook`.
    """
    reads: list[str] = []
    earlier = ProcSampler._status_hook  # another count of this test's: keep it counting

    def hook(self: ProcSampler, th: object) -> None:
        path = self._task_path(th, "status")
        if path.endswith(suffix):
            reads.append(path)
        if earlier is not None:
            earlier(self, th)

    monkeypatch.setattr(ProcSampler, "_status_hook", hook)
    for name in ("stat", "status"):
        method = f"_{name}_bytes"
        real = getattr(ProcSampler, method)

        def counting(self: ProcSampler, th: object, real: Callable = real, name: str = name):
            path = self._task_path(th, name)
            if path.endswith(suffix):
                reads.append(path)
            return real(self, th)

        monkeypatch.setattr(ProcSampler, method, counting)
    return reads


def test_stat_status_and_schedstat_are_read_through_held_fds(
    make: Make, fake: FakeProc, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = make()
    s.sample()
    step(s, clock)  # seen twice: now read through held fds
    by_path: list[str] = []
    real = procfs.read_file

    def counting(path: str, size: int = 4096) -> bytes:
        by_path.append(path)
        return real(path, size)

    monkeypatch.setattr(procfs, "read_file", counting)
    for _ in range(12):
        fake.bump(101, cpu_ns=MS, slices=1, vol=1)
        view = step(s, clock)
    assert [p for p in by_path if p.endswith(("/stat", "/status", "/schedstat"))] == []
    assert 3 + 2 <= by_tid(view)[101].voluntary <= 3 + 12  # status was re-read meanwhile


def test_status_brings_name_and_state_in_place_of_stat_reads(
    make: Make, fake: FakeProc, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = make()
    s.sample()
    stat_reads = _count_reads(monkeypatch, "/101/stat")
    status_reads = _count_reads(monkeypatch, "/101/status")
    for _ in range(40):  # 4 s, moving every sample: name and state may change any time
        fake.bump(101, cpu_ns=MS, slices=1)
        step(s, clock)
    assert 3 <= len(status_reads) <= 5  # once a second
    assert len(stat_reads) <= 1  # only the identity check when its fds are first held
    fake.update(101, name="renamed", state="D")
    for _ in range(11):  # the name and the state must show within stat_interval (1 s)
        fake.bump(101, cpu_ns=MS, slices=1)
        t = by_tid(step(s, clock))[101]
    assert (t.name, t.state_letter) == ("renamed", "D")


def test_with_a_shorter_stat_interval_status_stands_in_for_every_other_stat_read(
    make: Make, fake: FakeProc, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = make(stat_interval=0.5)
    s.sample()
    step(s, clock)  # its fds are held from here on
    stat_reads = _count_reads(monkeypatch, "/101/stat")
    for _ in range(40):
        fake.bump(101, cpu_ns=MS, slices=1)
        step(s, clock)
    assert 3 <= len(stat_reads) <= 5  # once a second: the other turn is the status read


def test_a_name_status_would_escape_comes_from_stat(
    make: Make, fake: FakeProc, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # status prints a backslash in a name escaped, stat prints it raw: the
    # status read must not stand in for the stat one.
    fake.update(101, name="a\\b")
    s = make()
    s.sample()
    stat_reads = _count_reads(monkeypatch, "/101/stat")
    fake.update(101, name="c\\d")
    for _ in range(20):
        fake.bump(101, cpu_ns=MS, slices=1)
        t = by_tid(step(s, clock))[101]
    assert t.name == "c\\d"
    assert 2 <= len(stat_reads) <= 4  # every status turn (2 s at 1 Hz), plus the fds' check


def test_status_read_by_path_does_not_stand_in_for_stat(
    make: Make, fake: FakeProc, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file read by path may belong to a new thread with the same tid; only
    # stat, whose start time is checked, may say who the thread is.
    monkeypatch.setattr(procfs, "raise_fd_limit", lambda: procfs.FD_RESERVE + 1)
    s = make()
    s.sample()
    stat_reads = _count_reads(monkeypatch, "/101/stat")
    for _ in range(20):
        fake.bump(101, cpu_ns=MS, slices=1, vol=1)
        t = by_tid(step(s, clock))[101]
    assert 2 <= len(stat_reads) <= 3  # every status turn (2 s at 1 Hz)
    assert t.voluntary is not None and t.voluntary > 3  # status was still read, by path


def test_a_thread_gets_held_fds_only_if_it_lives_to_its_second_sample(
    make: Make, fake: FakeProc, clock: Clock
) -> None:
    s = make()
    s.sample()
    fake.add_thread(100, 300)
    fake.add_thread(100, 301)
    first = by_tid(step(s, clock))
    assert first[300].new and first[300].voluntary is not None  # status read by path
    held = s._fds.held
    assert all(s._by_tid[t].fd == s._by_tid[t].stat_fd == -1 for t in (300, 301))
    fake.remove_thread(301)  # lived less than a sample: never cost an fd
    fake.bump(300, cpu_ns=20 * MS, slices=2)
    second = by_tid(step(s, clock))
    assert not second[300].new and second[300].executing == pytest.approx(0.2)
    assert 301 not in second and 301 not in s._by_tid
    th = s._by_tid[300]
    assert th.fd >= 0 and th.stat_fd >= 0 and th.status_fd >= 0
    assert s._fds.held == held + 3
    assert second[300].voluntary_per_s == 0.0  # a rate, not n/a, until status is due


def test_fds_stay_within_budget_and_schedstat_comes_first(
    make: Make, fake: FakeProc, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for tid in range(200, 230):
        fake.add_thread(100, tid)
    monkeypatch.setattr(procfs, "raise_fd_limit", lambda: procfs.FD_RESERVE + 40)
    s = make()
    s.sample()
    view = step(s, clock)  # fds are held from a thread's second sample
    assert len(view.threads) == 32
    ths = s._by_tid.values()
    schedstat = sum(th.fd >= 0 for th in ths)
    others = sum((th.stat_fd >= 0) + (th.status_fd >= 0) for th in ths)
    assert s._fds.held == 1 + schedstat + others == s._fds.budget == 40  # 1: the process's stat
    assert others <= 0.8 * 40 and schedstat == 40 - 1 - others  # the rest went to schedstat
    fake.bump(229, cpu_ns=30 * MS, slices=2)
    assert by_tid(step(s, clock))[229].executing == pytest.approx(0.3)


def test_schedstat_with_more_fields_still_parses(make: Make, fake: FakeProc, clock: Clock) -> None:
    s = make()
    s.sample()
    (fake.root / "100" / "task" / "101" / "schedstat").write_bytes(
        f"{MS + 20 * MS} 0 {4 + 2} 77\n".encode()
    )
    t = by_tid(step(s, clock))[101]
    assert (t.cpu_ns, t.switches) == (21 * MS, 6) and t.executing == pytest.approx(0.2)


def test_thread_gone_at_its_status_read_is_dropped(
    make: Make, fake: FakeProc, clock: Clock
) -> None:
    s = make()
    s.sample()
    status = fake.root / "100" / "task" / "101" / "status"
    seen = []
    for _ in range(12):  # its status turn comes within a second
        fake.bump(101, cpu_ns=MS, slices=1)
        status.write_bytes(b"")  # what a held fd reads once the thread exited
        view = step(s, clock)
        seen.append(101 in by_tid(view))
    assert seen[0] and not seen[-1]
    assert view.root_alive and view.processes[0].threads == 1


def test_tree_is_rescanned_only_once_a_pid_was_handed_out_or_a_process_left(
    tmp_path: Path,
) -> None:
    fake = FakeProc(tmp_path, children_files=False)
    clock = Clock()
    fake.add_process(1, ppid=0, name="init")
    fake.add_process(100, ppid=1, name="lab")
    fake.add_process(200, ppid=100, name="worker")
    fake.set_last_pid(200)
    with ProcSampler(100, proc_root=fake.path, clock=clock) as s:
        assert s.sample().processes[1].pid == 200
        scans = 0
        real = procfs.find_tree

        def counting(*args: object, **kw: object) -> set[int]:
            nonlocal scans
            scans += 1
            return real(*args, **kw)  # type: ignore[arg-type]

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(procfs, "find_tree", counting)
            step(s, clock, 0.6)
            assert scans == 0  # nothing born, nothing gone
            fake.add_process(300, ppid=200, name="grandchild")
            fake.set_last_pid(300)
            assert {p.pid for p in step(s, clock, 0.6).processes} == {100, 200, 300}
            assert scans == 1
            fake.remove_process(200)  # its child is reparented out of the tree
            fake.reparent(300, 1)
            step(s, clock, 0.1)  # the worker's exit is seen by its stat read
            assert {p.pid for p in step(s, clock, 0.6).processes} == {100}
            assert scans == 2


# -- live --------------------------------------------------------------------

CHILD = r"""
import ctypes, sys, threading
libc = ctypes.CDLL(None)
def named(name, body):
    def run():
        libc.prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME
        body()
    threading.Thread(target=run, daemon=True).start()
def spin():
    while True:
        pass
named("ccv-busy", spin)
for i in range(3):
    named(f"ccv idle) {i}", threading.Event().wait)
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as p:
        try:
            assert p.stdout is not None and p.stdout.readline() == "ready\n"
            yield p
        finally:
            os.kill(p.pid, signal.SIGKILL)  # by pid: its own session, nothing else
            p.wait(10)


def _poll(s: ProcSampler, ok: Callable[[KernelView], bool], deadline: float = 10.0) -> KernelView:
    """Sample until `ok` holds or the deadline passes; the caller asserts."""
    end = time.monotonic() + deadline
    while True:
        view = s.sample()
        if ok(view) or time.monotonic() > end:
            return view
        time.sleep(0.05)


@pytest.mark.live
def test_live_child_threads_names_and_busy_share(child: subprocess.Popen[str]) -> None:
    with ProcSampler(child.pid) as s:
        s.sample()

        def busy_seen(v: KernelView) -> bool:
            return any(t.name == "ccv-busy" and t.executing > 0.5 and not t.new for t in v.threads)

        view = _poll(s, busy_seen)
        assert busy_seen(view)
        names = sorted(t.name for t in view.threads)
        assert "ccv-busy" in names and sum(n.startswith("ccv idle) ") for n in names) == 3
        assert view.processes[0].threads == len(view.threads) == 5
        # Busiest first: on a loaded machine another thread can tie (running or
        # runnable all along), so check the order, not who wins a tie.
        first = view.threads[0]
        busy = next(t for t in view.threads if t.name == "ccv-busy")
        assert first.executing + (first.runnable or 0.0) >= busy.executing + (busy.runnable or 0.0)
        assert view.fidelity["schedstat"] and view.root_alive
        assert s.pids == {child.pid}


@pytest.mark.live
def test_live_switches_match_status_sums(child: subprocess.Popen[str]) -> None:
    with ProcSampler(child.pid, status_interval=0.0) as s:
        view = s.sample()
        ours = sum(t.switches for t in view.threads)
        theirs = 0
        task = f"/proc/{child.pid}/task"
        for tid in os.listdir(task):
            vol, invol = procfs.parse_status_switches(procfs.read_file(f"{task}/{tid}/status"))
            theirs += vol + invol
        # The busy thread keeps switching between the two reads.
        assert abs(ours - theirs) <= max(10, 0.05 * theirs)
        assert view.voluntary_per_s is not None


@pytest.mark.live
def test_live_root_exit_is_noticed(child: subprocess.Popen[str]) -> None:
    with ProcSampler(child.pid) as s:
        assert s.sample().root_alive
        child.kill()
        view = _poll(s, lambda v: not v.root_alive)
        assert not view.root_alive
