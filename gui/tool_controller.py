"""The annotation tools: which one paints, the brush size, click-to-segment's method and mode, and the shape
being drawn (finish, cancel, remove its last point)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from PyQt5.QtWidgets import QAction

from .segment_backends import SegmentBackend
from .spline_tool import FeatherControls
from .status_line import Messages
from .view_state import ViewState
from .window_bars import BRUSH_RANGE, BRUSH_STEP, SEGMENT_MODES, SOFTNESS_STEP, WindowWidgets

__all__ = ["ToolCanvas", "ToolController", "brush_text"]


def brush_text(size: int, softness: float) -> str:
    """The brush as the status bar says it: "brush 24 px, hard" / "brush 24 px, 50 % soft"."""
    return f"brush {size} px, " + (f"{round(softness * 100)} % soft" if softness > 0 else "hard")


class _Shape(Protocol):
    def reset(self) -> None: ...
    def accept(self, erase: bool = False) -> Any: ...
    def cancel(self) -> bool: ...
    def remove_point(self) -> Any: ...


class ToolCanvas(Protocol):
    """What the tools need of the canvas: the tool in use and the click-to-segment method."""

    segment_backend: SegmentBackend | None
    tools: Mapping[str, Any]

    @property
    def tool(self) -> _Shape: ...


class ToolController:
    """Tool choices go to the `ViewState`; the toolbar's controls follow it."""

    def __init__(
        self,
        view: ViewState,
        canvas: ToolCanvas,
        backends: Sequence[SegmentBackend],
        ui: WindowWidgets,
        actions: Mapping[str, QAction],
        messages: Messages,
    ) -> None:
        self.view, self.canvas, self.backends, self.ui, self.actions = view, canvas, backends, ui, actions
        self.messages = messages
        canvas.segment_backend = backends[0] if backends else None
        if "tool_spline" in actions:  # one tool checked at a time, the spline tool too
            ui.tool_group.addAction(actions["tool_spline"])
        spline = canvas.tools.get("spline")  # its feather boxes, beside the other tools' options, while in use
        bar_actions = ui.options_bar.actions()
        after = bar_actions[bar_actions.index(ui.segment_mode_action) + 1]
        self.feather_action = ui.options_bar.insertWidget(after, FeatherControls(spline)) if spline else None
        self.fill_segment_modes()
        ui.size_slider.valueChanged.connect(self.set_brush_size)
        ui.size_box.valueChanged.connect(self.set_brush_size)
        ui.softness_box.valueChanged.connect(lambda percent: self.set_brush_softness(percent / 100.0))
        ui.backend_box.currentIndexChanged.connect(self.set_segment_backend)
        ui.segment_mode_box.currentIndexChanged.connect(
            lambda _i: self.set_segment_mode(ui.segment_mode_box.currentData())
        )
        view.subscribe(self._follow)
        self._follow(view.values())

    def _follow(self, changes: Mapping[str, Any]) -> None:
        if "tool" in changes:
            name = changes["tool"]
            self.actions[f"tool_{name}"].setChecked(True)
            self.ui.backend_action.setVisible(name == "segment")
            self.ui.segment_mode_action.setVisible(name == "segment")
            if self.feather_action is not None:
                self.feather_action.setVisible(name == "spline")
            if name == "segment" and self.canvas.segment_backend is not None:
                self.messages.show(f"{self.canvas.segment_backend.name}: {self.ui.segment_mode_box.toolTip()}", 6000)
        if "brush_size" in changes:
            for widget in (self.ui.size_slider, self.ui.size_box):
                widget.blockSignals(True)
                widget.setValue(changes["brush_size"])
                widget.blockSignals(False)
        if "brush_softness" in changes:
            box = self.ui.softness_box
            box.blockSignals(True)
            box.setValue(int(round(changes["brush_softness"] * 100)))
            box.blockSignals(False)
        if "segment_mode" in changes:
            box = self.ui.segment_mode_box
            if box.findData(changes["segment_mode"]) >= 0 and box.currentData() != changes["segment_mode"]:
                box.setCurrentIndex(box.findData(changes["segment_mode"]))

    def set_tool(self, name: str) -> None:
        """Activate a tool."""
        self.view.update(tool=name)

    def set_brush_size(self, size: int) -> None:
        """Brush / eraser diameter in image pixels (clamped to `BRUSH_RANGE`)."""
        self.view.update(brush_size=max(BRUSH_RANGE[0], min(BRUSH_RANGE[1], int(size))))

    def brush_step(self, larger: bool) -> None:
        """`[` / `]`: a step smaller or larger, said in the status bar."""
        size = self.view.brush_size
        self.set_brush_size(
            max(size + 1, int(round(size * BRUSH_STEP))) if larger else max(1, int(round(size / BRUSH_STEP)))
        )
        self.messages.show(brush_text(self.view.brush_size, self.view.brush_softness), 2500)

    def set_brush_softness(self, softness: float) -> None:
        """Brush / eraser softness, 0 (hard) .. 1 (falls off over the whole radius)."""
        self.view.update(brush_softness=round(max(0.0, min(1.0, float(softness))), 2))

    def softness_step(self, softer: bool) -> None:
        """Shift+`[` / Shift+`]`: a `SOFTNESS_STEP` softer or harder, said in the status bar."""
        step = SOFTNESS_STEP if softer else -SOFTNESS_STEP
        self.set_brush_softness(self.view.brush_softness + step)
        self.messages.show(brush_text(self.view.brush_size, self.view.brush_softness), 2500)

    def set_segment_backend(self, index: int) -> None:
        """Use click-to-segment backend `index` of `backends`."""
        if 0 <= index < len(self.backends):
            self.canvas.tool.reset()
            self.canvas.segment_backend = self.backends[index]
            self.fill_segment_modes()

    def set_segment_mode(self, mode: str | None) -> None:
        """Box, strokes or clicks for click-to-segment."""
        if mode:
            self.canvas.tool.reset()
            self.view.update(segment_mode=mode)

    def fill_segment_modes(self) -> None:
        """Offer the modes of the current click-to-segment backend (keeping the chosen one if it has it)."""
        box = self.ui.segment_mode_box
        backend = self.canvas.segment_backend
        current = self.view.segment_mode
        box.blockSignals(True)
        box.clear()
        for mode in backend.modes if backend is not None else ():
            box.addItem(SEGMENT_MODES[mode], mode)
        box.setCurrentIndex(max(0, box.findData(current)))
        box.blockSignals(False)
        self.view.update(segment_mode=box.currentData() or "box")

    def accept_shape(self, erase: bool = False) -> None:
        """Enter: finish the polygon / keep the segmentation; Shift+Enter closes the polygon as an erase."""
        self.canvas.tool.accept(erase)

    def cancel_shape(self) -> bool:
        """Esc: drop the shape being drawn. Returns False when there was none."""
        return bool(self.canvas.tool.cancel())

    def remove_point(self) -> None:
        """Backspace: remove the shape's last point."""
        self.canvas.tool.remove_point()

    def reset_shape(self) -> None:
        """Forget the shape being drawn (before an undo, another object...)."""
        self.canvas.tool.reset()
