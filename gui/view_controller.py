"""How the frame is drawn: the overlay or matte view, opacity, mask on / off, onion skin, the raw / refined
comparison, and the zoom."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from PyQt5.QtCore import QPointF
from PyQt5.QtWidgets import QAction

from .matte_view import COMPARE_LABELS, COMPARE_MODES, MATTE_MODES, VIEW_LABELS, VIEW_MODES
from .status_line import Messages
from .view_state import ViewState
from .window_bars import WindowWidgets

__all__ = ["ZOOM_STEP", "Refinement", "ViewController", "ZoomCanvas"]

#: Zoom factor of one zoom-in / zoom-out step.
ZOOM_STEP = 1.25


class ZoomCanvas(Protocol):
    """The canvas's zoom."""

    def fit(self) -> None: ...
    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None: ...
    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None: ...


class Refinement(Protocol):
    """Whether refined mattes can be shown."""

    @property
    def available(self) -> bool: ...
    @property
    def why_unavailable(self) -> str: ...


class ViewController:
    """View choices go to the `ViewState`; the options bar and the View menu follow it."""

    def __init__(
        self,
        view: ViewState,
        canvas: ZoomCanvas,
        refined: Refinement,
        ui: WindowWidgets,
        actions: Mapping[str, QAction],
        messages: Messages,
        layout_changed: Callable[[], None],
    ) -> None:
        """`layout_changed` is called when a control of the options bar shows or hides."""
        self.view, self.canvas, self.refined, self.ui, self.actions = view, canvas, refined, ui, actions
        self.messages, self.layout_changed = messages, layout_changed
        ui.view_box.currentIndexChanged.connect(lambda i: self.set_overlay_mode(ui.view_box.itemData(i)))
        ui.opacity_slider.valueChanged.connect(lambda v: self.set_opacity(v / 100.0))
        ui.compare_box.currentIndexChanged.connect(lambda i: self.set_compare(ui.compare_box.itemData(i)))
        ui.compare_box.setEnabled(refined.available)
        if not refined.available:
            ui.compare_box.setToolTip(f"Raw / refined matte: {refined.why_unavailable}")
        view.subscribe(self._follow)
        self._follow(view.values())

    def _follow(self, changes: Mapping[str, Any]) -> None:
        ui = self.ui
        if "overlay_mode" in changes:
            if ui.view_box.currentIndex() != VIEW_MODES.index(changes["overlay_mode"]):
                ui.view_box.setCurrentIndex(VIEW_MODES.index(changes["overlay_mode"]))
            ui.compare_action.setVisible(changes["overlay_mode"] in MATTE_MODES[1:])
            self.layout_changed()
        if "compare" in changes and ui.compare_box.currentIndex() != COMPARE_MODES.index(changes["compare"]):
            ui.compare_box.setCurrentIndex(COMPARE_MODES.index(changes["compare"]))
        if "opacity" in changes:
            ui.opacity_slider.blockSignals(True)
            ui.opacity_slider.setValue(int(round(changes["opacity"] * 100)))
            ui.opacity_slider.blockSignals(False)
        if "show_mask" in changes:
            self.actions["toggle_mask"].setChecked(changes["show_mask"])
        if "onion_skin" in changes:
            self.actions["toggle_onion"].setChecked(changes["onion_skin"])

    def set_overlay_mode(self, mode: str) -> None:
        """An overlay (colour blend, fade background, object only) or a matte view (`VIEW_MODES`)."""
        self.view.update(overlay_mode=mode)

    def cycle_overlay(self) -> None:
        """Next view mode."""
        i = VIEW_MODES.index(self.view.overlay_mode)
        self.set_overlay_mode(VIEW_MODES[(i + 1) % len(VIEW_MODES)])
        self.messages.show(f"view: {VIEW_LABELS[self.view.overlay_mode]}", 2000)

    def set_compare(self, compare: str) -> None:
        """Raw, refined or split matte (matte views)."""
        self.view.update(compare=compare)

    def cycle_compare(self) -> None:
        """A: raw → refined → split, in a matte view (switches to the alpha view from an overlay)."""
        if not self.refined.available:
            self.messages.show(f"no refined matte: {self.refined.why_unavailable}", 4000)
            return
        if self.view.overlay_mode not in MATTE_MODES[1:]:
            self.set_overlay_mode("alpha")
        i = COMPARE_MODES.index(self.view.compare)
        self.set_compare(COMPARE_MODES[(i + 1) % len(COMPARE_MODES)])
        self.messages.show(COMPARE_LABELS[self.view.compare], 2000)

    def set_onion_skin(self, on: bool) -> None:
        """Outline the previous and next frames' masks."""
        self.view.update(onion_skin=bool(on))

    def set_opacity(self, opacity: float) -> None:
        """Overlay opacity (blend mode)."""
        self.view.update(opacity=round(float(opacity), 3))

    def set_mask_visible(self, visible: bool) -> None:
        """Show or hide the mask overlay."""
        self.view.update(show_mask=bool(visible))

    def zoom_fit(self) -> None:
        """Fit the frame in the canvas."""
        self.canvas.fit()

    def zoom_actual(self) -> None:
        """One image pixel per screen pixel."""
        self.canvas.set_zoom(1.0)

    def zoom_step(self, steps: int) -> None:
        """Zoom in (`steps` > 0) or out by `ZOOM_STEP` per step."""
        self.canvas.zoom_by(ZOOM_STEP**steps)
