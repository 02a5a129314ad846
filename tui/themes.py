"""The app's two themes: a calm dark default and a high-contrast one for projectors.

The `.tcss` files use only Textual's standard theme variables ($success for
executing, $warning for runnable, $error for the inferred GIL wait,
$text-muted for waiting, $accent for change markers), so any theme works;
these two pick values that keep the four states apart.
"""

from __future__ import annotations

from textual.theme import Theme

__all__ = ["DEFAULT_THEME", "HIGH_CONTRAST_THEME", "THEMES"]

DEFAULT_THEME = Theme(
    name="ccviz",
    primary="#4FA3E0",
    secondary="#9D8CF0",
    accent="#2EC4D6",
    foreground="#DDE3EA",
    background="#0E1217",
    surface="#141A21",
    panel="#1C242E",
    success="#46B95A",
    warning="#E0B341",
    error="#E0569A",
    dark=True,
)

HIGH_CONTRAST_THEME = Theme(
    name="ccviz-high-contrast",
    primary="#FFFFFF",
    secondary="#FFFF00",
    accent="#00FFFF",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#202020",
    success="#00FF00",
    warning="#FFFF00",
    error="#FF40FF",
    dark=True,
    luminosity_spread=0.0,
    text_alpha=1.0,
    variables={"text-muted": "#B0B0B0", "border": "#FFFFFF", "border-blurred": "#FFFFFF"},
)

THEMES: tuple[Theme, ...] = (DEFAULT_THEME, HIGH_CONTRAST_THEME)
