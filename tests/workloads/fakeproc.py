"""Fake /proc trees in a temp folder, for hermetic sampler tests.

Files are rewritten in place (same inode) so the sampler's held fds see new
counters, as they would on procfs. Removing a thread first truncates its files:
a held fd then reads nothing, which the sampler treats like the ESRCH a real
held fd gets once its thread exits.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass
class FakeThread:
    pid: int
    tid: int
    name: str = "python"
    state: str = "S"
    start: int = 1000  # stat field 22, clock ticks after boot
    utime: int = 0
    stime: int = 0
    cpu_ns: int = 0
    runq_ns: int = 0
    slices: int = 0
    vol: int = 0
    invol: int = 0
    schedstat: bool = True  # False: no schedstat file, like a kernel without it
    children: list[int] = field(default_factory=list)


class FakeProc:
    """Builds and mutates a /proc-like tree under `root`."""

    def __init__(self, root: Path, *, children_files: bool = True) -> None:
        self.root = root
        self.children_files = children_files
        self.threads: dict[int, FakeThread] = {}
        self.ppids: dict[int, int] = {}
        self.rss_pages: dict[int, int] = {}
        root.mkdir(parents=True, exist_ok=True)

    @property
    def path(self) -> str:
        return str(self.root)

    # -- building --------------------------------------------------------------

    def add_process(self, pid: int, ppid: int = 1, name: str = "python", **fields: Any) -> None:
        """A process with its main thread (tid == pid)."""
        self.ppids[pid] = ppid
        self.rss_pages.setdefault(pid, 100)
        (self.root / str(pid) / "task").mkdir(parents=True, exist_ok=True)
        self.add_thread(pid, pid, name=name, **fields)
        parent = self.threads.get(ppid)
        if parent is not None:
            parent.children.append(pid)
            self._write_thread(parent)

    def add_thread(self, pid: int, tid: int, **fields: Any) -> None:
        self.threads[tid] = FakeThread(pid, tid, **fields)
        self._rewrite_process(pid)

    def ghost_thread(self, pid: int, tid: int) -> None:
        """A task directory with no files: listed, but gone by the time it is read."""
        (self.root / str(pid) / "task" / str(tid)).mkdir(parents=True)

    # -- mutating --------------------------------------------------------------

    def update(self, tid: int, **changes: Any) -> None:
        """Set fields of a thread; numbers given as "+5" style via `bump` instead."""
        th = replace(self.threads[tid], **changes)
        self.threads[tid] = th
        self._write_thread(th)

    def bump(self, tid: int, **deltas: int) -> None:
        th = self.threads[tid]
        self.update(tid, **{k: getattr(th, k) + v for k, v in deltas.items()})

    def remove_thread(self, tid: int) -> None:
        th = self.threads.pop(tid)
        tdir = self._tdir(th)
        for f in tdir.iterdir():
            f.write_bytes(b"")  # held fds now read nothing: "the thread exited"
        shutil.rmtree(tdir)
        self._rewrite_process(th.pid)

    def reuse_tid(self, tid: int, *, start: int, **fields: Any) -> None:
        """The old thread exits and a new one gets the same tid."""
        pid = self.threads[tid].pid
        self.remove_thread(tid)
        self.add_thread(pid, tid, start=start, **fields)

    def reparent(self, pid: int, ppid: int) -> None:
        """What the kernel does to a process whose parent exits."""
        self.ppids[pid] = ppid
        self._rewrite_process(pid)

    def set_last_pid(self, pid: int) -> None:
        """Write ``loadavg``, whose last field is the pid handed out last."""
        (self.root / "loadavg").write_bytes(f"0.00 0.01 0.05 1/80 {pid}\n".encode())

    def remove_process(self, pid: int) -> None:
        for tid in [t for t, th in self.threads.items() if th.pid == pid]:
            self.remove_thread(tid)
        for f in (self.root / str(pid)).iterdir():
            if f.is_file():
                f.write_bytes(b"")
        shutil.rmtree(self.root / str(pid))
        del self.ppids[pid]

    # -- writing ---------------------------------------------------------------

    def _tdir(self, th: FakeThread) -> Path:
        return self.root / str(th.pid) / "task" / str(th.tid)

    def _rewrite_process(self, pid: int) -> None:
        for th in self.threads.values():
            if th.pid == pid:
                self._write_thread(th)
        main = self.threads.get(pid)
        if main is not None:
            (self.root / str(pid) / "stat").write_bytes(self._stat(main))
            (self.root / str(pid) / "statm").write_bytes(
                f"5000 {self.rss_pages[pid]} 300 1 0 900 0\n".encode()
            )

    def _stat(self, th: FakeThread) -> bytes:
        nt = sum(1 for t in self.threads.values() if t.pid == th.pid)
        ppid = self.ppids.get(th.pid, 1)
        return (
            f"{th.tid} ({th.name}) {th.state} {ppid} {th.pid} {th.pid} 0 -1 4194368 10 0 0 0 "
            f"{th.utime} {th.stime} 0 0 20 0 {nt} 0 {th.start} 90000000 2458 "
            "18446744073709551615 1 1 0 0 0 0 0 16781312 2 0 0 0 17 1 0 0 0 0 0\n"
        ).encode()

    def _write_thread(self, th: FakeThread) -> None:
        tdir = self._tdir(th)
        tdir.mkdir(parents=True, exist_ok=True)
        (tdir / "stat").write_bytes(self._stat(th))
        (tdir / "comm").write_bytes(th.name.encode() + b"\n")
        if th.schedstat:
            (tdir / "schedstat").write_bytes(f"{th.cpu_ns} {th.runq_ns} {th.slices}\n".encode())
        (tdir / "status").write_bytes(
            (
                f"Name:\t{th.name}\nState:\t{th.state}\nTgid:\t{th.pid}\nPid:\t{th.tid}\n"
                f"PPid:\t{self.ppids.get(th.pid, 1)}\nThreads:\t1\n"
                f"voluntary_ctxt_switches:\t{th.vol}\n"
                f"nonvoluntary_ctxt_switches:\t{th.invol}\n"
            ).encode()
        )
        if self.children_files:
            (tdir / "children").write_bytes("".join(f"{c} " for c in th.children).encode())
        if th.tid == th.pid and (self.root / str(th.pid) / "stat").exists():
            (self.root / str(th.pid) / "stat").write_bytes(self._stat(th))
