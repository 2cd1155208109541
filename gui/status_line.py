"""The status bar's words: passing messages, problems (with a dialog at most every few seconds), the saved
state, the cursor position and the zoom."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

from PyQt5.QtWidgets import QLabel, QMessageBox, QStatusBar, QWidget

__all__ = ["PROBLEM_MS", "Messages", "SavedState", "StatusLine"]

#: How long problem messages stay on the status bar (ms).
PROBLEM_MS = 10000
#: The same problem is shown in a dialog again only after this many seconds.
_PROBLEM_REPEAT_S = 10


class Messages(Protocol):
    """Somewhere to say a short thing for a while (the status bar)."""

    def show(self, text: str, ms: int = 4000) -> None: ...


class _Located(Protocol):
    @property
    def path(self) -> Path: ...


class SavedState(Protocol):
    """What the saved marker and the cursor line read of the project."""

    @property
    def unsaved(self) -> set[str]: ...
    @property
    def workspace(self) -> _Located: ...
    def object_name(self, object_id: int) -> str: ...


class StatusLine:
    """Writes the window's status bar and its saved / cursor / zoom fields."""

    def __init__(
        self,
        bar: QStatusBar,
        saved_label: QLabel,
        cursor_label: QLabel,
        zoom_label: QLabel,
        project: SavedState,
        dialog_parent: QWidget | None,
    ) -> None:
        """Arguments:
        bar, saved_label, cursor_label, zoom_label: the status bar and its fields.
        project: the saved state's source.
        dialog_parent: parent of problem dialogs (None: no dialogs, the status bar only).
        """
        self.bar, self.saved_label, self.cursor_label, self.zoom_label = bar, saved_label, cursor_label, zoom_label
        self.project = project
        self.dialog_parent = dialog_parent
        self._last_problem = ("", 0.0)

    def show(self, text: str, ms: int = 4000) -> None:
        """A passing message."""
        self.bar.showMessage(text, ms)

    def mark_saved(self) -> None:
        """Show whether every edit reached the disk."""
        label = self.saved_label
        unsaved = sorted(self.project.unsaved)
        if unsaved:
            label.setText("⚠ not saved")
            label.setStyleSheet("color: #ff7b72;")
            label.setToolTip(
                "The last write failed for: "
                + ", ".join(unsaved[:10])
                + (" …" if len(unsaved) > 10 else "")
                + ". They are kept in memory; the next "
                "edit of each writes it again."
            )
        else:
            label.setText("✓ saved")
            label.setStyleSheet("")
            label.setToolTip(f"Every edit is written to {self.project.workspace.path} as you work")

    def problem(self, message: str) -> None:
        """Something could not be saved or read: say so (a dialog at most every few seconds)."""
        self.mark_saved()
        self.show(message, PROBLEM_MS)
        last, when = self._last_problem
        if self.dialog_parent is not None and (message != last or time.monotonic() - when > _PROBLEM_REPEAT_S):
            self._last_problem = (message, time.monotonic())
            QMessageBox.warning(self.dialog_parent, "xmempp", message)

    def cursor(self, info: tuple[int, int, int] | None) -> None:
        """The image position under the mouse and the object there (None: the mouse left the image)."""
        if info is None:
            self.cursor_label.setText("")
            return
        x, y, object_id = info
        name = f"  ·  {self.project.object_name(object_id)}" if object_id else ""
        self.cursor_label.setText(f"x {x}  y {y}{name}")

    def zoom(self, zoom: float) -> None:
        """The canvas zoom."""
        self.zoom_label.setText(f"{zoom * 100:.0f} %")
