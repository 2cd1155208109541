"""The References tab: a thumbnail per reference (permanent memory), jump on click, delete with
confirmation, and "Save / update reference" for the current frame."""

from __future__ import annotations

from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget

from .project import Project
from .thumbnails import ThumbnailCache, ThumbnailList

__all__ = ["ReferencesPanel"]


class ReferencesPanel(QWidget):
    """Reference frames as thumbnails.

    Signals:
        jumpRequested(int): a thumbnail was clicked.
        saveRequested(): "Save / update reference" was clicked.
        deleteRequested(int): the user confirmed deleting a reference.
    """

    jumpRequested = pyqtSignal(int)
    saveRequested = pyqtSignal()
    deleteRequested = pyqtSignal(int)

    def __init__(self, project: Project, thumbnails: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.list = ThumbnailList(thumbnails, self)
        self.list.frameClicked.connect(self.jumpRequested)
        self.list.itemSelectionChanged.connect(self._selection_changed)
        self.save_button = QPushButton("Save / update reference", self)
        self.save_button.setObjectName("primaryButton")
        self.save_button.setToolTip("Use the current frame's mask as a reference (R)")
        self.save_button.clicked.connect(self.saveRequested)
        self.delete_button = QPushButton("Delete", self)
        self.delete_button.setToolTip("Stop using the selected frame as a reference (its mask stays)")
        self.delete_button.setEnabled(False)
        self.delete_button.clicked.connect(self._delete_clicked)
        self.summary = QLabel(self)
        self.summary.setObjectName("hint")
        self.summary.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button, 1)
        buttons.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(self.list, 1)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the thumbnails from the project's references."""
        refs = self.project.references
        labels = self.project.labels
        self.list.set_frames([(f, labels[f], f"{labels[f]} (frame {f + 1}) — click to jump") for f in refs])
        if refs:
            self.summary.setText(f"{len(refs)} reference frame{'s' if len(refs) != 1 else ''} in permanent memory.")
        else:
            self.summary.setText("No references yet: paint an object and press R to save the frame as a reference.")
        self._selection_changed()

    def update_frame(self, frame: int) -> None:
        """A frame's mask changed: refresh its thumbnail if it is a reference."""
        self.list.update_frame(frame)

    def select_frame(self, frame: int) -> None:
        """Highlight the thumbnail of `frame` (if it is a reference)."""
        self.list.select_frame(frame)
        self._selection_changed()

    @property
    def selected(self) -> int | None:
        """The selected reference frame, or None."""
        return self.list.selected

    def _selection_changed(self) -> None:
        self.delete_button.setEnabled(self.selected is not None)

    def _delete_clicked(self) -> None:
        frame = self.selected
        if frame is not None:
            self.confirm_delete(frame)

    def confirm_delete(self, frame: int) -> bool:
        """Ask before deleting the reference of `frame`; emits `deleteRequested` on yes."""
        name = self.project.labels[frame]
        answer = QMessageBox.question(
            self,
            "Delete reference",
            f"Stop using {name} as a reference?\n\nIts mask stays in the workspace; the next propagation no "
            f"longer keeps it in permanent memory. You can undo this (Ctrl+Z).",
            QMessageBox.Yes | QMessageBox.No,
            QMessageBox.No,
        )
        if answer == QMessageBox.Yes:
            self.deleteRequested.emit(frame)
            return True
        return False
