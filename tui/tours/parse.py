"""Tour files: a title and an ordered list of scenes, validated strictly.

A tour is TOML a presenter writes by hand, so every mistake must point at its
place: a syntax error, an unknown key, a value of the wrong type or out of
range all raise `TourError` with one line naming the file, the line and the
field. tomllib reports the line of a syntax error in its message; for the
other errors the line is found by scanning the text for the `[[scene]]` table
and the key. Each scene's settings apply on top of the previous scene's (the
first on top of `LabConfig()`), and every step goes through `LabConfig.replace`,
so a tour accepts exactly the values the command line does.

Textual-free, so the CLI can check a tour before it starts anything.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workloads.config import ConfigError, LabConfig

__all__ = [
    "BUILTIN_TOUR",
    "MAX_TOUR_BYTES",
    "SETTINGS",
    "Scene",
    "Tour",
    "TourError",
    "load_tour",
    "parse_tour",
]

#: The tour that follows the article's argument, shipped with the package.
BUILTIN_TOUR = Path(__file__).with_name("article.toml")

MAX_TOUR_BYTES = 64 * 1024
MAX_SCENES = 50
MAX_TITLE = 80
MAX_CAPTION = 400

#: Settings a scene may change, with the kind of value each takes. `rate` is a
#: number of tasks/s (open loop) or "closed" (back to a closed loop), because
#: TOML has no null.
SETTINGS: dict[str, str] = {
    "model": "text",
    "cpu_share": "number",
    "task_ms": "number",
    "concurrency": "whole number",
    "rate": 'number or "closed"',
    "workers": "whole number",
    "cpu_kind": "text",
    "io_kind": "text",
}
SCENE_TEXT: dict[str, int] = {"title": MAX_TITLE, "caption": MAX_CAPTION}
TOP_KEYS = ("title", "scene")

_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_KEY_ON_LINE = re.compile(r"""^\s*["']?([A-Za-z0-9_-]+)["']?\s*=""")
_TABLE = re.compile(r"^\s*\[")
_SCENE_TABLE = re.compile(r"^\s*\[\[\s*scene\s*\]\]")
_FLAG = re.compile(r"^--[a-z-]+:\s*")


class TourError(ConfigError):
    """A tour file cannot be used; the one-line message names the file, line and field."""


@dataclass(frozen=True, slots=True)
class Scene:
    """One step of a tour: what to say, and the lab configuration to show it on."""

    title: str
    caption: str
    settings: tuple[tuple[str, Any], ...]  # as written in the file, in order
    config: LabConfig  # the settings applied on top of the previous scene's
    line: int  # where the scene's table starts, for messages

    @property
    def slug(self) -> str:
        """The title as a file-name fragment: lower case, words joined by '-'."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
        return slug[:40].rstrip("-") or "scene"


@dataclass(frozen=True, slots=True)
class Tour:
    """A validated tour: scenes in order, and the text it was read from."""

    title: str
    scenes: tuple[Scene, ...]
    path: str
    text: str

    def recording_name(self, index: int) -> str:
        """The file a rehearsal writes for scene `index` (0-based): ``NN-slug.jsonl``."""
        return f"{index + 1:02d}-{self.scenes[index].slug}.jsonl"


def load_tour(path: str | Path | None = None) -> Tour:
    """Read and validate a tour file (the built-in tour when `path` is None)."""
    file = Path(path) if path is not None else BUILTIN_TOUR
    name = str(path) if path is not None else "built-in tour"
    try:
        size = file.stat().st_size
        if size > MAX_TOUR_BYTES:
            raise TourError(f"{name}: file is larger than {MAX_TOUR_BYTES} bytes")
        data = file.read_bytes()
    except OSError as exc:
        raise TourError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TourError(f"{name}:{line}: not UTF-8 text") from None
    return parse_tour(text, name)


def parse_tour(text: str, name: str = "<tour>") -> Tour:
    """Validate the text of a tour; `name` is used in messages."""
    if len(text.encode("utf-8")) > MAX_TOUR_BYTES:
        raise TourError(f"{name}: file is larger than {MAX_TOUR_BYTES} bytes")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(name, text, str(exc)) from None
    where = _Locator(text)

    def fail(line: int, field: str, problem: str) -> TourError:
        return _fail(name, line, field, problem)

    for key in data:
        if key not in TOP_KEYS:
            raise fail(where.top(key), key, f"unknown key; allowed: {', '.join(TOP_KEYS)}")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise fail(where.top("title"), "title", "required: the tour's title, as text")
    if len(title) > MAX_TITLE:
        raise fail(where.top("title"), "title", f"longer than {MAX_TITLE} characters")
    scenes = data.get("scene")
    if not isinstance(scenes, list) or not scenes:
        raise fail(where.top("scene"), "scene", "required: at least one [[scene]] table")
    if len(scenes) > MAX_SCENES:
        raise fail(where.scene(MAX_SCENES), "scene", f"more than {MAX_SCENES} scenes")

    built: list[Scene] = []
    config = LabConfig()
    for index, raw in enumerate(scenes):
        if not isinstance(raw, dict):
            raise fail(where.top("scene"), "scene", "expected [[scene]] tables")
        scene = _scene(raw, index, config, where, name)
        built.append(scene)
        config = scene.config
    return Tour(title=title.strip(), scenes=tuple(built), path=name, text=text)


def _fail(name: str, line: int, field: str, problem: str, scene: int | None = None) -> TourError:
    at = "" if scene is None else f"scene {scene + 1}: "
    return TourError(f"{name}:{line}: {at}field {field!r}: {problem}")


def _scene(
    raw: Mapping[str, Any], index: int, config: LabConfig, where: _Locator, name: str
) -> Scene:
    """Validate one scene; its settings are applied to `config` one key at a time."""

    def fail(key: str, problem: str) -> TourError:
        return _fail(name, where.scene(index, key), key, problem, index)

    allowed = (*SCENE_TEXT, *SETTINGS)
    for key in raw:
        if key not in allowed:
            raise fail(key, f"unknown key; allowed: {', '.join(allowed)}")
    texts: dict[str, str] = {}
    for key, limit in SCENE_TEXT.items():
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            raise fail(key, "required, as text")
        if len(value) > limit:
            raise fail(key, f"longer than {limit} characters")
        texts[key] = " ".join(value.split())  # captions may be written over several lines
    settings: list[tuple[str, Any]] = []
    for key, value in raw.items():
        if key not in SETTINGS:
            continue
        checked, problem = _typed(key, value)
        if problem is not None:
            raise fail(key, problem)
        try:
            config = config.replace(**{key: checked})
        except ConfigError as exc:
            raise fail(key, _FLAG.sub("", str(exc))) from None
        settings.append((key, checked))
    return Scene(
        title=texts["title"],
        caption=texts["caption"],
        settings=tuple(settings),
        config=config,
        line=where.scene(index),
    )


def _typed(key: str, value: Any) -> tuple[Any, str | None]:
    """The value as the config wants it, and what was expected if it has the wrong type."""
    kind = SETTINGS[key]
    wrong = f"expected {'a ' if kind != 'text' else ''}{kind}, got {_kind(value)}"
    if kind == "text":
        return value, None if isinstance(value, str) else wrong
    if key == "rate" and value == "closed":
        return None, None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value, wrong
    if kind == "whole number":
        return value, None if isinstance(value, int) else wrong
    return float(value), None


def _kind(value: Any) -> str:
    names = {bool: "a boolean", str: "text", int: "a whole number", float: "a number",
             list: "an array", dict: "a table"}
    shown = f" {value!r}" if isinstance(value, (bool, str, int, float)) else ""
    return f"{names.get(type(value), type(value).__name__)}{shown}"


def _syntax_error(name: str, text: str, message: str) -> TourError:
    """tomllib's message, with its position turned into FILE:LINE and the key on that line."""
    found = _POSITION.search(message)
    if found is None:
        return TourError(f"{name}: TOML syntax error: {message}")
    line, column = int(found.group(1)), int(found.group(2))
    problem = message[: found.start()]
    lines = text.splitlines()
    key = _KEY_ON_LINE.match(lines[line - 1]) if 0 < line <= len(lines) else None
    field = f"field {key.group(1)!r}: " if key else ""
    return TourError(f"{name}:{line}: {field}TOML syntax error: {problem} (column {column})")


class _Locator:
    """Finds the line of a top-level key, a `[[scene]]` table, or a key inside one."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.tables = [n for n, ln in enumerate(self.lines, 1) if _TABLE.match(ln)]
        self.scenes = [n for n, ln in enumerate(self.lines, 1) if _SCENE_TABLE.match(ln)]

    def _key(self, key: str, start: int, end: int) -> int | None:
        for number in range(start, min(end, len(self.lines) + 1)):
            found = _KEY_ON_LINE.match(self.lines[number - 1])
            if found and found.group(1) == key:
                return number
        return None

    def top(self, key: str) -> int:
        end = self.tables[0] if self.tables else len(self.lines) + 1
        return self._key(key, 1, end) or 1

    def scene(self, index: int, key: str | None = None) -> int:
        if index >= len(self.scenes):  # an inline array of tables: point at `scene =`
            return self.top("scene")
        start = self.scenes[index]
        if key is None:
            return start
        end = next((t for t in self.tables if t > start), len(self.lines) + 1)
        return self._key(key, start + 1, end) or start
