"""The kernel sampler: every thread of a lab's process tree, read from /proc.

`ProcSampler.sample()` returns an immutable `KernelView`: cumulative counters
plus this interval's shares and rates. It reads from outside the lab, so the
lab's GIL is never taken to measure it. What it tracks between samples, and
how it discovers and forgets processes and threads, is in `tracker`.

It runs at 10 Hz over thousands of threads inside the observer, so the cost
model shapes the code. The yardstick is one ``pread`` of ``schedstat`` per
thread per sample, the least any sampler can do: ≈ 2 µs of CPU on a busy
2-core VM, nearly all of it in the kernel. Per thread per sample:

- ``schedstat`` is re-read through a held fd. Unchanged bytes mean the
  thread has not been on a CPU since, so nothing it shows can have changed
  (``stat`` and ``status`` included) and its previous `ThreadSample` is
  reused as is: a bytes compare over the pread.
- A thread whose counters moved, or whose cached sample expired, is handled
  inline in `ProcSampler._scan_threads` (no call per thread): three ints
  parsed, shares computed in locals, constants where a share is 0 or 1, one
  `ThreadSample` built with ``tuple.__new__``. ≈ 1 µs of Python on a quiet
  machine, ≈ 1.5–2 µs with a busy lab thrashing the caches.
- ``status`` (voluntary / involuntary switches, and the name and state
  letter) is re-read only for threads that ran, when due: every
  ``status_interval`` (1 s), staggered across threads. Once threads are
  busy these reads dominate: ≈ 2.5 µs each in a tight loop, 5–7 µs in the
  scan of a busy lab (cold kernel paths, task data hot on the lab's CPU),
  plus ≈ 1 µs to parse it in one pass (`procfs.parse_status`). ``stat``
  has its own turns every ``stat_interval``, which fall on the status
  turns; a ``status`` read through a held fd stands in for its turn's
  ``stat`` read, so with the default ``stat_interval`` (1 s, the same) a
  busy thread costs one ``status`` read a second and no ``stat`` read.
  (Read by path, status may belong to a new thread with the same tid: only
  stat, whose start time is checked, may say who the thread is; and a name
  status would escape comes from stat.)
- fds are held for all three files while the fd budget allows (stat and
  status only under 80% of it, see `tracker.Tracker._discover`); past it,
  files are read by path (open, read, close: ≈ 3× a pread).

The loop itself exists twice: `_scan_threads` in Python, and the same loop
in C (`_hotloop.c`, built by setup.py where there is a C compiler), which
`_scan` picks when it is there (``CCVIZ_PURE_PYTHON=1``: never). The C loop
first makes every schedstat read back to back without the GIL (the kernel's
caches stay warm, as in the floor's own loop, and the UI thread runs
meanwhile), then the status reads it is sure to need, then goes through the
threads: an unchanged schedstat is a memcmp (no object made), a moved one
three numbers and one `ThreadSample`, a status refresh through a held fd a
parse in C. Everything rare goes through the same Python methods at the
same points. Each process's stat is parsed, and the busiest-first order
sorted, in C as well. Tests run both loops over the same randomised fake
trees and compare every view. With every thread busy this takes the cost
from ≈ 2.5× to ≈ 1.7–1.9× the pread floor (`make perf`, 100 to 5,000 threads).

Per sample: one ``stat`` read per process (liveness, thread count); its task
directory is listed only when that count changed or a thread vanished; the
tree is re-discovered every ``tree_interval`` only if a pid was handed out
since (``loadavg``), a process of the tree left, or the exclusions changed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from types import ModuleType, TracebackType

from workloads import procfs
from workloads.frames import ProcessSample, ThreadSample
from workloads.procfs import ProcError, ProcessGone, ProcUnreadable, ThreadGone
from workloads.tracker import (
    ALWAYS,
    NEVER,
    NS_PER_TICK,
    Proc,
    Thread,
    Tracker,
    advance,
    status_of,
)

__all__ = ["KernelView", "ProcSampler", "ProcessGone"]

_EPS = 1e-6  # s: float noise between two schedules meant to coincide
_SCHEDSTAT_SIZE = 256  # three numbers; small enough to stay out of malloc
_TID = attrgetter("tid")


def _schedstat(raw: bytes) -> tuple[int, int, int] | None:
    try:
        return procfs.parse_schedstat(raw)
    except ProcUnreadable:
        return None


def _schedstat_ints(raw: bytes) -> tuple[int, int, int] | None:
    """What the Python hot loop makes of a schedstat read: three ints, or None (gone)."""
    try:
        a, b, c = raw.split()
        return int(a), int(b), int(c)
    except ValueError:
        return _schedstat(raw)


def _load_hotloop() -> ModuleType | None:
    """The C hot loop (`_hotloop.c`), unless it was not built or CCVIZ_PURE_PYTHON is set."""
    if os.environ.get("CCVIZ_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from workloads import _hotloop
    except ImportError:
        return None
    _hotloop.bind(Thread, ThreadSample, procfs.Stat, procfs.parse_stat, NEVER, ALWAYS)
    return _hotloop


_HOTLOOP = _load_hotloop()
_GONE_ERRORS = (OSError, ProcError)  # a read failing so means the thread is gone (both loops)
# Each process's stat, every sample: in C where it can be (the same Stat).
_parse_stat = procfs.parse_stat if _HOTLOOP is None else _HOTLOOP.parse_stat
HOT_LOOP = "C" if _HOTLOOP is not None else "Python"  # which one samples: shown by bench / perf


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


class ProcSampler(Tracker):
    """Samples root_pid and its descendants (minus exclude_pids) from /proc.

    ``ProcSampler(root_pid, *, proc_root="/proc", clock=time.monotonic,
    exclude_pids=lambda: (), stat_interval=1.0, status_interval=1.0,
    tree_interval=0.5)``: see `Tracker`. Raises `ProcessGone` if there is no
    such process.
    """

    def __enter__(self) -> ProcSampler:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

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
        load: list[float] = []  # -(executing + runnable) of each busy sample
        idle: list[ThreadSample] = []
        self._busy, self._load, self._idle = busy, load, idle
        processes: list[ProcessSample] = []
        added = 0
        if self._root_alive and t >= self._tree_due:
            self._refresh_tree()
        pending, self._pending = self._pending, []  # first seen before this sample
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
        if pending and self._root_alive:
            self._promote_pending(pending)  # seen again: now worth three held fds
        if not self._root_alive:  # the tree dies with its root: stop reading it
            for proc in list(self._procs.values()):
                self._drop_proc(proc)
            busy, load, idle, processes = [], [], [], []
            self._d_cpu, self._sps = 0, 0.0
        # Busiest first, then by tid: a stable sort on the load alone keeps
        # tid order among equals, which each process's run is in already.
        ranked = None if _HOTLOOP is None else _HOTLOOP.busiest(busy, load, len(processes) > 1)
        if ranked is not None:  # the same order, sorted in C
            threads = ranked
        else:
            by: Iterable[int] = range(len(busy))
            if len(processes) > 1:
                by = sorted(by, key=lambda i: busy[i].tid)
            threads = [busy[i] for i in sorted(by, key=load.__getitem__)]
        if added or len(processes) > 1:
            idle.sort(key=_TID)  # runs already in tid order: timsort merges them cheaply
        threads.extend(idle)
        # Let go of this sample's lists while their items are still in the
        # cache, not at the start of the next sample (thousands of cold decrefs).
        self._busy, self._load, self._idle = [], [], []
        self._prev_t = t
        if self._procs:
            ok = self._n_fallback == 0
            self._fidelity = {"schedstat": ok, "runnable": ok, "status": self._n_nostatus == 0}
        has_status = self._n_nostatus < len(self._by_tid)
        return KernelView(
            t=t,
            dt=dt,
            threads=tuple(threads),
            processes=tuple(processes),
            root_alive=self._root_alive,
            switches_total=self._switches_total,
            switches_per_s=self._sps,
            voluntary_per_s=max(0.0, self._vol_sum) if has_status else None,
            involuntary_per_s=max(0.0, self._invol_sum) if has_status else None,
            cpu_percent=self._d_cpu / dt / 1e7 if dt > 0 else 0.0,
            fidelity=dict(self._fidelity),
            scan_us=(time.thread_time() - t0) * 1e6,
            threads_seen=len(threads),
        )

    def _scan_proc(self, proc: Proc) -> tuple[int, int]:
        """Sample one process: (threads sampled, or -1 if it is gone; threads added)."""
        try:
            st = _parse_stat(procfs.pread(proc.stat_fd))
        except ProcError:
            st = None
        if st is None or (st.state in ("Z", "X") and st.num_threads <= 1):
            self._drop_proc(proc)
            return -1, 0
        proc.ppid, proc.name = st.ppid, st.name
        if gone := self._scan(proc.threads):
            for th in gone:
                self._drop_thread(th)
            proc.threads = [th for th in proc.threads if th.tid in self._by_tid]
        added = 0
        if gone or st.num_threads != proc.known_nt:
            added = self._list_threads(proc, st.num_threads)
        t = self._t
        if t >= proc.statm_due:
            proc.statm_due = t + self._stat_iv
            try:
                pages = procfs.parse_statm_rss(procfs.read_file(f"{self._root}/{proc.pid}/statm"))
                proc.rss = pages * procfs.PAGE_SIZE
            except ProcError:
                pass  # keep the last figure; the next stat read decides if it is gone
        return len(proc.threads), added

    def _scan_threads(self, threads: list[Thread]) -> list[Thread]:
        """The hot loop: sample each thread, appending to this sample's lists; the gone ones.

        Every line here runs once per thread per sample, so a schedstat thread
        is handled inline: no call but the `_refresh` of the few threads with
        a stat or status read due, attributes bound to locals, sums kept in
        locals and written back once, constants where a share is known to be
        0 or 1 (no float allocated). Fallback threads go through
        `_update_fallback`. Any OSError, like any ProcError, means the thread
        is gone (exited; or unreadable, which is as good as gone).
        """
        t, dt, phases = self._t, self._dt, self._now_phases or None
        span = dt * 1e9
        pread, read_file, refresh = os.pread, procfs.read_file, self._refresh
        new, sample_type = tuple.__new__, ThreadSample
        busy, load, idle = self._busy.append, self._load.append, self._idle.append
        d_cpu_sum = d_sw_sum = 0
        sps_sum = self._sps  # floats: summed in thread order, as one running total
        gone: list[Thread] = []
        for th in threads:
            try:
                fd = th.fd
                raw = pread(fd, _SCHEDSTAT_SIZE, 0) if fd >= 0 else read_file(th.path)
            except _GONE_ERRORS:
                gone.append(th)
                continue
            prev = th.raw
            if raw == prev:  # not on a CPU since the last sample
                if t < th.until:
                    idle(th.sample)  # nothing it shows can have changed
                    continue
                if th.fast:  # an idle interval after a busy one, or a refresh due
                    if t >= th.due:
                        try:
                            refresh(th, raw, prev)
                        except ProcError:
                            gone.append(th)
                            continue
                    phase = phases.get(th.tid) if phases else None
                    wa = 1.0 if dt > 0 else 0.0
                    th.sample = s = new(sample_type, (
                        th.pid, th.tid, th.name, th.state, th.cpu_ns, th.runq_ns, th.switches,
                        th.vol, th.invol, 0.0, 0.0, wa,
                        None if phase is None else (wa if phase == "cpu" else 0.0),
                        0.0, th.vol_rate, th.invol_rate, phase, False,
                    ))  # fmt: skip
                    # Valid until a due refresh could change what it shows.
                    until = ALWAYS if raw == th.stat_raw else th.stat_due
                    if (raw != th.status_raw or th.vol_rate or th.invol_rate) and (
                        th.status_due < until
                    ):
                        until = th.status_due
                    th.until = until
                    idle(s)
                    continue
            elif th.fast:
                try:
                    a, b, c = raw.split()
                    cpu, runq, slices = int(a), int(b), int(c)
                except ValueError:  # not three numbers (empty: exited)
                    if (parsed := _schedstat(raw)) is None:
                        gone.append(th)
                        continue
                    cpu, runq, slices = parsed
                d_cpu = cpu - th.cpu_ns
                d_sw = slices - th.switches
                if d_cpu < 0 or d_sw < 0:  # only when read by path
                    gone.append(th)  # counters went back: the tid was reused
                    continue
                d_runq = runq - (th.runq_ns or 0)
                th.raw = raw
                th.cpu_ns = cpu
                th.runq_ns = runq
                th.switches = slices
                th.until = NEVER
                if t >= th.due:
                    try:
                        refresh(th, raw, prev)
                    except ProcError:
                        gone.append(th)
                        continue
                if dt > 0:
                    ex = d_cpu / span if d_cpu < span else 1.0
                    ru = (d_runq / span if d_runq < span else 1.0) if d_runq > 0 else 0.0
                    wa = 1.0 - ex - ru
                    if wa <= 0.0:
                        wa = 0.0
                    sps = d_sw / dt
                else:
                    ex = ru = wa = sps = 0.0
                phase = phases.get(th.tid) if phases else None
                th.sample = s = new(sample_type, (
                    th.pid, th.tid, th.name, th.state, cpu, runq, slices, th.vol, th.invol,
                    ex, ru, wa,
                    None if phase is None else (wa if phase == "cpu" and wa > 0.5 else 0.0),
                    sps, th.vol_rate, th.invol_rate, phase, False,
                ))  # fmt: skip
                d_cpu_sum += d_cpu
                d_sw_sum += d_sw
                sps_sum += sps
                if ex or ru:
                    busy(s)
                    load(-(ex + ru))
                else:
                    idle(s)
                continue
            # Fallback threads (no schedstat), or converting to fallback.
            try:
                s, d_cpu, d_sw = self._update_fallback(
                    th, raw, phases.get(th.tid) if phases else None
                )
            except ProcError:  # exited, or a tid reused under a path read
                gone.append(th)
                continue
            d_cpu_sum += d_cpu
            d_sw_sum += d_sw
            sps_sum += s.switches_per_s
            if s.executing:
                busy(s)
                load(-s.executing)
            else:
                idle(s)
        self._d_cpu += d_cpu_sum
        self._switches_total += d_sw_sum
        self._sps = sps_sum
        return gone

    def _scan_threads_c(self, threads: list[Thread]) -> list[Thread]:
        """`_scan_threads` done by the C hot loop: the same samples, lists and sums."""
        phases = self._now_phases or None
        if phases is not None and type(phases) is not dict:
            phases = dict(phases)
        assert _HOTLOOP is not None
        gone: list[Thread]
        gone, d_cpu, d_sw, self._sps = _HOTLOOP.scan(
            self, threads, phases, procfs.read_file, _schedstat_ints, _GONE_ERRORS, ProcError
        )
        self._d_cpu += d_cpu
        self._switches_total += d_sw
        return gone

    # The loop `_scan_proc` runs: C when it was built, else Python (tests run both).
    _scan = _scan_threads_c if _HOTLOOP is not None else _scan_threads
    # Called as self._status_hook(th) before each status read the C loop makes
    # itself (the others go through `_status_bytes`): tests and benchmarks count them.
    _status_hook: Callable[[Thread], object] | None = None

    def _update_fallback(
        self, th: Thread, raw: bytes, phase: str | None
    ) -> tuple[ThreadSample, int, int]:
        """A thread without schedstat, its stat changed or its sample expired.

        Returns its sample, and the CPU ns and switches since the last one.
        """
        if not th.fallback:  # schedstat turned out unusable since its last read
            raw = self._convert(th)
        prev_raw, th.raw = th.raw, raw
        st = procfs.parse_stat(raw)
        if st.start_time != th.start:
            raise ThreadGone("tid reused")
        th.state, th.name, th.stat_raw = st.state, st.name, raw
        cpu = (st.utime + st.stime) * NS_PER_TICK
        if self._t >= th.status_due:
            self._refresh(th, raw, prev_raw)
        switches = (th.vol or 0) + (th.invol or 0)
        d_cpu, d_sw = cpu - th.cpu_ns, switches - th.switches
        d_cpu = d_cpu if d_cpu > 0 else 0
        d_sw = d_sw if d_sw > 0 else 0
        th.cpu_ns, th.switches = cpu, switches
        s = self._build(th, d_cpu, 0, d_sw, phase)
        if d_cpu or d_sw:
            th.until = NEVER
        else:  # valid until a due status refresh could change what it shows
            status_ok = raw == th.status_raw and not th.vol_rate and not th.invol_rate
            th.until = ALWAYS if status_ok else th.status_due
        return s, d_cpu, d_sw

    def _refresh(self, th: Thread, raw: bytes, prev_raw: bytes) -> None:
        """Re-read status and stat if due (stat: its fields unless status brought them)."""
        t = self._t
        if t >= th.status_due:
            th.status_due = advance(th.status_due, t, self._status_iv)
            if self._read_status(th, raw, prev_raw) and not th.fallback:
                th.stat_raw = raw  # name and state are as fresh as a stat read would make them
                if th.stat_due <= t + _EPS:  # this turn's stat read is done: skip it
                    th.stat_due = advance(th.stat_due, t + _EPS, self._stat_iv)
        if not th.fallback and t >= th.stat_due:
            th.stat_due = advance(th.stat_due, t, self._stat_iv)
            if raw != th.stat_raw:
                self._read_stat(th)
                th.stat_raw = raw
        th.due = min(th.stat_due, th.status_due)

    def _read_stat(self, th: Thread) -> None:
        raw = self._stat_bytes(th)
        if th.stat_fd >= 0:  # a held fd reads its own thread or fails: no identity check
            th.name, th.state = procfs.parse_stat_name_state(raw)
            return
        st = procfs.parse_stat(raw)
        if st.start_time != th.start:
            raise ThreadGone("tid reused")
        th.state, th.name = st.state, st.name

    def _read_status(self, th: Thread, raw: bytes, prev_raw: bytes) -> bool:
        """Refresh voluntary/involuntary counts, and their rates over the refresh window.

        True if the name and state letter were refreshed too: status read
        through a held fd (so from this very thread: no identity check needed).
        """
        t = self._t
        old_vr, old_ir = th.vol_rate or 0.0, th.invol_rate or 0.0
        named = False
        if raw == th.status_raw and th.vol is not None:
            th.vol_rate = th.invol_rate = 0.0  # not scheduled since: counts are unchanged
            th.status_t = t
        elif (data := self._status_bytes(th)) is None or (fields := status_of(data)) is None:
            self._n_nostatus += th.vol is not None
            th.vol = th.invol = th.vol_rate = th.invol_rate = None
            th.status_raw = raw
        else:
            vol, invol, name, state = fields
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
            if th.status_fd >= 0 and name is not None and state is not None:
                th.name, th.state = name, state
                named = True
        self._vol_sum += (th.vol_rate or 0.0) - old_vr
        self._invol_sum += (th.invol_rate or 0.0) - old_ir
        return named
