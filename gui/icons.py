"""Small vector icons drawn with QPainter (no icon files, no theme needed; crisp at any scale)."""

from __future__ import annotations

from functools import cache

from PyQt5.QtCore import QPointF, QRectF, Qt
from PyQt5.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF

__all__ = ["icon"]

_FG = QColor(222, 225, 230)


def _pen(width: float = 1.8, colour: QColor = _FG) -> QPen:
    return QPen(colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)


def _triangle(p: QPainter, x: float, flip: bool = False) -> None:
    pts = (
        [QPointF(x, 5), QPointF(x, 19), QPointF(x + 8, 12)]
        if not flip
        else [QPointF(x + 8, 5), QPointF(x + 8, 19), QPointF(x, 12)]
    )
    p.drawPolygon(QPolygonF(pts))


def _draw(name: str, p: QPainter) -> None:
    p.setPen(_pen())
    p.setBrush(Qt.BrushStyle.NoBrush)
    if name == "brush":
        p.setBrush(QColor(222, 225, 230, 60))
        p.drawEllipse(QPointF(12, 12), 7, 7)
        p.setBrush(_FG)
        p.drawEllipse(QPointF(12, 12), 2, 2)
    elif name == "eraser":
        path = QPainterPath()
        path.addRoundedRect(QRectF(4, 8, 16, 9), 2, 2)
        p.drawPath(path)
        p.fillRect(QRectF(4.9, 8.9, 6, 7.2), QColor(255, 130, 130))
    elif name == "polygon":
        poly = QPolygonF([QPointF(5, 18), QPointF(4, 8), QPointF(12, 4), QPointF(20, 9), QPointF(17, 19)])
        p.setBrush(QColor(222, 225, 230, 50))
        p.drawPolygon(poly)
        p.setBrush(_FG)
        for q in poly:
            p.drawEllipse(q, 1.5, 1.5)
    elif name == "spline":  # a Bezier curve, its end points and one tangent handle
        path = QPainterPath(QPointF(4, 18))
        path.cubicTo(QPointF(6, 6), QPointF(14, 20), QPointF(20, 7))
        p.drawPath(path)
        p.drawLine(QPointF(20, 7), QPointF(15, 3))
        p.setBrush(_FG)
        for q in (QPointF(4, 18), QPointF(20, 7)):
            p.drawRect(QRectF(q.x() - 1.5, q.y() - 1.5, 3, 3))
        p.drawEllipse(QPointF(15, 3), 1.5, 1.5)
    elif name == "lasso":
        path = QPainterPath(QPointF(8, 19))
        path.cubicTo(QPointF(0, 12), QPointF(6, 3), QPointF(13, 4))
        path.cubicTo(QPointF(22, 5), QPointF(22, 15), QPointF(13, 16))
        path.cubicTo(QPointF(9, 16), QPointF(7, 14), QPointF(9, 12))
        p.drawPath(path)
    elif name == "segment":
        p.drawLine(QPointF(5, 19), QPointF(14, 10))
        for a, b in (
            (QPointF(17, 3), QPointF(17, 7)),
            (QPointF(15, 5), QPointF(19, 5)),
            (QPointF(20, 10), QPointF(20, 13)),
            (QPointF(11, 4), QPointF(11, 6)),
        ):
            p.drawLine(a, b)
    elif name == "forward":
        p.setBrush(_FG)
        p.setPen(Qt.PenStyle.NoPen)
        _triangle(p, 4)
        _triangle(p, 12)
    elif name == "backward":
        p.setBrush(_FG)
        p.setPen(Qt.PenStyle.NoPen)
        _triangle(p, 4, flip=True)
        _triangle(p, 12, flip=True)
    elif name == "shot":
        p.setBrush(_FG)
        p.setPen(Qt.PenStyle.NoPen)
        _triangle(p, 2, flip=True)
        _triangle(p, 14)
        p.drawRect(QRectF(11, 6, 2, 12))
    elif name == "pause":
        p.setBrush(_FG)
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRect(QRectF(6, 5, 4, 14))
        p.drawRect(QRectF(14, 5, 4, 14))
    elif name == "stop":
        p.setBrush(QColor(240, 110, 100))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRoundedRect(QRectF(6, 6, 12, 12), 2, 2)
    elif name == "reference":
        path = QPainterPath(QPointF(7, 4))
        path.lineTo(17, 4)
        path.lineTo(17, 20)
        path.lineTo(12, 15)
        path.lineTo(7, 20)
        path.closeSubpath()
        p.setBrush(QColor(236, 170, 45))
        p.setPen(_pen(1.2, QColor(236, 170, 45)))
        p.drawPath(path)
    elif name == "suggest":
        p.setBrush(QColor(80, 200, 220))
        p.setPen(Qt.PenStyle.NoPen)
        for x, y, r in ((7, 15, 3), (13, 8, 3.5), (18, 16, 2.5)):
            p.drawEllipse(QPointF(x, y), r, r)
    elif name == "undo" or name == "redo":
        path = QPainterPath(QPointF(6, 10))
        path.cubicTo(QPointF(10, 5), QPointF(19, 6), QPointF(19, 13))
        path.cubicTo(QPointF(19, 17), QPointF(16, 19), QPointF(13, 19))
        if name == "redo":
            p.translate(24, 0)
            p.scale(-1, 1)
        p.drawPath(path)
        p.drawLine(QPointF(6, 10), QPointF(6, 4))
        p.drawLine(QPointF(6, 10), QPointF(12, 10))
    elif name == "export":
        p.drawLine(QPointF(12, 4), QPointF(12, 15))
        p.drawLine(QPointF(8, 11), QPointF(12, 15))
        p.drawLine(QPointF(16, 11), QPointF(12, 15))
        p.drawLine(QPointF(5, 19), QPointF(19, 19))
    elif name in ("first", "last"):
        if name == "last":
            p.translate(24, 0)
            p.scale(-1, 1)
        p.setBrush(_FG)
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRect(QRectF(5, 6, 2.2, 12))
        _triangle(p, 8, flip=True)
    elif name in ("prev", "next"):
        if name == "prev":
            p.translate(24, 0)
            p.scale(-1, 1)
        p.setBrush(_FG)
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRect(QRectF(15, 6, 2.2, 12))
        _triangle(p, 6)
    elif name == "play":
        p.setBrush(_FG)
        p.setPen(Qt.PenStyle.NoPen)
        p.drawPolygon(QPolygonF([QPointF(7, 5), QPointF(7, 19), QPointF(19, 12)]))
    elif name == "fit":
        for corner in (
            ((4, 9), (4, 4), (9, 4)),
            ((15, 4), (20, 4), (20, 9)),
            ((20, 15), (20, 20), (15, 20)),
            ((9, 20), (4, 20), (4, 15)),
        ):
            p.drawPolyline(QPolygonF([QPointF(x, y) for x, y in corner]))


@cache
def icon(name: str) -> QIcon:
    """The icon `name` ("brush", "eraser", "polygon", "lasso", "spline", "segment", "forward", "backward", "shot",
    "pause", "stop", "reference", "suggest", "undo", "redo", "export", "fit")."""
    result = QIcon()
    for scale in (1, 2):
        pixmap = QPixmap(24 * scale, 24 * scale)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.scale(scale, scale)
        _draw(name, painter)
        painter.end()
        result.addPixmap(pixmap)
    return result
