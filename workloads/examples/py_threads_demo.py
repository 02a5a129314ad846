"""A Python process with named threads doing different kinds of work, to attach to.

    python workloads/examples/py_threads_demo.py [--seconds 300]
    ccviz attach PID          # the pid it prints on its first line

What `ccviz attach` shows in the threads pane (busiest first):

- ``demo-hash``: hashes 1 MiB buffers in 20 ms bursts; hashlib releases the GIL,
  so it is executing up to 40 % of the time, in parallel with ``demo-cpu``.
- ``demo-cpu``: pure-Python arithmetic in 20 ms bursts with 30 ms pauses:
  executing up to 40 % of the time. It holds the GIL while it computes, so the
  other Python threads wait behind it (in the kernel, as waiting, not runnable).
- ``demo-io-1`` … ``demo-io-3``: block in ``recv()`` until ``demo-tick`` sends
  them a byte every 10 ms: waiting nearly all the time, about 100 voluntary
  switches/s each and almost no involuntary ones — the signature of IO.
- ``demo-tick``: sleeps 10 ms between sends: waiting, about 100 switches/s.
- ``demo-stdin``: blocked reading stdin (only when stdin is a pipe): waiting,
  no switches at all.
- the main thread (named after the interpreter, e.g. ``python3``) sleeps until
  the end: waiting, no switches.

The Context switches pane shows roughly 500 voluntary switches/s in total. The
Event loop and Throughput panes say that app facts are not available when
attached: ccviz reads only the kernel's counters of a process it did not start.

It exits by itself after ``--seconds``, or when its stdin closes if stdin is a
pipe (so a test that dies takes it along). Thread names are set through
``/proc/thread-self/comm`` (Python 3.11 does not name OS threads).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import socket
import stat
import sys
import threading
import time

IO_THREADS = 3
TICK_S = 0.010
BURST_S = 0.020
PAUSE_S = 0.030


def name_this_thread(name: str) -> None:
    """Set the OS name of the calling thread (what /proc and ccviz show); best effort."""
    try:
        with open("/proc/thread-self/comm", "w", encoding="ascii") as fh:
            fh.write(name[:15])
    except OSError:
        pass  # not Linux, or /proc is not mounted: the thread keeps its inherited name


def python_cpu(stop: threading.Event) -> None:
    """Bursts of pure-Python work: holds the GIL while it runs."""
    name_this_thread("demo-cpu")
    while not stop.is_set():
        end = time.perf_counter() + BURST_S
        total = 0
        while time.perf_counter() < end:
            total += sum(i * i for i in range(500))
        stop.wait(PAUSE_S)


def native_hash(stop: threading.Event) -> None:
    """Bursts of hashing: hashlib releases the GIL for large buffers."""
    name_this_thread("demo-hash")
    data = os.urandom(1 << 20)
    while not stop.is_set():
        end = time.perf_counter() + BURST_S
        while time.perf_counter() < end:
            hashlib.sha256(data).digest()
        stop.wait(PAUSE_S)


def io_worker(index: int, sock: socket.socket, stop: threading.Event) -> None:
    """Blocks in recv() until the ticker writes: a thread waiting on IO."""
    name_this_thread(f"demo-io-{index}")
    with sock:
        while not stop.is_set():
            if not sock.recv(64):
                return


def ticker(socks: list[socket.socket], stop: threading.Event) -> None:
    """Wakes every TICK_S and sends each IO worker one byte."""
    name_this_thread("demo-tick")
    try:
        while not stop.wait(TICK_S):
            for sock in socks:
                sock.send(b".")
    finally:
        for sock in socks:
            sock.close()  # the workers' recv() returns b"": they end


def watch_stdin(stop: threading.Event) -> None:
    """Ends the program when stdin (a pipe) closes."""
    name_this_thread("demo-stdin")
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    stop.set()


def stdin_is_pipe() -> bool:
    """Only a pipe is watched: a terminal stays open, /dev/null would end us at once."""
    try:
        return stat.S_ISFIFO(os.fstat(0).st_mode)
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="exit after (default 300)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    pairs = [socket.socketpair() for _ in range(IO_THREADS)]
    threads = [
        threading.Thread(target=python_cpu, args=(stop,)),
        threading.Thread(target=native_hash, args=(stop,)),
        threading.Thread(target=ticker, args=([a for a, _ in pairs], stop)),
        *(
            threading.Thread(target=io_worker, args=(n, b, stop))
            for n, (_, b) in enumerate(pairs, start=1)
        ),
    ]
    if stdin_is_pipe():
        threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()
    for thread in threads:
        thread.start()
    pid = os.getpid()
    print(f"py_threads_demo: pid {pid} — attach with: ccviz attach {pid}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: end quietly
        stop.wait(args.seconds)
    stop.set()
    for thread in threads:
        thread.join(2.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
