"""Edits: undo, redo, the History window, clearing an object from the frame. Undo is paused while a propagation
writes masks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from PyQt5.QtWidgets import QAction, QDialog, QUndoStack, QUndoView, QVBoxLayout, QWidget

from .status_line import Messages
from .view_state import ViewState

__all__ = ["EditController", "Editable", "Locked"]


class Editable(Protocol):
    """What edits change of the project."""

    undo_stack: QUndoStack

    def clear_object(self, index: int, object_id: int) -> bool: ...
    def object_name(self, object_id: int) -> str: ...


class Locked(Protocol):
    """Whether a running job holds the masks."""

    @property
    def propagating(self) -> bool: ...


class EditController:
    """Undo, redo and history on the project's undo stack; Edit > Undo / Redo name the edit they act on."""

    def __init__(
        self,
        view: ViewState,
        project: Editable,
        jobs: Locked,
        actions: Mapping[str, QAction],
        messages: Messages,
        reset_shape: Callable[[], None],
        dialog_parent: QWidget,
    ) -> None:
        self.view, self.project, self.jobs, self.actions = view, project, jobs, actions
        self.messages, self.reset_shape, self.dialog_parent = messages, reset_shape, dialog_parent
        self.history: QDialog | None = None

    def undo(self) -> None:
        """Undo the last edit."""
        if self.jobs.propagating:
            self.messages.show("undo is paused while the propagation runs", 3000)
            return
        self.reset_shape()
        self.project.undo_stack.undo()

    def redo(self) -> None:
        """Redo the edit undone last."""
        if self.jobs.propagating:
            return
        self.reset_shape()
        self.project.undo_stack.redo()

    def show_history(self) -> None:
        """Edit > History: every edit by name; clicking one goes back (or forward) to it."""
        if self.history is None:
            dialog = QDialog(self.dialog_parent)
            dialog.setWindowTitle("History")
            view = QUndoView(self.project.undo_stack, dialog)
            view.setEmptyLabel("Opened workspace")
            layout = QVBoxLayout(dialog)
            layout.addWidget(view)
            dialog.resize(360, 420)
            self.history = dialog
        self.history.show()
        self.history.raise_()

    def clear_object(self) -> None:
        """Remove the current object from the current frame."""
        if self.jobs.propagating:
            return
        if not self.project.clear_object(self.view.frame, self.view.object_id):
            self.messages.show(f"{self.project.object_name(self.view.object_id)} is not on this frame", 3000)

    def update_texts(self) -> None:
        """Edit > Undo / Redo name the edit they would undo / redo."""
        stack = self.project.undo_stack
        undo, redo = self.actions["undo"], self.actions["redo"]
        undo.setToolTip(f"Undo {stack.undoText()} (Ctrl+Z)" if stack.canUndo() else "Nothing to undo")
        redo.setToolTip(f"Redo {stack.redoText()} (Ctrl+Shift+Z)" if stack.canRedo() else "Nothing to redo")
        undo.setText(f"Undo {stack.undoText()}" if stack.canUndo() else "Undo")
        redo.setText(f"Redo {stack.redoText()}" if stack.canRedo() else "Redo")

    def set_enabled(self, propagating: bool) -> None:
        """Undo, redo and the history act only while no propagation writes masks."""
        stack = self.project.undo_stack
        self.actions["undo"].setEnabled(stack.canUndo() and not propagating)
        self.actions["redo"].setEnabled(stack.canRedo() and not propagating)
        self.actions["history"].setEnabled(not propagating)
        if self.history is not None:
            self.history.setEnabled(not propagating)
