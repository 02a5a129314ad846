"""Work units: the CPU and IO parts of every task, and thread naming.

A task is `cpu_ms` of CPU work followed by `io_ms` of IO. CPU kinds:
`python` spins in pure Python and holds the GIL (calibrated per process so
1 ms of work takes ~1 ms alone on this machine); `native` hashes a buffer with
hashlib, which releases the GIL, so threads really run in parallel. IO kinds:
`socket` is a real round trip to the IO server (the thread blocks in the
kernel, the loop waits in epoll), `sleep`, `file` (write + fsync in a temp
dir), and `lock` (a critical section under one shared, contended mutex).
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "LOCK_HOLD_SHARE",
    "AsyncSocketClient",
    "Calibration",
    "SyncSocketClient",
    "TaskSpec",
    "burn",
    "calibrate",
    "file_io",
    "name_library_threads",
    "name_thread",
]

#: Share of a `lock` task's IO time spent holding the shared mutex.
LOCK_HOLD_SHARE = 0.25
_NATIVE_CHUNK = 64 * 1024
_NATIVE_BUF = os.urandom(_NATIVE_CHUNK)
_PR_SET_NAME = 15
_libc: ctypes.CDLL | None = None
_named: set[int] = set()


def name_thread(name: str) -> None:
    """Name the calling OS thread (what `/proc/<pid>/task/<tid>/comm` shows)."""
    global _libc
    _named.add(threading.get_native_id())
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - non-Linux
        pass


def name_library_threads() -> None:
    """Give threads started by libraries (executor managers, queue feeders) their
    Python name in the kernel too; otherwise they inherit their creator's name."""
    threads = threading.enumerate()
    _named.intersection_update({t.native_id for t in threads})  # forget exited threads
    for thread in threads:
        tid = thread.native_id
        if tid is None or tid in _named:
            continue
        _named.add(tid)
        name = thread.name
        if name.startswith("Thread-"):  # anonymous: the class says more (ExecutorManager)
            name = type(thread).__name__.strip("_").removesuffix("Thread") or name
        try:
            with open(f"/proc/self/task/{tid}/comm", "w", encoding="utf-8") as fh:
                fh.write(name.removesuffix("Thread")[:15])
        except OSError:
            pass


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task's work, fixed when it is submitted (so live changes apply to new tasks)."""

    cpu_ms: float
    io_ms: float
    cpu_kind: str
    io_kind: str
    submitted: float  # time.monotonic(), comparable across processes


@dataclass(frozen=True, slots=True)
class Calibration:
    """How much work makes one millisecond on this machine."""

    python_iters_per_ms: float
    native_chunks_per_ms: float


def _spin(n: int) -> int:
    x = 0
    for i in range(n):
        x += i * i
    return x


def _hash(n: int) -> None:
    for _ in range(n):
        hashlib.sha256(_NATIVE_BUF).digest()


def _rate(fn: Callable[[int], object], n: int) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - t0)
    return n / (best * 1000.0)


def calibrate() -> Calibration:
    """Measure work per ms in this process (takes about 40 ms)."""
    return Calibration(
        python_iters_per_ms=_rate(_spin, 20_000),
        native_chunks_per_ms=_rate(_hash, 40),
    )


def burn(ms: float, kind: str, cal: Calibration) -> None:
    """Do `ms` milliseconds of CPU work of the given kind."""
    if ms <= 0:
        return
    if kind == "native":
        # Fractional chunks are carried by a final partial-size hash.
        chunks = ms * cal.native_chunks_per_ms
        _hash(int(chunks))
        rest = int((chunks - int(chunks)) * _NATIVE_CHUNK)
        if rest:
            hashlib.sha256(_NATIVE_BUF[:rest]).digest()
    else:
        _spin(max(1, int(ms * cal.python_iters_per_ms)))


def file_io(ms: float, directory: str) -> None:
    """Write and fsync 4 KiB blocks in a temp file until `ms` has passed (at least once)."""
    path = os.path.join(directory, f"io-{threading.get_native_id()}.dat")
    deadline = time.monotonic() + ms / 1000.0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block = b"x" * 4096
        while True:
            os.write(fd, block)
            os.fsync(fd)
            if time.monotonic() >= deadline:
                break
    finally:
        os.close(fd)


def _request(ms: float) -> bytes:
    return b"%d\n" % max(0, round(ms * 1000))


class SyncSocketClient:
    """Blocking requests to the IO server over a pool of kept-alive connections.

    Reusing connections (like an HTTP keep-alive pool) keeps thousands of tasks
    per second from exhausting ephemeral ports; a task that finds the pool
    empty opens a new connection, so the pool grows to the concurrency.
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._addr = (host, port)
        self._idle: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()

    def request(self, ms: float) -> None:
        try:
            sock = self._idle.get_nowait()
        except queue.Empty:
            sock = socket.create_connection(self._addr, timeout=30 + ms / 1000)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.sendall(_request(ms))
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(64)
                if not chunk:
                    raise ConnectionError("IO server closed the connection")
                reply += chunk
        except BaseException:
            sock.close()
            raise
        self._idle.put(sock)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


class AsyncSocketClient:
    """The asyncio twin of `SyncSocketClient`, for one event loop."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._host, self._port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, ms: float) -> None:
        if self._idle:
            reader, writer = self._idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self._host, self._port)
        try:
            writer.write(_request(ms))
            reply = await asyncio.wait_for(reader.readline(), timeout=30 + ms / 1000)
            if not reply.endswith(b"\n"):
                raise ConnectionError("IO server closed the connection")
        except BaseException:
            writer.close()
            raise
        self._idle.append((reader, writer))

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()
