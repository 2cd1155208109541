"""References: save the frame on screen as one, delete one (the References tab asks first). Both wait for a
running propagation to finish."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from xmempp.errors import InputError

from .references_panel import ReferencesPanel
from .status_line import Messages
from .view_state import ViewState

__all__ = ["ReferenceController", "ReferenceEdits"]

_WAIT = "references can be changed when the propagation has finished"


class ReferenceEdits(Protocol):
    """What the reference controller changes of the project."""

    @property
    def labels(self) -> list[str]: ...
    def is_reference(self, index: int) -> bool: ...
    def save_reference(self, index: int) -> str: ...
    def delete_reference(self, index: int) -> None: ...


class _Jobs(Protocol):
    @property
    def propagating(self) -> bool: ...


class ReferenceController:
    """Reference edits of the current frame, from the Edit menu, the keys and the References tab."""

    def __init__(
        self,
        view: ViewState,
        project: ReferenceEdits,
        jobs: _Jobs,
        panel: ReferencesPanel,
        messages: Messages,
        accept_shape: Callable[[], None],
    ) -> None:
        """`accept_shape` finishes a shape being drawn (it is part of the reference)."""
        self.view, self.project, self.jobs, self.panel = view, project, jobs, panel
        self.messages, self.accept_shape = messages, accept_shape
        panel.saveRequested.connect(self._save_requested)
        panel.deleteRequested.connect(self.delete_confirmed)

    def _save_requested(self) -> None:
        self.save()

    def save(self) -> bool:
        """Save the current frame as a reference. Returns True when it is one."""
        if self.jobs.propagating:
            self.messages.show(_WAIT, 4000)
            return False
        self.accept_shape()
        try:
            message = self.project.save_reference(self.view.frame)
        except InputError as exc:
            self.messages.show(str(exc), 6000)
            return False
        self.messages.show(message, 4000)
        return True

    def delete(self) -> None:
        """Delete the current frame's reference (asks first)."""
        if self.jobs.propagating:
            return
        if not self.project.is_reference(self.view.frame):
            self.messages.show("this frame is not a reference", 3000)
            return
        self.panel.confirm_delete(self.view.frame)

    def delete_confirmed(self, frame: int) -> None:
        """The References tab confirmed deleting `frame`'s reference."""
        if self.jobs.propagating:
            self.messages.show(_WAIT, 4000)
            return
        self.project.delete_reference(frame)
        self.messages.show(f"{self.project.labels[frame]} is no longer a reference (Ctrl+Z undoes)", 4000)
