"""Record the committed recordings under recordings/: one real run per model.

These feed replay, the snapshot tests and `make screenshots`. Each is a few
seconds of a real lab on this machine; re-running this script replaces them
with fresh measurements (snapshots then need `pytest --snapshot-update`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workloads.config import MODELS

ROOT = Path(__file__).resolve().parent.parent
SECONDS = "4"
#: Shared scenario: mixed work so every model shows both CPU and IO behaviour.
SCENARIO = ["--cpu-share", "0.3", "--task-ms", "20", "--concurrency", "32", "--workers", "2"]


def main() -> None:
    out_dir = ROOT / "recordings"
    out_dir.mkdir(exist_ok=True)
    for model in MODELS:
        target = out_dir / f"{model}.jsonl"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tui.cli",
                "record",
                "--model",
                model,
                *SCENARIO,
                "--seconds",
                SECONDS,
                "-o",
                str(target),
            ],
            check=True,
            cwd=ROOT,
        )


if __name__ == "__main__":
    main()
