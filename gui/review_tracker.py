"""The project's review states as the GUI shows them: the session's `ReviewStates` (fresh, stale, flagged,
approved per frame; the session applies their rules to every edit, reference change and propagation and
saves review.json), its change announced with a Qt signal, and the queries the strip and the panel draw."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

from PyQt5.QtCore import QObject, pyqtSignal

from xmempp.io.review_state import FrameCheck, FrameState, ReviewStates
from xmempp.review import FrameReview, ObjectReview
from xmempp.review.report import Span, flagged_spans

if TYPE_CHECKING:  # pragma: no cover
    from .project import Project

__all__ = ["ReviewTracker"]


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
        project.session.events.review_changed.connect(self._changed)

    @property
    def states(self) -> ReviewStates:
        """The session's review states."""
        return self.project.session.review

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

    # ------------------------------------------------------------------ the artist and the review
    def approve(self, frame: int, on: bool = True) -> bool:
        """Approve `frame` (or take it back). Returns whether anything changed."""
        return self.project.session.approve(frame, on)

    def apply_reviews(self, reviews: Sequence[FrameReview], versions: Mapping[int, int]) -> int:
        """Store the review's verdicts on the frames that did not change while it ran.

        Arguments:
            reviews: the review's frames.
            versions: frame -> the project's mask version when the review read it.
        Returns:
            The number of frames whose verdict was stored.
        """
        p = self.project
        checks = {r.index: FrameCheck.from_review(r) for r in reviews
                  if not p.is_reference(r.index) and versions.get(r.index) == p.version(r.index)}
        p.session.store_checks(checks)
        return len(checks)

    def save(self) -> bool:
        """Write review.json now. Returns False (and reports a problem) when it cannot be written."""
        return self.project.session.save_review()

    def _changed(self) -> None:
        self.changed.emit()
