"""Run configuration of a lab: the model, the work mix and the load.

One frozen `LabConfig` describes a run. The CLI, the TUI's controls and the
bench matrix all build configs through `LabConfig.validated`, so every
out-of-range value is rejected in one place with a message that names the flag.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CPU_KINDS",
    "IO_KINDS",
    "LIVE_FIELDS",
    "MODELS",
    "MODEL_SUMMARIES",
    "ConfigError",
    "LabConfig",
    "default_workers",
]

#: Stable model names, in the order the TUI's keys 1-7 select them.
MODELS: tuple[str, ...] = (
    "threads",
    "pool",
    "asyncio",
    "asyncio-offload",
    "asyncio-procs",
    "mn",
    "processes",
)

MODEL_SUMMARIES: dict[str, str] = {
    "threads": 'one OS thread per task ("just add threads")',
    "pool": "a fixed pool of worker threads with a queue in front",
    "asyncio": "one event loop; CPU work runs inline and blocks the loop",
    "asyncio-offload": "one event loop; CPU work is sent to a thread pool",
    "asyncio-procs": "one event loop; CPU work is sent to a process pool",
    "mn": "M:N: one worker process per core, each an event loop with many tasks",
    "processes": "a process pool; each process runs one task at a time",
}

#: `python` holds the GIL while it computes; `native` releases it (hashing).
CPU_KINDS: tuple[str, ...] = ("python", "native")
#: `socket` is a real round trip to the IO server; the others as named.
IO_KINDS: tuple[str, ...] = ("socket", "sleep", "file", "lock")

#: Fields that the lab applies live over its control channel. Any other change
#: (model, workers, hz) needs a fresh lab.
LIVE_FIELDS: frozenset[str] = frozenset(
    {"cpu_share", "task_ms", "concurrency", "rate", "cpu_kind", "io_kind"}
)

MAX_CONCURRENCY = 200_000
MAX_TASK_MS = 60_000.0
MAX_RATE = 1_000_000.0
MAX_WORKERS = 256


class ConfigError(ValueError):
    """A value the user gave is out of range; the message names the flag."""


def default_workers() -> int:
    """Worker count for pools: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class LabConfig:
    """Everything a lab needs to run; immutable, replaced on every change."""

    model: str = "threads"
    cpu_share: float = 0.1
    task_ms: float = 20.0
    concurrency: int = 32
    rate: float | None = None  # tasks/s, open loop; None means closed loop
    workers: int = 0  # 0 means default_workers()
    cpu_kind: str = "python"
    io_kind: str = "socket"
    hz: float = 10.0

    @property
    def effective_workers(self) -> int:
        """Pool threads or worker processes: `workers`, or the model's default.

        The `pool` model defaults to min(32, cores + 4), Python's own
        ThreadPoolExecutor default; every other model to the core count.
        """
        if self.workers:
            return self.workers
        if self.model == "pool":
            return min(32, default_workers() + 4)
        return default_workers()

    @property
    def cpu_ms(self) -> float:
        return self.cpu_share * self.task_ms

    @property
    def io_ms(self) -> float:
        return (1.0 - self.cpu_share) * self.task_ms

    def replace(self, **changes: Any) -> LabConfig:
        """A validated copy with `changes` applied."""
        return LabConfig.validated(**{**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls.validated(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def validated(cls, **values: Any) -> LabConfig:
        """Build a config, raising `ConfigError` naming the offending flag."""
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(
                f"--model: unknown model {self.model!r}; choose from {', '.join(MODELS)}"
            )
        _check_range("--cpu-share", self.cpu_share, 0.0, 1.0)
        _check_range("--task-ms", self.task_ms, 0.1, MAX_TASK_MS)
        if not isinstance(self.concurrency, int) or isinstance(self.concurrency, bool):
            raise ConfigError("--concurrency: must be a whole number")
        _check_range("--concurrency", self.concurrency, 1, MAX_CONCURRENCY)
        if self.rate is not None:
            _check_range("--rate", self.rate, 0.1, MAX_RATE)
        if not isinstance(self.workers, int) or isinstance(self.workers, bool):
            raise ConfigError("--workers: must be a whole number")
        _check_range("--workers", self.workers, 0, MAX_WORKERS)
        if self.cpu_kind not in CPU_KINDS:
            raise ConfigError(
                f"--cpu-kind: unknown kind {self.cpu_kind!r}; choose from {', '.join(CPU_KINDS)}"
            )
        if self.io_kind not in IO_KINDS:
            raise ConfigError(
                f"--io-kind: unknown kind {self.io_kind!r}; choose from {', '.join(IO_KINDS)}"
            )
        _check_range("--hz", self.hz, 1.0, 50.0)


def _check_range(flag: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ConfigError(f"{flag}: must be a number between {low:g} and {high:g}")
    if not low <= value <= high:
        raise ConfigError(f"{flag}: {value:g} is out of range; allowed {low:g} to {high:g}")
