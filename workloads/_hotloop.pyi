"""The sampler's hot loop in C (`_hotloop.c`); see `workloads.sampler`."""

from collections.abc import Callable
from typing import Any

from workloads.frames import ThreadSample
from workloads.procfs import Stat
from workloads.tracker import Thread

def bind(
    thread_type: type,
    sample_type: type,
    stat_type: type,
    parse_stat: Callable[[bytes], Stat],
    never: float,
    always: float,
) -> None: ...
def parse_stat(raw: bytes) -> Stat: ...
def scan(
    sampler: Any,
    threads: list[Thread],
    phases: dict[int, str] | None,
    read_file: Callable[[str], bytes],
    parse3: Callable[[bytes], tuple[int, int, int] | None],
    gone_errors: tuple[type[BaseException], ...],
    refresh_errors: type[BaseException],
) -> tuple[list[Thread], int, int, float]: ...
def busiest(
    busy: list[ThreadSample], load: list[float], by_tid: bool
) -> list[ThreadSample] | None: ...
