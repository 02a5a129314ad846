"""The lab side never imports Textual or Rich (dependency direction tui → workloads)."""

from __future__ import annotations

import subprocess
import sys

MODULES = [
    "workloads.config",
    "workloads.frames",
    "workloads.sampler",
    "workloads.session",
    "workloads.bench",
    "workloads.recording",
    "workloads.labmain",
    "workloads.models",
    "workloads.history",
    "workloads.verdict",
    "workloads.perfetto",
    "workloads.calibrate",
    "workloads.attach",
    "workloads.examples",
]


def test_workloads_import_neither_textual_nor_rich() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'tui'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_headless_commands_do_not_import_textual() -> None:
    code = (
        "import sys\n"
        "from tui import cli\n"
        "cli.main(['models'])\n"
        "print('TEXTUAL' if any(m.startswith('textual') for m in sys.modules) else 'clean')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().endswith("clean"), out.stdout + out.stderr
