"""The observer's handle on one lab process: start, control, facts, stop.

The lab runs in its own session (so it and everything it starts form one
process group the observer can end), with the lab's protocol on its stdin and
stdout (see `workloads.labmain`). The lab ends itself when its stdin closes,
so even a SIGKILLed observer leaves nothing behind. A reader thread keeps the
newest app facts; the sampler thread picks them up when it builds a frame.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from typing import IO, Any

from workloads.config import LabConfig

__all__ = ["LabError", "LabProcess"]

START_TIMEOUT_S = 20.0

#: How every facts line starts (`labmain` writes compact JSON, "type" first).
FACTS_PREFIX = b'{"type":"facts"'


class LabError(RuntimeError):
    """The lab failed to start or died; the message says why."""


class LabProcess:
    """One running lab. Not thread-safe for control; facts are read lock-free."""

    def __init__(self, config: LabConfig, cpus: frozenset[int] | None = None) -> None:
        self.config = config
        self.cpus = cpus
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workloads.labmain",
                json.dumps(config.to_dict()),
                *([",".join(map(str, sorted(cpus)))] if cpus else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,
            env=env,
        )
        self.pid = self.proc.pid
        self.io_server_pid: int | None = None
        self.calibration: dict[str, float] = {}
        self._facts_line: bytes | None = None  # newest probe snapshot, unparsed
        self._facts: tuple[bytes, dict[str, Any]] | None = None  # (line, parsed) last read
        self.rejected: str | None = None
        self._ready = threading.Event()
        self._ended = threading.Event()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="lab-reader", daemon=True)
        self._reader.start()

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Block until the lab reports ready; raise `LabError` with its stderr if it dies."""
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self._ended.is_set() or self.proc.poll() is not None:
                self.proc.wait(1.0)
                tail = self.stderr_tail()
                self.stop()
                raise LabError(f"the lab exited during start-up: {tail}")
            if time.monotonic() > deadline:
                self.stop()
                raise LabError(f"the lab did not start within {timeout:g} s")

    @property
    def facts(self) -> dict[str, Any] | None:
        """The newest probe snapshot (parsed on first read; None before the first)."""
        line, parsed = self._facts_line, self._facts
        if line is None:
            return None
        if parsed is not None and parsed[0] is line:
            return parsed[1]
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError:
            return None if parsed is None else parsed[1]
        self._facts = (line, message)
        return message

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            if raw.startswith(FACTS_PREFIX):  # the frequent line: kept, parsed on demand
                self._facts_line = raw
                continue
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            kind = message.get("type")
            if kind == "ready":
                self.io_server_pid = message.get("io_server_pid")
                self.calibration = message.get("calibration", {})
                self._ready.set()
            elif kind == "rejected":
                self.rejected = message.get("error")
        self._ended.set()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and not self._ended.is_set()

    def send(self, changes: dict[str, Any]) -> None:
        """Apply live changes (the lab validates and bumps its generation)."""
        self._write({"op": "set", "changes": changes})

    def _write(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        with self._lock, contextlib.suppress(BrokenPipeError, ValueError, OSError):
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            self.proc.stdin.flush()

    def stderr_tail(self, lines: int = 3) -> str:
        with contextlib.suppress(OSError, ValueError):
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace").strip().splitlines()
            return " | ".join(text[-lines:]) or "no output"
        return "no output"

    def stop(self, timeout: float = 2.0, known_pids: Iterable[int] = ()) -> None:
        """End the lab and its whole tree; idempotent.

        The lab kills its own process group on "stop" or stdin EOF. If it does
        not go within `timeout`, the observer kills the group (the lab's pid is
        its id) and any `known_pids` the sampler saw in the tree.
        """
        if self.proc.poll() is None:
            self._write({"op": "stop"})
            with contextlib.suppress(OSError, ValueError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(1.0)
        # The group outlives its leader if a member ignored the leader's kill.
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        for pid in (*known_pids, self.io_server_pid):
            if pid and pid != os.getpid():
                with contextlib.suppress(OSError):
                    if os.getpgid(pid) == self.pid:
                        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        self._reader.join(1.0)
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdout is not None
            self.proc.stdout.close()
        self._stderr.close()
