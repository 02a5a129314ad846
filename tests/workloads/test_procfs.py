"""procfs: parsers over bytes, the OSError boundary, and held fds on real /proc."""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path

import pytest

from tests.workloads.fakeproc import FakeProc
from workloads import procfs
from workloads.procfs import ProcUnreadable, ThreadGone

STAT = (
    b"4242 (a) b (c) R 17 4242 4242 0 -1 4194368 10 0 0 0 "
    b"7 3 0 0 20 0 5 0 123456 90000000 2458 18446744073709551615 1 1 0\n"
)


def test_parse_stat_reads_fields_after_the_last_paren() -> None:
    st = procfs.parse_stat(STAT)
    assert st.name == "a) b (c"
    assert (st.state, st.ppid, st.utime, st.stime) == ("R", 17, 7, 3)
    assert (st.num_threads, st.start_time) == (5, 123456)


def test_parse_stat_rejects_garbage() -> None:
    with pytest.raises(ProcUnreadable):
        procfs.parse_stat(b"no parens here")
    with pytest.raises(ProcUnreadable):
        procfs.parse_stat(b"1 (x) S 2")


def test_parse_schedstat_status_statm_children() -> None:
    assert procfs.parse_schedstat(b"458112 1200 17\n") == (458112, 1200, 17)
    status = b"Name:\tx\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n"
    assert procfs.parse_status_switches(status) == (12, 3)
    assert procfs.parse_statm_rss(b"21648 2458 1508 1 0 3357 0\n") == 2458
    assert procfs.parse_children(b"12 13 ") == [12, 13]
    with pytest.raises(ProcUnreadable):
        procfs.parse_status_switches(b"Name:\tx\n")
    with pytest.raises(ProcUnreadable):
        procfs.parse_schedstat(b"1 2\n")


STATUS = (
    b"Name:\ta) b (c\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\n"
    b"Cpus_allowed_list:\t0-1\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n"
)


def test_parse_stat_name_state_agrees_with_parse_stat() -> None:
    st = procfs.parse_stat(STAT)
    assert procfs.parse_stat_name_state(STAT) == (st.name, st.state) == ("a) b (c", "R")
    for bad in (b"no parens here", b"1 (x)", b"1 (x) "):
        with pytest.raises(ProcUnreadable):
            procfs.parse_stat_name_state(bad)


def test_parse_status_gives_switches_and_name_state_only_when_exact() -> None:
    assert procfs.parse_status(STATUS) == (12, 3, "a) b (c", "S")
    assert procfs.parse_status(STATUS) == (12, 3, "a) b (c", "S")  # the name decoded before
    tail = b"voluntary_ctxt_switches:\t1\nnonvoluntary_ctxt_switches:\t2\n"
    # status escapes a backslash and a newline in a name; stat prints them raw
    for head in (
        b"Name:\ta\\\\b\nState:\tR (running)\n",
        b"Name:\ta\\nb\nState:\tR (running)\n",
        b"Name:\tx\nUmask:\t0022\n",  # no State
        b"Umask:\t0022\nState:\tS (sleeping)\n",  # no Name
        b"Name:\tx\nState:\t\n",
    ):
        assert procfs.parse_status(head + tail) == (1, 2, None, None), head
    with pytest.raises(ProcUnreadable):
        procfs.parse_status(b"Name:\tx\nState:\tS (sleeping)\n")  # no switch counts


def test_parse_status_switches_wherever_they_are() -> None:
    parse = procfs.parse_status_switches
    vol, invol = b"voluntary_ctxt_switches:\t12\n", b"nonvoluntary_ctxt_switches:\t3\n"
    assert parse(STATUS) == (12, 3)
    assert parse(b"Name:\tx\n" + vol + invol + b"x86_Thread_features:\t\n") == (12, 3)
    assert parse(b"Name:\tx\n" + invol + vol) == (12, 3)
    assert parse(b"Name:\tx\n" + vol + b"Other:\t7\n" + invol) == (12, 3)
    for bad in (b"Name:\tx\n" + vol, b"Name:\tx\nvoluntary_ctxt_switches:\tz\n" + invol):
        with pytest.raises(ProcUnreadable):
            parse(bad)


def test_last_pid_from_loadavg(tmp_path: Path) -> None:
    (tmp_path / "loadavg").write_bytes(b"0.52 0.58 0.59 2/1095 73012\n")
    assert procfs.last_pid(str(tmp_path)) == 73012
    (tmp_path / "loadavg").write_bytes(b"garbage\n")
    assert procfs.last_pid(str(tmp_path)) is None
    assert procfs.last_pid(str(tmp_path / "none")) is None


def test_missing_file_is_thread_gone(tmp_path: Path) -> None:
    with pytest.raises(ThreadGone):
        procfs.read_file(str(tmp_path / "nope"))
    with pytest.raises(ThreadGone):
        procfs.open_fd(str(tmp_path / "nope"))
    with pytest.raises(ThreadGone):
        procfs.list_ints(str(tmp_path / "nope"))


def test_truncated_held_file_is_thread_gone(tmp_path: Path) -> None:
    f = tmp_path / "schedstat"
    f.write_bytes(b"1 2 3\n")
    fd = procfs.open_fd(str(f))
    try:
        assert procfs.pread(fd) == b"1 2 3\n"
        f.write_bytes(b"")
        with pytest.raises(ThreadGone):
            procfs.pread(fd)
    finally:
        procfs.close_fd(fd)
    procfs.close_fd(fd)  # closing twice never raises


def test_list_ints_keeps_numeric_entries_sorted(tmp_path: Path) -> None:
    for name in ("12", "3", "self", "net"):
        (tmp_path / name).mkdir()
    assert procfs.list_ints(str(tmp_path)) == [3, 12]


def test_ppid_cache_rereads_only_new_pids_and_reparented_orphans(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path, children_files=False)
    fake.add_process(100, ppid=1)
    fake.add_process(200, ppid=100)
    cache = procfs.PpidCache(fake.path)
    assert cache.refresh() == {100: 1, 200: 100}
    fake.remove_process(100)
    fake.ppids[200] = 1  # reparented to init
    fake.update(200)  # rewrite its stat with the new ppid
    cache.forget(100)
    assert cache.refresh() == {200: 1}


def test_read_children_unions_threads(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    fake.add_process(100)
    fake.add_thread(100, 101, children=[300])
    fake.add_process(200, ppid=100)
    assert procfs.read_children(fake.path, 100, [100, 101, 999]) == {200, 300}


def test_raise_fd_limit_lifts_soft_to_hard() -> None:
    limit = procfs.raise_fd_limit()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert limit == soft
    assert hard == resource.RLIM_INFINITY or soft == hard


@pytest.mark.live
def test_held_fd_fails_once_the_real_thread_exits() -> None:
    started, release = threading.Event(), threading.Event()
    tids: list[int] = []

    def body() -> None:
        tids.append(threading.get_native_id())
        started.set()
        release.wait(10)

    t = threading.Thread(target=body)
    t.start()
    assert started.wait(10)
    fd = procfs.open_fd(f"/proc/{os.getpid()}/task/{tids[0]}/schedstat")
    try:
        cpu, _runq, _slices = procfs.parse_schedstat(procfs.pread(fd))
        assert cpu > 0
        release.set()
        t.join(10)
        # join() returns when Python is done with the thread; the kernel may
        # take a moment longer to finish the exit.
        deadline = time.monotonic() + 10
        with pytest.raises(ThreadGone):
            while time.monotonic() < deadline:
                procfs.pread(fd)
                time.sleep(0.001)
    finally:
        release.set()
        procfs.close_fd(fd)
