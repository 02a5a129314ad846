"""The panes of the ccviz app; each is one Line-API widget."""

from __future__ import annotations

from tui.widgets.panes import LoopPane, SwitchesPane, ThroughputPane
from tui.widgets.settings import SettingsPanel
from tui.widgets.status import HeaderInfo, StatusHeader, VerdictLine
from tui.widgets.threads import ThreadsPane

__all__ = [
    "HeaderInfo",
    "LoopPane",
    "SettingsPanel",
    "StatusHeader",
    "SwitchesPane",
    "ThreadsPane",
    "ThroughputPane",
    "VerdictLine",
]
