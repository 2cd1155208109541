"""A one-line label that never asks for more room than its minimum and elides what does not fit
(the status bar's job and model lines: a long line must not widen the window)."""

from __future__ import annotations

from PyQt5.QtCore import QSize, Qt
from PyQt5.QtGui import QPainter
from PyQt5.QtWidgets import QLabel, QSizePolicy, QWidget

__all__ = ["ElidedLabel"]


class ElidedLabel(QLabel):
    """Plain text, elided at the right when the label is narrower than it; the tooltip shows it whole."""

    def __init__(self, minimum_width: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(minimum_width)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)

    def setText(self, text: str | None) -> None:
        super().setText(text)
        self.setToolTip(text)

    def sizeHint(self) -> QSize:
        width = min(self.fontMetrics().horizontalAdvance(self.text()) + 8, self.maximumWidth())
        return QSize(max(self.minimumWidth(), width), super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(self.minimumWidth(), super().minimumSizeHint().height())

    @property
    def elided(self) -> bool:
        """The text does not fit."""
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        rect = self.contentsRect()
        painter.drawText(
            rect,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width()),
        )
        painter.end()
