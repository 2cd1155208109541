"""The review-state rules of a session (`xmempp.io.review_state`): an edit clears a frame's verdict and
approval, a change of the references makes every propagated frame stale, and every change is saved."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from xmempp.io.review_state import FrameCheck, FrameRecord, FrameState

from .base import SessionBase

__all__ = ["ReviewRules"]


class ReviewRules(SessionBase):
    """The review states part of `AnnotationSession`."""

    # ------------------------------------------------------------------ review states
    def state(self, frame: int) -> FrameState:
        """Frame `frame`'s review state now."""
        return self.review.state(frame, reference=frame in self._references, has_mask=frame in self._masked)

    def states(self) -> list[FrameState]:
        """Every frame's review state, in frame order."""
        return [self.state(f) for f in range(len(self))]

    def _review_edited(self, frame: int, reference: bool) -> None:
        changed = self.review.edited(frame)
        if reference:
            changed = self.review.references_changed() or changed
        if changed:
            self.save_review()
            self.events.review_changed.emit()

    def approve(self, frame: int, on: bool = True) -> bool:
        """Approve frame `frame`'s mask (or take the approval back) and save. Returns whether it changed."""
        if not self.review.approve(self.check_frame(frame), on):
            return False
        self.save_review()
        self.events.review_changed.emit()
        return True

    def store_checks(self, checks: Mapping[int, FrameCheck | None]) -> None:
        """Store the review's verdicts (None: forget one) and save."""
        for frame, check in checks.items():
            self.review.set_check(frame, check)
        if checks:
            self.save_review()
            self.events.review_changed.emit()

    def review_records(self, frames: Iterable[int]) -> dict[int, FrameRecord]:
        """The review records of `frames` now (undo keeps them)."""
        return {f: self.review.record(f) for f in frames}

    def restore_review(self, records: Mapping[int, FrameRecord]) -> None:
        """Put back review records (undo / redo of a propagation) and save."""
        for frame, record in records.items():
            self.review.restore(frame, record)
        self.save_review()
        self.events.review_changed.emit()

    def save_review(self) -> bool:
        """Save the review states now. Returns False (a `problem` event) when they cannot be written."""
        return self._save(
            "review.json", lambda: self.store.save_review(self.review), "could not save the review states"
        )
