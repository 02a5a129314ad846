"""The mix and load keys, shared by the live view and the duel.

Both apps step the same settings the same way: CPU share by 0.1, concurrency
halved or doubled, workers by one, the CPU and IO kinds in a cycle. An app
mixes `MixControls` in and provides what the steps start from
(`_controls_config`, `_workers_now`) and how a change is applied (`_change`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.binding import Binding

from workloads.config import CPU_KINDS, IO_KINDS, MAX_CONCURRENCY, MAX_WORKERS, LabConfig

__all__ = ["KIND_WORKER_BINDINGS", "LOAD_BINDINGS", "MixControls"]

#: `[ ] - +`: the CPU share and the concurrency (live changes).
LOAD_BINDINGS = [
    Binding("left_square_bracket", "cpu_share(-1)", "cpu", key_display="[ ]",
            tooltip="[ lowers, ] raises the CPU share of each task by 0.1"),
    Binding("right_square_bracket", "cpu_share(1)", "cpu+", show=False),
    Binding("minus", "concurrency(-1)", "conc", key_display="- +",
            tooltip="- halves, + (or =) doubles the concurrency"),
    Binding("plus,equals_sign", "concurrency(1)", "conc+", show=False),
]  # fmt: skip

#: `w W c i`: workers (a new lab) and the kinds of CPU and IO work (live).
KIND_WORKER_BINDINGS = [
    Binding("w", "workers(-1)", "workers", key_display="w W",
            tooltip="w one worker fewer, W one more (pools and processes; a new lab)"),
    Binding("W", "workers(1)", "workers+", show=False),
    Binding("c", "cpu_kind", "cpu kind",
            tooltip="CPU work: python (holds the GIL) or native (releases it)"),
    Binding("i", "io_kind", "io kind", tooltip="IO work: socket, sleep, file or lock"),
]  # fmt: skip


if TYPE_CHECKING:  # the checker sees the App it is mixed into; at run time, a plain class
    from textual.app import App

    _Base = App[None]
else:
    _Base = object


def _next(options: tuple[str, ...], current: str) -> str:
    return options[(options.index(current) + 1) % len(options)]


class MixControls(_Base):
    """Actions for `[ ] - + w W c i`; mixed into a Textual `App`."""

    def _controls_config(self) -> LabConfig:
        raise NotImplementedError  # the app says which config the keys step from

    def _workers_now(self) -> int:
        raise NotImplementedError  # the app knows the pool's real size when "auto"

    def _change(self, **changes: Any) -> None:
        raise NotImplementedError  # the app applies changes off the UI thread

    def action_cpu_share(self, direction: int) -> None:
        current = self._controls_config().cpu_share
        share = round(min(1.0, max(0.0, current + 0.1 * direction)), 2)
        if share == current:
            self.notify(f"cpu share is already {share:.1f}", timeout=2)
        self._change(cpu_share=share)

    def action_concurrency(self, direction: int) -> None:
        current = self._controls_config().concurrency
        value = max(1, current // 2) if direction < 0 else min(MAX_CONCURRENCY, current * 2)
        if value == current:
            self.notify(f"concurrency is already {current}", timeout=2)
        self._change(concurrency=value)

    def action_workers(self, direction: int) -> None:
        current = self._workers_now()
        value = max(1, min(MAX_WORKERS, current + direction))
        if value == current:
            self.notify(f"workers is already {current}", timeout=2)
        self._change(workers=value)

    def action_cpu_kind(self) -> None:
        self._change(cpu_kind=_next(CPU_KINDS, self._controls_config().cpu_kind))

    def action_io_kind(self) -> None:
        self._change(io_kind=_next(IO_KINDS, self._controls_config().io_kind))
