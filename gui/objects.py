"""The object list: a colour swatch per object, keys 1-9 select, the list reaches any number; rename,
recolour, hide and lock the selected object (buttons, or the right-click menu)."""

from __future__ import annotations

from collections.abc import Callable

from PyQt5.QtCore import QSize, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QIcon, QPainter, QPixmap
from PyQt5.QtWidgets import (
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from xmempp.errors import InputError

from .project import Project

__all__ = ["ObjectsPanel", "RenameDialog", "swatch"]

_LIST_MAX_HEIGHT = 170


def swatch(colour: QColor, size: int = 14) -> QIcon:
    """A rounded colour square icon."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setPen(QColor(0, 0, 0, 180))
    painter.setBrush(colour)
    painter.drawRoundedRect(1, 1, size - 2, size - 2, 3, 3)
    painter.end()
    return QIcon(pixmap)


class RenameDialog(QDialog):
    """Asks for an object's name; a refused name keeps the dialog open with the typed text and the reason
    shown under it."""

    def __init__(self, name: str, apply: Callable[[str], str | None], parent: QWidget | None = None) -> None:
        """Arguments:
        name: the current name (pre-filled).
        apply: renames; returns None when done, else why the name was refused.
        """
        super().__init__(parent)
        self.setWindowTitle("Rename object")
        self._apply = apply
        self.edit = QLineEdit(name, self)
        self.edit.selectAll()
        self.error = QLabel(self)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #ff8a80")
        self.error.hide()
        self.edit.textEdited.connect(lambda _text: self.error.hide())
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Name (used in exports):", self))
        layout.addWidget(self.edit)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def accept(self) -> None:
        """OK: rename, or stay open with the reason when the name is refused."""
        problem = self._apply(self.edit.text())
        if problem is not None:
            self.error.setText(problem)
            self.error.show()
            self.edit.setFocus()
            return
        super().accept()


class ObjectsPanel(QWidget):
    """Objects with their colours and share of the current frame.

    Signals:
        objectSelected(int): the user picked an object (workspace id 1..K).
        addRequested(): "Add object" was clicked.
        problem(str): a rename was refused (the reason).
    """

    objectSelected = pyqtSignal(int)
    addRequested = pyqtSignal()
    problem = pyqtSignal(str)

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.list = QListWidget(self)
        self.list.setIconSize(QSize(14, 14))
        self.list.setUniformItemSizes(True)
        self.list.currentRowChanged.connect(self._row_changed)
        self.list.itemDoubleClicked.connect(lambda _item: self.ask_rename())
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.buttons: dict[str, QToolButton] = {}
        row = QHBoxLayout()
        row.setSpacing(2)
        for key, text, tip in (
            ("rename", "Rename", "Rename the selected object (double-click)"),
            ("colour", "Colour", "Show the selected object in another colour"),
            ("hide", "Hide", "Hide the selected object on the canvas"),
            ("lock", "Lock", "Lock the selected object: edits leave its pixels alone"),
        ):
            button = QToolButton(self)
            button.setText(text)
            button.setToolTip(tip)
            button.setCheckable(key in ("hide", "lock"))
            row.addWidget(button)
            self.buttons[key] = button
        row.addStretch(1)
        self.buttons["rename"].clicked.connect(lambda: self.ask_rename())
        self.buttons["colour"].clicked.connect(lambda: self.ask_colour())
        self.buttons["hide"].clicked.connect(lambda on: self._set_hidden(on))
        self.buttons["lock"].clicked.connect(lambda on: self._set_locked(on))
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
        layout.addLayout(row)
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
            item.setData(Qt.ItemDataRole.UserRole, object_id)
            self.list.addItem(item)
        self.list.blockSignals(False)
        rows = max(2, self.list.count())
        self.list.setFixedHeight(
            min(_LIST_MAX_HEIGHT, rows * self.list.sizeHintForRow(0) + 2 * self.list.frameWidth() + 6)
        )
        self.set_current(current or 1)

    def _label(self, object_id: int) -> str:
        original = self.project.object_ids[object_id - 1] if object_id <= len(self.project.object_ids) else object_id
        key = f"  [{object_id}]" if object_id <= 9 else ""
        area = self._areas.get(object_id)
        share = f"   {area:.1f} %" if area else ""
        styles = self.project.styles
        marks = "".join(
            mark
            for on, mark in ((styles.is_hidden(object_id), "  · hidden"), (styles.is_locked(object_id), "  · locked"))
            if on
        )
        name = self.project.object_name(object_id)
        name = name[:1].upper() + name[1:]
        if original != object_id and name.lower() == f"object {original}":
            name = f"Object {object_id} (id {original})"
        return f"{name}{key}{share}{marks}"

    @property
    def current(self) -> int:
        """The selected object id (0 when none)."""
        item = self.list.currentItem()
        return int(item.data(Qt.ItemDataRole.UserRole)) if item is not None else 0

    def set_current(self, object_id: int) -> None:
        """Select `object_id` without emitting `objectSelected`."""
        row = max(0, min(self.list.count() - 1, object_id - 1))
        self.list.blockSignals(True)
        self.list.setCurrentRow(row)
        self.list.blockSignals(False)
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        current = self.current
        for key, on in (
            ("hide", self.project.styles.is_hidden(current)),
            ("lock", self.project.styles.is_locked(current)),
        ):
            button = self.buttons[key]
            button.blockSignals(True)
            button.setChecked(bool(current) and on)
            button.setText(("Show" if on else "Hide") if key == "hide" else ("Unlock" if on else "Lock"))
            button.blockSignals(False)

    # ------------------------------------------------------------------ object actions
    def rename(self, object_id: int, name: str) -> bool:
        """Rename an object (saved in the workspace). Returns False (and emits `problem`) for a bad name."""
        try:
            self.project.rename_object(object_id, name)
        except InputError as exc:
            self.problem.emit(str(exc))
            return False
        return True

    def rename_dialog(self, object_id: int) -> RenameDialog:
        """The dialog that renames `object_id` (a refused name keeps it open, the reason shown inline)."""

        def apply(name: str) -> str | None:
            try:
                self.project.rename_object(object_id, name)
            except InputError as exc:
                return str(exc)
            return None

        return RenameDialog(self.project.object_name(object_id), apply, self)

    def ask_rename(self) -> None:
        """Ask for the selected object's new name."""
        current = self.current
        if current:
            self.rename_dialog(current).exec_()

    def ask_colour(self) -> None:
        """Pick the selected object's display colour."""
        current = self.current
        if not current:
            return
        colour = QColorDialog.getColor(QColor(*self.project.object_colour(current)), self, "Object colour")
        if colour.isValid():
            self.project.recolour_object(current, (colour.red(), colour.green(), colour.blue()))

    def _set_hidden(self, on: bool) -> None:
        if self.current:
            self.project.set_object_hidden(self.current, bool(on))

    def _set_locked(self, on: bool) -> None:
        if self.current:
            self.project.set_object_locked(self.current, bool(on))

    def _context_menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        self.list.setCurrentItem(item)
        object_id = int(item.data(Qt.ItemDataRole.UserRole))
        styles = self.project.styles
        menu = QMenu(self)
        menu.addAction("Rename…", self.ask_rename)
        menu.addAction("Colour…", self.ask_colour)
        menu.addAction("Default colour", lambda: self.project.recolour_object(object_id, None))
        menu.addAction(
            "Show" if styles.is_hidden(object_id) else "Hide",
            lambda: self.project.set_object_hidden(object_id, not styles.is_hidden(object_id)),
        )
        menu.addAction(
            "Unlock" if styles.is_locked(object_id) else "Lock",
            lambda: self.project.set_object_locked(object_id, not styles.is_locked(object_id)),
        )
        viewport = self.list.viewport()
        assert viewport is not None
        menu.exec_(viewport.mapToGlobal(pos))

    def set_areas(self, areas: dict[int, float]) -> None:
        """Show each object's share of the current frame in percent."""
        self._areas = areas
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item is not None:
                item.setText(self._label(int(item.data(Qt.ItemDataRole.UserRole))))

    def _row_changed(self, row: int) -> None:
        if row >= 0:
            self._sync_buttons()
            self.objectSelected.emit(row + 1)
