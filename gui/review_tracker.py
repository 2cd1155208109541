"""The project's review states as the GUI shows them: the session's `ReviewStates` (fresh, stale, flagged,
approved per frame; the session applies their rules to every edit, reference change and propagation and
saves review.json), its change announced with a Qt signal, and the queries the strip and the panel draw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PyQt5.QtCore import QObject, pyqtSignal

from xmempp.annotation import AnnotationSession
from xmempp.io.review_state import FrameCheck, FrameState, ReviewStates
from xmempp.review import FrameReview, ObjectReview
from xmempp.review.report import Span, flagged_spans

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

    def __init__(self, session: AnnotationSession, labels: Sequence[str], parent: QObject | None = None) -> None:
        """Arguments: session: the project's session; labels: the frame names shown; parent: the owner."""
        super().__init__(parent)
        self.session = session
        self.labels = labels
        session.events.review_changed.connect(self._changed)

    @property
    def states(self) -> ReviewStates:
        """The session's review states."""
        return self.session.review

    # ------------------------------------------------------------------ queries
    def state(self, frame: int) -> FrameState:
        """The state of `frame` now."""
        return self.session.state(frame)

    def states_of(self) -> list[FrameState]:
        """Every frame's state, in frame order."""
        return self.session.states()

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
        labels = self.labels
        frames: list[FrameReview] = []
        for f, state in enumerate(self.states_of()):
            check = self.states.check(f) if state is FrameState.flagged else None
            objects = (
                {o: ObjectReview(v.score, v.flagged, list(v.reasons)) for o, v in check.objects.items()}
                if check is not None
                else {}
            )
            frames.append(FrameReview(f, labels[f], objects))
        return flagged_spans(frames)

    # ------------------------------------------------------------------ the artist and the review
    def approve(self, frame: int, on: bool = True) -> bool:
        """Approve `frame` (or take it back). Returns whether anything changed."""
        return self.session.approve(frame, on)

    def apply_reviews(self, reviews: Sequence[FrameReview], versions: Mapping[int, int]) -> int:
        """Store the review's verdicts on the frames that did not change while it ran.

        Arguments:
            reviews: the review's frames.
            versions: frame -> the project's mask version when the review read it.
        Returns:
            The number of frames whose verdict was stored.
        """
        s = self.session
        checks = {
            r.index: FrameCheck.from_review(r)
            for r in reviews
            if not s.is_reference(r.index) and versions.get(r.index) == s.version(r.index)
        }
        s.store_checks(checks)
        return len(checks)

    def save(self) -> bool:
        """Write review.json now. Returns False (and reports a problem) when it cannot be written."""
        return self.session.save_review()

    def _changed(self) -> None:
        self.changed.emit()
