"""Shared helpers of the `make perf` benchmarks: statistics, /proc readers,
child processes that leave nothing behind, and the result tables.

Every process a benchmark starts carries `PERF_TOKEN` in its environment (labs
inherit it through `LabProcess`), so leftovers are found by that token alone —
never by a name other engineers' processes could share — and ended by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
for _p in (str(ROOT), str(SCRIPTS)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

__all__ = [
    "PERF_TOKEN",
    "ROOT",
    "SCRIPTS",
    "Check",
    "Load",
    "child_env",
    "lab_survived",
    "leftovers",
    "median",
    "print_table",
    "proc_cpu_s",
    "run_app_child",
    "run_app_child_checked",
    "sweep_leftovers",
]

#: Marks this run's processes; a fresh value per `perf.py` run (children inherit it).
PERF_TOKEN = os.environ.setdefault("CCVIZ_PERF_TOKEN", f"ccviz-perf-{os.getpid()}-{time.time_ns()}")
_CLK_TCK = os.sysconf("SC_CLK_TCK")
RESULT_PREFIX = "PERF-RESULT "


def median(values: Iterable[float | None]) -> float | None:
    """Median of the known values; None when there are none."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def child_env() -> dict[str, str]:
    """The environment for children: the token, the project on the path."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "CCVIZ_PERF_TOKEN": PERF_TOKEN, "PYTHONPATH": path}


def proc_cpu_s(pid: int | str = "self") -> float:
    """utime + stime of a whole process (its exited threads included), in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        raw = fh.read()
    fields = raw[raw.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _environ_has_token(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return f"CCVIZ_PERF_TOKEN={PERF_TOKEN}".encode() in fh.read().split(b"\0")
    except OSError:
        return False


def leftovers() -> list[tuple[int, str]]:
    """(pid, cmdline) of live processes of this run, other than this one and its parents."""
    mine = {os.getpid(), os.getppid()}
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in mine:
            continue
        pid = int(name)
        if not _environ_has_token(pid):
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            found.append((pid, cmd[:120]))
    return found


def sweep_leftovers(timeout: float = 6.0) -> list[str]:
    """Wait for this run's processes to end; kill (by pid) and report any that stay."""
    deadline = time.monotonic() + timeout
    while (left := leftovers()) and time.monotonic() < deadline:
        time.sleep(0.1)
    report = []
    for pid, cmd in left:
        report.append(f"{pid} {cmd}")
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return report


def lab_survived(result: dict[str, Any]) -> bool:
    """The lab of an app run was alive, with threads, in every window and at the end."""
    windows = result.get("windows", []) + result.get("paused_windows", [])
    return bool(result.get("lab_alive")) and all(
        w.get("lab_alive") and w.get("lab_threads") for w in windows
    )


def run_app_child_checked(plan: dict[str, Any], timeout: float, tries: int = 2) -> dict[str, Any]:
    """`run_app_child`, run again if its lab died meanwhile; `lab_died` counts such runs."""
    died = 0
    for _ in range(tries):
        result = run_app_child(plan, timeout)
        if "error" in result or lab_survived(result):
            break
        died += 1
        print("  note: a lab died during an app run (killed from outside?); run repeated")
    else:
        result["error"] = f"the lab died in {died} of {tries} runs"
    result["lab_died"] = died
    return result


def run_app_child(plan: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run `perf_app.py` with `plan` in a fresh process; its JSON result.

    A fresh process per run keeps one run's CPU, memory and imports out of the
    next one's figures. On timeout the child is killed by pid; its labs end
    when their control pipe closes.
    """
    plan = {**plan, "spawned_at": time.monotonic()}
    with subprocess.Popen(
        [sys.executable, str(SCRIPTS / "perf_app.py"), json.dumps(plan)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        start_new_session=True,
        cwd=ROOT,
    ) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(child.pid, signal.SIGKILL)
            out, err = child.communicate()
            return {"error": f"timed out after {timeout:g} s", "stderr": err[-800:]}
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return result
    return {"error": f"no result (exit {child.returncode})", "stderr": err[-1500:]}


class Load:
    """How busy the machine was meanwhile: load average and the share of all CPUs in use."""

    def __init__(self) -> None:
        self._t0 = self._cpu_times()
        self.load_before = os.getloadavg()[0]

    @staticmethod
    def _cpu_times() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        idle = values[3] + values[4]
        return sum(values) - idle, sum(values)

    def done(self) -> dict[str, float]:
        busy0, total0 = self._t0
        busy1, total1 = self._cpu_times()
        share = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
        return {
            "loadavg_1m_before": round(self.load_before, 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
            "machine_cpu_busy_pct": round(100.0 * share, 1),
        }


class Check:
    """One row of a results table: a figure, its target and whether it is met."""

    def __init__(
        self,
        name: str,
        value: float | None,
        target: float | None = None,
        *,
        unit: str = "",
        better: str = "lower",
        note: str = "",
    ) -> None:
        self.name, self.value, self.target = name, value, target
        self.unit, self.better, self.note = unit, better, note

    @property
    def ratio(self) -> float | None:
        """value / target (≤ 1 meets a "lower" target; ≥ 1 meets a "higher" one)."""
        if self.value is None or not self.target:
            return None
        return self.value / self.target

    @property
    def status(self) -> str:
        if self.target is None:
            return "info"
        if self.value is None:
            return "MISS"
        ok = self.value <= self.target if self.better == "lower" else self.value >= self.target
        return "PASS" if ok else "MISS"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": None if self.value is None else round(self.value, 4),
            "target": self.target,
            "unit": self.unit,
            "better": self.better,
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "status": self.status,
            "note": self.note,
        }


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def print_table(title: str, checks: Sequence[Check], out: Callable[[str], None] = print) -> None:
    """A plain table: figure, median, unit, target, median/target, PASS / MISS / info, note."""
    out("")
    out(title)
    name_w = max([len(c.name) for c in checks] + [6])
    unit_w = max([len(c.unit) for c in checks] + [4])
    head = (
        f"  {'figure':<{name_w}} {'median':>9} {'unit':<{unit_w}} {'target':>8} "
        f"{'ratio':>6}  status"
    )
    out(head)
    out("  " + "-" * (len(head) - 2))
    for c in checks:
        bound = "" if c.target is None else ("≤" if c.better == "lower" else "≥")
        target = "" if c.target is None else f"{bound}{_fmt(c.target)}"
        ratio = "" if c.ratio is None else f"{c.ratio:.2f}"
        line = (
            f"  {c.name:<{name_w}} {_fmt(c.value):>9} {c.unit:<{unit_w}} {target:>8} "
            f"{ratio:>6}  {c.status:<6}"
        )
        out(line + (f" {c.note}" if c.note else ""))


def standalone(run: Callable[[bool], object], doc: str | None) -> None:
    """Run one benchmark module on its own: `python scripts/perf_X.py [--quick]`."""
    import argparse

    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)
