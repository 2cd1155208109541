"""The Candidates tab: k, alpha and minimum-mask-size controls side by side, "Suggest frames" with a progress bar,
and the suggestions as a grid of small thumbnails (click to jump)."""

from __future__ import annotations

from PyQt5.QtCore import QSize, pyqtSignal
from PyQt5.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .project import Project
from .thumbnails import ThumbnailCache, ThumbnailList

__all__ = ["SUGGESTION_CELL", "SUGGESTION_ICON", "CandidatesPanel"]

#: Size of a suggestion's thumbnail and of its cell with the label (three to a row in the side dock).
SUGGESTION_ICON, SUGGESTION_CELL = (90, 58), (104, 104)


class CandidatesPanel(QWidget):
    """Controls and results of the candidate selector.

    Signals:
        suggestRequested(): "Suggest frames" was clicked (settings are already saved).
        cancelRequested(): "Stop" was clicked while it runs.
        jumpRequested(int): a suggestion was clicked.
    """

    suggestRequested = pyqtSignal()
    cancelRequested = pyqtSignal()
    jumpRequested = pyqtSignal(int)

    def __init__(self, project: Project, thumbnails: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        s = project.settings
        self.k = QSpinBox(self)
        self.k.setRange(1, 100)
        self.k.setValue(s.k)
        self.k.setToolTip("How many frames to suggest")
        self.alpha = QDoubleSpinBox(self)
        self.alpha.setRange(0.0, 1.0)
        self.alpha.setSingleStep(0.05)
        self.alpha.setDecimals(2)
        self.alpha.setValue(s.alpha)
        self.alpha.setToolTip(
            "Weight of the target mask when comparing frames: 0 ignores the masks, 1 compares only the target"
        )
        self.min_mask = QDoubleSpinBox(self)
        self.min_mask.setRange(0.0, 100.0)
        self.min_mask.setSingleStep(0.05)
        self.min_mask.setDecimals(2)
        self.min_mask.setSuffix(" %")
        self.min_mask.setValue(s.min_mask_percent)
        self.min_mask.setToolTip("Never suggest frames where the target covers less of the frame than this")
        for box in (self.k, self.alpha, self.min_mask):
            box.setKeyboardTracking(False)
            box.valueChanged.connect(self._save)
        controls = QGridLayout()  # three fields side by side: the suggestions keep the height
        controls.setHorizontalSpacing(6)
        controls.setVerticalSpacing(2)
        for column, (text, box) in enumerate(
            (("Frames (k)", self.k), ("Mask weight", self.alpha), ("Min. mask", self.min_mask))
        ):
            label = QLabel(text, self)
            label.setToolTip(box.toolTip())
            label.setBuddy(box)
            controls.addWidget(label, 0, column)
            controls.addWidget(box, 1, column)
            controls.setColumnStretch(column, 1)
        self.button = QPushButton("Suggest frames", self)
        self.button.setObjectName("primaryButton")
        self.button.setToolTip("Find the frames whose annotation would help the propagation most (Ctrl+G)")
        self.button.clicked.connect(self._clicked)
        self.progress = QProgressBar(self)
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)
        self.note = QLabel(self)
        self.note.setObjectName("hint")
        self.note.setWordWrap(True)
        self.list = ThumbnailList(thumbnails, self)
        self.list.setIconSize(QSize(*SUGGESTION_ICON))  # three to a row in the dock: k=5 fits at 1280x720
        self.list.setGridSize(QSize(*SUGGESTION_CELL))
        self.list.frameClicked.connect(self.jumpRequested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(controls)
        layout.addWidget(self.button)
        layout.addWidget(self.progress)
        layout.addWidget(self.note)
        layout.addWidget(self.list, 1)
        self._running = False
        self.refresh()

    def _save(self) -> None:
        self.project.update_settings(
            k=int(self.k.value()),
            alpha=round(float(self.alpha.value()), 4),
            min_mask_percent=round(float(self.min_mask.value()), 4),
        )

    def _clicked(self) -> None:
        if self._running:
            self.cancelRequested.emit()
        else:
            self._save()
            self.suggestRequested.emit()

    def set_running(self, running: bool) -> None:
        """Show the progress bar and turn the button into "Stop" while the selector runs."""
        self._running = running
        self.button.setText("Stop" if running else "Suggest frames")
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)
            self.progress.setFormat("starting…")
            self.note.setText("")
        for box in (self.k, self.alpha, self.min_mask):
            box.setEnabled(not running)

    def set_progress(self, done: int, total: int, text: str) -> None:
        """The selector's overall progress (all phases on one bar) and its phase line."""
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat("%p %")
        self.note.setText(text)

    def set_note(self, text: str) -> None:
        """A line under the progress bar (e.g. why fewer frames came back)."""
        self.note.setText(text)

    def refresh(self) -> None:
        """Show the project's suggestions as thumbnails."""
        labels = self.project.labels
        self.list.set_frames(
            [
                (
                    frame,
                    f"#{rank}  {labels[frame]}",
                    f"Suggestion {rank}: {labels[frame]} (frame {frame + 1}) — click to jump",
                )
                for rank, frame in enumerate(self.project.settings.suggestions, start=1)
            ]
        )
        if not self.project.settings.suggestions and not self.note.text():
            self.note.setText(
                "Suggestions use the references and, when every frame has a mask, the propagated "
                "masks; otherwise the references are propagated first."
            )
