"""Undo history of a session: each edit is a `Step` that can be undone and redone (no Qt).

A mask edit keeps only the changed rectangle (before and after), so long sessions stay small. A
propagation keeps the saved bytes of the masks it replaced (a few KB each) and the review states of its
frames. Steps act through the session's low-level methods, which save at once, so an undo is saved like
any other edit. A front end with an undo stack of its own (the GUI's `QUndoStack`) mirrors the steps
(`SessionEvents.step_recorded`) and calls `AnnotationSession.undo` / `redo` from it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import numpy as np

from xmempp.io.review_state import FrameRecord

__all__ = [
    "UNDO_LIMIT",
    "EditTarget",
    "History",
    "MaskPatch",
    "PropagationStep",
    "ReferenceChange",
    "Step",
    "StepGroup",
    "changed_rect",
]

#: Steps kept by default (the oldest are dropped first).
UNDO_LIMIT = 100


def changed_rect(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1), exclusive ends, of the pixels that differ; None if none do."""
    diff = before != after
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


class EditTarget(Protocol):
    """What steps act through: the low-level methods of an `AnnotationSession` (they save, record nothing)."""

    def mask(self, frame: int) -> np.ndarray: ...

    def write_mask(self, frame: int, ids: np.ndarray, edited: bool = True) -> bool: ...

    def delete_mask(self, frame: int) -> None: ...

    def mark_reference(self, frame: int, on: bool) -> None: ...

    def restore_mask_bytes(self, frame: int, data: bytes | None) -> None: ...

    def review_records(self, frames: Iterable[int]) -> dict[int, FrameRecord]: ...

    def restore_review(self, records: Mapping[int, FrameRecord]) -> None: ...


class Step(ABC):
    """One undoable edit, already applied when it is recorded.

    Attributes:
        text: what it did, for menus ("Brush stroke · 0012").
        frame: the frame to show when it is undone or redone, or None.
    """

    text: str = ""
    frame: int | None = None

    @abstractmethod
    def undo(self, session: EditTarget) -> None:
        """Take the edit back (saved)."""

    @abstractmethod
    def redo(self, session: EditTarget) -> None:
        """Apply the edit again (saved)."""


class MaskPatch(Step):
    """A change to one frame's mask (a stroke, a fill, a segmentation, clearing an object)."""

    def __init__(self, frame: int, before: np.ndarray, after: np.ndarray, text: str, had_mask: bool) -> None:
        """Record the difference between `before` and `after` (full HxW masks).

        Arguments:
            frame: frame index.
            before, after: the mask before and after the edit.
            text: undo text.
            had_mask: whether the frame had a saved mask before (undo deletes a mask the edit created).
        """
        self.text, self.frame, self.had_mask = text, frame, had_mask
        self.rect = changed_rect(before, after) or (0, 0, 0, 0)
        x0, y0, x1, y1 = self.rect
        self.before = before[y0:y1, x0:x1].copy()
        self.after = after[y0:y1, x0:x1].copy()

    @property
    def empty(self) -> bool:
        """True when nothing changed."""
        return self.before.size == 0

    def _apply(self, session: EditTarget, patch: np.ndarray, undoing: bool) -> None:
        frame = self.frame
        assert frame is not None
        x0, y0, x1, y1 = self.rect
        mask = session.mask(frame).copy()
        mask[y0:y1, x0:x1] = patch
        if undoing and not self.had_mask and not mask.any():
            session.delete_mask(frame)
        else:
            session.write_mask(frame, mask)

    def undo(self, session: EditTarget) -> None:
        self._apply(session, self.before, undoing=True)

    def redo(self, session: EditTarget) -> None:
        self._apply(session, self.after, undoing=False)


class ReferenceChange(Step):
    """Making a frame a reference, or no longer one (its mask stays)."""

    def __init__(self, frame: int, add: bool, text: str) -> None:
        self.frame, self.add, self.text = frame, add, text

    def undo(self, session: EditTarget) -> None:
        session.mark_reference(self.frame, not self.add)  # type: ignore[arg-type]

    def redo(self, session: EditTarget) -> None:
        session.mark_reference(self.frame, self.add)  # type: ignore[arg-type]


class PropagationStep(Step):
    """The masks one propagation wrote; undo puts back what was there before (or nothing), and the review
    states of those frames with them."""

    def __init__(
        self,
        changes: Mapping[int, tuple[bytes | None, bytes]],
        text: str,
        records: tuple[Mapping[int, FrameRecord], Mapping[int, FrameRecord]],
    ) -> None:
        """Arguments:
        changes: frame -> (previous saved bytes or None when there was no mask, new saved bytes).
        text: undo text ("Propagate forward · 12 frames").
        records: the review records of the frames before and after the propagation.
        """
        self.changes, self.text = dict(changes), text
        self.frame = min(self.changes) if self.changes else None
        self.records = (dict(records[0]), dict(records[1]))

    def undo(self, session: EditTarget) -> None:
        # the verdicts a review gave these masks since come back on redo
        self.records = (self.records[0], session.review_records(self.records[1]))
        for frame, (old, _new) in sorted(self.changes.items()):
            session.restore_mask_bytes(frame, old)
        session.restore_review(self.records[0])

    def redo(self, session: EditTarget) -> None:
        self.records = (session.review_records(self.records[0]), self.records[1])
        for frame, (_old, new) in sorted(self.changes.items()):
            session.restore_mask_bytes(frame, new)
        session.restore_review(self.records[1])


class StepGroup(Step):
    """Several steps undone and redone as one (setting a reference: its mask, then marking it)."""

    def __init__(self, steps: Sequence[Step], text: str) -> None:
        self.steps, self.text = list(steps), text
        self.frame = next((s.frame for s in self.steps if s.frame is not None), None)

    def undo(self, session: EditTarget) -> None:
        for step in reversed(self.steps):
            step.undo(session)

    def redo(self, session: EditTarget) -> None:
        for step in self.steps:
            step.redo(session)


class History:
    """Recorded steps: those before `index` are done, the rest were undone and can be redone.

    Arguments:
        limit: the most steps kept (the oldest are dropped first), as a `QUndoStack`'s undo limit.
    """

    def __init__(self, limit: int = UNDO_LIMIT) -> None:
        self.limit = max(1, int(limit))
        self.steps: list[Step] = []
        self.index = 0

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def can_undo(self) -> bool:
        """A step can be undone."""
        return self.index > 0

    @property
    def can_redo(self) -> bool:
        """A step can be redone."""
        return self.index < len(self.steps)

    @property
    def undo_text(self) -> str:
        """Text of the step `undo` would take back ("" when none)."""
        return self.steps[self.index - 1].text if self.can_undo else ""

    @property
    def redo_text(self) -> str:
        """Text of the step `redo` would apply ("" when none)."""
        return self.steps[self.index].text if self.can_redo else ""

    def record(self, step: Step) -> None:
        """Add an applied step; the undone steps after `index` are dropped."""
        del self.steps[self.index :]
        self.steps.append(step)
        del self.steps[: max(0, len(self.steps) - self.limit)]
        self.index = len(self.steps)

    def take_undo(self) -> Step | None:
        """The step to undo now (moves `index` back), or None."""
        if not self.can_undo:
            return None
        self.index -= 1
        return self.steps[self.index]

    def take_redo(self) -> Step | None:
        """The step to redo now (moves `index` on), or None."""
        if not self.can_redo:
            return None
        self.index += 1
        return self.steps[self.index - 1]

    def clear(self) -> None:
        """Forget every step."""
        self.steps.clear()
        self.index = 0
