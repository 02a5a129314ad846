"""What `sampler.ProcSampler` keeps between samples, and how it finds and drops it.

`Tracker` holds the lab's processes (`Proc`) and threads (`Thread`) with their
held fds, discovers new ones (a thread count that changed, a tree refresh),
forgets exited ones, and reads the per-thread files other than the one read
every sample. The sampler, its subclass, adds the per-sample scan; the cost
model is in its module docstring.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from operator import attrgetter

from workloads import procfs
from workloads.frames import ThreadSample
from workloads.procfs import PpidCache, ProcError, ProcessGone, ProcUnreadable, ThreadGone

__all__ = ["ALWAYS", "NEVER", "NS_PER_TICK", "Proc", "Thread", "Tracker", "advance", "status_of"]

NS_PER_TICK = 1_000_000_000 // procfs.CLK_TCK
NEVER, ALWAYS = -math.inf, math.inf
_CHILDREN_MAX_TASKS = 32  # above this, one /proc scan beats a children read per thread
_GOLDEN = 0.6180339887498949  # successive multiples mod 1 never bunch up: a good stagger
_LOW_SHARE = 0.8  # stat and status fds stop at this share of the fd budget (see _discover)
_STATUS_SIZE = 16384  # status can outgrow a page (long Cpus_allowed lists)
_TID = attrgetter("tid")


def advance(due: float, t: float, interval: float) -> float:
    """The next due time after `t`, whole intervals on from `due` (keeps the stagger)."""
    return t if interval <= 0 else due + interval * (int((t - due) // interval) + 1)


def status_of(status: bytes) -> tuple[int, int, str | None, str | None] | None:
    """`procfs.parse_status` of a status read; None if it has no switch counts."""
    try:
        return procfs.parse_status(status)
    except ProcUnreadable:
        return None


@dataclass(slots=True, eq=False)
class Thread:
    """One thread's history; a new (tid, start time) pair is a new Thread."""

    # Read by the hot loop for every thread, every sample: kept together, first.
    pid: int
    tid: int
    fd: int = -1  # held fd of the per-sample file (schedstat; stat in fallback); -1: by path
    raw: bytes = b""  # the per-sample file at the last sample
    until: float = NEVER  # `sample` stays valid while raw is unchanged and t < until
    fast: bool = True  # schedstat in use: sampled inline by the hot loop
    due: float = NEVER  # min(stat_due, status_due): a refresh is due once t >= due
    sample: ThreadSample = field(init=False)
    cpu_ns: int = 0
    runq_ns: int | None = 0
    switches: int = 0
    name: str = "?"
    state: str = "?"
    vol: int | None = None
    invol: int | None = None
    vol_rate: float | None = None
    invol_rate: float | None = None
    stat_raw: bytes = b""  # raw when stat was last read
    status_raw: bytes = b""  # raw when status was last read
    stat_due: float = 0.0
    status_due: float = 0.0
    # Read at refreshes, discovery and exit.
    status_t: float = 0.0
    start: int = 0  # stat field 22
    path: str = ""
    stat_fd: int = -1
    status_fd: int = -1
    fallback: bool = False  # no usable schedstat: CPU from stat ticks, no run-queue time
    pending: bool = False  # seen once, read by path: fds are held if it lives to the next sample


@dataclass(slots=True, eq=False)
class Proc:
    pid: int
    role: str
    stat_fd: int  # the main thread's stat: liveness, thread count, name, ppid
    ppid: int = 0
    name: str = "?"
    rss: int = 0
    statm_due: float = NEVER
    known_nt: int = -1  # thread count at the last listing; -1 forces one
    threads: list[Thread] = field(default_factory=list)  # sorted by tid


class Tracker:
    """The tracked tree of `root_pid` and its descendants (minus `exclude_pids`).

    `proc_root` is where /proc is (tests pass a fake tree); `clock` gives the
    sample times; a thread that ran has its ``stat`` re-read at most every
    `stat_interval` s and its ``status`` every `status_interval` s; the tree
    is re-discovered at most every `tree_interval` s. Raises `ProcessGone`
    if `root_pid` is not there.
    """

    def __init__(
        self,
        root_pid: int,
        *,
        proc_root: str = "/proc",
        clock: Callable[[], float] = time.monotonic,
        exclude_pids: Callable[[], Collection[int]] = lambda: (),
        stat_interval: float = 1.0,
        status_interval: float = 1.0,
        tree_interval: float = 0.5,
    ) -> None:
        self._root, self._pid, self._clock = proc_root, root_pid, clock
        self._exclude = exclude_pids
        self._stat_iv, self._status_iv = stat_interval, status_interval
        self._tree_iv = tree_interval
        self._fds = procfs.FdPool()
        self._procs: dict[int, Proc] = {}
        self._by_tid: dict[int, Thread] = {}
        self._pending: list[Thread] = []  # seen once, not yet read through fds
        self._phases: dict[int, str] = {}
        self._ppids = PpidCache(proc_root)
        self._use_children = os.path.exists(f"{proc_root}/{root_pid}/task/{root_pid}/children")
        self._prev_t: float | None = None
        self._tree_due = NEVER
        self._tree_key: tuple[object, ...] | None = None  # what the last tree refresh saw
        self._procs_dropped = 0
        self._stagger = 0.0
        self._no_schedstat = False  # latched: this kernel gives no usable schedstat
        self._n_fallback = self._n_nostatus = 0  # tracked threads without schedstat / status
        self._switches_total = self._d_cpu = 0
        self._vol_sum = self._invol_sum = self._sps = 0.0
        # This sample's context, set by ProcSampler.sample() for the helpers.
        self._t = self._dt = 0.0
        self._now_phases: Mapping[int, str] = {}
        self._busy: list[ThreadSample] = []
        self._load: list[float] = []  # -(executing + runnable) of each busy sample
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

    def close(self) -> None:
        """Close every held fd; idempotent."""
        for proc in list(self._procs.values()):
            self._drop_proc(proc)
        self._closed = True

    def _build(
        self, th: Thread, d_cpu: int, d_runq: int, d_sw: int, phase: str | None, new: bool = False
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
        th.sample = s = ThreadSample(
            th.pid, th.tid, th.name, th.state, th.cpu_ns, th.runq_ns, th.switches, th.vol,
            th.invol, ex, ru, wa, gil, sps, th.vol_rate, th.invol_rate, phase, new,
        )  # fmt: skip
        return s

    def _task_path(self, th: Thread, name: str) -> str:
        return f"{self._root}/{th.pid}/task/{th.tid}/{name}"

    def _stat_bytes(self, th: Thread) -> bytes:
        fd = th.stat_fd
        return procfs.pread(fd) if fd >= 0 else procfs.read_file(self._task_path(th, "stat"))

    def _status_bytes(self, th: Thread) -> bytes | None:
        """status, through the held fd or by path; None if unreadable. ThreadGone passes."""
        fd = th.status_fd
        try:
            if fd >= 0:
                return procfs.pread(fd, _STATUS_SIZE)
            return procfs.read_file(self._task_path(th, "status"), _STATUS_SIZE)
        except ThreadGone:
            raise
        except ProcUnreadable:
            return None

    def _convert(self, th: Thread) -> bytes:
        """Switch a tracked thread to stat ticks; this stat is its new baseline."""
        stat_raw = self._stat_bytes(th)
        st = procfs.parse_stat(stat_raw)
        self._to_fallback(th, stat_raw)
        self._n_fallback += 1
        th.cpu_ns, th.runq_ns = (st.utime + st.stime) * NS_PER_TICK, None
        return stat_raw

    def _to_fallback(self, th: Thread, stat_raw: bytes) -> None:
        self._fds.release(th.fd)
        th.fd, th.stat_fd = th.stat_fd, -1  # the per-sample read is now stat
        th.path = self._task_path(th, "stat")
        th.raw, th.fallback, th.fast = stat_raw, True, False

    def _latch_no_schedstat(self) -> None:
        """The kernel gives no usable schedstat: every thread falls back to stat ticks."""
        if not self._no_schedstat:
            self._no_schedstat = True
            for other in self._by_tid.values():
                other.until, other.fast = NEVER, False  # each one converts at its next read

    # -- discovery --------------------------------------------------------------

    def _list_threads(self, proc: Proc, nt: int) -> int:
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

    def _discover(self, pid: int, tid: int) -> Thread | None:
        """First sighting of a thread: stat, schedstat and status read by path, no fd held.

        A lab that starts a thread per task sees most of its threads exactly
        once (they live 20 ms, a sample is 100 ms), and holding three fds for
        each, to close them at the next sample, cost ~70 µs a thread: most of
        the sampler's time on such a lab. So a new thread is read by path,
        shown as new, and `_promote`d to held fds (and a status baseline) only
        if it is still there at the next sample. Without usable schedstat the
        thread is tracked at once (`_discover_held`).
        """
        if self._no_schedstat:
            return self._discover_held(pid, tid)
        th = Thread(pid, tid)
        try:
            st = procfs.parse_stat(procfs.read_file(self._task_path(th, "stat")))
        except ProcError:
            return None  # gone already
        th.path = self._task_path(th, "schedstat")
        try:
            th.raw = procfs.read_file(th.path)
            th.cpu_ns, th.runq_ns, th.switches = procfs.parse_schedstat(th.raw)
        except ProcError:
            return self._discover_held(pid, tid)  # gone, or no schedstat: it decides
        if not (th.cpu_ns or th.runq_ns or th.switches) and st.utime + st.stime > 0:
            return self._discover_held(pid, tid)  # all zeros for a thread that ran
        try:
            status: bytes | None = procfs.read_file(self._task_path(th, "status"), _STATUS_SIZE)
        except ThreadGone:
            return None
        except ProcUnreadable:
            status = None
        th.start, th.name, th.state = st.start_time, st.name, st.state
        th.stat_raw = th.raw
        self._baseline_status(th, status)
        th.pending = True
        th.due = th.stat_due = th.status_due = ALWAYS  # nothing to refresh before `_promote`
        self._pending.append(th)
        self._by_tid[tid] = th
        self._switches_total += th.switches
        return th

    def _promote(self, th: Thread) -> bool:
        """A thread seen again: hold its fds, take a status baseline; False if it is gone."""
        try:
            th.stat_fd = self._fds.hold(self._task_path(th, "stat"), _LOW_SHARE)
            st = procfs.parse_stat(self._stat_bytes(th))
            if st.start_time != th.start:
                raise ThreadGone("tid reused")
            th.name, th.state = st.name, st.state
            th.fd = self._fds.hold(th.path)
            th.status_fd = self._fds.hold(self._task_path(th, "status"), _LOW_SHARE)
        except ProcError:
            return False
        th.pending = False
        th.stat_raw = th.raw  # the status baseline stays the first sighting's
        self._schedule(th)
        th.until = NEVER  # recompute its sample with the fresh name and state
        return True

    def _promote_pending(self, pending: list[Thread]) -> None:
        """Promote the threads of `pending` (first seen before this sample) still tracked."""
        for th in pending:
            if th.pending and self._by_tid.get(th.tid) is th and not self._promote(th):
                self._drop_thread(th)
                proc = self._procs.get(th.pid)
                if proc is not None:
                    proc.threads = [other for other in proc.threads if other is not th]

    def _discover_held(self, pid: int, tid: int) -> Thread | None:
        """Start tracking a thread: stat for identity, schedstat (or fallback), status.

        Fds: schedstat, read every sample, may use the whole budget; stat and
        status, read once or twice a second, only while the pool is under
        `_LOW_SHARE` of it, so the rest stays for the schedstat of threads
        that come later (5,000 threads hold 15,000 fds: 76% of a 20,000 limit).
        """
        th = Thread(pid, tid)
        try:
            th.stat_fd = self._fds.hold(self._task_path(th, "stat"), _LOW_SHARE)
            stat_raw = self._stat_bytes(th)
            st = procfs.parse_stat(stat_raw)
            th.start, th.name, th.state = st.start_time, st.name, st.state
            ticks_ns = (st.utime + st.stime) * NS_PER_TICK
            if not self._no_schedstat:
                th.path = self._task_path(th, "schedstat")
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
            th.status_fd = self._fds.hold(self._task_path(th, "status"), _LOW_SHARE)
            status = self._status_bytes(th)
        except ProcError:
            self._release(th)
            return None
        th.stat_raw = th.raw
        self._baseline_status(th, status)
        self._schedule(th)
        self._by_tid[tid] = th
        self._n_fallback += th.fallback
        self._switches_total += th.switches
        return th

    def _baseline_status(self, th: Thread, status: bytes | None) -> None:
        """Switch counts to measure rates from (None when status is unreadable)."""
        th.status_raw, th.status_t = th.raw, self._t
        if status is not None and (fields := status_of(status)) is not None:
            th.vol, th.invol = fields[0], fields[1]
            th.vol_rate = th.invol_rate = 0.0
        if th.fallback:
            th.switches = (th.vol or 0) + (th.invol or 0)
        self._n_nostatus += th.vol is None

    def _schedule(self, th: Thread) -> None:
        """Staggered stat and status refresh times for a thread read through fds.

        A thread's status turns fall on its stat turns, so a status read can
        stand in for a stat one (see `sampler`).
        """
        t = self._t
        self._stagger = (self._stagger + _GOLDEN) % 1.0
        stat_iv, phase = self._stat_iv, self._status_iv * self._stagger
        th.status_due = t + phase
        if stat_iv > 0 and phase > 0:
            th.stat_due = t + phase % stat_iv
        else:
            th.stat_due = t + stat_iv * self._stagger
        th.due = min(th.stat_due, th.status_due)

    def _release(self, th: Thread) -> None:
        for fd in (th.fd, th.stat_fd, th.status_fd):
            self._fds.release(fd)
        th.fd = th.stat_fd = th.status_fd = -1

    def _drop_thread(self, th: Thread) -> None:
        """Forget an exited thread; its switches stay in switches_total."""
        if self._by_tid.pop(th.tid, None) is None:
            return
        self._release(th)
        self._n_fallback -= th.fallback
        self._n_nostatus -= th.vol is None
        self._vol_sum -= th.vol_rate or 0.0
        self._invol_sum -= th.invol_rate or 0.0

    def _drop_proc(self, proc: Proc) -> None:
        for th in proc.threads:
            self._drop_thread(th)
        proc.threads = []
        self._fds.release(proc.stat_fd)
        proc.stat_fd = -1
        self._procs.pop(proc.pid, None)
        self._ppids.forget(proc.pid)
        self._procs_dropped += 1

    def _add_proc(self, pid: int, role: str) -> None:
        # Always held, even over budget: it is the process's liveness signal.
        fd = self._fds.hold(f"{self._root}/{pid}/task/{pid}/stat", force=True)
        try:
            st = procfs.parse_stat(procfs.pread(fd))
        except ProcError:
            self._fds.release(fd)
            raise
        self._procs[pid] = Proc(pid, role, fd, st.ppid, st.name)

    def _refresh_tree(self) -> None:
        """Re-discover descendant processes; root always stays.

        Skipped while nothing could have changed the tree: no pid handed out
        (no process born), no process of the tree gone (its children would
        be reparented out of it), the same exclusions.
        """
        self._tree_due = self._t + self._tree_iv
        excluded = set(self._exclude()) - {self._pid}
        last = procfs.last_pid(self._root)
        key = (last, frozenset(excluded), self._procs_dropped)
        if last is not None and key == self._tree_key:
            return
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
        self._tree_key = (last, key[1], self._procs_dropped)

    def _mark_phase_changes(self, phases: Mapping[int, str]) -> None:
        """Expire cached samples of threads whose probe phase changed."""
        self._now_phases = phases
        old = self._phases
        if phases == old:
            return
        for tid in old.keys() | phases.keys():
            if old.get(tid) != phases.get(tid) and (th := self._by_tid.get(tid)) is not None:
                th.until = NEVER
        self._phases = dict(phases)
