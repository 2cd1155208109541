"""The project's review states as the GUI keeps them: the core's `ReviewStates` (fresh, stale, flagged,
approved per frame), updated by the project's edits, references and propagations, saved to the workspace's
review.json after each change, and announced with a Qt signal."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping, Optional, Sequence

from PyQt5.QtCore import QObject, pyqtSignal

from xmempp.errors import XMemppError
from xmempp.io.review_state import FrameCheck, FrameRecord, FrameState, ReviewStates
from xmempp.review import FrameReview, ObjectReview
from xmempp.review.report import Span, flagged_spans

if TYPE_CHECKING:  # pragma: no cover
    from .project import Project

__all__ = ["ReviewTracker", "PropagationRecords"]

#: (records before, records after) of the frames one propagation wrote, for its undo step.
PropagationRecords = tuple[dict[int, FrameRecord], dict[int, FrameRecord]]


class ReviewTracker(QObject):
    """The review states of an opened project.

    Signals:
        changed(): some frame's state changed (the strip and the Review panel redraw).
        propagated(object): a propagation finished: {frame: (old PNG bytes or None, new PNG bytes)} of the
            frames it wrote (the review runs over them).
    """

    changed = pyqtSignal()
    propagated = pyqtSignal(object)

    def __init__(self, project: "Project") -> None:
        super().__init__(project)
        self.project = project
        workspace = project.workspace
        try:
            self.states = workspace.read_review_states()
        except XMemppError as exc:
            self.states = ReviewStates(len(workspace))
            project.problem.emit(str(exc))
        self._before: dict[int, FrameRecord] = {}  # frames the running propagation wrote: their records before

    # ------------------------------------------------------------------ queries
    def state(self, frame: int) -> FrameState:
        """The state of `frame` now."""
        p = self.project
        return self.states.state(frame, reference=p.is_reference(frame), has_mask=p.has_mask(frame))

    def states_of(self) -> list[FrameState]:
        """Every frame's state, in frame order."""
        p = self.project
        references, masked = set(p.references), p.masked_frames
        return [self.states.state(f, reference=f in references, has_mask=f in masked) for f in range(len(p))]

    def frames_in(self, state: FrameState) -> list[int]:
        """The frames in `state`, ascending."""
        return [f for f, s in enumerate(self.states_of()) if s is state]

    def stale_frames(self) -> list[int]:
        """Frames whose masks were propagated before the references last changed (not approved)."""
        return self.frames_in(FrameState.stale)

    def flagged_frames(self) -> list[int]:
        """Frames the review flagged (neither stale nor approved)."""
        return self.frames_in(FrameState.flagged)

    def spans(self) -> list[Span]:
        """Runs of consecutive flagged frames, worst first (`Span.start` / `worst_position` are frame indices)."""
        labels = self.project.labels
        frames: list[FrameReview] = []
        for f, state in enumerate(self.states_of()):
            check = self.states.check(f) if state is FrameState.flagged else None
            objects = {o: ObjectReview(v.score, v.flagged, list(v.reasons)) for o, v in check.objects.items()} \
                if check is not None else {}
            frames.append(FrameReview(f, labels[f], objects))
        return flagged_spans(frames)

    # ------------------------------------------------------------------ the project's changes
    def mask_edited(self, frame: int, reference: bool) -> None:
        """The artist changed `frame`'s mask (an edit of a reference replaces it: the references changed)."""
        changed = self.states.edited(frame)
        if reference:
            changed = self.states.references_changed() or changed
        if changed:
            self._changed()

    def references_changed(self, frame: int, added: bool) -> None:
        """`frame` became a reference (`added`) or stopped being one."""
        changed = self.states.references_changed()
        if added:
            changed = self.states.forget(frame) or changed
        if changed:
            self._changed()

    def frame_propagated(self, frame: int) -> None:
        """A running propagation wrote `frame` (saved when it finishes)."""
        if frame not in self._before:
            self._before[frame] = self.states.record(frame)
        self.states.propagated(frame)

    def finish_propagation(self, changes: Mapping[int, tuple[Optional[bytes], bytes]]) -> PropagationRecords:
        """A propagation ended: save the states; returns the records of its frames before and after (undo)."""
        before, self._before = self._before, {}
        before = {f: r for f, r in before.items() if f in changes}
        after = {f: self.states.record(f) for f in before}
        self._changed()
        if changes:
            self.propagated.emit(dict(changes))
        return before, after

    def records(self, frames: Iterable[int]) -> dict[int, FrameRecord]:
        """The records of `frames` now."""
        return {f: self.states.record(f) for f in frames}

    def restore(self, records: Mapping[int, FrameRecord]) -> None:
        """Put back the records of some frames (undo / redo of a propagation)."""
        for frame, record in records.items():
            self.states.restore(frame, record)
        self._changed()

    # ------------------------------------------------------------------ the artist and the review
    def approve(self, frame: int, on: bool = True) -> bool:
        """Approve `frame` (or take it back). Returns whether anything changed."""
        if self.states.approve(frame, on):
            self._changed()
            return True
        return False

    def apply_reviews(self, reviews: Sequence[FrameReview], versions: Mapping[int, int]) -> int:
        """Store the review's verdicts on the frames that did not change while it ran.

        Arguments:
            reviews: the review's frames.
            versions: frame -> the project's mask version when the review read it.
        Returns:
            The number of frames whose verdict was stored.
        """
        p = self.project
        stored = 0
        for review in reviews:
            f = review.index
            if p.is_reference(f) or versions.get(f) != p.version(f):
                continue
            self.states.set_check(f, FrameCheck.from_review(review))
            stored += 1
        if stored:
            self._changed()
        return stored

    def save(self) -> bool:
        """Write review.json now. Returns False (and reports a problem) when it cannot be written."""
        p = self.project
        try:
            p.workspace.save_review_states(self.states)
        except XMemppError as exc:
            p.unsaved.add("review.json")
            p.problem.emit(f"could not save the review states to {p.workspace.review_path}: {exc}")
            return False
        p.unsaved.discard("review.json")
        return True

    def _changed(self) -> None:
        self.save()
        self.changed.emit()
