"""The canvas: the frame with its mask overlay, zoom (wheel), pan (middle drag, Space + drag), tools.

The canvas keeps a working copy of the current frame's mask that tools draw into; a finished edit
is handed to the project (`Project.edit_mask`), which records the undo step and saves the file.
Only the part of the overlay a stroke touched is re-rendered, so painting stays smooth on large
frames.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PyQt5.QtCore import QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen, QTransform
from PyQt5.QtWidgets import QSizePolicy, QWidget

from xmempp.annotation import Step
from xmempp.errors import XMemppError
from xmempp.io.soft_paint import effective_mattes

from .matte_view import COMBINED_MODE, MATTE_MODES, ONION_NEXT, ONION_PREVIOUS, onion_edges, render_view
from .project import Project
from .segment_backends import SegmentBackend
from .soft_paint_store import SoftPaintStore
from .spline_tool import ShapeStore, SplineTool
from .tools import Tool, make_tools

__all__ = ["Canvas"]

_MIN_ZOOM, _MAX_ZOOM = 0.05, 40.0
_BACKGROUND = QColor(24, 25, 28)
#: Empty space kept around the frame when it is fitted to the window, in screen pixels.
_FIT_MARGIN = 16
#: Zoom below which the plate is drawn with smooth scaling.
_SMOOTH_BELOW = 2.0
_SPLIT_LINE = QColor(255, 255, 255, 200)

#: (frame index, HxWx3 plate, HxW ids, object id) -> HxW float32 refined matte of that object (None: none).
Refiner = Callable[[int, np.ndarray, np.ndarray, int], np.ndarray | None]


class Canvas(QWidget):
    """Shows one frame with its mask and forwards mouse input to the active tool.

    Signals:
        cursorMoved(object): (x, y, object id under the pointer) in image pixels, or None outside.
        zoomChanged(float): the new zoom factor.
        objectPicked(int): Alt+click on an object.
        message(str): a short note for the status bar.
    """

    cursorMoved = pyqtSignal(object)
    zoomChanged = pyqtSignal(float)
    objectPicked = pyqtSignal(int)
    message = pyqtSignal(str)

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.frame_index = -1
        self.image = np.zeros((*project.size, 3), np.uint8)
        self.work_mask = np.zeros(project.size, np.uint8)
        self.object_id = 1
        self.brush_size = 12
        self.brush_softness = 0.0  # 0 hard .. 1: the share of the brush's radius that falls off
        self.segment_backend: SegmentBackend | None = None
        self.segment_mode = "box"
        self.overlay_mode = "blend"
        self.opacity = 0.5
        self.show_mask = True
        self.editable = True
        self.badge = ""
        self.onion_skin = False
        self.compare = "raw"
        self.refiner: Refiner | None = None
        self._onion: list[tuple[np.ndarray, tuple[int, int, int]]] = []
        self._zoom = 1.0
        self._offset = QPointF(0, 0)
        self._fit = True
        self._pan_from: QPointF | None = None
        self._space_held = False
        self._space_used = False
        self._buffer = np.zeros((*project.size, 3), np.uint8)
        self._qimage = self._wrap(self._buffer)
        self.shape_store = ShapeStore(project.workspace.path, len(project))  # the spline tool's shapes
        self.soft_store = SoftPaintStore(project.workspace.path, project.size)  # the soft brush's layers
        self._painted_view = np.zeros(project.size, np.float32)  # the soft layer as a matte view shows it
        self._soft_seen = (-1, -1)  # (frame, soft layers' version) last drawn
        self.tools = {**make_tools(self), SplineTool.name: SplineTool(self)}
        self.tool: Tool = self.tools["brush"]
        self.setCursor(self.tool.cursor)

    # ------------------------------------------------------------------ content
    def show_frame(self, index: int) -> None:
        """Display frame `index` with its mask (any unfinished shape is dropped)."""
        self.tool.reset()
        self.frame_index = index
        self.image = self.project.image(index)
        self.work_mask = self.project.mask(index).copy()
        if self._buffer.shape != self.image.shape:
            self._buffer = np.zeros_like(self.image)
            self._qimage = self._wrap(self._buffer)
        self._load_onion()
        self._render(None)
        self.update()

    def _load_onion(self) -> None:
        self._onion = []
        if not self.onion_skin:
            return
        for neighbour, colour in ((self.frame_index - 1, ONION_PREVIOUS), (self.frame_index + 1, ONION_NEXT)):
            if 0 <= neighbour < len(self.project) and self.project.has_mask(neighbour):
                edges = onion_edges(self.project.styles.visible_ids(self.project.mask(neighbour)))
                if edges is not None:
                    self._onion.append((edges, colour))

    def set_onion_skin(self, on: bool) -> None:
        """Outline the previous and next frames' masks."""
        self.onion_skin = bool(on)
        self._load_onion()
        self._render(None)
        self.update()

    def set_compare(self, compare: str) -> None:
        """Show the raw matte, the refined one, or a split ("raw", "refined", "split"; matte views only)."""
        self.compare = compare
        self._render(None)
        self.update()

    def refresh(self) -> None:
        """Redraw everything (object colours, hidden objects or neighbours changed)."""
        if self.frame_index >= 0:
            self._load_onion()
            self._render(None)
            self.update()

    def reload_mask(self) -> None:
        """The project's mask of the shown frame changed (undo, propagation): show it."""
        if self.frame_index < 0:
            return
        mask = self.project.mask(self.frame_index)
        if self.tool.pending and self.editable:
            return  # mid-stroke; the commit brings the two back in line
        self.tool.saved_changed()
        soft_changed = self._soft_seen != (self.frame_index, self.soft_store.version)  # a stroke, an undo
        if soft_changed or not np.array_equal(mask, self.work_mask):
            self.work_mask = mask.copy()
            self._render(None)
            self.update()

    def set_overlay(self, mode: str | None = None, opacity: float | None = None, visible: bool | None = None) -> None:
        """Change how the mask is drawn."""
        if mode is not None:
            self.overlay_mode = mode
        if opacity is not None:
            self.opacity = float(opacity)
        if visible is not None:
            self.show_mask = bool(visible)
        self._render(None)
        self.update()

    def set_tool(self, name: str) -> None:
        """Activate tool `name` ("brush", "eraser", "polygon", "lasso", "segment", "spline")."""
        self.tool.reset()
        self.tool = self.tools[name]
        self.setCursor(self.tool.cursor)
        self.update()

    def set_editable(self, editable: bool) -> None:
        """Allow or block edits (blocked while a propagation writes masks)."""
        if not editable:
            self.tool.cancel()
        self.editable = editable
        self.update()

    @staticmethod
    def _wrap(buffer: np.ndarray) -> QImage:
        h, w = buffer.shape[:2]
        # a view of `buffer` (PyQt5 takes any buffer; its stubs know bytes and voidptr only)
        return QImage(buffer.data, w, h, 3 * w, QImage.Format_RGB888)  # type: ignore[call-overload]

    def _render(self, rect: tuple[int, int, int, int] | None) -> None:
        ids = self.project.styles.visible_ids(self.work_mask) if self.show_mask else None
        h, w = self.image.shape[:2]
        x0, y0, x1, y1 = (0, 0, w, h) if rect is None else rect
        soft = self._refined() if ids is not None else None
        painted = self._painted((x0, y0, x1, y1)) if ids is not None else None

        def draw(region: tuple[int, int, int, int], matte: np.ndarray | None) -> None:
            render_view(
                self._buffer,
                self.image,
                ids,
                self.overlay_mode,
                rect=region,
                soft=matte,
                object_id=self.object_id,
                opacity=self.opacity,
                palette=self.project.display_palette,
                onion=self._onion,
            )

        if soft is not None and self.compare == "split":
            middle = w // 2
            draw((x0, y0, min(x1, middle), y1), painted)
            draw((max(x0, middle), y0, x1, y1), soft)
        else:
            draw((x0, y0, x1, y1), soft if soft is not None else painted)
        self._soft_seen = (self.frame_index, self.soft_store.version)

    def _painted(self, rect: tuple[int, int, int, int]) -> np.ndarray | None:
        """In a matte view of a frame painted with a soft brush: the soft layer's matte of the object shown (all
        visible objects' in the combined view), in line with the mask being painted; else None."""
        if self.overlay_mode not in MATTE_MODES[1:] or not self.soft_store.has(self.frame_index):
            return None
        try:
            layer = self.soft_store.view(self.frame_index)
        except XMemppError:
            return None  # the brush says why when it is used
        x0, y0, x1, y1 = rect
        merged = effective_mattes({oid: m[y0:y1, x0:x1] for oid, m in layer.items()}, self.work_mask[y0:y1, x0:x1])
        styles = self.project.styles
        shown = (
            [o for o in merged if not styles.is_hidden(o)] if self.overlay_mode == COMBINED_MODE else [self.object_id]
        )
        if self._painted_view.shape != self.work_mask.shape:
            self._painted_view = np.zeros(self.work_mask.shape, np.float32)
        part = self._painted_view[y0:y1, x0:x1]
        part[...] = 0.0
        for oid in shown:
            if oid in merged:
                np.maximum(part, merged[oid], out=part)
        return self._painted_view

    def _refined(self) -> np.ndarray | None:
        """The current object's refined matte when a matte view compares it, else None."""
        if self.refiner is None or self.compare == "raw" or self.overlay_mode not in MATTE_MODES[1:]:
            return None
        return self.refiner(self.frame_index, self.image, self.work_mask, self.object_id)

    def grab_rgb(self) -> np.ndarray:
        """The rendered frame + overlay as HxWx3 RGB (tests, thumbnails)."""
        return self._buffer.copy()

    # ------------------------------------------------------------------ ToolHost
    @property
    def zoom(self) -> float:
        """Screen pixels per image pixel."""
        return self._zoom

    @property
    def locked_objects(self) -> list[int]:
        """Ids of the locked objects (strokes leave their pixels and soft edges alone)."""
        return list(self.project.styles.locked_ids)

    def mask_touched(self, rect: tuple[int, int, int, int] | None = None) -> None:
        """A tool changed the working mask inside `rect` (None: anywhere); locked objects are put back."""
        if self.project.settings.locked and self.frame_index >= 0:
            h, w = self.work_mask.shape
            x0, y0, x1, y1 = (
                (0, 0, w, h) if rect is None else (max(0, rect[0]), max(0, rect[1]), min(w, rect[2]), min(h, rect[3]))
            )
            before = self.project.mask(self.frame_index)[y0:y1, x0:x1]
            self.project.styles.protect(before, self.work_mask[y0:y1, x0:x1])
        self._render(rect)
        self.update()

    def commit(self, text: str, also: Sequence[Step] = ()) -> bool:
        """Hand the working mask to the project as one undo step (saved at once), with the steps `also`."""
        if self.frame_index < 0:
            return False
        changed = self.project.edit_mask(self.frame_index, self.work_mask, text, also)
        self.update()
        return changed

    def revert(self) -> None:
        """Throw away uncommitted changes of the working mask."""
        self.work_mask = self.project.mask(self.frame_index).copy()
        self._render(None)
        self.update()

    def notify(self, text: str) -> None:
        """Show a short note in the status bar."""
        self.message.emit(text)

    def object_qcolor(self, object_id: int | None = None) -> QColor:
        """Display colour of an object (the current one by default)."""
        r, g, b = self.project.object_colour(object_id or self.object_id)
        return QColor(r, g, b)

    # ------------------------------------------------------------------ view transform
    def transform(self) -> QTransform:
        """Image -> widget coordinates."""
        return QTransform(self._zoom, 0, 0, self._zoom, self._offset.x(), self._offset.y())

    def to_image(self, p: QPointF) -> QPointF:
        """Widget -> image coordinates."""
        return QPointF((p.x() - self._offset.x()) / self._zoom, (p.y() - self._offset.y()) / self._zoom)

    def fit(self) -> None:
        """Fit the frame into the widget (and keep fitting on resize)."""
        h, w = self.image.shape[:2]
        margin = _FIT_MARGIN
        avail_w, avail_h = max(1, self.width() - 2 * margin), max(1, self.height() - 2 * margin)
        zoom = max(_MIN_ZOOM, min(avail_w / w, avail_h / h))
        self._zoom = zoom
        self._offset = QPointF((self.width() - w * zoom) / 2, (self.height() - h * zoom) / 2)
        self._fit = True
        self.zoomChanged.emit(self._zoom)
        self.update()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to `zoom`, keeping the image point under `anchor` (widget point) in place."""
        zoom = float(min(_MAX_ZOOM, max(_MIN_ZOOM, zoom)))
        if anchor is None:
            anchor = QPointF(self.width() / 2, self.height() / 2)
        fixed = self.to_image(anchor)
        self._zoom = zoom
        self._offset = QPointF(anchor.x() - fixed.x() * zoom, anchor.y() - fixed.y() * zoom)
        self._fit = False
        self.zoomChanged.emit(self._zoom)
        self.update()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Multiply the zoom by `factor`."""
        self.set_zoom(self._zoom * factor, anchor)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the view by (dx, dy) widget pixels."""
        self._offset += QPointF(dx, dy)
        self._fit = False
        self.update()

    # ------------------------------------------------------------------ Space (called by the window)
    def space_down(self) -> None:
        """Space pressed: a left drag now pans."""
        self._space_held = True
        self._space_used = False
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    def space_up(self) -> bool:
        """Space released. Returns True when it was used to pan (so it was not a tap)."""
        self._space_held = False
        self._pan_from = None
        self.setCursor(self.tool.cursor)
        return self._space_used

    # ------------------------------------------------------------------ events
    def sizeHint(self) -> QSize:
        return QSize(960, 560)

    def resizeEvent(self, event) -> None:
        if self._fit:
            self.fit()
        super().resizeEvent(event)

    def showEvent(self, event) -> None:
        if self._fit:
            self.fit()
        super().showEvent(event)

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.15**steps, QPointF(event.pos()))
        event.accept()

    def _event_pos(self, event) -> QPointF:
        return QPointF(event.localPos()) if hasattr(event, "localPos") else QPointF(event.pos())

    def mousePressEvent(self, event) -> None:
        pos = self._event_pos(event)
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space_held):
            self._pan_from = pos
            self._space_used = self._space_used or self._space_held
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        p = self.to_image(pos)
        if event.button() == Qt.MouseButton.LeftButton and event.modifiers() & Qt.KeyboardModifier.AltModifier:
            picked = self._id_at(p)
            if picked:
                self.objectPicked.emit(picked)
            return
        if not self.editable:
            self.message.emit("editing is paused while the propagation writes masks (Esc stops it)")
            return
        if (
            self.project.styles.is_locked(self.object_id)
            and event.button() == Qt.MouseButton.LeftButton
            and self.tool.name != "eraser"
        ):
            self.message.emit(
                f"{self.project.object_name(self.object_id)} is locked: unlock it in the object list to paint it"
            )
            return
        self.tool.press(p, event.button(), int(event.modifiers()))

    def mouseMoveEvent(self, event) -> None:
        pos = self._event_pos(event)
        if self._pan_from is not None:
            delta = pos - self._pan_from
            self._pan_from = pos
            self.pan_by(delta.x(), delta.y())
            return
        p = self.to_image(pos)
        self.cursorMoved.emit(self._cursor_info(p))
        if self.editable:
            self.tool.move(p, int(event.buttons()), int(event.modifiers()))
        else:
            self.tool.hover_pos = p

    def mouseReleaseEvent(self, event) -> None:
        if self._pan_from is not None and (event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton)):
            self._pan_from = None
            self.setCursor(Qt.CursorShape.OpenHandCursor if self._space_held else self.tool.cursor)
            return
        if self.editable:
            self.tool.release(self.to_image(self._event_pos(event)), event.button(), int(event.modifiers()))

    def mouseDoubleClickEvent(self, event) -> None:
        if self.editable and not self._space_held:
            self.tool.double_click(self.to_image(self._event_pos(event)), event.button(), int(event.modifiers()))

    def leaveEvent(self, event) -> None:
        self.tool.hover_pos = None
        self.cursorMoved.emit(None)
        self.update()
        super().leaveEvent(event)

    def _id_at(self, p: QPointF) -> int:
        x, y = int(p.x()), int(p.y())
        h, w = self.work_mask.shape
        if 0 <= x < w and 0 <= y < h:
            return int(self.work_mask[y, x])
        return 0

    def _cursor_info(self, p: QPointF):
        x, y = int(p.x()), int(p.y())
        h, w = self.work_mask.shape
        if 0 <= x < w and 0 <= y < h and p.x() >= 0 and p.y() >= 0:
            return x, y, int(self.work_mask[y, x])
        return None

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), _BACKGROUND)
        h, w = self.image.shape[:2]
        to_widget = self.transform()
        target = to_widget.mapRect(QRectF(0, 0, w, h))
        # a soft shadow frames the plate
        painter.fillRect(target.adjusted(-1, -1, 1, 1), QColor(0, 0, 0, 200))
        painter.setRenderHint(QPainter.SmoothPixmapTransform, self._zoom < _SMOOTH_BELOW)
        painter.drawImage(target, self._qimage, QRectF(0, 0, w, h))
        if self.compare == "split" and self._refined() is not None:
            x = to_widget.map(QPointF(w // 2, 0)).x()
            painter.setPen(QPen(_SPLIT_LINE, 1, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(x, target.top()), QPointF(x, target.bottom()))
        painter.setRenderHint(QPainter.Antialiasing, True)
        if self.editable or self.tool.pending:
            self.tool.paint(painter, to_widget)
        self._paint_badge(painter, target)
        painter.end()

    def _paint_badge(self, painter: QPainter, target: QRectF) -> None:
        texts = []
        if self.badge:
            texts.append((self.badge, QColor(226, 160, 40)))
        if not self.editable:
            texts.append(("PROPAGATING", QColor(70, 140, 230)))
        x = max(12.0, target.left() + 10)
        y = max(12.0, target.top() + 10)
        font = QFont(self.font())
        font.setPointSizeF(max(7.5, font.pointSizeF() * 0.85))
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        for text, colour in texts:
            width = metrics.horizontalAdvance(text) + 16
            rect = QRectF(x, y, width, metrics.height() + 6)
            path = QPainterPath()
            path.addRoundedRect(rect, 4, 4)
            painter.fillPath(path, colour)
            painter.setPen(QPen(QColor(20, 20, 20)))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
            x += width + 8
