"""Switch-cost calibration: what one context switch costs a Python program on this machine.

``ccviz calibrate`` ping-pongs one byte over two pipes, between two threads of
one process and between two processes, and stores µs per switch in the user's
cache directory. The viewer then turns the switch rates it measures into an
estimate of the CPU time lost to switching (labelled as an estimate: it is a
rate times a cost measured elsewhere, not a measurement of the lab).
"""

from __future__ import annotations

import datetime
import gc
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_FILE_BYTES",
    "CalibrationError",
    "SwitchCost",
    "cache_path",
    "estimate_lost_cpu_percent",
    "format_report",
    "load",
    "load_with_warning",
    "measure",
    "save",
]

FILE_TYPE = "ccviz-switch-cost"
SCHEMA = 1
MAX_FILE_BYTES = 64 * 1024
#: The echoing side of the process ping-pong: pins itself, echoes until EOF.
_CHILD = """\
import os, sys
r, w, cpu = map(int, sys.argv[1:4])
if cpu >= 0:
    os.sched_setaffinity(0, {cpu})
while True:
    b = os.read(r, 1)
    if not b:
        break
    os.write(w, b)
"""


class CalibrationError(RuntimeError):
    """The ping-pong partner failed; the message says which."""


@dataclass(frozen=True, slots=True)
class SwitchCost:
    """µs per context switch measured here, with what and how it was measured."""

    thread_us: float  # thread ↔ thread in one process
    process_us: float  # process ↔ process
    measured_at: str  # ISO 8601, UTC
    machine: dict[str, Any]  # cores, cpu, kernel, python
    method: str  # how: pipe ping-pong, rounds, pinning, switches seen per round trip

    def to_dict(self) -> dict[str, Any]:
        return {"type": FILE_TYPE, "schema": SCHEMA, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Any) -> SwitchCost:
        """Validate and build; raises ValueError naming the first bad field."""
        if not isinstance(data, dict) or data.get("type") != FILE_TYPE:
            raise ValueError("not a ccviz switch-cost file")
        if data.get("schema") != SCHEMA:
            raise ValueError(f"schema {data.get('schema')!r}, expected {SCHEMA}")
        for key in ("thread_us", "process_us"):
            value = data.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{key} must be a number, not {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{key} must be positive and finite, not {value!r}")
        for key, kind in (("measured_at", str), ("machine", dict), ("method", str)):
            if not isinstance(data.get(key), kind):
                raise ValueError(f"{key} must be a {kind.__name__}")
        return cls(
            thread_us=float(data["thread_us"]),
            process_us=float(data["process_us"]),
            measured_at=data["measured_at"],
            machine=data["machine"],
            method=data["method"],
        )


# -- measuring ---------------------------------------------------------------------------


def _pin() -> tuple[int | None, set[int] | None, str]:
    """Pin the calling thread to one CPU; (cpu, previous affinity, why not if not)."""
    try:
        before = os.sched_getaffinity(0)
        cpu = min(before)
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError, ValueError) as exc:
        return None, None, f"not pinned ({exc}): includes cross-CPU wake-ups"
    return cpu, before, f"both sides pinned to CPU {cpu}"


def _ping(write_fd: int, read_fd: int, rounds: int) -> int:
    """`rounds` round trips; the elapsed ns. Raises CalibrationError if the partner is gone."""
    write, read, byte = os.write, os.read, b"x"
    start = time.perf_counter_ns()
    for _ in range(rounds):
        write(write_fd, byte)
        if not read(read_fd, 1):
            raise CalibrationError("the ping-pong partner closed its pipe")
    return time.perf_counter_ns() - start


def _switches() -> int:
    """Context switches of the calling thread so far (voluntary + involuntary)."""
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_nvcsw + usage.ru_nivcsw


def _series(write_fd: int, read_fd: int, rounds: int, repeats: int) -> tuple[list[float], float]:
    """µs per switch for each repeat, and switches seen per round trip.

    The main side switches once per round trip and the partner once, so the
    round trip is two switches; the main side's own count, doubled, checks it.
    """
    _ping(write_fd, read_fd, max(100, rounds // 10))  # warm up: partner started, caches hot
    results, seen = [], 0
    enabled = gc.isenabled()
    gc.disable()  # a collection inside a timed run would be counted as switch cost
    try:
        for _ in range(repeats):
            before = _switches()
            elapsed = _ping(write_fd, read_fd, rounds)
            seen += _switches() - before
            results.append(elapsed / rounds / 2 / 1000)
    finally:
        if enabled:
            gc.enable()
    return results, 2 * seen / (rounds * repeats)


def _echo(read_fd: int, write_fd: int) -> None:
    try:
        while True:
            data = os.read(read_fd, 1)
            if not data:
                return
            os.write(write_fd, data)
    finally:
        os.close(write_fd)  # the main side's read sees EOF instead of waiting forever


def _measure_threads(rounds: int, repeats: int) -> tuple[list[float], float]:
    ping_r, ping_w = os.pipe()
    pong_r, pong_w = os.pipe()
    peer = threading.Thread(target=_echo, args=(ping_r, pong_w), name="ccviz-pong", daemon=True)
    peer.start()  # inherits the caller's (pinned) affinity
    try:
        return _series(ping_w, pong_r, rounds, repeats)
    finally:
        os.close(ping_w)  # the peer sees EOF and returns
        peer.join(5.0)
        os.close(ping_r)
        os.close(pong_r)


def _measure_processes(rounds: int, repeats: int, cpu: int | None) -> tuple[list[float], float]:
    ping_r, ping_w = os.pipe()
    pong_r, pong_w = os.pipe()
    pin = str(-1 if cpu is None else cpu)
    args = [sys.executable, "-I", "-S", "-c", _CHILD, str(ping_r), str(pong_w), pin]
    try:
        child = subprocess.Popen(args, pass_fds=(ping_r, pong_w), start_new_session=True)
    finally:
        os.close(ping_r)  # only the child holds these now, so its exit means EOF here
        os.close(pong_w)
    # A partner that hangs instead of dying would block the read forever: kill it late.
    watchdog = threading.Timer(60.0 + rounds * repeats * 1e-4, child.kill)
    watchdog.daemon = True
    watchdog.start()
    try:
        return _series(ping_w, pong_r, rounds, repeats)
    finally:
        watchdog.cancel()
        os.close(ping_w)  # EOF: the child leaves its loop
        try:
            child.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            child.kill()  # by its pid; it is not reaped yet, so the pid is still ours
            child.wait(timeout=5.0)
        os.close(pong_r)


def measure(rounds: int = 20000, repeats: int = 5) -> SwitchCost:
    """Measure µs per context switch, thread↔thread and process↔process (median of repeats).

    Each round trip sends one byte over a pipe and back: two switches. Both
    sides are pinned to one CPU where the kernel allows it, so a switch is a
    real one on that CPU rather than a wake-up of another, idle CPU. The figure
    includes the interpreter's own work per round trip (os.read/os.write, the
    GIL hand-over): it is what one switch costs a *Python program* here, not
    the kernel's bare switch (≈ 1.3–2.5 µs pinned on the 2-core dev VM, where
    reference/anchors.md quotes 2.5–3.5 µs; unpinned runs vary more).
    """
    if rounds < 1 or repeats < 1:
        raise ValueError("rounds and repeats must be at least 1")
    from workloads.bench import machine_info  # lazily: bench pulls in the whole lab

    cpu, before, pinning = _pin()
    try:
        threads, thread_seen = _measure_threads(rounds, repeats)
        processes, process_seen = _measure_processes(rounds, repeats, cpu)
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
    method = (
        f"pipe ping-pong of 1 byte, {rounds} round trips × {repeats} repeats, median; "
        f"µs per switch = round trip / 2; {pinning}; switches seen per round trip: "
        f"threads {thread_seen:.2f}, processes {process_seen:.2f}; "
        "includes Python's own overhead per round trip"
    )
    return SwitchCost(
        thread_us=statistics.median(threads),
        process_us=statistics.median(processes),
        measured_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        machine=machine_info(),
        method=method,
    )


# -- storing -----------------------------------------------------------------------------


def cache_path() -> Path:
    """``$XDG_CACHE_HOME/ccviz/switch-cost.json`` (``~/.cache`` when unset or relative)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "ccviz" / "switch-cost.json"


def save(cost: SwitchCost, path: str | os.PathLike[str] | None = None) -> Path:
    """Store `cost` (atomically: a reader never sees half a file); returns the path."""
    target = Path(path) if path is not None else cache_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        tmp.write_text(json.dumps(cost.to_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def load_with_warning(
    path: str | os.PathLike[str] | None = None,
) -> tuple[SwitchCost | None, str | None]:
    """The stored cost and a warning for the user, if any; never raises for a bad file.

    A missing file is (None, None): not calibrated yet. An unreadable, corrupt
    or foreign file is (None, why). A cost measured on another machine is
    returned with a warning that its figures may not apply.
    """
    target = Path(path) if path is not None else cache_path()
    try:
        with target.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{target}: cannot read ({exc.strerror or exc}); run `ccviz calibrate`"
    if len(raw) > MAX_FILE_BYTES:
        return None, f"{target}: larger than {MAX_FILE_BYTES} bytes, ignored"
    try:
        cost = SwitchCost.from_dict(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None, f"{target}: not valid JSON, ignored; run `ccviz calibrate` again"
    except ValueError as exc:
        return None, f"{target}: {exc}, ignored; run `ccviz calibrate` again"
    from workloads.bench import machine_info

    here = machine_info()
    if any(cost.machine.get(k) != here[k] for k in ("cores", "cpu", "kernel")):
        return cost, f"{target}: measured on another machine; run `ccviz calibrate` here"
    return cost, None


def load(path: str | os.PathLike[str] | None = None) -> SwitchCost | None:
    """The stored cost, or None when missing or unusable (see `load_with_warning`)."""
    return load_with_warning(path)[0]


# -- using -------------------------------------------------------------------------------


def estimate_lost_cpu_percent(
    switches_per_s: float, cost: SwitchCost, kind: str = "thread"
) -> float:
    """Estimated CPU lost to switching, in % of one core: switches/s × µs per switch / 1e4.

    `kind` is "thread" or "process": which measured cost applies.
    """
    if kind == "thread":
        per_switch = cost.thread_us
    elif kind == "process":
        per_switch = cost.process_us
    else:
        raise ValueError(f"kind must be 'thread' or 'process', not {kind!r}")
    return switches_per_s * per_switch / 1e6 * 100


def format_report(cost: SwitchCost) -> str:
    """A few lines for a terminal: both figures, what they mean, where they come from."""
    m = cost.machine
    example = estimate_lost_cpu_percent(10_000, cost)
    return "\n".join([
        "Context-switch cost measured here (what one switch costs a Python program):",
        f"  thread ↔ thread    {cost.thread_us:7.2f} µs per switch",
        f"  process ↔ process  {cost.process_us:7.2f} µs per switch",
        f"  e.g. 10,000 thread switches/s ≈ {example:.1f} % of one core",
        f"Measured {cost.measured_at} on {m.get('cores', '?')} cores, {m.get('cpu', '?')}, "
        f"Linux {m.get('kernel', '?')}, Python {m.get('python', '?')}",
        f"Method: {cost.method}",
    ])  # fmt: skip
