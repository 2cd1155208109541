"""The review strip under the timeline's track: each frame's state as a colour (a heat strip of the review's
score, green good .. red flagged; stale frames grey; approved frames green with a white mark on top;
references amber), with the state and the reasons in its tooltip. It shares the track's frame geometry."""

from __future__ import annotations

from PyQt5.QtCore import QRectF, QSize, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QPainter
from PyQt5.QtWidgets import QWidget

from xmempp.io.review_state import FrameState

from .review_tracker import ReviewTracker
from .timeline import REFERENCE_COLOUR

__all__ = ["STATE_COLOURS", "ReviewStrip", "heat_colour"]

#: Colours of the states that do not show the score.
STATE_COLOURS = {
    FrameState.reference: REFERENCE_COLOUR,
    FrameState.stale: QColor(108, 110, 116),
    FrameState.flagged: QColor(214, 39, 40),
    FrameState.approved: QColor(46, 170, 80),
}
#: A fresh frame the review has not scored yet.
_UNSCORED = QColor(62, 104, 82)
_APPROVED_MARK = QColor(245, 245, 245)
_STATE_WORDS = {
    FrameState.none: "",
    FrameState.reference: "reference",
    FrameState.fresh: "fresh",
    FrameState.stale: "stale: propagated before the references changed",
    FrameState.flagged: "flagged by the review",
    FrameState.approved: "approved",
}


def heat_colour(score: float) -> QColor:
    """The strip's colour of a review score: 1 green, 0.5 (the flag line) yellow-orange, 0 red."""
    return QColor.fromHsv(int(round(120 * max(0.0, min(1.0, score)))), 200, 200)


class ReviewStrip(QWidget):
    """Frame states as a thin coloured strip (frame x as in `TimelineTrack`).

    Signals:
        frameRequested(int): the user clicked a frame.
    """

    frameRequested = pyqtSignal(int)

    def __init__(self, tracker: ReviewTracker, labels: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tracker = tracker
        self.labels = labels
        self.count = len(labels)
        self.states: list[FrameState] = []
        self.colours: list[QColor | None] = []
        self.setFixedHeight(9)
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.refresh()

    def sizeHint(self) -> QSize:
        return QSize(600, 9)

    def refresh(self) -> None:
        """Read every frame's state now."""
        self.states = self.tracker.states_of()
        self.colours = [self._colour(f, s) for f, s in enumerate(self.states)]
        self.update()

    def _colour(self, frame: int, state: FrameState) -> QColor | None:
        if state in STATE_COLOURS:
            return STATE_COLOURS[state]
        check = self.tracker.states.check(frame)
        if check is not None:
            return heat_colour(check.score)
        return _UNSCORED if state is FrameState.fresh else None

    def colour_name(self, frame: int) -> str | None:
        """The colour frame `frame` is drawn in ("#rrggbb"), or None (not drawn)."""
        colour = self.colours[frame] if 0 <= frame < len(self.colours) else None
        return colour.name() if colour is not None else None

    def _geometry(self) -> tuple[float, float]:
        return 8.0, max(1.0, self.width() - 16.0)  # the track's left edge and width

    def frame_at(self, x: float) -> int:
        """The frame under widget x."""
        left, width = self._geometry()
        return int(min(self.count - 1, max(0, (x - left) * self.count / width)))

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        left, width = self._geometry()
        unit = width / max(1, self.count)
        top, height = 1.0, self.height() - 2.0
        start = 0
        for frame in range(1, len(self.colours) + 1):  # runs of one colour, one rectangle each
            if frame < len(self.colours) and self.colours[frame] == self.colours[start]:
                continue
            colour = self.colours[start]
            if colour is not None:
                painter.fillRect(QRectF(left + start * unit, top, (frame - start) * unit, height), colour)
            start = frame
        for frame, state in enumerate(self.states):
            if state is FrameState.approved:
                painter.fillRect(QRectF(left + frame * unit, 0, max(1.0, unit), 2), _APPROVED_MARK)
        painter.end()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.frameRequested.emit(self.frame_at(event.pos().x()))

    def mouseMoveEvent(self, event) -> None:
        frame = self.frame_at(event.pos().x())
        self.setToolTip(self.describe(frame))
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.frameRequested.emit(frame)

    def describe(self, frame: int) -> str:
        """The tooltip of `frame`: name, state, score and the review's reasons."""
        if not 0 <= frame < len(self.states):
            return ""
        state = self.states[frame]
        parts = [f"{self.labels[frame]} (frame {frame + 1})"]
        if _STATE_WORDS[state]:
            parts.append(_STATE_WORDS[state])
        check = self.tracker.states.check(frame)
        if check is not None and state is not FrameState.reference:
            parts.append(f"score {check.score:.2f}")
            reasons = [r for o in check.objects.values() if o.flagged for r in o.reasons]
            if reasons:
                parts.append("; ".join(reasons[:3]))
        return " — ".join(parts)
