"""What the artist sees, as one plain model: the frame on screen, the object and tool, how masks are drawn.

`ViewState` holds no Qt and draws nothing. Controllers change it with `update`; the canvas, the window's
widgets and the saved settings follow it through `subscribe` (see `view_binding`), so the same value is
never copied by hand between them. `SAVED_AS` names the `GuiSettings` field each value is kept in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["BRUSH_SHARE", "SAVED_AS", "ViewState", "default_brush_size"]

#: The default brush diameter as a share of the frame's shorter side. On the annotated frames of the two real
#: clips (caps 853x480, chair 480x720; 68 object masks), the thickest part of an object (its largest inscribed
#: disc) is at least 3.8 % of the shorter side for 9 objects in 10 (median 6-10 %): a 3 % brush fits inside
#: nearly every object, so it fills without spilling over, and it is the same share of the picture whatever
#: size the shot was imported at (a fixed 12 px was 5 % of a 240 px import and 1.1 % of 1080p).
BRUSH_SHARE = 0.03

#: ViewState field -> the `GuiSettings` field that keeps it in the workspace.
SAVED_AS = {
    "frame": "current_frame",
    "object_id": "current_object",
    "tool": "tool",
    "brush_size": "brush_size",
    "brush_softness": "brush_softness",
    "segment_mode": "segment_mode",
    "overlay_mode": "overlay_mode",
    "opacity": "opacity",
    "show_mask": "show_mask",
    "onion_skin": "onion_skin",
    "compare": "compare",
    "tab": "side_tab",
}

Listener = Callable[[Mapping[str, Any]], None]


@dataclass
class ViewState:
    """The view of one window.

    Attributes:
        frame: the frame on screen (-1 before the first is shown).
        object_id: the object the tools paint (1..K).
        tool, brush_size, segment_mode: the annotation tool.
        brush_softness: 0 (hard) .. 1: the share of the brush's radius that falls off to its rim.
        overlay_mode, opacity, show_mask: how masks are drawn (`matte_view.VIEW_MODES`).
        onion_skin: outline the neighbouring frames' masks.
        compare: raw, refined or split matte in the matte views.
        tab: the side panel's tab on show ("References", "Candidates", "Memory", "Review").
    """

    frame: int = -1
    object_id: int = 1
    tool: str = "brush"
    brush_size: int = 12
    brush_softness: float = 0.0
    segment_mode: str = "box"
    overlay_mode: str = "blend"
    opacity: float = 0.5
    show_mask: bool = True
    onion_skin: bool = False
    compare: str = "raw"
    tab: str = "References"
    _listeners: list[Listener] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def from_settings(cls, settings: Any, frame_size: tuple[int, int] | None = None) -> ViewState:
        """The view a workspace's `GuiSettings` saved (the frame stays -1: the window shows the saved one).

        A brush size never chosen (None) is `default_brush_size(*frame_size)` (12 without a frame size).
        """
        values = {
            name: getattr(settings, saved)
            for name, saved in SAVED_AS.items()
            if name != "frame" and getattr(settings, saved, None) is not None
        }
        if "brush_size" not in values and frame_size is not None:
            values["brush_size"] = default_brush_size(*frame_size)
        return cls(**values)

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(changes)` after each `update` that changed something, in subscription order."""
        self._listeners.append(listener)

    def update(self, **changes: Any) -> dict[str, Any]:
        """Set the given values; listeners hear of those that changed. Returns the changed ones."""
        known = {f.name for f in fields(self) if not f.name.startswith("_")}
        unknown = set(changes) - known
        if unknown:
            raise AttributeError(f"ViewState has no {', '.join(sorted(unknown))}")
        changed = {name: value for name, value in changes.items() if getattr(self, name) != value}
        for name, value in changed.items():
            setattr(self, name, value)
        if changed:
            for listener in list(self._listeners):
                listener(changed)
        return changed

    def values(self) -> dict[str, Any]:
        """Every value, by field name (what a listener needs to catch up)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    def saved(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """`changes` under their `GuiSettings` names (the ones the workspace keeps)."""
        return {
            SAVED_AS[name]: value
            for name, value in changes.items()
            if name in SAVED_AS and (name != "frame" or value >= 0)
        }


def default_brush_size(height: int, width: int) -> int:
    """The brush diameter (image pixels) a shot of `height` x `width` starts with: `BRUSH_SHARE` of the
    shorter side, at least 4 px."""
    return max(4, round(BRUSH_SHARE * min(height, width)))
