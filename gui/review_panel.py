"""The Review tab: the review's flagged spans, worst first, with their reasons (click one to go to its worst
frame); how many frames are stale or approved; "Review masks" and "Approve frame". Also the question the
export asks before it writes stale masks."""

from __future__ import annotations

from PyQt5.QtCore import QSize, Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from xmempp.io.review_state import FrameState

from .project import Project
from .shortcuts import shortcut
from .thumbnails import ThumbnailCache

__all__ = ["ReviewPanel", "confirm_stale_export"]

#: Reasons listed per span.
_REASONS = 3
#: Spans listed (the worst; each has a thumbnail, made on the UI thread).
_SPANS = 40


class ReviewPanel(QWidget):
    """Flagged spans as a list (thumbnail of the worst frame, its frames, score and reasons).

    Signals:
        jumpRequested(int): a span was clicked: its worst frame.
        reviewRequested(): "Review masks" was clicked.
        approveRequested(): "Approve frame" was clicked.
    """

    jumpRequested = pyqtSignal(int)
    reviewRequested = pyqtSignal()
    approveRequested = pyqtSignal()

    def __init__(self, project: Project, thumbnails: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.thumbnails = thumbnails
        self.review_button = QPushButton("Review masks", self)
        self.review_button.setToolTip(
            f"Review every frame's mask against the frames "
            f"({shortcut('review_masks').key_label}); it runs by itself after each "
            f"propagation"
        )
        self.review_button.clicked.connect(self.reviewRequested)
        self.approve_button = QPushButton("Approve frame", self)
        self.approve_button.setToolTip(
            f"The current frame's mask is good ({shortcut('approve_frame').key_label}; again takes it back)"
        )
        self.approve_button.clicked.connect(self.approveRequested)
        self.summary = QLabel(self)
        self.summary.setObjectName("hint")
        self.summary.setWordWrap(True)
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        self.list = QListWidget(self)
        self.list.setViewMode(QListView.ListMode)
        self.list.setIconSize(QSize(thumbnails.width // 2, thumbnails.height // 2))
        self.list.setWordWrap(True)
        self.list.setSpacing(2)
        self.list.itemClicked.connect(self._clicked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.review_button, 1)
        buttons.addWidget(self.approve_button, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(self.progress)
        layout.addWidget(self.list, 1)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the list and the summary from the project's review states."""
        tracker = self.project.review
        labels = self.project.labels
        spans = tracker.spans()
        self.list.clear()
        for span in spans[:_SPANS]:
            frames = span.first if span.length == 1 else f"{span.first} – {span.last}"  # noqa: RUF001 (an en dash between frame numbers)
            names = ", ".join(self.project.object_name(o) for o in span.objects)
            lines = [
                f"{frames}  ·  {span.length} frame{'s' if span.length != 1 else ''}",
                f"worst {span.worst} (score {span.score:.2f})" + (f"  ·  {names}" if names else ""),
            ]
            lines += [f"• {reason}" for reason in span.reasons[:_REASONS]]
            item = QListWidgetItem(self.thumbnails.icon(span.worst_position), "\n".join(lines))
            item.setData(Qt.ItemDataRole.UserRole, span.worst_position)
            item.setToolTip(
                f"Click to go to {labels[span.worst_position]}, the worst frame of this span\n"
                + "\n".join(span.reasons)
            )
            self.list.addItem(item)
        if len(spans) > _SPANS:
            more = QListWidgetItem(
                f"… {len(spans) - _SPANS} milder spans ({shortcut('next_flagged').key_label} "
                f"steps through every flagged frame)"
            )
            more.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(more)
        states = tracker.states_of()
        flagged = sum(1 for s in states if s is FrameState.flagged)
        stale = sum(1 for s in states if s is FrameState.stale)
        approved = sum(1 for s in states if s is FrameState.approved)
        reviewed = sum(1 for f in range(len(states)) if tracker.states.check(f) is not None)
        parts = []
        if spans:
            parts.append(
                f"{flagged} flagged frame{'s' if flagged != 1 else ''} in {len(spans)} "
                f"span{'s' if len(spans) != 1 else ''}, worst first "
                f"({shortcut('next_flagged').key_label} jumps to the next)."
            )
        elif reviewed:
            parts.append(f"Nothing flagged in {reviewed} reviewed frame{'s' if reviewed != 1 else ''}.")
        else:
            parts.append("Not reviewed yet: the review runs after each propagation.")
        if stale:
            parts.append(
                f"{stale} stale frame{'s' if stale != 1 else ''} (propagated before the references "
                f"changed; grey on the timeline): propagate again."
            )
        if approved:
            parts.append(f"{approved} approved.")
        self.summary.setText(" ".join(parts))

    def _clicked(self, item: QListWidgetItem) -> None:
        frame = item.data(Qt.ItemDataRole.UserRole)
        if frame is not None:
            self.jumpRequested.emit(int(frame))

    def set_running(self, total: int) -> None:
        """A review of `total` frames started."""
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(0)
        self.progress.setFormat("reviewing %v / %m")
        self.progress.setVisible(True)

    def set_progress(self, done: int, total: int) -> None:
        """Frames reviewed so far."""
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def set_finished(self) -> None:
        """The review ended (its verdicts are stored)."""
        self.progress.setVisible(False)
        self.refresh()


def confirm_stale_export(parent: QWidget, project: Project) -> bool:
    """Before an export of the saved masks: ask whether to write stale ones. True: go on (none, or "Export anyway")."""
    stale = project.review.stale_frames()
    if not stale:
        return True
    labels = project.labels
    names = ", ".join(labels[f] for f in stale[:6]) + (" …" if len(stale) > 6 else "")
    box = QMessageBox(
        QMessageBox.Warning,
        "Stale masks",
        f"{len(stale)} frame{'s were' if len(stale) != 1 else ' was'} propagated before the "
        f"references last changed ({names}); their masks may not match the references.\n\n"
        f"Propagate again first, or export them as they are?",
        parent=parent,
    )
    go = box.addButton("Export anyway", QMessageBox.AcceptRole)
    cancel = box.addButton(QMessageBox.Cancel)
    box.setDefaultButton(cancel)
    box.exec_()
    return box.clickedButton() is go
