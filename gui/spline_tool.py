"""The spline tool: closed Bezier shapes with per-point feather, kept per keyframe as shapes.

Drawing: click to place a point, drag while the button is down to pull out its tangents; a click on
the first point, a double click or Enter closes the shape. Backspace removes the last point, Esc drops
the shape being drawn.

Editing a closed shape of the current object: drag a point to move it, drag a tangent handle of the
selected point to bend the curve (the opposite handle follows; Alt moves one handle alone), Ctrl+drag
a point outwards to set its outer feather or inwards to set its inner feather, right-click a point to
remove it (a shape of three points goes as a whole). `set_feather` sets the selected point's feather
(and the feather of the points placed next).

The shapes of each frame are kept in the workspace's `shapes.json` (`xmempp.io.roto_shapes`), so they
stay editable as shapes when the workspace is reopened. Every finished edit rasterises the current
object's shapes on that frame into the frame's mask (a pixel at least half covered is the object; the
object's other pixels on that frame are replaced) as one undo step; exports write the soft matte of
a reference frame's shapes as that keyframe's output (`ShapeStore.keyframe_mattes`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PyQt5.QtCore import QLineF, QPointF, QRectF, Qt
from PyQt5.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPolygonF, QTransform
from PyQt5.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QWidget

from xmempp.annotation import EditTarget, Step
from xmempp.errors import XMemppError
from xmempp.io.roto_shapes import (
    MAX_FEATHER,
    SHAPES_FILE,
    Shape,
    ShapePoint,
    keyframe_ids,
    keyframe_mattes,
    read_shapes,
    sample_shape,
    write_shapes,
)
from xmempp.io.soft_paint import effective_mattes, quantise

from .soft_paint_store import SoftPaintChange, SoftPaintStore
from .tools import Tool, ToolHost

__all__ = ["FeatherControls", "ShapeChange", "ShapeStore", "SplineHost", "SplineTool"]

#: How close (screen pixels) a click must be to a point or handle to take it.
_HIT = 8.0


class ShapeStore:
    """The workspace's keyframe shapes (`shapes.json` beside `masks/`), read once, written on each change.

    A file that cannot be read is left as it is: `problem` says why, and changes are refused until it is
    fixed or removed (the artist's shapes are never overwritten by an empty set).
    """

    def __init__(self, workspace_path: Path, num_frames: int) -> None:
        self.path = Path(workspace_path) / SHAPES_FILE
        self.problem: str | None = None
        #: Counts the changes (a tool showing shapes reloads them when it moved: an undo changed them).
        self.version = 0
        self._frames: dict[int, list[Shape]] = {}
        try:
            self._frames = read_shapes(self.path, num_frames=num_frames)
        except XMemppError as exc:
            self.problem = str(exc)

    def shapes(self, frame: int) -> list[Shape]:
        """The shapes of `frame` (a copy)."""
        return list(self._frames.get(frame, []))

    @property
    def frames(self) -> list[int]:
        """Frames that have shapes, ascending."""
        return sorted(f for f, shapes in self._frames.items() if shapes)

    def set_shapes(self, frame: int, shapes: Sequence[Shape]) -> None:
        """Replace the shapes of `frame` and write the file (atomically). Raises `XMemppError` when the file
        could not be read when opened (`problem`) or cannot be written."""
        if self.problem is not None:
            raise XMemppError(f"{self.problem} (shapes are not saved until it is fixed or removed)")
        frames = dict(self._frames)
        if shapes:
            frames[frame] = list(shapes)
        else:
            frames.pop(frame, None)
        write_shapes(self.path, frames)
        self._frames = frames
        self.version += 1

    def keyframe_mattes(
        self, frames: Iterable[int], size: tuple[int, int], scale: float = 1.0, object_ids: Sequence[int] | None = None
    ) -> dict[int, dict[int, np.ndarray]]:
        """The soft mattes of the shapes on `frames` (the reference frames), for a job's `keyframe_mattes`.

        Arguments:
            frames: the frames whose shapes are keyframes.
            size: (height, width) of the mattes.
            scale: output pixels per workspace pixel.
            object_ids: original id of each workspace id 1..K (the ids the job's outputs use), or None
                to key by workspace id.
        Returns:
            Frame -> {object id: HxW float32 matte}.
        """
        result: dict[int, dict[int, np.ndarray]] = {}
        for frame in frames:
            shapes = self._frames.get(frame)
            if not shapes:
                continue
            mattes = keyframe_mattes(shapes, size, scale)
            if object_ids is not None:
                mattes = {int(object_ids[k - 1]): m for k, m in mattes.items() if 1 <= k <= len(object_ids)}
            result[frame] = mattes
        return result


class ShapeChange(Step):
    """A change of one frame's shapes, undone and redone with the mask it drew (`Results.edit_mask`'s `also`)."""

    def __init__(
        self, store: ShapeStore, frame: int, before: Sequence[Shape], after: Sequence[Shape], text: str
    ) -> None:
        self.store, self.frame, self.text = store, frame, text
        self.before, self.after = list(before), list(after)

    def undo(self, session: EditTarget) -> None:
        assert self.frame is not None
        self.store.set_shapes(self.frame, self.before)

    def redo(self, session: EditTarget) -> None:
        assert self.frame is not None
        self.store.set_shapes(self.frame, self.after)


class SplineHost(ToolHost, Protocol):
    """What the spline tool needs besides a `ToolHost`: the workspace's shapes and soft brush layers."""

    shape_store: ShapeStore
    soft_store: SoftPaintStore


@dataclasses.dataclass
class _Drag:
    """A drag in progress: what it moves ("tangent" of the point being placed, "anchor", "in", "out",
    "feather"), on which shape (-1: the one being drawn) and point."""

    kind: str
    shape: int
    point: int
    start: QPointF


class SplineTool(Tool):
    """Bezier shapes with per-point feather (see the module docstring)."""

    name = "spline"
    label = "Spline"

    def __init__(self, host: SplineHost) -> None:
        super().__init__(host)
        self.host: SplineHost = host
        self.drawing: list[ShapePoint] = []
        self.shapes: list[Shape] = []
        self.selected: tuple[int, int] | None = None  # (shape index, point index)
        self.feather = (0.0, 0.0)  # (inner, outer) of the points placed next
        self._frame = -1
        self._version = -1  # the store's version the shapes were loaded at
        self._drag: _Drag | None = None
        self._moved = False
        #: Told (inner, outer) when the feather shown should change (a point selected, a feather dragged).
        self.on_feather: Callable[[float, float], None] | None = None

    def _show_feather(self) -> None:
        if self.selected is not None:
            q = self.shapes[self.selected[0]].points[self.selected[1]]
            self.feather = (q.inner, q.outer)
        if self.on_feather is not None:
            self.on_feather(*self.feather)

    # ------------------------------------------------------------------ state
    @property
    def pending(self) -> bool:
        return bool(self.drawing) or self._drag is not None

    def _sync(self) -> None:
        """Load the shown frame's shapes when the frame changed, or the saved shapes did (an undo)."""
        store = self.host.shape_store
        if self._frame != self.host.frame_index or self._version != store.version:
            if self._frame != self.host.frame_index or self._drag is not None:
                self.selected, self._drag = None, None
            self._frame, self._version = self.host.frame_index, store.version
            self.shapes = store.shapes(self._frame)
            if self.selected is not None and (
                self.selected[0] >= len(self.shapes) or self.selected[1] >= len(self.shapes[self.selected[0]].points)
            ):
                self.selected = None

    def reset(self) -> None:
        self.cancel()
        self._frame = -1
        self.selected = None

    def saved_changed(self) -> None:
        self._sync()

    def set_feather(self, inner: float, outer: float) -> None:
        """Feather (pixels) of the selected point, saved at once, and of the points placed next."""
        self.feather = (max(0.0, float(inner)), max(0.0, float(outer)))
        self._sync()
        if self.selected is not None:
            s, i = self.selected
            self._replace(s, i, inner=self.feather[0], outer=self.feather[1])
            self._commit("Spline feather")

    # ------------------------------------------------------------------ geometry helpers
    def _reach(self) -> float:
        """Hit distance in image pixels."""
        return _HIT / max(self.host.zoom, 1e-6)

    def _editable(self) -> list[int]:
        """Indices of the current object's shapes."""
        return [s for s, shape in enumerate(self.shapes) if shape.object_id == self.host.object_id]

    def _hit(self, p: QPointF) -> tuple[str, int, int] | None:
        """The handle or point under `p`: ("in" | "out" | "anchor", shape, point), handles of the selected
        point first."""
        reach = self._reach()
        if self.selected is not None:
            s, i = self.selected
            q = self.shapes[s].points[i]
            for kind, (dx, dy) in (("out", (q.out_x, q.out_y)), ("in", (q.in_x, q.in_y))):
                if (dx or dy) and math.hypot(p.x() - q.x - dx, p.y() - q.y - dy) <= reach:
                    return kind, s, i
        best: tuple[str, int, int] | None = None
        nearest = reach
        for s in self._editable():
            for i, q in enumerate(self.shapes[s].points):
                d = math.hypot(p.x() - q.x, p.y() - q.y)
                if d <= nearest:
                    best, nearest = ("anchor", s, i), d
        return best

    def _replace(self, s: int, i: int, **changes) -> None:
        shape = self.shapes[s]
        points = list(shape.points)
        points[i] = dataclasses.replace(points[i], **changes)
        self.shapes[s] = Shape(shape.object_id, tuple(points))

    def _outward(self, s: int, i: int) -> tuple[float, float]:
        """Unit normal pointing out of shape s at its point i."""
        points = self.shapes[s].points
        q, before, after = points[i], points[i - 1], points[(i + 1) % len(points)]
        tx = (q.out_x - q.in_x) if (q.out_x or q.out_y or q.in_x or q.in_y) else after.x - before.x
        ty = (q.out_y - q.in_y) if (q.out_x or q.out_y or q.in_x or q.in_y) else after.y - before.y
        length = math.hypot(tx, ty) or 1.0
        nx, ny = ty / length, -tx / length  # right of the direction of travel
        area = sum(a.x * b.y - b.x * a.y for a, b in zip(points, points[1:] + points[:1]))
        return (nx, ny) if area > 0 else (-nx, -ny)

    # ------------------------------------------------------------------ mouse
    def press(self, p: QPointF, button: int, modifiers: int) -> None:
        self._sync()
        self._moved = False
        if button == Qt.MouseButton.RightButton:
            if not self.drawing:
                self._remove_at(p)
            return
        if button != Qt.MouseButton.LeftButton:
            return
        if self.drawing:
            first = self.drawing[0]
            if len(self.drawing) >= 3 and math.hypot(p.x() - first.x, p.y() - first.y) <= self._reach():
                self._close()
                return
            self._add_point(p)
            return
        hit = self._hit(p)
        if hit is None:
            self.selected = None
            self._add_point(p)
            return
        kind, s, i = hit
        self.selected = (s, i)
        self._show_feather()
        if kind == "anchor" and modifiers & Qt.KeyboardModifier.ControlModifier:
            kind = "feather"
        self._drag = _Drag(kind, s, i, p)
        self.host.update()

    def _add_point(self, p: QPointF) -> None:
        inner, outer = self.feather
        self.drawing.append(ShapePoint(p.x(), p.y(), inner=inner, outer=outer))
        self._drag = _Drag("tangent", -1, len(self.drawing) - 1, p)
        self.host.update()

    def move(self, p: QPointF, buttons: int, modifiers: int) -> None:
        super().move(p, buttons, modifiers)
        drag = self._drag
        if drag is None or not buttons & Qt.MouseButton.LeftButton:
            self.host.update()
            return
        if QLineF(drag.start, p).length() * self.host.zoom < 2 and not self._moved:
            return
        self._moved = True
        if drag.kind == "tangent":
            q = self.drawing[drag.point]
            dx, dy = p.x() - q.x, p.y() - q.y
            self.drawing[drag.point] = dataclasses.replace(q, in_x=-dx, in_y=-dy, out_x=dx, out_y=dy)
        elif drag.kind == "anchor":
            self._replace(drag.shape, drag.point, x=p.x(), y=p.y())
        elif drag.kind in ("in", "out"):
            q = self.shapes[drag.shape].points[drag.point]
            dx, dy = p.x() - q.x, p.y() - q.y
            other = "out" if drag.kind == "in" else "in"
            changes = {f"{drag.kind}_x": dx, f"{drag.kind}_y": dy}
            # the opposite handle keeps its length, turns with this one
            if not modifiers & Qt.KeyboardModifier.AltModifier:
                ox, oy = getattr(q, f"{other}_x"), getattr(q, f"{other}_y")
                length, pulled = math.hypot(ox, oy), math.hypot(dx, dy) or 1.0
                changes.update({f"{other}_x": -dx / pulled * length, f"{other}_y": -dy / pulled * length})
            self._replace(drag.shape, drag.point, **changes)
        elif drag.kind == "feather":
            q = self.shapes[drag.shape].points[drag.point]
            nx, ny = self._outward(drag.shape, drag.point)
            along = (p.x() - q.x) * nx + (p.y() - q.y) * ny
            if along >= 0:
                self._replace(drag.shape, drag.point, outer=along)
            else:
                self._replace(drag.shape, drag.point, inner=-along)
            q = self.shapes[drag.shape].points[drag.point]
            self._show_feather()
            self.host.notify(f"feather: inner {q.inner:.1f} px, outer {q.outer:.1f} px")
        self.host.update()

    def release(self, p: QPointF, button: int, modifiers: int) -> None:
        drag, self._drag = self._drag, None
        if drag is None or button != Qt.MouseButton.LeftButton:
            return
        if drag.shape >= 0 and self._moved:
            self._commit({"anchor": "Move spline point", "feather": "Spline feather"}.get(drag.kind, "Bend spline"))
        self.host.update()

    def double_click(self, p: QPointF, button: int, modifiers: int) -> None:
        if button == Qt.MouseButton.LeftButton and len(self.drawing) >= 3:
            self._close()

    # ------------------------------------------------------------------ keys
    def accept(self, erase: bool = False) -> bool:
        if len(self.drawing) < 3:
            return False
        self._close()
        return True

    def remove_point(self) -> bool:
        if self.drawing:
            self.drawing.pop()
            self._drag = None
            self.host.update()
            return True
        if self.selected is not None:
            s, i = self.selected
            return self._remove_point(s, i)
        return False

    def cancel(self) -> bool:
        self._drag = None
        if self.drawing:
            self.drawing = []
            self.host.update()
            return True
        if self.selected is not None:
            self.selected = None
            self.host.update()
            return True
        return False

    # ------------------------------------------------------------------ changes
    def _close(self) -> None:
        """Close the shape being drawn and rasterise it."""
        self._sync()
        points, self.drawing = tuple(self.drawing), []
        self._drag = None
        self.shapes.append(Shape(self.host.object_id, points))
        self.selected = None
        self._commit("Spline shape")

    def _remove_at(self, p: QPointF) -> None:
        hit = self._hit(p)
        if hit is not None and hit[0] == "anchor":
            self._remove_point(hit[1], hit[2])

    def _remove_point(self, s: int, i: int) -> bool:
        shape = self.shapes[s]
        if len(shape.points) > 3:
            self.shapes[s] = Shape(shape.object_id, shape.points[:i] + shape.points[i + 1 :])
        else:
            del self.shapes[s]
        self.selected = None
        self._commit("Remove spline point")
        return True

    def _commit(self, text: str) -> None:
        """Save the frame's shapes and rasterise the current object's into the frame's mask (one undo step)."""
        frame = self.host.frame_index
        store = self.host.shape_store
        before = store.shapes(frame)
        try:
            store.set_shapes(frame, self.shapes)
        except XMemppError as exc:
            self.host.notify(str(exc))
            self._frame = -1  # back to what is saved
            self._sync()
            self.host.update()
            return
        oid = self.host.object_id
        mask = self.host.work_mask
        mine = [shape for shape in self.shapes if shape.object_id == oid]
        base = np.where(mask == oid, 0, mask).astype(np.uint8)
        mattes = keyframe_mattes(mine, mask.shape)
        mask[...] = keyframe_ids(mattes, base)
        self._version = store.version
        self.host.mask_touched(None)
        change: list[Step] = [] if before == self.shapes else [ShapeChange(store, frame, before, self.shapes, text)]
        self.host.commit(text, change + self._soft_change(frame, mattes.get(oid), text))
        self.host.update()

    def _soft_change(self, frame: int, matte: np.ndarray | None, text: str) -> list[Step]:
        """On a frame painted with a soft brush, the object's soft matte becomes its shapes' (the shapes replace
        the object there, as in the mask). Returns the layer's undo step (none: no layer, or not saved)."""
        soft = self.host.soft_store
        if not soft.has(frame):
            return []
        oid = self.host.object_id
        try:
            before = soft.layer(frame)
            after = effective_mattes(before, self.host.work_mask)
            after.pop(oid, None)
            if matte is not None:
                after[oid] = quantise(matte)
            soft.set_layer(frame, after)
        except XMemppError as exc:
            self.host.notify(f"{exc}; the shape's soft edge is not kept in the frame's soft paint")
            return []
        return [SoftPaintChange(soft, frame, before, after, text)]

    # ------------------------------------------------------------------ drawing
    def paint(self, painter: QPainter, to_widget: QTransform) -> None:
        self._sync()
        current = self.host.object_id
        for s, shape in enumerate(self.shapes):
            colour = self.host.object_qcolor(shape.object_id)
            mine = shape.object_id == current
            if mine:
                self._paint_feather(painter, to_widget, shape, colour)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor(0, 0, 0, 170), 3))
            path = _path(shape.points, to_widget, closed=True)
            painter.drawPath(path)
            style = Qt.PenStyle.SolidLine if mine else Qt.PenStyle.DashLine
            painter.setPen(QPen(colour.lighter(150), 1.5 if mine else 1.0, style))

            painter.drawPath(path)
            if mine:
                for i, q in enumerate(shape.points):
                    self._paint_point(painter, to_widget, q, colour, (s, i) == self.selected)
        if self.drawing:
            colour = self.host.object_qcolor()
            points = list(self.drawing)
            if self.hover_pos is not None and self._drag is None:
                points.append(ShapePoint(self.hover_pos.x(), self.hover_pos.y()))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor(0, 0, 0, 170), 3))
            path = _path(points, to_widget, closed=False)
            painter.drawPath(path)
            painter.setPen(QPen(colour.lighter(150), 1.5))
            painter.drawPath(path)
            for i, q in enumerate(self.drawing):
                self._paint_point(painter, to_widget, q, colour, i == len(self.drawing) - 1)

    def _paint_point(
        self, painter: QPainter, to_widget: QTransform, q: ShapePoint, colour: QColor, selected: bool
    ) -> None:
        centre = to_widget.map(QPointF(q.x, q.y))
        if selected:
            painter.setPen(QPen(QColor(230, 230, 230), 1))
            for dx, dy in ((q.in_x, q.in_y), (q.out_x, q.out_y)):
                if dx or dy:
                    handle = to_widget.map(QPointF(q.x + dx, q.y + dy))
                    painter.drawLine(centre, handle)
                    painter.setBrush(QBrush(QColor(230, 230, 230)))
                    painter.drawEllipse(handle, 3.0, 3.0)
        painter.setPen(QPen(QColor(0, 0, 0), 1))
        painter.setBrush(QBrush(QColor(255, 255, 255) if selected else colour))
        painter.drawRect(QRectF(centre.x() - 3.5, centre.y() - 3.5, 7, 7))

    def _paint_feather(self, painter: QPainter, to_widget: QTransform, shape: Shape, colour: QColor) -> None:
        """The feather's outer and inner edges, dashed."""
        if not any(q.inner or q.outer for q in shape.points):
            return
        xy, inner, outer = sample_shape(shape, spacing=max(2.0, 4.0 / max(self.host.zoom, 1e-6)))
        if len(xy) < 3:
            return
        tangent = np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0)
        normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
        normal /= np.maximum(np.hypot(*normal.T), 1e-9)[:, None]
        area = float(np.sum(xy[:, 0] * np.roll(xy[:, 1], -1) - np.roll(xy[:, 0], -1) * xy[:, 1]))
        if area < 0:
            normal = -normal
        pen = QPen(colour.lighter(130), 1, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for offset in (outer, -inner):
            if offset.any():
                edge = xy + normal * offset[:, None]
                painter.drawPolygon(QPolygonF([to_widget.map(QPointF(x, y)) for x, y in edge]))


def _path(points: Sequence[ShapePoint], to_widget: QTransform, closed: bool) -> QPainterPath:
    """The Bezier outline through `points` in widget coordinates."""
    path = QPainterPath()
    if not points:
        return path
    path.moveTo(to_widget.map(QPointF(points[0].x, points[0].y)))
    pairs = list(itertools.pairwise(points)) + ([(points[-1], points[0])] if closed and len(points) > 2 else [])
    for a, b in pairs:
        path.cubicTo(
            to_widget.map(QPointF(a.x + a.out_x, a.y + a.out_y)),
            to_widget.map(QPointF(b.x + b.in_x, b.y + b.in_y)),
            to_widget.map(QPointF(b.x, b.y)),
        )
    return path


def shape_frames(store: ShapeStore, references: Iterable[int]) -> list[int]:
    """The reference frames that have shapes (their soft mattes are the keyframes' outputs)."""
    keys = set(store.frames)
    return sorted(f for f in references if f in keys)


class FeatherControls(QWidget):
    """The spline tool's feather boxes for the options bar: the selected point's inner and outer feather (and
    that of the points placed next); they follow the point selected or dragged."""

    def __init__(self, tool: SplineTool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tool = tool
        self.inner, self.outer = QDoubleSpinBox(self), QDoubleSpinBox(self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(QLabel("Feather", self))
        for prefix, box, tip in (
            ("in ", self.inner, "Falloff inside the curve at the selected point"),
            ("out ", self.outer, "Falloff outside the curve at the selected point"),
        ):
            box.setPrefix(prefix)
            box.setRange(0.0, MAX_FEATHER)
            box.setDecimals(1)
            box.setSingleStep(0.5)
            box.setKeyboardTracking(False)  # typed values apply on Enter, not at each digit
            box.setToolTip(f"{tip} (pixels; Ctrl+drag a point sets it too)")
            box.valueChanged.connect(self._changed)
            layout.addWidget(box)
        tool.on_feather = self.show_feather
        self.show_feather(*tool.feather)

    def show_feather(self, inner: float, outer: float) -> None:
        """Show a feather without applying it."""
        for box, value in ((self.inner, inner), (self.outer, outer)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)

    def _changed(self, _value: float) -> None:
        self.tool.set_feather(self.inner.value(), self.outer.value())
