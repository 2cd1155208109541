"""The undo stack's commands: each mirrors one step of the session's history (`xmempp.annotation.history`).

The steps themselves (a mask patch, a reference saved or deleted, a propagation) live in the core with
their undo logic; the project pushes one `SessionCommand` per recorded step on its `QUndoStack`, so the
Edit menu, the shortcuts and the History view undo and redo through the session, which saves every
change as it makes it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt5.QtWidgets import QUndoCommand

from xmempp.annotation import PropagationStep, Step

if TYPE_CHECKING:  # pragma: no cover
    from .project import Project

__all__ = ["SessionCommand"]


class SessionCommand(QUndoCommand):
    """One recorded step of the project's session, already applied when it is pushed."""

    def __init__(self, project: "Project", step: Step) -> None:
        super().__init__(step.text)
        self.project = project
        self.step = step
        self._applied = True  # pushing calls redo(): the step is already done

    def _show_frame(self) -> None:
        if self.step.frame is not None and not isinstance(self.step, PropagationStep):
            self.project.goto_frame(self.step.frame)

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return
        self._show_frame()
        self.project.session.redo()

    def undo(self) -> None:
        self._show_frame()
        self.project.session.undo()
