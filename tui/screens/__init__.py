"""Screens pushed over the main view."""

from __future__ import annotations

from tui.screens.help import HelpScreen

__all__ = ["HelpScreen"]
