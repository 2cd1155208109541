"""The canvas and the saved settings follow the `ViewState`: each change of the view is pushed to them here,
and nowhere else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from .view_state import ViewState

__all__ = ["SettingsSink", "ViewCanvas", "bind_canvas", "bind_settings"]


class ViewCanvas(Protocol):
    """What the view needs of the canvas."""

    brush_size: int
    brush_softness: float
    segment_mode: str
    object_id: int

    def show_frame(self, index: int) -> None: ...
    def set_tool(self, name: str) -> None: ...
    def set_overlay(
        self, mode: str | None = None, opacity: float | None = None, visible: bool | None = None
    ) -> None: ...
    def set_onion_skin(self, on: bool) -> None: ...
    def set_compare(self, compare: str) -> None: ...
    def refresh(self) -> None: ...
    def update(self) -> None: ...


class SettingsSink(Protocol):
    """Where view values are kept between sessions (the project's `update_view`)."""

    def update_view(self, **changes: Any) -> None: ...


def bind_canvas(view: ViewState, canvas: ViewCanvas) -> None:
    """Draw what `view` says on `canvas`, now and after each change."""

    def follow(changes: Mapping[str, Any]) -> None:
        if "tool" in changes:
            canvas.set_tool(view.tool)
        if "segment_mode" in changes:
            canvas.segment_mode = view.segment_mode
        if "brush_size" in changes or "brush_softness" in changes:
            canvas.brush_size = view.brush_size
            canvas.brush_softness = view.brush_softness
            canvas.update()
        overlay = {"overlay_mode": "mode", "opacity": "opacity", "show_mask": "visible"}
        if overlay.keys() & changes.keys():
            canvas.set_overlay(**{arg: changes[name] for name, arg in overlay.items() if name in changes})
        if "compare" in changes:
            canvas.set_compare(view.compare)
        if "onion_skin" in changes:
            canvas.set_onion_skin(view.onion_skin)
        if "object_id" in changes:
            canvas.object_id = view.object_id
            canvas.refresh()
        if "frame" in changes and view.frame >= 0:
            canvas.show_frame(view.frame)

    follow(view.values())
    view.subscribe(follow)


def bind_settings(view: ViewState, sink: SettingsSink) -> None:
    """Keep `view`'s values in the workspace settings (saved shortly after they settle)."""

    def keep(changes: Mapping[str, Any]) -> None:
        saved = view.saved(changes)
        if saved:
            sink.update_view(**saved)

    view.subscribe(keep)
