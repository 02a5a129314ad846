"""Attach to a process ccviz did not start: the kernel view of any readable pid.

`AttachSession` samples an existing process tree (the target and its
descendants) with the same `ProcSampler` and `FrameBuilder` as a lab, on a
sampler thread of its own, and hands each `Frame` to `on_frame`. There is no
probe inside the target, so `Frame.app` is always None: threads, states,
context switches and CPU are kernel truth; event-loop and task facts are
simply not known. ccviz starts nothing here and never signals the target.

Frames say what they describe through `config`: model ``"attach"`` plus the
target's pid, name and command line, so every consumer (panes, header,
verdict, recordings) can tell an attached process from a lab.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from workloads.config import ConfigError, LabConfig
from workloads.frame_builder import FrameBuilder
from workloads.frames import Frame
from workloads.history import FrameHistory
from workloads.procfs import ProcError, ProcessGone, parse_stat
from workloads.sampler import ProcSampler
from workloads.ticker import every
from workloads.verdict import Verdict, figures

__all__ = [
    "ATTACH_MODEL",
    "AttachError",
    "AttachSession",
    "Target",
    "attach_verdict",
    "inspect_target",
    "parse_pid",
]

#: `Frame.config["model"]` of every frame from an attached process.
ATTACH_MODEL = "attach"
_CMDLINE_MAX = 300  # characters kept for the header and the first event
_BUSY_THREAD = 0.8  # one thread on a CPU this share of the time is the limit


class AttachError(ConfigError):
    """The pid cannot be attached to; the message is one line naming the pid.

    A `ConfigError` (a value the user gave is wrong), so the CLI prints it as
    ``ccviz: error: …`` and exits 2 without a special case.
    """


@dataclass(frozen=True, slots=True)
class Target:
    """What the kernel says a process is, read once when attaching."""

    pid: int
    name: str  # comm, at most 15 bytes
    cmdline: str  # arguments joined by spaces; "" for kernel threads
    ppid: int

    @property
    def label(self) -> str:
        """`name (pid N)`, as the header shows it."""
        return f"{self.name} (pid {self.pid})"

    @property
    def command(self) -> str:
        """The command line, or ``[name]`` (how ps shows a kernel thread)."""
        return self.cmdline or f"[{self.name}]"


def parse_pid(value: object) -> int:
    """A positive pid from an int or a decimal string, else `AttachError`."""
    if isinstance(value, bool):
        raise AttachError(f"pid {value!r}: not a positive integer")
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("+-").isdigit():
            raise AttachError(f"pid {value!r}: not a positive integer")
        value = int(text)
    if not isinstance(value, int) or value <= 0:
        raise AttachError(f"pid {value!r}: not a positive integer")
    return value


def _read(pid: int, path: str) -> bytes | None:
    """A /proc file read once, for validation; None when the file does not exist.

    Permission and other errors become `AttachError` naming the file, because
    they are exactly what the user needs to hear.
    """
    try:
        with open(path, "rb") as fh:
            return fh.read(65536)
    except FileNotFoundError:
        return None
    except PermissionError:
        raise AttachError(f"pid {pid}: cannot read {path}: permission denied") from None
    except ProcessLookupError:  # ESRCH: it exited while we read
        raise AttachError(f"pid {pid}: no such process") from None
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        raise AttachError(f"pid {pid}: cannot read {path}: {reason}") from None


def _field(status: bytes, key: bytes) -> int | None:
    for line in status.splitlines():
        if line.startswith(key + b":"):
            try:
                return int(line.split(b":", 1)[1])
            except ValueError:
                return None
    return None


def inspect_target(pid: object, *, proc_root: str = "/proc") -> Target:
    """Check that `pid` can be attached to and read what it is; `AttachError` if not.

    Refused: a pid that is not a positive integer, ccviz itself, no process,
    a zombie, a thread id rather than a process id, or files the user may not
    read (another user's process under ``hidepid``, or a hardened kernel).
    """
    pid = parse_pid(pid)
    if pid == os.getpid():
        raise AttachError(f"pid {pid}: that is ccviz itself; attach to another process")
    task = f"{proc_root}/{pid}/task"
    try:
        os.listdir(task)
    except PermissionError:
        raise AttachError(f"pid {pid}: cannot read {task}: permission denied") from None
    except (FileNotFoundError, NotADirectoryError, ProcessLookupError):
        raise AttachError(f"pid {pid}: no such process") from None
    except OSError as err:
        if err.errno == errno.ESRCH:
            raise AttachError(f"pid {pid}: no such process") from None
        reason = (err.strerror or str(err)).lower()
        raise AttachError(f"pid {pid}: cannot read {task}: {reason}") from None
    stat = _read(pid, f"{task}/{pid}/stat")
    if stat is None:
        raise AttachError(f"pid {pid}: no such process")
    try:
        st = parse_stat(stat)
    except ProcError:
        raise AttachError(f"pid {pid}: cannot read {task}/{pid}/stat: malformed") from None
    if st.state in ("Z", "X"):
        raise AttachError(f"pid {pid}: has exited (a zombie its parent has not reaped)")
    status = _read(pid, f"{task}/{pid}/status")
    tgid = None if status is None else _field(status, b"Tgid")
    if tgid is not None and tgid != pid:
        raise AttachError(f"pid {pid}: is a thread of process {tgid}; attach to {tgid}")
    _read(pid, f"{task}/{pid}/schedstat")  # absent is fine (fallback); unreadable is not
    try:
        raw = _read(pid, f"{proc_root}/{pid}/cmdline") or b""
    except AttachError:
        raw = b""  # the command line is a courtesy; the counters are what matter
    cmdline = raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()
    if len(cmdline) > _CMDLINE_MAX:
        cmdline = cmdline[: _CMDLINE_MAX - 1] + "…"
    return Target(pid=pid, name=st.name, cmdline=cmdline, ppid=st.ppid)


def attach_config(target: Target, hz: float) -> dict[str, Any]:
    """`Frame.config` for an attached process: what it is, not how it was set up."""
    return {
        "model": ATTACH_MODEL,
        "pid": target.pid,
        "name": target.name,
        "cmdline": target.command,
        "hz": hz,
    }


class AttachSession:
    """Samples an existing process tree into frames on a thread; starts and kills nothing."""

    def __init__(
        self,
        pid: object,
        *,
        on_frame: Callable[[Frame], None],
        hz: float = 10.0,
        proc_root: str = "/proc",
    ) -> None:
        try:
            LabConfig.validated(hz=hz)  # the same range and message as `ccviz run --hz`
        except ConfigError as exc:
            raise AttachError(str(exc)) from None
        self.pid = parse_pid(pid)
        self.hz = float(hz)
        self._on_frame = on_frame
        self._proc_root = proc_root
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sampler: ProcSampler | None = None
        self._builder = FrameBuilder(time.monotonic())
        self._events: list[str] = []
        self.target: Target | None = None
        self.alive = True

    def start(self) -> Target:
        """Validate the target, open its /proc files and start sampling; `AttachError` if not."""
        target = inspect_target(self.pid, proc_root=self._proc_root)
        own = os.getpid()
        try:
            # ccviz may run inside the target's tree (attach to the shell that started it):
            # never sample ourselves.
            sampler = ProcSampler(
                target.pid, proc_root=self._proc_root, exclude_pids=lambda: (own,)
            )
        except ProcessGone:
            raise AttachError(f"pid {target.pid}: no such process") from None
        except ProcError as exc:
            raise AttachError(f"pid {target.pid}: cannot read its /proc files: {exc}") from None
        with self._lock:
            self.target, self._sampler = target, sampler
            self._events.append(
                f"attached to pid {target.pid}: {target.command} — kernel view only; "
                "ccviz changes and stops nothing"
            )
        self._thread = threading.Thread(target=self._run, name="ccviz-attach-sampler", daemon=True)
        self._thread.start()
        return target

    def note_dropped(self, n: int = 1) -> None:
        """A consumer skipped `n` frames (shown in the header's cost line)."""
        self._builder.dropped += n

    def stop(self) -> None:
        """Stop sampling and close every held fd; idempotent. The target runs on."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)
        with self._lock:
            if self._sampler is not None:
                self._sampler.close()
                self._sampler = None

    def _run(self) -> None:
        every(1.0 / self.hz, self._stop, self._tick)

    def _tick(self) -> bool:
        frame = self._sample()
        if frame is not None:
            self._on_frame(frame)
        if not self.alive:
            self.stop()  # nothing more to read; the last frame says why
            return False
        return True

    def _sample(self) -> Frame | None:
        with self._lock:
            sampler, target = self._sampler, self.target
            if sampler is None or target is None:
                return None
            view = sampler.sample()
            if not view.root_alive:
                self.alive = False
                self._events.append(
                    f"pid {target.pid} ({target.name}) exited — the sparklines keep its "
                    "history; q quits"
                )
            events, self._events = tuple(self._events), []
            return self._builder.build(
                view,
                None,
                lab_pid=target.pid,
                lab_index=1,
                config=attach_config(target, self.hz),
                events=events,
                lab_alive=view.root_alive,
            )


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"


def attach_verdict(
    frame: Frame, history: FrameHistory | None = None, *, cores: int | None = None
) -> Verdict:
    """The verdict line for an attached process: kernel figures only, no lab advice.

    The lab rules suggest keys that change the model; nothing can change here,
    so these only name what the kernel shows and where the limit seems to be.
    """
    config = frame.config
    who = f"pid {config.get('pid', frame.lab_pid)} ({config.get('name', '?')})"
    if not frame.lab_alive:
        return Verdict(f"{who} has exited — q quits", None, "attach-exited")
    figs = figures(frame, history, cores=cores)
    if figs.frames < 2:
        return Verdict(f"measuring {who}…", None, "attach-settling", "info")
    if figs.runnable_of_wanted is not None and figs.runnable_of_wanted >= 0.3:
        return Verdict(
            f"{who}'s threads wait for a CPU {_pct(figs.runnable_of_wanted)} of the time they "
            "want one: more runnable threads than free cores (its own, or other processes')",
            None,
            "attach-runnable",
        )
    if figs.cpu_percent >= 80 * figs.cores:
        return Verdict(
            f"{who} is CPU-bound: all {figs.cores} cores busy ({figs.cpu_percent:.0f} %)",
            None,
            "attach-cpu-bound",
        )
    busiest = _busiest_thread(frame, history)
    if busiest is not None:
        name, tid, share = busiest
        return Verdict(
            f"one thread is the limit: {name} ({tid}) is on a CPU {_pct(share)} of the time "
            "while other cores idle — if it runs an event loop, the loop has no time left "
            "for IO",
            None,
            "attach-one-thread",
        )
    vol = "n/a" if figs.voluntary_per_s is None else f"{figs.voluntary_per_s:,.0f}"
    return Verdict(
        f"{who}: {figs.threads} threads, {figs.cpu_percent:.0f} % CPU, {vol} voluntary "
        "switches/s — loop and task facts need the probe inside a `ccviz run` lab",
        None,
        "attach-kernel-view",
        "info",
    )


def _busiest_thread(frame: Frame, history: FrameHistory | None) -> tuple[str, int, float] | None:
    """The thread executing ≥ `_BUSY_THREAD` of the last second, if one is."""
    window: Sequence[Frame] = [frame]
    if history is not None and history.latest is frame:
        window = history.recent(1.0) or [frame]
    totals: dict[int, list[float]] = {}
    for f in window:
        for t in f.threads:
            if not t.new:
                totals.setdefault(t.tid, []).append(t.executing)
    if not totals:
        return None
    tid, shares = max(totals.items(), key=lambda kv: sum(kv[1]) / len(window))
    share = sum(shares) / len(window)
    if share < _BUSY_THREAD:
        return None
    name = next((t.name for t in frame.threads if t.tid == tid), "?")
    return name, tid, share
