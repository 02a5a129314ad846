"""A real `ccviz run` in a real terminal: a detached tmux session on a private socket.

It gives the figures `run_test` cannot: the cost of turning each update into
escape sequences and writing them to a pty, and what a user would see (read
back with ``capture-pane``). ccviz's CPU comes from /proc/<pid>/stat; the tmux
server (the terminal's own cost) is measured apart. The socket is private to
this run, so ending its server touches no one else's tmux.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from perf_common import child_env, proc_cpu_s

__all__ = ["TmuxCcviz", "available"]


def available() -> bool:
    return shutil.which("tmux") is not None


class TmuxCcviz:
    """`ccviz run ARGS` in a detached tmux pane of `size`."""

    def __init__(self, args: Sequence[str], size: tuple[int, int] = (160, 48)) -> None:
        self.args = list(args)
        self.size = size
        self.socket = f"ccviz-perf-{os.getpid()}-{time.monotonic_ns()}"
        self.pid: int | None = None
        self.server_pid: int | None = None
        self.started_at = 0.0

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            check=True,
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=10,
        ).stdout

    def start(self) -> None:
        command = shlex.join([sys.executable, "-m", "tui.cli", "run", *self.args])
        width, height = self.size
        self.started_at = time.monotonic()
        self._tmux(
            "new-session",
            "-d",
            "-s",
            "perf",
            "-x",
            str(width),
            "-y",
            str(height),
            f"exec {command}",
        )
        self.pid = int(self._tmux("list-panes", "-t", "perf", "-F", "#{pane_pid}").split()[0])
        self.server_pid = int(self._tmux("display-message", "-p", "-t", "perf", "#{pid}").strip())

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "perf")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "perf", *keys)

    def wait_screen(self, pred: Callable[[str], bool], timeout: float) -> float | None:
        """Poll the screen until `pred` holds; the monotonic time it was seen, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.SubprocessError):
                if pred(self.screen()):
                    return time.monotonic()
            time.sleep(0.003)
        return None

    def cpu_s(self) -> tuple[float, float]:
        """(ccviz CPU seconds, tmux server CPU seconds) so far."""
        assert self.pid is not None and self.server_pid is not None
        return proc_cpu_s(self.pid), proc_cpu_s(self.server_pid)

    def stop(self) -> None:
        """Quit ccviz with `q` (so it stops its lab), then end this socket's server."""
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(subprocess.SubprocessError):
                self.keys("q")
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            if _alive(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.SubprocessError):
            self._tmux("kill-server")

    def __enter__(self) -> TmuxCcviz:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False
