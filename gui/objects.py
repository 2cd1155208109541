"""The object list: a colour swatch per object, keys 1-9 select, the list reaches any number."""
from __future__ import annotations

from typing import Optional

from PyQt5.QtCore import QSize, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QIcon, QPainter, QPixmap
from PyQt5.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout,
                             QWidget)

from .project import Project

__all__ = ["ObjectsPanel", "swatch"]


def swatch(colour: QColor, size: int = 14) -> QIcon:
    """A rounded colour square icon."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setPen(QColor(0, 0, 0, 180))
    painter.setBrush(colour)
    painter.drawRoundedRect(1, 1, size - 2, size - 2, 3, 3)
    painter.end()
    return QIcon(pixmap)


class ObjectsPanel(QWidget):
    """Objects with their colours and share of the current frame.

    Signals:
        objectSelected(int): the user picked an object (workspace id 1..K).
        addRequested(): "Add object" was clicked.
    """

    objectSelected = pyqtSignal(int)
    addRequested = pyqtSignal()

    def __init__(self, project: Project, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.project = project
        self.list = QListWidget(self)
        self.list.setIconSize(QSize(14, 14))
        self.list.setUniformItemSizes(True)
        self.list.currentRowChanged.connect(self._row_changed)
        self.add_button = QPushButton("Add object", self)
        self.add_button.setToolTip("Add a new object to annotate")
        self.add_button.clicked.connect(self.addRequested)
        title = QLabel("Objects", self)
        title.setObjectName("panelTitle")
        header = QHBoxLayout()
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.addLayout(header)
        layout.addWidget(self.list)
        self._areas: dict[int, float] = {}
        self.rebuild()

    def rebuild(self) -> None:
        """Re-list the objects (after one was added)."""
        current = self.current
        self.list.blockSignals(True)
        self.list.clear()
        for object_id in range(1, self.project.num_objects + 1):
            item = QListWidgetItem(self._label(object_id))
            r, g, b = self.project.object_colour(object_id)
            item.setIcon(swatch(QColor(r, g, b)))
            item.setData(Qt.UserRole, object_id)
            self.list.addItem(item)
        self.list.blockSignals(False)
        rows = max(2, self.list.count())
        self.list.setFixedHeight(min(170, rows * self.list.sizeHintForRow(0) + 2 * self.list.frameWidth() + 6))
        self.set_current(current or 1)

    def _label(self, object_id: int) -> str:
        original = self.project.object_ids[object_id - 1] if object_id <= len(self.project.object_ids) else object_id
        key = f"  [{object_id}]" if object_id <= 9 else ""
        area = self._areas.get(object_id)
        share = f"   {area:.1f} %" if area else ""
        name = f"Object {object_id}" + (f" (id {original})" if original != object_id else "")
        return f"{name}{key}{share}"

    @property
    def current(self) -> int:
        """The selected object id (0 when none)."""
        item = self.list.currentItem()
        return int(item.data(Qt.UserRole)) if item is not None else 0

    def set_current(self, object_id: int) -> None:
        """Select `object_id` without emitting `objectSelected`."""
        row = max(0, min(self.list.count() - 1, object_id - 1))
        self.list.blockSignals(True)
        self.list.setCurrentRow(row)
        self.list.blockSignals(False)

    def set_areas(self, areas: dict[int, float]) -> None:
        """Show each object's share of the current frame in percent."""
        self._areas = areas
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setText(self._label(int(item.data(Qt.UserRole))))

    def _row_changed(self, row: int) -> None:
        if row >= 0:
            self.objectSelected.emit(row + 1)
