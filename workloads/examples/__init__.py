"""Small programs to attach to with `ccviz attach PID`.

Each file's header says what `ccviz attach` should show for it. They run on
their own (``python py_threads_demo.py``, ``node node_loop_pool.js``), print
their pid on the first line of stdout, and exit by themselves: after
``--seconds`` (default 300), or as soon as their stdin closes when stdin is a
pipe, so a test or a script that dies takes them along.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["EXAMPLES", "example_path"]

#: The example programs, by file name.
EXAMPLES: tuple[str, ...] = ("py_threads_demo.py", "node_loop_pool.js")


def example_path(name: str) -> Path:
    """The absolute path of an example program shipped in this folder."""
    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r}; choose from {', '.join(EXAMPLES)}")
    return Path(__file__).resolve().parent / name
