"""A live source without a lab, for hermetic tests of what the app asks of a live lab."""

from __future__ import annotations

from tui.sources import LiveSource, Post
from workloads.config import LabConfig

__all__ = ["FakeLive"]


class FakeLive(LiveSource):
    """Records every request the app makes (`calls`, `synced`); never starts a lab."""

    def __init__(self, config: LabConfig | None = None) -> None:
        super().__init__(config or LabConfig())
        self.calls: list[str] = []  # appended from worker threads too; list.append is atomic
        self.synced: list[LabConfig] = []

    def start(self, post: Post) -> None:
        self._post = post
        self.calls.append("start")

    def sync(self) -> None:
        self.synced.append(self.config)
        self.calls.append("sync")

    def restart(self) -> None:
        self.calls.append("restart")

    def suspend(self) -> None:
        self.calls.append("suspend")

    def resume(self) -> None:
        self.calls.append("resume")

    def stop(self) -> None:
        self.calls.append("stop")
