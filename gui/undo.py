"""The undo stack's commands: each mirrors one step of the session's history (`xmempp.annotation.history`).

The steps themselves (a mask patch, a reference saved or deleted, a propagation) live in the core with
their undo logic; the project pushes one `SessionCommand` per recorded step on its `QUndoStack`, so the
Edit menu, the shortcuts and the History view undo and redo through the session, which saves every
change as it makes it.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt5.QtWidgets import QUndoCommand

from xmempp.annotation import AnnotationSession, PropagationStep, Step

__all__ = ["SessionCommand"]


class SessionCommand(QUndoCommand):
    """One recorded step of the project's session, already applied when it is pushed."""

    def __init__(self, session: AnnotationSession, step: Step, show_frame: Callable[[int], None]) -> None:
        """Arguments: session: the project's session; step: the step it recorded; show_frame: asks the window to
        show a frame (the one an undo or redo changes)."""
        super().__init__(step.text)
        self.session = session
        self.step = step
        self.show_frame = show_frame
        self._applied = True  # pushing calls redo(): the step is already done

    def _show_frame(self) -> None:
        if self.step.frame is not None and not isinstance(self.step, PropagationStep):
            self.show_frame(self.step.frame)

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return
        self._show_frame()
        self.session.redo()

    def undo(self) -> None:
        self._show_frame()
        self.session.undo()
