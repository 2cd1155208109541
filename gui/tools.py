"""Annotation tools: brush, eraser, polygon fill, lasso fill, click-to-segment.

A tool receives mouse events in image coordinates from the canvas (its `ToolHost`), changes the
host's working copy of the mask, and calls `host.commit(text)` when one edit is complete (the end
of a stroke, a closed polygon, a segmentation): that makes one undo step and saves the mask.
Tools draw their previews (brush outline, polygon so far, box, strokes) in `paint`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np
from PyQt5.QtCore import QLineF, QPointF, QRectF, Qt
from PyQt5.QtGui import QBrush, QColor, QPainter, QPen, QPolygonF, QTransform

from xmempp.annotation import Step

from .segment_backends import SCRIBBLE_BG, SCRIBBLE_FG, Prompt, SegmentBackend
from .soft_brush import SoftBrushHost, SoftStroke, start_soft_stroke

__all__ = [
    "BrushHost",
    "BrushTool",
    "EraserTool",
    "LassoTool",
    "PolygonTool",
    "SegmentTool",
    "Tool",
    "ToolHost",
    "make_tools",
]

_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_ONE = 1 << _SHIFT


class ToolHost(Protocol):
    """What a tool needs from the canvas."""

    work_mask: np.ndarray
    image: np.ndarray
    frame_index: int
    object_id: int
    brush_size: int
    brush_softness: float
    zoom: float
    segment_backend: SegmentBackend | None
    segment_mode: str

    def mask_touched(self, rect: tuple[int, int, int, int] | None = None) -> None: ...
    def commit(self, text: str, also: Sequence[Step] = ()) -> bool: ...
    def revert(self) -> None: ...
    def notify(self, text: str) -> None: ...
    def object_qcolor(self, object_id: int | None = None) -> QColor: ...
    def update(self) -> None: ...


def _fixed(p: QPointF) -> tuple[int, int]:
    """A point as OpenCV fixed-point coordinates (pixel centres at integer + 0.5)."""
    return int(round((p.x() - 0.5) * _ONE)), int(round((p.y() - 0.5) * _ONE))


def _bounds(points: list[QPointF], pad: float, w: int, h: int) -> tuple[int, int, int, int]:
    xs = [p.x() for p in points]
    ys = [p.y() for p in points]
    return (
        max(0, int(min(xs) - pad) - 1),
        max(0, int(min(ys) - pad) - 1),
        min(w, int(max(xs) + pad) + 2),
        min(h, int(max(ys) + pad) + 2),
    )


class Tool:
    """Base class: does nothing."""

    name = ""
    label = ""
    uses_brush = False
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, host: ToolHost) -> None:
        self.host = host
        self.hover_pos: QPointF | None = None

    @property
    def pending(self) -> bool:
        """True while a shape is half drawn (Esc cancels it)."""
        return False

    def press(self, p: QPointF, button: int, modifiers: int) -> None:
        """Mouse button pressed at image point `p`."""

    def move(self, p: QPointF, buttons: int, modifiers: int) -> None:
        """Mouse moved (any button state)."""
        self.hover_pos = p

    def release(self, p: QPointF, button: int, modifiers: int) -> None:
        """Mouse button released."""

    def double_click(self, p: QPointF, button: int, modifiers: int) -> None:
        """Double click."""

    def accept(self, erase: bool = False) -> bool:
        """Enter: finish the current shape (Shift+Enter: `erase`, for the fill tools). Returns True when handled."""
        return False

    def remove_point(self) -> bool:
        """Backspace: undo the last point. Returns True when handled."""
        return False

    def cancel(self) -> bool:
        """Esc: drop the shape being drawn. Returns True when something was cancelled."""
        return False

    def reset(self) -> None:
        """The frame, object or tool changed: forget unfinished state."""
        self.cancel()

    def saved_changed(self) -> None:
        """The frame's saved state changed under the tool (an undo or redo): show it (most tools show none)."""

    def paint(self, painter: QPainter, to_widget: QTransform) -> None:
        """Draw the preview (widget coordinates; `to_widget` maps image points)."""


class BrushHost(ToolHost, SoftBrushHost, Protocol):
    """What the brush needs besides a `ToolHost`: the frame's soft layer and shapes (`soft_brush`)."""


class BrushTool(Tool):
    """Paints the current object with a round brush; the right button erases.

    With `host.brush_softness` above 0 the brush falls off from its hard core to its rim: the stroke is
    painted into the frame's soft layer (`xmempp.io.soft_paint`, kept by `host.soft_store`) and the mask
    takes the pixels the layer gives the object. On a frame that has a soft layer a hard stroke updates the
    layer too (its pixels become hard); elsewhere the hard brush draws the mask alone.
    """

    name = "brush"
    label = "Brush"
    uses_brush = True
    cursor = Qt.CursorShape.BlankCursor
    erase = False

    def __init__(self, host: BrushHost) -> None:
        super().__init__(host)
        self.host: BrushHost = host
        self._last: QPointF | None = None
        self._value = 0
        self._soft: SoftStroke | None = None

    @property
    def pending(self) -> bool:
        return self._last is not None

    def press(self, p: QPointF, button: int, modifiers: int) -> None:
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        self._value = 0 if (self.erase or button == Qt.MouseButton.RightButton) else self.host.object_id
        self._soft = start_soft_stroke(self.host, self._value)
        self._last = p
        self._dab(p, p)

    def move(self, p: QPointF, buttons: int, modifiers: int) -> None:
        super().move(p, buttons, modifiers)
        if self._last is not None:
            self._dab(self._last, p)
            self._last = p
        else:
            self.host.update()

    def release(self, p: QPointF, button: int, modifiers: int) -> None:
        if self._last is None:
            return
        self._last = None
        text = "Eraser stroke" if self._value == 0 else "Brush stroke"
        soft, self._soft = self._soft, None
        also = [] if soft is None else soft.finish(text)
        self.host.commit(text, also)

    def cancel(self) -> bool:
        if self._last is None:
            return False
        self._last = None
        self._soft = None
        self.host.revert()
        return True

    def _dab(self, a: QPointF, b: QPointF) -> None:
        mask = self.host.work_mask
        size = max(1, int(self.host.brush_size))
        radius = size / 2.0
        h, w = mask.shape
        soft = self._soft
        if soft is not None and soft.softness > 0:
            rect = soft.dab((a.x(), a.y()), (b.x(), b.y()), size, mask)
            if rect is not None:  # None: the dab lies outside the frame
                self.host.mask_touched(rect)
            return
        _draw_dab(mask, a, b, size, self._value)
        if soft is not None:  # a hard stroke on a frame with a soft layer: its pixels become hard there too
            soft.hard_dab(lambda target: _draw_dab(target, a, b, size, 1), _bounds([a, b], radius + 1, w, h))
        self.host.mask_touched(_bounds([a, b], radius + 1, w, h))

    def paint(self, painter: QPainter, to_widget: QTransform) -> None:
        if self.hover_pos is None:
            return
        centre = to_widget.map(self.hover_pos)
        radius = max(1.0, self.host.brush_size * self.host.zoom / 2.0)
        colour = QColor(255, 255, 255) if not self.erase else QColor(255, 120, 120)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(0, 0, 0, 160), 3))
        painter.drawEllipse(centre, radius, radius)
        painter.setPen(QPen(colour, 1))
        painter.drawEllipse(centre, radius, radius)
        softness = float(self.host.brush_softness)
        if softness > 0:  # the hard core, where the falloff to the rim begins
            core = radius * (1.0 - softness)
            if core >= 1.0:
                painter.setPen(QPen(colour, 1, Qt.PenStyle.DashLine))
                painter.drawEllipse(centre, core, core)


def _draw_dab(target: np.ndarray, a: QPointF, b: QPointF, size: int, value: int) -> None:
    """The hard brush's segment a-b (round ends) drawn into `target` with `value`."""
    radius = size / 2.0
    pa, pb = _fixed(a), _fixed(b)
    r = max(0, int(round((radius - 0.5) * _ONE)))
    if size <= 1:
        cv2.line(target, pa, pb, value, 1, cv2.LINE_8, _SHIFT)
    else:
        cv2.circle(target, pb, r, value, -1, cv2.LINE_8, _SHIFT)
        if pa != pb:
            cv2.circle(target, pa, r, value, -1, cv2.LINE_8, _SHIFT)
            cv2.line(target, pa, pb, value, size, cv2.LINE_8, _SHIFT)


class EraserTool(BrushTool):
    """Paints background."""

    name = "eraser"
    label = "Eraser"
    erase = True


class _FillTool(Tool):
    """Shared by polygon and lasso: fill a closed outline with the object (Shift: with background)."""

    def _fill(self, points: list[QPointF], erase: bool) -> bool:
        if len(points) < 3:
            return False
        mask = self.host.work_mask
        pts = np.array([_fixed(p) for p in points], np.int32).reshape(-1, 1, 2)
        value = 0 if erase else self.host.object_id
        cv2.fillPoly(mask, [pts], value, cv2.LINE_8, _SHIFT)
        h, w = mask.shape
        self.host.mask_touched(_bounds(points, 1, w, h))
        return self.host.commit(f"{self.label} {'erase' if erase else 'fill'}")

    def _paint_outline(self, painter: QPainter, to_widget: QTransform, points: list[QPointF], closed: bool) -> None:
        if not points:
            return
        poly = QPolygonF([to_widget.map(p) for p in points])
        colour = self.host.object_qcolor()
        fill = QColor(colour)
        fill.setAlpha(70)
        painter.setPen(QPen(QColor(0, 0, 0, 170), 3))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPolyline(poly)
        painter.setPen(QPen(colour.lighter(150), 1.5))
        painter.setBrush(QBrush(fill) if closed or len(points) > 2 else Qt.BrushStyle.NoBrush)
        if len(points) > 2:
            painter.drawPolygon(poly)
        else:
            painter.drawPolyline(poly)


class PolygonTool(_FillTool):
    """Click corners; Enter, a double click or a click on the first corner fills."""

    name = "polygon"
    label = "Polygon"

    def __init__(self, host: ToolHost) -> None:
        super().__init__(host)
        self.points: list[QPointF] = []

    @property
    def pending(self) -> bool:
        return bool(self.points)

    def press(self, p: QPointF, button: int, modifiers: int) -> None:
        if button != Qt.MouseButton.LeftButton:
            return
        if len(self.points) >= 3:
            first = self.points[0]
            if QLineF(first, p).length() * self.host.zoom <= 8:
                self._close(bool(modifiers & Qt.KeyboardModifier.ShiftModifier))
                return
        self.points.append(p)
        self.host.update()

    def double_click(self, p: QPointF, button: int, modifiers: int) -> None:
        if button == Qt.MouseButton.LeftButton and len(self.points) >= 3:
            self._close(bool(modifiers & Qt.KeyboardModifier.ShiftModifier))

    def accept(self, erase: bool = False) -> bool:
        if len(self.points) < 3:
            return False
        self._close(erase)
        return True

    def _close(self, erase: bool) -> None:
        points, self.points = self.points, []
        if not self._fill(points, erase):
            self.host.update()

    def remove_point(self) -> bool:
        if not self.points:
            return False
        self.points.pop()
        self.host.update()
        return True

    def cancel(self) -> bool:
        if not self.points:
            return False
        self.points = []
        self.host.update()
        return True

    def paint(self, painter: QPainter, to_widget: QTransform) -> None:
        points = list(self.points)
        if points and self.hover_pos is not None:
            points.append(self.hover_pos)
        self._paint_outline(painter, to_widget, points, closed=False)
        painter.setPen(QPen(QColor(255, 255, 255), 1))
        painter.setBrush(QBrush(self.host.object_qcolor()))
        for p in self.points:
            painter.drawEllipse(to_widget.map(p), 3.5, 3.5)


class LassoTool(_FillTool):
    """Drag an outline; releasing fills it (Shift or the right button: erase)."""

    name = "lasso"
    label = "Lasso"

    def __init__(self, host: ToolHost) -> None:
        super().__init__(host)
        self.points: list[QPointF] = []
        self._erase = False

    @property
    def pending(self) -> bool:
        return bool(self.points)

    def press(self, p: QPointF, button: int, modifiers: int) -> None:
        if button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._erase = button == Qt.MouseButton.RightButton or bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
            self.points = [p]

    def move(self, p: QPointF, buttons: int, modifiers: int) -> None:
        super().move(p, buttons, modifiers)
        if self.points:
            if QLineF(self.points[-1], p).length() * self.host.zoom >= 2:
                self.points.append(p)
            self.host.update()

    def release(self, p: QPointF, button: int, modifiers: int) -> None:
        if not self.points:
            return
        points, self.points = self.points + [p], []
        erase = self._erase or bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
        if not self._fill(points, erase):
            self.host.update()

    def cancel(self) -> bool:
        if not self.points:
            return False
        self.points = []
        self.host.update()
        return True

    def paint(self, painter: QPainter, to_widget: QTransform) -> None:
        self._paint_outline(painter, to_widget, self.points, closed=True)


class SegmentTool(Tool):
    """Click-to-segment through a `SegmentBackend`.

    Modes (`host.segment_mode`): "box" (drag a box), "strokes" (left strokes mark the object,
    right strokes the background), "points" (left click object, right click background; Segment
    Anything only). Prompts accumulate until Enter, Esc, or a change of frame / object / tool;
    every run replaces the previous run's result and is one undo step.
    """

    name = "segment"
    label = "Segment"

    def __init__(self, host: ToolHost) -> None:
        super().__init__(host)
        self._base: np.ndarray | None = None  # the mask before this segmentation began
        self._prompt = Prompt()
        self._strokes: list[tuple[list[QPointF], bool]] = []
        self._drag_start: QPointF | None = None
        self._drag_button = 0
        self._current: list[QPointF] = []

    @property
    def pending(self) -> bool:
        return self._base is not None or self._drag_start is not None

    def _begin(self) -> None:
        if self._base is None:
            self._base = self.host.work_mask.copy()
            self._prompt = Prompt(frame=self.host.frame_index)
            self._strokes = []

    def press(self, p: QPointF, button: int, modifiers: int) -> None:
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton) or self.host.segment_backend is None:
            return
        mode = self.host.segment_mode
        if mode == "box" and button != Qt.MouseButton.LeftButton:
            return
        self._drag_start = p
        self._drag_button = button
        self._current = [p]

    def move(self, p: QPointF, buttons: int, modifiers: int) -> None:
        super().move(p, buttons, modifiers)
        if self._drag_start is not None and (
            not self._current or QLineF(self._current[-1], p).length() * self.host.zoom >= 2
        ):
            self._current.append(p)
        self.host.update()

    def release(self, p: QPointF, button: int, modifiers: int) -> None:
        if self._drag_start is None or button != self._drag_button:
            return
        start, self._drag_start = self._drag_start, None
        points, self._current = self._current + [p], []
        mode = self.host.segment_mode
        positive = button == Qt.MouseButton.LeftButton
        dragged = QLineF(start, p).length() * self.host.zoom >= 4
        self._begin()
        h, w = self.host.work_mask.shape
        if mode == "box":
            if not dragged:
                self.host.update()
                return
            self._prompt.box = (
                int(min(start.x(), p.x())),
                int(min(start.y(), p.y())),
                int(max(start.x(), p.x())) + 1,
                int(max(start.y(), p.y())) + 1,
            )
        elif mode == "points" and not dragged:
            self._prompt.points.append((p.x(), p.y(), positive))
        else:
            if self._prompt.scribble is None:
                self._prompt.scribble = np.zeros((h, w), np.uint8)
            thickness = max(3, min(25, self.host.brush_size // 2))
            pts = np.array([_fixed(q) for q in points], np.int32).reshape(-1, 1, 2)
            value = SCRIBBLE_FG if positive else SCRIBBLE_BG
            cv2.polylines(self._prompt.scribble, [pts], False, value, thickness, cv2.LINE_8, _SHIFT)
            self._strokes.append((points, positive))
        self._run()

    def _run(self) -> None:
        backend = self.host.segment_backend
        if backend is None or self._base is None:
            return
        if self._prompt.empty:
            self.host.notify("mark the object: a box, or a stroke / click on it")
            self.host.update()
            return
        from PyQt5.QtWidgets import QApplication

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            found = backend.segment(np.asarray(self.host.image), self._prompt)
        except Exception as exc:
            self.host.notify(f"{backend.name} failed: {exc}")
            return
        finally:
            QApplication.restoreOverrideCursor()
        new = self._base.copy()
        new[found] = self.host.object_id
        self.host.work_mask[...] = new
        self.host.mask_touched(None)
        if not found.any():
            self.host.notify(f"{backend.name} found nothing there; add a box or more strokes")
        self.host.commit(f"Segment ({backend.name})")

    def accept(self, erase: bool = False) -> bool:
        if self._base is None:
            return False
        self._clear()
        self.host.notify("segmentation kept")
        return True

    def remove_point(self) -> bool:
        if self._prompt.points:
            self._prompt.points.pop()
            self._run()
            return True
        return False

    def cancel(self) -> bool:
        """Esc: put the mask back as it was before this segmentation began."""
        if self._base is None and self._drag_start is None:
            return False
        base = self._base
        self._clear()
        if base is not None and not np.array_equal(base, self.host.work_mask):
            self.host.work_mask[...] = base
            self.host.mask_touched(None)
            self.host.commit("Cancel segmentation")
        self.host.update()
        return True

    def reset(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self._base = None
        self._prompt = Prompt()
        self._strokes = []
        self._drag_start = None
        self._current = []
        self.host.update()

    def paint(self, painter: QPainter, to_widget: QTransform) -> None:
        green, red = QColor(80, 230, 120), QColor(255, 90, 90)
        box: tuple[float, float, float, float] | None = self._prompt.box
        if self._drag_start is not None and self.host.segment_mode == "box" and self.hover_pos is not None:
            a, b = self._drag_start, self.hover_pos
            box = (min(a.x(), b.x()), min(a.y(), b.y()), max(a.x(), b.x()), max(a.y(), b.y()))
        if box is not None:
            rect = QRectF(to_widget.map(QPointF(box[0], box[1])), to_widget.map(QPointF(box[2], box[3])))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor(0, 0, 0, 170), 3))
            painter.drawRect(rect)
            pen = QPen(QColor(255, 220, 80), 1.5, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawRect(rect)
        strokes = list(self._strokes)
        if self._drag_start is not None and self.host.segment_mode != "box" and len(self._current) > 1:
            strokes.append((self._current, self._drag_button == Qt.MouseButton.LeftButton))
        width = max(2.0, min(25, self.host.brush_size // 2) * self.host.zoom)
        for points, positive in strokes:
            pen = QPen(
                green if positive else red,
                width,
                Qt.PenStyle.SolidLine,
                Qt.PenCapStyle.RoundCap,
                Qt.PenJoinStyle.RoundJoin,
            )

            colour = pen.color()
            colour.setAlpha(170)
            pen.setColor(colour)
            painter.setPen(pen)
            painter.drawPolyline(QPolygonF([to_widget.map(q) for q in points]))
        for x, y, positive in self._prompt.points:
            painter.setPen(QPen(QColor(0, 0, 0), 1.5))
            painter.setBrush(QBrush(green if positive else red))
            painter.drawEllipse(to_widget.map(QPointF(x, y)), 5, 5)


def make_tools(host: BrushHost) -> dict[str, Tool]:
    """One instance of every tool, by name (toolbar order)."""
    return {cls.name: cls(host) for cls in (BrushTool, EraserTool, PolygonTool, LassoTool, SegmentTool)}
