"""The app with a tour: a caption panel, and `n` / `p` to move between scenes.

A scene change asks the source for the scene's whole configuration through
the same path as every other key (`CcvizApp._change`: validated on the UI
thread, applied by a thread worker), so a model change starts a fresh lab and a
mix change is applied live; every other control keeps working in between,
and the next scene sets everything it names again. On a rehearsed tour the
source is a `TourReplay`, and a scene change switches recordings: no lab is
ever started.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from tui.app import CcvizApp
from tui.screens.compare import CompareOptions
from tui.sources import LiveSource, ReplaySource, Source
from tui.tours import Tour
from tui.widgets.caption import Caption, CaptionPanel
from workloads.config import LabConfig
from workloads.recording import Recording

__all__ = ["TourApp", "TourReplay", "make_tour_app"]


class TourReplay(ReplaySource):
    """A rehearsed tour: one recording per scene, played from its start on each change."""

    def __init__(self, recordings: Sequence[Recording], *, speed: float = 1.0) -> None:
        if not recordings:
            raise ValueError("a rehearsed tour needs at least one recording")
        super().__init__(recordings[0], speed=speed)
        self.recordings = tuple(recordings)
        self.scene = 0

    def show_scene(self, index: int) -> None:
        """Play scene `index`'s recording from its start."""
        self.scene = index
        self.load(self.recordings[index])


class TourApp(CcvizApp):
    """`CcvizApp` plus a caption panel and scene keys; the source starts on scene 1."""

    # mypy infers CcvizApp's CSS_PATH as str; Textual takes a list of paths too.
    CSS_PATH = ["styles/app.tcss", "styles/tour.tcss"]  # type: ignore[assignment]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        *CcvizApp.BINDINGS,
        Binding("n", "scene(1)", "next", key_display="n p",
                tooltip="tour: next scene (p: previous); the lab takes the scene's settings"),
        Binding("p", "scene(-1)", "previous", show=False),
    ]

    def __init__(
        self,
        tour: Tour,
        source: Source,
        *,
        ascii: bool = False,
        high_contrast: bool = False,
        compare: CompareOptions | None = None,
    ) -> None:
        super().__init__(source, ascii=ascii, high_contrast=high_contrast, compare=compare)
        self.tour = tour
        self.scene_index = 0
        self.caption = CaptionPanel(ascii=ascii, id="caption")
        self.caption.show(self._caption(0))

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            yield widget
            if widget is self.verdict_line:
                yield self.caption

    def _caption(self, index: int) -> Caption:
        scene = self.tour.scenes[index]
        return Caption(
            tour=self.tour.title, index=index, total=len(self.tour.scenes),
            title=scene.title, text=scene.caption,
        )

    @property
    def scene(self) -> LabConfig:
        """The configuration of the scene on screen."""
        return self.tour.scenes[self.scene_index].config

    def action_scene(self, step: int) -> None:
        index = self.scene_index + step
        if not 0 <= index < len(self.tour.scenes):
            where = "last" if step > 0 else "first"
            self.notify(f"this is the {where} scene", timeout=2)
            return
        self.go_to(index)

    def go_to(self, index: int) -> None:
        """Show scene `index`: its caption, and its settings on the lab (or its recording)."""
        self.scene_index = index
        self.caption.show(self._caption(index))
        if isinstance(self.source, TourReplay):
            self.source.show_scene(index)
            self._redraw()
            return
        wanted = self.tour.scenes[index].config.to_dict()
        changes = {k: v for k, v in wanted.items() if self.source.config.to_dict()[k] != v}
        if changes:
            self._change(**changes)
        else:
            self._redraw()


def make_tour_app(
    tour: Tour,
    *,
    recordings: Sequence[Recording] | None = None,
    source_factory: Callable[[LabConfig], Source] = LiveSource,
    ascii: bool = False,
    high_contrast: bool = False,
    compare: CompareOptions | None = None,
) -> TourApp:
    """The app on a tour: live labs from `source_factory`, or a rehearsal's `recordings`.

    With `recordings` (one per scene, in order) no lab is ever started.
    """
    if recordings is not None:
        if len(recordings) != len(tour.scenes):
            raise ValueError(f"{len(tour.scenes)} scenes but {len(recordings)} recordings")
        source: Source = TourReplay(recordings)
    else:
        source = source_factory(tour.scenes[0].config)
    return TourApp(tour, source, ascii=ascii, high_contrast=high_contrast, compare=compare)

