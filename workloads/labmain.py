"""The lab process: runs one model on real work and reports app facts.

Started by the observer (`workloads.lab.LabProcess`) as
``python -m workloads.labmain '<config json>' [cpu,cpu,…]`` in its own session, so the
lab, its worker processes and its IO server form one process group. Protocol:
- stdin: JSON lines from the observer: ``{"op": "set", "changes": {...}}`` for
  live changes, ``{"op": "stop"}`` to end. EOF means the observer is gone: the
  lab ends its whole process group at once.
- stdout: JSON lines to the observer: one ``{"type": "ready", ...}`` line,
  then ``{"type":"facts",...}`` (a probe snapshot, compact, "type" first: the
  observer recognises it by that prefix without parsing) every 1/hz seconds, and
  ``{"type": "applied", ...}`` / ``{"type": "rejected", ...}`` after a change.
Anything else the lab's code prints goes to stderr, never the protocol.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
from typing import IO, Any

from workloads.config import LIVE_FIELDS, ConfigError, LabConfig
from workloads.models import MODEL_CLASSES, LabContext
from workloads.probe import Probe
from workloads.ticker import every
from workloads.work import calibrate, name_library_threads, name_thread

__all__ = ["main"]


class _Out:
    """The protocol stream, shared by the reporter and the control thread."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                self._stream.write(line)
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                _end_group()


def _end_group() -> None:
    """End the lab's whole process group: workers, IO server and the lab itself."""
    with contextlib.suppress(OSError):
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(0)


def _start_io_server() -> tuple[subprocess.Popen[bytes], int]:
    server = subprocess.Popen(
        [sys.executable, "-m", "workloads.ioserver"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line.strip().isdigit():
        raise RuntimeError("the IO server did not start")
    return server, int(line)


def _set_limits() -> None:
    """Raise the fd limit (thousands of sockets); optionally cap the address space.

    `CCVIZ_LAB_ADDRESS_SPACE_MB` caps the lab's virtual memory so that thread
    creation really fails (each thread maps an 8 MiB stack) — the way to try
    the "can't start new thread" path as root, whom RLIMIT_NPROC does not bind.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cap = os.environ.get("CCVIZ_LAB_ADDRESS_SPACE_MB")
    if cap:
        limit = int(cap) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _report(out: _Out, probe: Probe, hz: float) -> None:
    name_thread("probe")

    def tick() -> None:
        name_library_threads()
        out.send({"type": "facts", **probe.snapshot()})

    every(1.0 / hz, threading.Event(), tick)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    config = LabConfig.from_dict(json.loads(args[0]))
    # Keep the protocol on a private copy of stdout; stray prints go to stderr.
    out = _Out(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)
    name_thread("lab")
    server, port = _start_io_server()
    _set_limits()
    if len(args) > 1 and args[1]:
        # Pinned (a duel): the lab and every worker it starts share these CPUs;
        # the IO server, started above, is left free.
        os.sched_setaffinity(0, {int(c) for c in args[1].split(",")})
    probe = Probe()
    ctx = LabContext(
        config=config,
        probe=probe,
        cal=calibrate(),
        port=port,
        tmpdir=tempfile.mkdtemp(prefix="ccviz-lab-"),
    )
    model = MODEL_CLASSES[config.model](ctx)
    model.start()
    out.send(
        {
            "type": "ready",
            "pid": os.getpid(),
            "io_server_pid": server.pid,
            "calibration": {
                "python_iters_per_ms": ctx.cal.python_iters_per_ms,
                "native_chunks_per_ms": ctx.cal.native_chunks_per_ms,
            },
        }
    )
    threading.Thread(target=_report, args=(out, probe, config.hz), daemon=True).start()
    try:
        for line in sys.stdin:
            request = json.loads(line)
            if request.get("op") == "stop":
                break
            if request.get("op") == "set":
                changes = {k: v for k, v in request.get("changes", {}).items() if k in LIVE_FIELDS}
                try:
                    ctx.apply(ctx.config.replace(**changes))
                except (ConfigError, TypeError) as exc:
                    out.send({"type": "rejected", "error": str(exc)})
                else:
                    out.send(
                        {
                            "type": "applied",
                            "generation": probe.generation,
                            "config": ctx.config.to_dict(),
                        }
                    )
    finally:
        model.stop()
        with contextlib.suppress(OSError):
            for name in os.listdir(ctx.tmpdir):
                os.unlink(os.path.join(ctx.tmpdir, name))
            os.rmdir(ctx.tmpdir)
        _end_group()


if __name__ == "__main__":
    main()
