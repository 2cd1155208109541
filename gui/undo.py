"""Undo / redo commands (QUndoStack) for every edit; each one saves its result to the workspace.

A mask edit stores only the changed rectangle (before and after), so long sessions stay small. A
propagation stores the PNG bytes of the masks it replaced (a few KB each). Commands act through
the project's low-level methods, which write atomically, so undoing is saved like any other edit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional

import numpy as np
from PyQt5.QtWidgets import QUndoCommand

if TYPE_CHECKING:  # pragma: no cover
    from .project import Project

__all__ = ["MaskPatchCommand", "ReferenceCommand", "PropagationCommand", "changed_rect"]


def changed_rect(before: np.ndarray, after: np.ndarray) -> Optional[tuple[int, int, int, int]]:
    """Bounding box (x0, y0, x1, y1), exclusive ends, of the pixels that differ; None if none do."""
    diff = before != after
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


class MaskPatchCommand(QUndoCommand):
    """A change to one frame's mask (a stroke, a fill, a segmentation, clearing an object)."""

    def __init__(self, project: "Project", frame: int, before: np.ndarray, after: np.ndarray, text: str,
                 had_mask: bool) -> None:
        """Record the difference between `before` and `after` (full HxW masks).

        Arguments:
            project: the project the frame belongs to.
            frame: frame index.
            before: the mask before the edit.
            after: the mask after it.
            text: undo text ("Brush stroke").
            had_mask: whether the frame had a saved mask before (undo deletes a mask it created).
        """
        super().__init__(text)
        self.project = project
        self.frame = frame
        self.rect = changed_rect(before, after) or (0, 0, 0, 0)
        x0, y0, x1, y1 = self.rect
        self.before = before[y0:y1, x0:x1].copy()
        self.after = after[y0:y1, x0:x1].copy()
        self.had_mask = had_mask
        self._applied = True  # the edit is already on screen when the command is pushed

    @property
    def empty(self) -> bool:
        """True when nothing changed."""
        return self.before.size == 0

    def _apply(self, patch: np.ndarray, undoing: bool) -> None:
        x0, y0, x1, y1 = self.rect
        mask = self.project.mask(self.frame).copy()
        mask[y0:y1, x0:x1] = patch
        if undoing and not self.had_mask and not mask.any():
            self.project.delete_mask(self.frame)
        else:
            self.project.write_mask(self.frame, mask)

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            self._apply(self.after, undoing=False)  # saves the edit (it is only on screen so far)
            return
        self.project.goto_frame(self.frame)
        self._apply(self.after, undoing=False)

    def undo(self) -> None:
        self.project.goto_frame(self.frame)
        self._apply(self.before, undoing=True)


class ReferenceCommand(QUndoCommand):
    """Saving a frame as a reference, or deleting a reference (the mask itself stays)."""

    def __init__(self, project: "Project", frame: int, add: bool) -> None:
        name = project.labels[frame]
        super().__init__(f"{'Save' if add else 'Delete'} reference {name}")
        self.project = project
        self.frame = frame
        self.add = add

    def redo(self) -> None:
        self.project.mark_reference(self.frame, self.add)

    def undo(self) -> None:
        self.project.goto_frame(self.frame)
        self.project.mark_reference(self.frame, not self.add)


class PropagationCommand(QUndoCommand):
    """The masks one propagation wrote; undo puts back what was there before (or nothing)."""

    def __init__(self, project: "Project", changes: Mapping[int, tuple[Optional[bytes], bytes]], text: str,
                 records: Optional[tuple[Mapping[int, Any], Mapping[int, Any]]] = None) -> None:
        """Arguments:
            project: the project.
            changes: frame -> (previous PNG bytes or None when there was no mask, new PNG bytes).
            text: undo text ("Propagate forward").
            records: the review states of the frames before and after (`ReviewTracker.finish_propagation`).
        """
        super().__init__(text)
        self.project = project
        self.changes = dict(changes)
        self.records = records
        self._applied = True

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return
        if self.records is not None:  # the states as they are now (a review may have run since) come back on undo
            self.records = (self.project.review.records(self.records[0]), self.records[1])
        for frame, (_old, new) in sorted(self.changes.items()):
            self.project.restore_mask_bytes(frame, new)
        if self.records is not None:
            self.project.review.restore(self.records[1])

    def undo(self) -> None:
        if self.records is not None:  # keeps the review's verdicts on these masks for redo
            self.records = (self.records[0], self.project.review.records(self.records[1]))
        for frame, (old, _new) in sorted(self.changes.items()):
            self.project.restore_mask_bytes(frame, old)
        if self.records is not None:
            self.project.review.restore(self.records[0])
