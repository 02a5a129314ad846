"""The C hot loop and the Python one give the same views, sample for sample.

Two samplers, one per loop, sample the same fake /proc tree at the same
instants while a seeded random script moves counters, renames threads,
starts, ends and reuses threads, changes phases and the interval; every
view is compared whole (bar the scan's own CPU time). test_sampler.py runs
each of its cases under both loops too.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import sysconfig
from pathlib import Path

import pytest

from tests.workloads.fakeproc import FakeProc
from workloads import procfs
from workloads import sampler as sampler_module
from workloads.frames import ThreadSample
from workloads.sampler import KernelView, ProcSampler

MS = 1_000_000

needs_c = pytest.mark.skipif(sampler_module._HOTLOOP is None, reason="the C hot loop is not built")


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _pair(fake: FakeProc, clock: Clock, **kw: float) -> tuple[ProcSampler, ProcSampler]:
    c = ProcSampler(100, proc_root=fake.path, clock=clock, **kw)
    py = ProcSampler(100, proc_root=fake.path, clock=clock, **kw)
    c._scan = c._scan_threads_c  # type: ignore[method-assign]
    py._scan = py._scan_threads  # type: ignore[method-assign]
    return c, py


def _same(a: KernelView, b: KernelView) -> None:
    a, b = dataclasses.replace(a, scan_us=0.0), dataclasses.replace(b, scan_us=0.0)
    if a != b:  # name the first field that differs, for a readable failure
        for f in dataclasses.fields(a):
            assert getattr(a, f.name) == getattr(b, f.name), f.name
    assert a == b


def _script(
    rng: random.Random, fake: FakeProc, clock: Clock, live: list[int], fallback: bool = False
) -> dict[int, str]:
    """One step of random changes to the tree; returns this step's phases."""
    clock.t += rng.choice((0.0, 0.05, 0.1, 0.1, 0.1, 0.25, 1.3))
    for tid in rng.sample(live, k=rng.randint(0, len(live))):
        fake.bump(
            tid,
            cpu_ns=rng.choice((0, 1, 20 * MS, 90 * MS, 400 * MS)),
            runq_ns=rng.choice((0, 0, 5 * MS, 200 * MS)),
            slices=rng.choice((0, 1, 3)),
            vol=rng.choice((0, 1, 2)),
            invol=rng.choice((0, 0, 1)),
            utime=rng.choice((0, 0, 1, 5)),
        )
    roll = rng.random()
    if roll < 0.08 and len(live) > 2:
        tid = rng.choice(live[1:])
        fake.remove_thread(tid)
        live.remove(tid)
    elif roll < 0.16:
        tid = max(live) + 1
        fake.add_thread(100, tid, name=f"w-{tid}", schedstat=not fallback or rng.random() > 0.5)
        live.append(tid)
    elif roll < 0.2 and len(live) > 2:
        tid = rng.choice(live[1:])
        fake.reuse_tid(tid, start=fake.threads[tid].start + 7, name="again")
    elif roll < 0.28:
        tid = rng.choice(live)
        name = rng.choice(("renamed", "ünï", "back\\slash", "sp ace", "a) b (c"))
        fake.update(tid, name=name, state=rng.choice("RSD"))
    return {tid: rng.choice(("cpu", "io", "lock")) for tid in rng.sample(live, k=len(live) // 2)}


@needs_c
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "intervals", [{}, {"status_interval": 0.0}, {"stat_interval": 0.5, "status_interval": 0.3}]
)
@pytest.mark.parametrize("fallback", [False, True], ids=["schedstat", "fallback"])
def test_c_and_python_loops_give_identical_views(
    tmp_path: Path, seed: int, intervals: dict[str, float], fallback: bool
) -> None:
    """`fallback`: one thread lacks schedstat, so every thread goes by stat ticks."""
    rng = random.Random(seed)
    fake = FakeProc(tmp_path / "proc")
    fake.add_process(100, name="lab", cpu_ns=5 * MS, slices=10, vol=8, invol=2)
    live = [100]
    for tid in range(101, 109):
        schedstat = not (fallback and tid == 105)
        fake.add_thread(100, tid, name=f"t-{tid}", schedstat=schedstat, vol=tid, invol=1)
        live.append(tid)
    fake.add_process(200, ppid=100, name="worker", cpu_ns=MS, slices=1)  # a second process:
    for tid in (201, 202):  # its threads sort in among the lab's by tid
        fake.add_thread(200, tid, name=f"w-{tid}", schedstat=not fallback)
    clock = Clock()
    c, py = _pair(fake, clock, **intervals)
    inline = [0]  # status reads the C loop made itself
    c._status_hook = lambda th: inline.__setitem__(0, inline[0] + 1)  # type: ignore[assignment]
    try:
        _same(c.sample(), py.sample())
        for _ in range(100):
            phases = _script(rng, fake, clock, live, fallback)
            for tid in (200, 201, 202):
                fake.bump(tid, cpu_ns=rng.choice((0, 20 * MS, 60 * MS)), slices=1, utime=1)
            _same(c.sample(phases), py.sample(phases))
        assert len(c.sample().processes) == 2
        assert any(th.fallback for th in c._by_tid.values()) == fallback
        if not fallback and intervals.get("status_interval", 1.0) > 0:
            assert inline[0] > 20  # the C loop's own refresh was exercised
    finally:
        c.close()
        py.close()


@needs_c
def test_identical_views_when_files_are_read_by_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the fd budget threads are read by path: the C loop calls read_file for them."""
    monkeypatch.setattr(procfs, "raise_fd_limit", lambda: procfs.FD_RESERVE + 10)
    rng = random.Random(7)
    fake = FakeProc(tmp_path / "proc")
    fake.add_process(100, name="lab")
    live = [100, *range(101, 121)]
    for tid in live[1:]:
        fake.add_thread(100, tid, name=f"t-{tid}")
    clock = Clock()
    c, py = _pair(fake, clock)
    try:
        _same(c.sample(), py.sample())
        for _ in range(60):
            phases = _script(rng, fake, clock, live)
            _same(c.sample(phases), py.sample(phases))
        assert any(th.fd < 0 for th in c._by_tid.values())  # some really were by path
    finally:
        c.close()
        py.close()


def test_the_c_loop_is_built_where_there_is_a_compiler() -> None:
    """`make test` builds it (setup.py); a silent build failure would cost the 2× target."""
    if os.environ.get("CCVIZ_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("CCVIZ_PURE_PYTHON is set")
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        pytest.skip(f"no C compiler ({cc}): the Python loop is used, as designed")
    assert sampler_module.HOT_LOOP == "C"


STAT_LINES = [
    b"4242 (python) S 1 4242 4242 0 -1 4194368 10 0 0 0 7 3 0 0 20 0 12 0 998 90000 2458 1\n",
    b"7 (a) b (c) R 6 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 0 0\n",  # ) in the name
    b"7 (\xc3\xbcn\xff) D 6 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 0 0\n",  # bad UTF-8
    b"7 (x) Z 0 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5\n",  # exactly 20 fields after the name
    b"7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0\n",  # one field short: malformed
    b"7 (x) S -1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5\n",  # a sign: left to Python
    b"7 (x) SS 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5\n",  # a two-letter state
    b"7 (x) \xc3 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5\n",  # a non-ASCII state
    b"7 (x) S 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 12345678901234567890123\n",  # huge
    b"7 (x)S 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5\n",  # no space after the name
    b"7 (x) S 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5x\n",  # junk in a number
    b"7 x) S 1\n",
    b")(",
    b"",
]


@needs_c
@pytest.mark.parametrize("raw", STAT_LINES)
def test_c_parse_stat_is_procfs_parse_stat(raw: bytes) -> None:
    assert sampler_module._HOTLOOP is not None
    try:
        want: object = procfs.parse_stat(raw)
    except procfs.ProcUnreadable:
        with pytest.raises(procfs.ProcUnreadable):
            sampler_module._HOTLOOP.parse_stat(raw)
        return
    got = sampler_module._HOTLOOP.parse_stat(raw)
    assert type(got) is procfs.Stat and got == want


def _busiest_in_python(
    busy: list[ThreadSample], load: list[float], by_tid: bool
) -> list[ThreadSample]:
    """The sampler's Python ordering (sample()): two stable sorts."""
    by: list[int] | range = range(len(busy))
    if by_tid:
        by = sorted(by, key=lambda i: busy[i].tid)
    return [busy[i] for i in sorted(by, key=load.__getitem__)]


@needs_c
@pytest.mark.parametrize("by_tid", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_c_busiest_first_is_the_python_order(seed: int, by_tid: bool) -> None:
    rng = random.Random(seed)
    tids = rng.sample(range(100, 100_000), k=300)
    busy = [
        ThreadSample(1, tid, "t", "R", 0, 0, 0, 0, 0, 0.5, 0.0, 0.5, None, 0.0, 0.0, 0.0)
        for tid in tids
    ]
    load = [-rng.choice((0.25, 0.5, 1.0, rng.random())) for _ in tids]  # many ties
    assert sampler_module._HOTLOOP is not None
    got = sampler_module._HOTLOOP.busiest(busy, load, by_tid)
    assert got == _busiest_in_python(busy, load, by_tid)
    assert sampler_module._HOTLOOP.busiest([], [], by_tid) == []
    assert sampler_module._HOTLOOP.busiest(busy[:2], [float("nan"), -1.0], by_tid) is None
