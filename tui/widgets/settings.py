"""The settings panel: the keyboard's controls as widgets, for the mouse.

Docked beside the panes (toggled with `s`) rather than a modal screen, so the
effect of each click stays in view. Every control runs the same app action as
its key, so the two paths cannot disagree.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Label, Select

from workloads.config import CPU_KINDS, IO_KINDS, MODELS, LabConfig

__all__ = ["SettingsPanel"]

#: Stepper rows: (id, label, action for "−", action for "+").
STEPPERS: tuple[tuple[str, str, str, str], ...] = (
    ("cpu", "cpu share", "cpu_share(-1)", "cpu_share(1)"),
    ("conc", "concurrency", "concurrency(-1)", "concurrency(1)"),
    ("workers", "workers", "workers(-1)", "workers(1)"),
)


class SettingsPanel(VerticalScroll):
    """Model, mix and load controls; reflects the requested config via `sync`."""

    def __init__(self, config: LabConfig, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.config = config

    def compose(self) -> ComposeResult:
        yield Label("Settings", classes="settings-title")
        yield Label("model", classes="settings-label")
        yield Select(
            [(f"{n} {m}", m) for n, m in enumerate(MODELS, start=1)],
            value=self.config.model,
            allow_blank=False,
            id="set-model",
        )
        for ident, label, down, up in STEPPERS:
            yield Label(label, classes="settings-label")
            with Horizontal(classes="stepper"):
                yield Button("−", id=f"{ident}-down", name=down, compact=True)
                yield Label("", id=f"{ident}-value", classes="stepper-value")
                yield Button("+", id=f"{ident}-up", name=up, compact=True)
        yield Label("cpu kind", classes="settings-label")
        yield Select(
            [(k, k) for k in CPU_KINDS], value=self.config.cpu_kind, allow_blank=False,
            id="set-cpu-kind",
        )
        yield Label("io kind", classes="settings-label")
        yield Select(
            [(k, k) for k in IO_KINDS], value=self.config.io_kind, allow_blank=False,
            id="set-io-kind",
        )
        with Horizontal(classes="settings-buttons"):
            yield Button("restart", name="restart", compact=True)
            yield Button("close", name="toggle_settings", compact=True)

    def sync(self, config: LabConfig) -> None:
        """Show `config` without firing the controls' change events."""
        self.config = config
        if not self.is_mounted:
            return
        values = {
            "cpu": f"{config.cpu_share:.2f}",
            "conc": str(config.concurrency),
            "workers": str(config.workers or f"auto ({config.effective_workers})"),
        }
        for ident, text in values.items():
            self.query_one(f"#{ident}-value", Label).update(text)
        for ident, value in (
            ("set-model", config.model),
            ("set-cpu-kind", config.cpu_kind),
            ("set-io-kind", config.io_kind),
        ):
            select: Select[str] = self.query_one(f"#{ident}", Select)
            if select.value != value:
                with select.prevent(Select.Changed):
                    select.value = value

    @on(Button.Pressed)
    async def _button(self, event: Button.Pressed) -> None:
        if event.button.name:
            await self.app.run_action(event.button.name)

    @on(Select.Changed)
    async def _select(self, event: Select.Changed) -> None:
        if not self.has_class("-open"):  # only a user's choice changes the lab
            return
        field = {"set-model": "model", "set-cpu-kind": "cpu_kind", "set-io-kind": "io_kind"}
        key = field.get(event.select.id or "")
        if key is not None and isinstance(event.value, str):
            await self.app.run_action(f"set_field({key!r}, {event.value!r})")
