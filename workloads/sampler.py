"""The kernel sampler: every thread of a lab's process tree, read from /proc.

`ProcSampler.sample()` returns an immutable `KernelView`: cumulative counters
plus this interval's shares and rates. It reads from outside the lab, so the
lab's GIL is never taken to measure it.

It runs at 10 Hz over thousands of threads inside the observer, so the cost
model shapes the code:

- each thread's ``schedstat`` is re-read every sample through a held fd (one
  ``pread``); a thread whose schedstat bytes are unchanged has not been on a
  CPU since, so its ``stat`` (state letter, ticks, name) and ``status``
  (switch counts) cannot have changed either, and its previous
  `ThreadSample` is reused as is — no parsing, no new objects;
- ``stat`` and ``status`` are re-read only for threads that ran, at most every
  ``stat_interval`` / ``status_interval``, staggered by thread so the cost is
  spread over samples;
- a process's task directory is listed only when its thread count (from the
  main thread's ``stat``: O(1), unlike ``/proc/<pid>/stat`` which sums every
  thread) differs from the one last listed, or one of its threads vanished.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from operator import attrgetter
from types import TracebackType

from workloads import procfs
from workloads.frames import ProcessSample, ThreadSample
from workloads.procfs import PpidCache, ProcError, ProcessGone, ProcUnreadable, ThreadGone

__all__ = ["KernelView", "ProcSampler", "ProcessGone"]

_NS_PER_TICK = 1_000_000_000 // procfs.CLK_TCK
_CHILDREN_MAX_TASKS = 128  # above this, one /proc scan beats a children read per thread
_FD_RESERVE = 256  # left for the rest of the observer (UI, pipes, recorder)
_GOLDEN = 0.6180339887498949  # stagger fractions that never bunch up
_NEVER, _ALWAYS = -math.inf, math.inf
_TID = attrgetter("tid")


def _advance(due: float, t: float, interval: float) -> float:
    """The next due time after `t`, whole intervals on from `due` (keeps the stagger)."""
    if interval <= 0:
        return t
    return due + interval * (int((t - due) // interval) + 1)


def _busiest(s: ThreadSample) -> tuple[float, int]:
    return (-(s.executing + (s.runnable or 0.0)), s.tid)


@dataclass(frozen=True, slots=True)
class KernelView:
    """What the kernel said about the lab's tree at one instant."""

    t: float
    dt: float
    threads: tuple[ThreadSample, ...]  # busiest first, then by tid
    processes: tuple[ProcessSample, ...]  # root first
    root_alive: bool
    switches_total: int  # every thread ever seen, exited ones included
    switches_per_s: float
    voluntary_per_s: float | None
    involuntary_per_s: float | None
    cpu_percent: float  # 100 = one core
    fidelity: dict[str, bool]
    scan_us: float
    threads_seen: int


class _Thread:
    """Mutable per-thread history, keyed by (tid, start_time)."""

    __slots__ = (
        "cpu_ns", "fallback", "fd", "invol", "invol_rate", "name", "path", "pid", "raw",
        "runq_ns", "sample", "start", "stat_due", "stat_fd", "stat_raw", "state",
        "status_due", "status_raw", "status_t", "switches", "tid", "until", "vol", "vol_rate",
    )  # fmt: skip

    pid: int
    tid: int
    start: int  # stat field 22: with the tid, the thread's identity
    name: str
    state: str
    fd: int  # held fd of the per-sample file (schedstat, or stat in fallback)
    path: str  # that file's path, read by path when fd is -1
    stat_fd: int
    raw: bytes  # the per-sample file's bytes at the last sample
    until: float
    sample: ThreadSample
    fallback: bool
    cpu_ns: int
    runq_ns: int | None
    switches: int
    stat_raw: bytes  # raw when stat was last read
    stat_due: float
    status_raw: bytes  # raw when status was last read
    status_t: float
    status_due: float

    def __init__(self, pid: int, tid: int) -> None:
        self.pid, self.tid = pid, tid
        self.raw = self.stat_raw = self.status_raw = b""
        self.cpu_ns = self.switches = 0
        self.fd = self.stat_fd = -1  # -1: read by path (fd budget exhausted)
        self.fallback = False  # no usable schedstat: cpu from stat ticks
        self.vol: int | None = None
        self.invol: int | None = None
        self.vol_rate: float | None = None
        self.invol_rate: float | None = None
        self.runq_ns = 0
        self.until = _NEVER  # th.sample stays valid while raw is unchanged and t < until


class _Proc:
    __slots__ = (
        "known_nt", "name", "pid", "ppid", "role", "rss", "stat_fd", "statm_due", "threads",
    )  # fmt: skip

    def __init__(self, pid: int, role: str, stat_fd: int) -> None:
        self.pid, self.role, self.stat_fd = pid, role, stat_fd
        self.ppid, self.name, self.rss, self.statm_due = 0, "?", 0, _NEVER
        self.known_nt = -1  # thread count when last listed; -1 forces a listing
        self.threads: list[_Thread] = []  # sorted by tid


class ProcSampler:
    """Samples root_pid and its descendants (minus exclude_pids) from /proc."""

    def __init__(
        self,
        root_pid: int,
        *,
        proc_root: str = "/proc",
        clock: Callable[[], float] = time.monotonic,
        exclude_pids: Callable[[], Collection[int]] = lambda: (),
        stat_interval: float = 0.5,
        status_interval: float = 1.0,
        tree_interval: float = 0.5,
    ) -> None:
        self._root, self._pid, self._clock = proc_root, root_pid, clock
        self._exclude = exclude_pids
        self._stat_iv, self._status_iv = stat_interval, status_interval
        self._tree_iv = tree_interval
        self._fd_budget = max(0, procfs.raise_fd_limit() - _FD_RESERVE)
        self._fds = 0
        self._procs: dict[int, _Proc] = {}
        self._by_tid: dict[int, _Thread] = {}
        self._phases: dict[int, str] = {}
        self._ppids = PpidCache(proc_root)
        self._use_children = os.path.exists(f"{proc_root}/{root_pid}/task/{root_pid}/children")
        self._prev_t: float | None = None
        self._tree_due = _NEVER
        self._stagger = 0.0
        self._no_schedstat = False  # latched: the kernel gives no usable schedstat
        self._n_fallback = self._n_nostatus = 0
        self._switches_total = 0
        self._vol_sum = self._invol_sum = 0.0
        self._d_cpu = self._d_sw = 0
        self._sps = 0.0
        self._root_alive, self._closed = True, False
        self._pids: frozenset[int] = frozenset()
        self._fidelity = {"schedstat": True, "runnable": True, "status": True}
        try:
            self._add_proc(root_pid, "lab")
        except ProcError as err:
            raise ProcessGone(f"no process {root_pid} under {proc_root}: {err}") from None
        self._pids = frozenset(self._procs)

    @property
    def pids(self) -> frozenset[int]:
        """The tree's pids as of the last discovery (the controller kills by these)."""
        return self._pids

    def __enter__(self) -> ProcSampler:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every held fd; idempotent."""
        self._release_all()
        self._closed = True

    def _release_all(self) -> None:
        for proc in list(self._procs.values()):
            self._drop_proc(proc)

    # -- sampling ---------------------------------------------------------------

    def sample(self, phases: Mapping[int, str] | None = None) -> KernelView:
        """Read the tree once; never raises for threads or workers that exit meanwhile."""
        if self._closed:
            raise ValueError("sample() on a closed ProcSampler")
        t0 = time.perf_counter()
        t = self._clock()
        dt = 0.0 if self._prev_t is None else max(0.0, t - self._prev_t)
        phases = phases or {}
        self._mark_phase_changes(phases)
        self._d_cpu = self._d_sw = 0
        self._sps = 0.0
        busy: list[ThreadSample] = []
        idle: list[ThreadSample] = []
        processes: list[ProcessSample] = []
        seen = added = 0
        if self._root_alive and t >= self._tree_due:
            self._refresh_tree(t)
        for proc in list(self._procs.values()):
            d_cpu0 = self._d_cpu
            n, new = self._scan_proc(proc, t, dt, phases, busy, idle)
            added += new
            if n < 0:  # the process is gone
                if proc.pid == self._pid:
                    self._root_alive = False
                continue
            seen += n
            cpu = (self._d_cpu - d_cpu0) / dt / 1e7 if dt > 0 else 0.0
            processes.append(
                ProcessSample(proc.pid, proc.ppid, proc.name, proc.role, n, proc.rss, cpu)
            )
        if not self._root_alive:
            self._release_all()
            busy, idle, processes, seen = [], [], [], 0
        if added or len(processes) > 1:
            idle.sort(key=_TID)  # runs already in tid order: timsort merges them cheaply
        busy.sort(key=_busiest)
        busy.extend(idle)
        self._prev_t = t
        if self._procs:
            self._fidelity = {
                "schedstat": self._n_fallback == 0,
                "runnable": self._n_fallback == 0,
                "status": self._n_nostatus == 0,
            }
        has_status = self._by_tid and self._n_nostatus < len(self._by_tid)
        return KernelView(
            t=t,
            dt=dt,
            threads=tuple(busy),
            processes=tuple(processes),
            root_alive=self._root_alive,
            switches_total=self._switches_total,
            switches_per_s=self._sps,
            voluntary_per_s=max(0.0, self._vol_sum) if has_status else None,
            involuntary_per_s=max(0.0, self._invol_sum) if has_status else None,
            cpu_percent=self._d_cpu / dt / 1e7 if dt > 0 else 0.0,
            fidelity=dict(self._fidelity),
            scan_us=(time.perf_counter() - t0) * 1e6,
            threads_seen=seen,
        )

    def _scan_proc(
        self,
        proc: _Proc,
        t: float,
        dt: float,
        phases: Mapping[int, str],
        busy: list[ThreadSample],
        idle: list[ThreadSample],
    ) -> tuple[int, int]:
        """Sample one process's threads: (threads sampled or -1 if gone, threads added)."""
        try:
            st = procfs.parse_stat(procfs.pread(proc.stat_fd))
        except ProcError:
            self._drop_proc(proc)
            return -1, 0
        if st.state in ("Z", "X") and st.num_threads <= 1:
            self._drop_proc(proc)
            return -1, 0
        proc.ppid, proc.name = st.ppid, st.name
        pread, read_file, update = procfs.pread, procfs.read_file, self._update
        append_idle, append_busy = idle.append, busy.append
        gone: list[_Thread] = []
        for th in proc.threads:  # the hot loop: keep it lean
            try:
                raw = pread(th.fd) if th.fd >= 0 else read_file(th.path)
                if raw == th.raw and t < th.until:
                    append_idle(th.sample)
                    continue
                s = update(th, raw, t, dt, phases.get(th.tid))
            except ProcError:
                gone.append(th)
                continue
            (append_busy if s.executing or s.runnable else append_idle)(s)
        if gone:
            for th in gone:
                self._drop_thread(th)
            proc.threads = [th for th in proc.threads if th.tid in self._by_tid]
        added = 0
        if gone or st.num_threads != proc.known_nt:
            added = self._list_threads(proc, st.num_threads, t, phases, idle)
        if t >= proc.statm_due:
            proc.statm_due = t + self._stat_iv
            try:
                pages = procfs.parse_statm_rss(procfs.read_file(f"{self._root}/{proc.pid}/statm"))
                proc.rss = pages * procfs.PAGE_SIZE
            except ProcError:
                pass  # keep the last figure; the next stat read decides if it is gone
        return len(proc.threads), added

    def _update(
        self, th: _Thread, raw: bytes, t: float, dt: float, phase: str | None
    ) -> ThreadSample:
        """Recompute a thread whose counters moved (or whose cached sample expired)."""
        if self._no_schedstat and not th.fallback:
            raw = self._convert(th)
        prev_raw = th.raw
        th.raw = raw
        runq: int | None
        if th.fallback:
            st = procfs.parse_stat(raw)
            if st.start_time != th.start:
                raise ThreadGone("tid reused")
            th.state, th.name, th.stat_raw = st.state, st.name, raw
            cpu, runq, slices = (st.utime + st.stime) * _NS_PER_TICK, None, 0
        else:
            cpu, runq, slices = procfs.parse_schedstat(raw)
            if cpu < th.cpu_ns or slices < th.switches:
                raise ThreadGone("counters went back: tid reused")  # only when read by path
            if t >= th.stat_due:
                th.stat_due = _advance(th.stat_due, t, self._stat_iv)
                if raw != th.stat_raw:
                    self._read_stat(th)
                    th.stat_raw = raw
        if t >= th.status_due:
            th.status_due = _advance(th.status_due, t, self._status_iv)
            self._read_status(th, t, raw, prev_raw)
        switches = (th.vol or 0) + (th.invol or 0) if th.fallback else slices
        d_cpu = max(0, cpu - th.cpu_ns)
        d_sw = max(0, switches - th.switches)
        d_runq = max(0, runq - th.runq_ns) if runq is not None and th.runq_ns is not None else 0
        th.cpu_ns, th.runq_ns, th.switches = cpu, runq, switches
        self._d_cpu += d_cpu
        self._switches_total += d_sw
        s = self._build(th, dt, d_cpu, d_runq, d_sw, phase, new=False)
        if d_cpu or d_sw or d_runq:
            th.until = _NEVER
        else:  # valid until a refresh could change what it shows
            stat_ok = th.fallback or raw == th.stat_raw
            status_ok = raw == th.status_raw and not th.vol_rate and not th.invol_rate
            th.until = min(
                _ALWAYS if stat_ok else th.stat_due, _ALWAYS if status_ok else th.status_due
            )
        return s

    def _build(
        self, th: _Thread, dt: float, d_cpu: int, d_runq: int, d_sw: int, phase: str | None,
        *, new: bool,
    ) -> ThreadSample:  # fmt: skip
        if dt > 0 and not new:
            span = dt * 1e9
            ex = min(1.0, d_cpu / span)
            ru = None if th.runq_ns is None else min(1.0, d_runq / span)
            wa = max(0.0, 1.0 - ex - (ru or 0.0))
            # In fallback, switches come from status: use its smoothed rate.
            sps = (th.vol_rate or 0.0) + (th.invol_rate or 0.0) if th.fallback else d_sw / dt
        else:
            ex, wa, sps = 0.0, 0.0, 0.0
            ru = None if th.runq_ns is None else 0.0
        gil = None if phase is None else (wa if phase == "cpu" and wa > 0.5 else 0.0)
        self._sps += sps
        s = ThreadSample(
            th.pid, th.tid, th.name, th.state, th.cpu_ns, th.runq_ns, th.switches, th.vol,
            th.invol, ex, ru, wa, gil, sps, th.vol_rate, th.invol_rate, phase, new,
        )  # fmt: skip
        th.sample = s
        return s

    def _stat_bytes(self, th: _Thread) -> bytes:
        if th.stat_fd >= 0:
            return procfs.pread(th.stat_fd)
        return procfs.read_file(f"{self._root}/{th.pid}/task/{th.tid}/stat")

    def _read_stat(self, th: _Thread) -> None:
        st = procfs.parse_stat(self._stat_bytes(th))
        if st.start_time != th.start:
            raise ThreadGone("tid reused")
        th.state, th.name = st.state, st.name

    def _read_status(self, th: _Thread, t: float, raw: bytes, prev_raw: bytes) -> None:
        """Refresh voluntary/involuntary counts and their rates over the refresh window."""
        old_vr, old_ir = th.vol_rate or 0.0, th.invol_rate or 0.0
        if raw == th.status_raw and th.vol is not None:
            th.vol_rate = th.invol_rate = 0.0  # not scheduled since: counts are unchanged
            th.status_t = t
        else:
            counts = self._status_counts(th)
            if counts is None:
                self._n_nostatus += th.vol is not None
                th.vol = th.invol = th.vol_rate = th.invol_rate = None
                th.status_raw = raw
                self._vol_sum -= old_vr
                self._invol_sum -= old_ir
                return
            vol, invol = counts
            start = th.status_t
            if prev_raw == th.status_raw and self._prev_t is not None:
                # Unchanged through the previous sample: every switch since the
                # last read happened after it, so a window up to one interval
                # long ending now is exact (and keeps idle spans from diluting it).
                start = max(start, min(t - self._status_iv, self._prev_t))
            span = t - start
            if th.vol is None or th.invol is None:
                self._n_nostatus -= 1  # readable again
                th.vol_rate = th.invol_rate = 0.0
            else:
                th.vol_rate = max(0, vol - th.vol) / span if span > 0 else 0.0
                th.invol_rate = max(0, invol - th.invol) / span if span > 0 else 0.0
            th.vol, th.invol, th.status_t, th.status_raw = vol, invol, t, raw
        self._vol_sum += (th.vol_rate or 0.0) - old_vr
        self._invol_sum += (th.invol_rate or 0.0) - old_ir

    def _status_counts(self, th: _Thread) -> tuple[int, int] | None:
        """(voluntary, involuntary) from status; None if unreadable. ThreadGone passes."""
        try:
            data = procfs.read_file(f"{self._root}/{th.pid}/task/{th.tid}/status", 16384)
            return procfs.parse_status_switches(data)
        except ThreadGone:
            raise
        except ProcUnreadable:
            return None

    def _convert(self, th: _Thread) -> bytes:
        """Switch a live thread to the stat-ticks fallback; its stat is the new baseline."""
        tdir = f"{self._root}/{th.pid}/task/{th.tid}"
        stat_raw = self._stat_bytes(th)
        st = procfs.parse_stat(stat_raw)
        self._to_fallback(th, tdir, stat_raw)
        self._n_fallback += 1
        th.cpu_ns, th.runq_ns = (st.utime + st.stime) * _NS_PER_TICK, None
        return stat_raw

    # -- discovery --------------------------------------------------------------

    def _list_threads(
        self, proc: _Proc, nt: int, t: float, phases: Mapping[int, str], idle: list[ThreadSample]
    ) -> int:
        """List the task directory and start tracking new threads; how many were added."""
        try:
            tids = procfs.list_ints(f"{self._root}/{proc.pid}/task")
        except ProcError:
            return 0  # the process is going; its stat read decides next time
        proc.known_nt = nt
        added = 0
        for tid in tids:
            if tid in self._by_tid:
                continue
            th = self._discover(proc.pid, tid, t)
            if th is not None:
                proc.threads.append(th)
                idle.append(self._build(th, 0.0, 0, 0, 0, phases.get(tid), new=True))
                added += 1
        if added:
            proc.threads.sort(key=_TID)
        return added

    def _discover(self, pid: int, tid: int, t: float) -> _Thread | None:
        """Start tracking a thread: stat for identity, schedstat (or fallback), status."""
        th = _Thread(pid, tid)
        tdir = f"{self._root}/{pid}/task/{tid}"
        try:
            th.stat_fd = self._hold(f"{tdir}/stat", self._fd_budget // 2)
            stat_raw = self._stat_bytes(th)
            st = procfs.parse_stat(stat_raw)
            th.start, th.name, th.state = st.start_time, st.name, st.state
            ticks_ns = (st.utime + st.stime) * _NS_PER_TICK
            if not self._no_schedstat:
                th.path = f"{tdir}/schedstat"
                try:
                    th.fd = self._hold(th.path, self._fd_budget)
                    th.raw = procfs.pread(th.fd) if th.fd >= 0 else procfs.read_file(th.path)
                    th.cpu_ns, th.runq_ns, th.switches = procfs.parse_schedstat(th.raw)
                    if th.raw.split() == [b"0", b"0", b"0"] and ticks_ns > 0:
                        self._latch_no_schedstat()  # all zeros for a thread that ran
                except ThreadGone:
                    procfs.read_file(f"{tdir}/stat")  # raises if the thread is what went
                    self._latch_no_schedstat()  # schedstat is absent from this kernel
            if self._no_schedstat:
                self._to_fallback(th, tdir, stat_raw)
                th.cpu_ns, th.runq_ns = ticks_ns, None
            counts = self._status_counts(th)
        except ProcError:
            self._release(th)
            return None
        th.stat_raw = th.status_raw = th.raw
        th.status_t = t
        if counts is not None:
            th.vol, th.invol = counts
            th.vol_rate = th.invol_rate = 0.0
        if th.fallback:
            th.switches = (th.vol or 0) + (th.invol or 0)
        self._stagger = (self._stagger + _GOLDEN) % 1.0
        th.stat_due = t + self._stat_iv * self._stagger
        th.status_due = t + self._status_iv * ((self._stagger + 0.5) % 1.0)
        self._by_tid[tid] = th
        self._n_fallback += th.fallback
        self._n_nostatus += th.vol is None
        self._switches_total += th.switches
        return th

    def _latch_no_schedstat(self) -> None:
        """The kernel gives no usable schedstat: every thread falls back to stat ticks."""
        if not self._no_schedstat:
            self._no_schedstat = True
            for other in self._by_tid.values():
                other.until = _NEVER  # expire cached samples so each thread converts

    def _to_fallback(self, th: _Thread, tdir: str, stat_raw: bytes) -> None:
        if th.fd >= 0:
            procfs.close_fd(th.fd)
            self._fds -= 1
        th.fd, th.stat_fd = th.stat_fd, -1  # the per-sample read is now stat
        th.path, th.raw, th.fallback = f"{tdir}/stat", stat_raw, True

    def _hold(self, path: str, limit: int) -> int:
        """A held fd for `path`, or -1 to read it by path when over `limit` fds."""
        if self._fds >= limit:
            return -1
        try:
            fd = procfs.open_fd(path)
        except procfs.OutOfFds:
            self._fd_budget = self._fds  # the observer holds more fds than we assumed
            return -1
        self._fds += 1
        return fd

    def _release(self, th: _Thread) -> None:
        for fd in (th.fd, th.stat_fd):
            if fd >= 0:
                procfs.close_fd(fd)
                self._fds -= 1
        th.fd = th.stat_fd = -1

    def _drop_thread(self, th: _Thread) -> None:
        """Forget an exited thread; its switches stay in switches_total."""
        if self._by_tid.pop(th.tid, None) is None:
            return
        self._release(th)
        self._n_fallback -= th.fallback
        self._n_nostatus -= th.vol is None
        self._vol_sum -= th.vol_rate or 0.0
        self._invol_sum -= th.invol_rate or 0.0

    def _drop_proc(self, proc: _Proc) -> None:
        for th in proc.threads:
            self._drop_thread(th)
        proc.threads = []
        if proc.stat_fd >= 0:
            procfs.close_fd(proc.stat_fd)
            self._fds -= 1
            proc.stat_fd = -1
        self._procs.pop(proc.pid, None)
        self._ppids.forget(proc.pid)

    def _add_proc(self, pid: int, role: str) -> None:
        fd = self._hold(f"{self._root}/{pid}/task/{pid}/stat", self._fd_budget)
        if fd < 0:  # a process must be held: it is our liveness signal
            fd = procfs.open_fd(f"{self._root}/{pid}/task/{pid}/stat")
            self._fds += 1
        proc = _Proc(pid, role, fd)
        try:
            st = procfs.parse_stat(procfs.pread(fd))
        except ProcError:
            procfs.close_fd(fd)
            self._fds -= 1
            raise
        proc.ppid, proc.name = st.ppid, st.name
        self._procs[pid] = proc

    def _refresh_tree(self, t: float) -> None:
        """Re-discover descendant processes (at most every tree_interval)."""
        self._tree_due = t + self._tree_iv
        excluded = set(self._exclude())
        excluded.discard(self._pid)
        tree, todo = [self._pid], [self._pid]
        try:
            if self._use_children and len(self._by_tid) <= _CHILDREN_MAX_TASKS:
                while todo:
                    pid = todo.pop()
                    proc = self._procs.get(pid)
                    try:
                        tids = (
                            [th.tid for th in proc.threads]
                            if proc and proc.threads
                            else procfs.list_ints(f"{self._root}/{pid}/task")
                        )
                    except ProcError:
                        continue  # exiting: its stat read drops it
                    kids = list(procfs.read_children(self._root, pid, tids) - excluded)
                    tree.extend(kids)
                    todo.extend(kids)
            else:
                by_parent: dict[int, list[int]] = {}
                for pid, ppid in self._ppids.refresh().items():
                    by_parent.setdefault(ppid, []).append(pid)
                while todo:
                    kids = [k for k in by_parent.get(todo.pop(), ()) if k not in excluded]
                    tree.extend(kids)
                    todo.extend(kids)
        except ProcError:
            return  # a racing exit: keep the known tree, retry next interval
        wanted = set(tree)
        for pid in [p for p in self._procs if p not in wanted]:
            self._drop_proc(self._procs[pid])
        for pid in sorted(wanted - self._procs.keys()):
            try:
                self._add_proc(pid, "worker")
            except ProcError:
                continue
        self._pids = frozenset(self._procs)

    def _mark_phase_changes(self, phases: Mapping[int, str]) -> None:
        """Expire cached samples of threads whose probe phase changed."""
        old = self._phases
        if phases == old:
            return
        for tid in old.keys() | phases.keys():
            if old.get(tid) != phases.get(tid):
                th = self._by_tid.get(tid)
                if th is not None:
                    th.until = _NEVER
        self._phases = dict(phases)
