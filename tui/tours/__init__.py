"""Guided tours: TOML files of scenes (caption + settings) and the built-in one."""

from __future__ import annotations

from tui.tours.parse import BUILTIN_TOUR, Scene, Tour, TourError, load_tour, parse_tour

__all__ = ["BUILTIN_TOUR", "Scene", "Tour", "TourError", "load_tour", "parse_tour"]
