"""The keyboard shortcut list, rendered from the same table that creates the actions."""
from __future__ import annotations

from typing import Optional

from PyQt5.QtCore import Qt
from PyQt5.QtGui import QFont
from PyQt5.QtWidgets import QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QTableWidget, \
    QTableWidgetItem, QVBoxLayout, QWidget

from .shortcuts import shortcut_rows

__all__ = ["HelpDialog"]


class HelpDialog(QDialog):
    """Lists every shortcut and mouse gesture, grouped."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(640, 720)
        rows = shortcut_rows()
        table = QTableWidget(0, 2, self)
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.NoSelection)
        table.setShowGrid(False)
        table.setAlternatingRowColors(True)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        bold = QFont(self.font())
        bold.setBold(True)
        group = None
        for row_group, keys, text in rows:
            if row_group != group:
                group = row_group
                r = table.rowCount()
                table.insertRow(r)
                heading = QTableWidgetItem(group)
                heading.setFont(bold)
                table.setItem(r, 0, heading)
                table.setSpan(r, 0, 1, 2)
            r = table.rowCount()
            table.insertRow(r)
            key_item = QTableWidgetItem(keys)
            key_item.setTextAlignment(Qt.AlignLeft | Qt.AlignVCenter)
            table.setItem(r, 0, key_item)
            table.setItem(r, 1, QTableWidgetItem(text))
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
