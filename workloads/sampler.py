"""The kernel sampler: every thread of a lab's process tree, read from /proc.

`ProcSampler.sample()` returns an immutable `KernelView`: cumulative counters
plus this interval's shares and rates. It reads from outside the lab, so the
lab's GIL is never taken to measure it.

It runs at 10 Hz over thousands of threads inside the observer, so the cost
model shapes the code:

- each thread's ``schedstat`` is re-read every sample through a held fd (one
  ``pread``). Unchanged bytes mean the thread has not been on a CPU since, so
  its ``stat`` (state, ticks, name) and ``status`` (switch counts) cannot have
  changed either, and its previous `ThreadSample` is reused as is: no
  parsing, no new objects;
- ``stat`` and ``status`` are re-read only for threads that ran, at most every
  ``stat_interval`` / ``status_interval``, staggered per thread;
- a task directory is listed only when the process's thread count (from the
  main thread's ``stat``: O(1), where ``/proc/<pid>/stat`` sums every thread)
  differs from the last listing, or one of its threads vanished.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from types import TracebackType

from workloads import procfs
from workloads.frames import ProcessSample, ThreadSample
from workloads.procfs import PpidCache, ProcError, ProcessGone, ProcUnreadable, ThreadGone

__all__ = ["KernelView", "ProcSampler", "ProcessGone"]

_NS_PER_TICK = 1_000_000_000 // procfs.CLK_TCK
_CHILDREN_MAX_TASKS = 32  # above this, one /proc scan beats a children read per thread
_GOLDEN = 0.6180339887498949  # successive multiples mod 1 never bunch up: a good stagger
_NEVER, _ALWAYS = -math.inf, math.inf
_TID = attrgetter("tid")


def _advance(due: float, t: float, interval: float) -> float:
    """The next due time after `t`, whole intervals on from `due` (keeps the stagger)."""
    return t if interval <= 0 else due + interval * (int((t - due) // interval) + 1)


def _busiest(s: ThreadSample) -> tuple[float, int]:
    return (-(s.executing + (s.runnable or 0.0)), s.tid)


@dataclass(frozen=True, slots=True)
class KernelView:
    """What the kernel said about the lab's tree at one instant."""

    t: float  # clock() at the sample
    dt: float  # since the previous sample; 0.0 on the first
    threads: tuple[ThreadSample, ...]  # busiest first, then by tid
    processes: tuple[ProcessSample, ...]  # root first
    root_alive: bool
    switches_total: int  # every thread ever seen, exited ones included
    switches_per_s: float
    voluntary_per_s: float | None  # None when status is unreadable
    involuntary_per_s: float | None
    cpu_percent: float  # whole tree, 100 = one core
    fidelity: dict[str, bool]  # schedstat / runnable / status availability
    scan_us: float  # CPU µs the scan took (the sampler thread's own time)
    threads_seen: int


@dataclass(slots=True, eq=False)
class _Thread:
    """One thread's history; a new (tid, start time) pair is a new _Thread."""

    pid: int
    tid: int
    start: int = 0  # stat field 22
    name: str = "?"
    state: str = "?"
    fd: int = -1  # held fd of the per-sample file (schedstat; stat in fallback); -1: by path
    path: str = ""
    stat_fd: int = -1
    fallback: bool = False  # no usable schedstat: CPU from stat ticks, no run-queue time
    raw: bytes = b""  # the per-sample file at the last sample
    stat_raw: bytes = b""  # raw when stat was last read
    status_raw: bytes = b""  # raw when status was last read
    until: float = _NEVER  # `sample` stays valid while raw is unchanged and t < until
    sample: ThreadSample = field(init=False)
    cpu_ns: int = 0
    runq_ns: int | None = 0
    switches: int = 0
    vol: int | None = None
    invol: int | None = None
    vol_rate: float | None = None
    invol_rate: float | None = None
    stat_due: float = 0.0
    status_due: float = 0.0
    status_t: float = 0.0


@dataclass(slots=True, eq=False)
class _Proc:
    pid: int
    role: str
    stat_fd: int  # the main thread's stat: liveness, thread count, name, ppid
    ppid: int = 0
    name: str = "?"
    rss: int = 0
    statm_due: float = _NEVER
    known_nt: int = -1  # thread count at the last listing; -1 forces one
    threads: list[_Thread] = field(default_factory=list)  # sorted by tid


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
        self._fds = procfs.FdPool()
        self._procs: dict[int, _Proc] = {}
        self._by_tid: dict[int, _Thread] = {}
        self._phases: dict[int, str] = {}
        self._ppids = PpidCache(proc_root)
        self._use_children = os.path.exists(f"{proc_root}/{root_pid}/task/{root_pid}/children")
        self._prev_t: float | None = None
        self._tree_due = _NEVER
        self._stagger = 0.0
        self._no_schedstat = False  # latched: this kernel gives no usable schedstat
        self._n_fallback = self._n_nostatus = 0  # tracked threads without schedstat / status
        self._switches_total = self._d_cpu = 0
        self._vol_sum = self._invol_sum = self._sps = 0.0
        # This sample's context, set by sample() for the helpers below.
        self._t = self._dt = 0.0
        self._now_phases: Mapping[int, str] = {}
        self._busy: list[ThreadSample] = []
        self._idle: list[ThreadSample] = []
        self._root_alive, self._closed = True, False
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
        for proc in list(self._procs.values()):
            self._drop_proc(proc)
        self._closed = True

    def sample(self, phases: Mapping[int, str] | None = None) -> KernelView:
        """Read the tree once; never raises for threads or workers exiting meanwhile."""
        if self._closed:
            raise ValueError("sample() on a closed ProcSampler")
        t0 = time.thread_time()  # CPU, not wall: what the scan costs, even on a busy host
        self._t = t = self._clock()
        self._dt = dt = 0.0 if self._prev_t is None else max(0.0, t - self._prev_t)
        self._mark_phase_changes(phases or {})
        self._d_cpu, self._sps = 0, 0.0
        busy: list[ThreadSample] = []
        idle: list[ThreadSample] = []
        self._busy, self._idle = busy, idle
        processes: list[ProcessSample] = []
        added = 0
        if self._root_alive and t >= self._tree_due:
            self._refresh_tree()
        for proc in list(self._procs.values()):
            d_cpu0 = self._d_cpu
            n, new = self._scan_proc(proc)
            if n < 0:
                self._root_alive = self._root_alive and proc.pid != self._pid
                continue
            added += new
            cpu = (self._d_cpu - d_cpu0) / dt / 1e7 if dt > 0 else 0.0
            processes.append(
                ProcessSample(proc.pid, proc.ppid, proc.name, proc.role, n, proc.rss, cpu)
            )
        if not self._root_alive:  # the tree dies with its root: stop reading it
            for proc in list(self._procs.values()):
                self._drop_proc(proc)
            busy, idle, processes = [], [], []
            self._d_cpu, self._sps = 0, 0.0
        if added or len(processes) > 1:
            idle.sort(key=_TID)  # runs already in tid order: timsort merges them cheaply
        busy.sort(key=_busiest)
        busy.extend(idle)
        self._prev_t = t
        if self._procs:
            ok = self._n_fallback == 0
            self._fidelity = {"schedstat": ok, "runnable": ok, "status": self._n_nostatus == 0}
        has_status = self._n_nostatus < len(self._by_tid)
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
            scan_us=(time.thread_time() - t0) * 1e6,
            threads_seen=len(busy),
        )

    def _scan_proc(self, proc: _Proc) -> tuple[int, int]:
        """Sample one process: (threads sampled, or -1 if it is gone; threads added)."""
        try:
            st = procfs.parse_stat(procfs.pread(proc.stat_fd))
        except ProcError:
            st = None
        if st is None or (st.state in ("Z", "X") and st.num_threads <= 1):
            self._drop_proc(proc)
            return -1, 0
        proc.ppid, proc.name = st.ppid, st.name
        t, phases = self._t, self._now_phases
        pread, read_file, update = procfs.pread, procfs.read_file, self._update
        append_idle, append_busy = self._idle.append, self._busy.append
        gone: list[_Thread] = []
        for th in proc.threads:  # the hot loop: keep it lean
            try:
                raw = pread(th.fd) if th.fd >= 0 else read_file(th.path)
                if raw == th.raw and t < th.until:
                    append_idle(th.sample)
                    continue
                s = update(th, raw, phases.get(th.tid))
            except ProcError:  # exited (or a tid reused under a path read)
                gone.append(th)
                continue
            (append_busy if s.executing or s.runnable else append_idle)(s)
        if gone:
            for th in gone:
                self._drop_thread(th)
            proc.threads = [th for th in proc.threads if th.tid in self._by_tid]
        added = 0
        if gone or st.num_threads != proc.known_nt:
            added = self._list_threads(proc, st.num_threads)
        if t >= proc.statm_due:
            proc.statm_due = t + self._stat_iv
            try:
                pages = procfs.parse_statm_rss(procfs.read_file(f"{self._root}/{proc.pid}/statm"))
                proc.rss = pages * procfs.PAGE_SIZE
            except ProcError:
                pass  # keep the last figure; the next stat read decides if it is gone
        return len(proc.threads), added

    def _update(self, th: _Thread, raw: bytes, phase: str | None) -> ThreadSample:
        """Recompute a thread whose counters moved or whose cached sample expired."""
        t = self._t
        if self._no_schedstat and not th.fallback:
            raw = self._convert(th)
        prev_raw, th.raw = th.raw, raw
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
            self._read_status(th, raw, prev_raw)
        switches = (th.vol or 0) + (th.invol or 0) if th.fallback else slices
        d_cpu, d_sw = cpu - th.cpu_ns, switches - th.switches
        d_cpu = d_cpu if d_cpu > 0 else 0
        d_sw = d_sw if d_sw > 0 else 0
        d_runq = runq - th.runq_ns if runq is not None and th.runq_ns is not None else 0
        th.cpu_ns, th.runq_ns, th.switches = cpu, runq, switches
        self._d_cpu += d_cpu
        self._switches_total += d_sw
        s = self._build(th, d_cpu, d_runq if d_runq > 0 else 0, d_sw, phase)
        if d_cpu or d_sw or d_runq:
            th.until = _NEVER
        else:  # valid until a due refresh could change what it shows
            stat_ok = th.fallback or raw == th.stat_raw
            status_ok = raw == th.status_raw and not th.vol_rate and not th.invol_rate
            th.until = min(
                _ALWAYS if stat_ok else th.stat_due, _ALWAYS if status_ok else th.status_due
            )
        return s

    def _build(
        self, th: _Thread, d_cpu: int, d_runq: int, d_sw: int, phase: str | None, new: bool = False
    ) -> ThreadSample:
        dt = self._dt
        if dt > 0 and not new:
            span = dt * 1e9
            ex = d_cpu / span if d_cpu < span else 1.0
            ru = None if th.runq_ns is None else (d_runq / span if d_runq < span else 1.0)
            wa = 1.0 - ex - (ru or 0.0)
            wa = wa if wa > 0.0 else 0.0
            # In fallback, switches come from status: use its smoothed rate.
            sps = (th.vol_rate or 0.0) + (th.invol_rate or 0.0) if th.fallback else d_sw / dt
        else:  # no interval yet: zeros, flagged by `new` (or dt == 0)
            ex, wa, sps = 0.0, 0.0, 0.0
            ru = None if th.runq_ns is None else 0.0
        gil = None if phase is None else (wa if phase == "cpu" and wa > 0.5 else 0.0)
        self._sps += sps
        th.sample = s = ThreadSample(
            th.pid, th.tid, th.name, th.state, th.cpu_ns, th.runq_ns, th.switches, th.vol,
            th.invol, ex, ru, wa, gil, sps, th.vol_rate, th.invol_rate, phase, new,
        )  # fmt: skip
        return s

    def _stat_bytes(self, th: _Thread) -> bytes:
        return procfs.read_held(th.stat_fd, f"{self._root}/{th.pid}/task/{th.tid}/stat")

    def _read_stat(self, th: _Thread) -> None:
        st = procfs.parse_stat(self._stat_bytes(th))
        if st.start_time != th.start:
            raise ThreadGone("tid reused")
        th.state, th.name = st.state, st.name

    def _status_counts(self, th: _Thread) -> tuple[int, int] | None:
        """(voluntary, involuntary) from status; None if unreadable. ThreadGone passes."""
        try:
            data = procfs.read_file(f"{self._root}/{th.pid}/task/{th.tid}/status", 16384)
            return procfs.parse_status_switches(data)
        except ThreadGone:
            raise
        except ProcUnreadable:
            return None

    def _read_status(self, th: _Thread, raw: bytes, prev_raw: bytes) -> None:
        """Refresh voluntary/involuntary counts, and their rates over the refresh window."""
        t = self._t
        old_vr, old_ir = th.vol_rate or 0.0, th.invol_rate or 0.0
        if raw == th.status_raw and th.vol is not None:
            th.vol_rate = th.invol_rate = 0.0  # not scheduled since: counts are unchanged
            th.status_t = t
        elif (counts := self._status_counts(th)) is None:
            self._n_nostatus += th.vol is not None
            th.vol = th.invol = th.vol_rate = th.invol_rate = None
            th.status_raw = raw
        else:
            vol, invol = counts
            start = th.status_t
            if prev_raw == th.status_raw and self._prev_t is not None:
                # Unchanged through the previous sample: every switch since the
                # last read came after it, so any window start back to the last
                # read is exact; one interval keeps idle spans from diluting it.
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

    def _convert(self, th: _Thread) -> bytes:
        """Switch a tracked thread to stat ticks; this stat is its new baseline."""
        stat_raw = self._stat_bytes(th)
        st = procfs.parse_stat(stat_raw)
        self._to_fallback(th, stat_raw)
        self._n_fallback += 1
        th.cpu_ns, th.runq_ns = (st.utime + st.stime) * _NS_PER_TICK, None
        return stat_raw

    def _to_fallback(self, th: _Thread, stat_raw: bytes) -> None:
        self._fds.release(th.fd)
        th.fd, th.stat_fd = th.stat_fd, -1  # the per-sample read is now stat
        th.path = f"{self._root}/{th.pid}/task/{th.tid}/stat"
        th.raw, th.fallback = stat_raw, True

    def _latch_no_schedstat(self) -> None:
        """The kernel gives no usable schedstat: every thread falls back to stat ticks."""
        if not self._no_schedstat:
            self._no_schedstat = True
            for other in self._by_tid.values():
                other.until = _NEVER  # expire cached samples so each one converts

    # -- discovery --------------------------------------------------------------

    def _list_threads(self, proc: _Proc, nt: int) -> int:
        """List the task directory and track new threads; how many were added."""
        try:
            tids = procfs.list_ints(f"{self._root}/{proc.pid}/task")
        except ProcError:
            return 0  # the process is going; its stat read decides next time
        proc.known_nt = nt
        added = 0
        for tid in tids:
            if tid not in self._by_tid and (th := self._discover(proc.pid, tid)) is not None:
                proc.threads.append(th)
                self._idle.append(self._build(th, 0, 0, 0, self._now_phases.get(tid), True))
                added += 1
        if added:
            proc.threads.sort(key=_TID)
        return added

    def _discover(self, pid: int, tid: int) -> _Thread | None:
        """Start tracking a thread: stat for identity, schedstat (or fallback), status."""
        th, t = _Thread(pid, tid), self._t
        try:
            # Stat fds may use half the budget: schedstat, read every sample, comes first.
            th.stat_fd = self._fds.hold(f"{self._root}/{pid}/task/{tid}/stat", 0.5)
            stat_raw = self._stat_bytes(th)
            st = procfs.parse_stat(stat_raw)
            th.start, th.name, th.state = st.start_time, st.name, st.state
            ticks_ns = (st.utime + st.stime) * _NS_PER_TICK
            if not self._no_schedstat:
                th.path = f"{self._root}/{pid}/task/{tid}/schedstat"
                try:
                    th.fd = self._fds.hold(th.path)
                    th.raw = procfs.read_held(th.fd, th.path)
                    th.cpu_ns, th.runq_ns, th.switches = procfs.parse_schedstat(th.raw)
                    if not (th.cpu_ns or th.runq_ns or th.switches) and ticks_ns > 0:
                        self._latch_no_schedstat()  # all zeros for a thread that ran
                except ThreadGone:
                    self._stat_bytes(th)  # raises if it is the thread that went
                    self._latch_no_schedstat()  # schedstat is absent from this kernel
            if self._no_schedstat:
                self._to_fallback(th, stat_raw)
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

    def _release(self, th: _Thread) -> None:
        self._fds.release(th.fd)
        self._fds.release(th.stat_fd)
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
        self._fds.release(proc.stat_fd)
        proc.stat_fd = -1
        self._procs.pop(proc.pid, None)
        self._ppids.forget(proc.pid)

    def _add_proc(self, pid: int, role: str) -> None:
        # Always held, even over budget: it is the process's liveness signal.
        fd = self._fds.hold(f"{self._root}/{pid}/task/{pid}/stat", force=True)
        try:
            st = procfs.parse_stat(procfs.pread(fd))
        except ProcError:
            self._fds.release(fd)
            raise
        self._procs[pid] = _Proc(pid, role, fd, st.ppid, st.name)

    def _refresh_tree(self) -> None:
        """Re-discover descendant processes; root always stays."""
        self._tree_due = self._t + self._tree_iv
        excluded = set(self._exclude()) - {self._pid}
        known = None
        if self._use_children and len(self._by_tid) <= _CHILDREN_MAX_TASKS:
            known = {p.pid: [th.tid for th in p.threads] for p in self._procs.values()}
        try:
            wanted = procfs.find_tree(self._root, self._pid, excluded, self._ppids, known)
        except ProcError:
            return  # /proc itself unreadable this time: keep the known tree
        for pid in [p for p in self._procs if p not in wanted]:
            self._drop_proc(self._procs[pid])
        for pid in sorted(wanted - self._procs.keys()):
            try:
                self._add_proc(pid, "worker")
            except ProcError:
                continue  # exited meanwhile
        self._pids = frozenset(self._procs)

    def _mark_phase_changes(self, phases: Mapping[int, str]) -> None:
        """Expire cached samples of threads whose probe phase changed."""
        self._now_phases = phases
        old = self._phases
        if phases == old:
            return
        for tid in old.keys() | phases.keys():
            if old.get(tid) != phases.get(tid) and (th := self._by_tid.get(tid)) is not None:
                th.until = _NEVER
        self._phases = dict(phases)
