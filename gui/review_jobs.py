"""The review in the background: after each propagation (and on request) the masks are reviewed against
their frames (`xmempp.review.Reviewer`, the references as keyframes) in a worker thread of the review's own
`JobRunner`, so that editing, suggesting and exporting go on meanwhile; a new propagation stops it. Each
frame's verdict is stored in the project's review states unless the frame changed while it ran."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
from PyQt5.QtCore import QObject, pyqtSignal

from xmempp.io.workspace import Workspace
from xmempp.review import FrameReview, Reviewer

from .job_runner import JobRunner, JobState, Worker
from .project import Project
from .shortcuts import shortcut

__all__ = ["ReviewController", "ReviewWorker"]


class ReviewWorker(Worker):
    """Reviews some frames' saved masks (ascending frame indices; a gap starts a fresh run).

    `finished` carries the list of `FrameReview`s, or None after a stop or an error.
    """

    def __init__(self, workspace: Workspace, frames: Sequence[int], references: Sequence[int]) -> None:
        super().__init__()
        self.workspace = workspace
        self.frames = sorted(set(frames))
        self.references = set(references)

    def _mask(self, frame: int, shape: tuple[int, ...]) -> np.ndarray | None:
        ids = self.workspace.mask(frame)
        if ids is not None and ids.shape != shape[:2]:
            ids = cv2.resize(ids, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
        return ids

    def work(self) -> list[FrameReview]:
        workspace = self.workspace
        shape = workspace.size
        keyframes = {f: m for f in self.frames if f in self.references and (m := self._mask(f, shape)) is not None}
        reviewer = Reviewer(keyframes=keyframes)
        total = len(self.frames)
        try:
            for done, frame in enumerate(self.frames, start=1):
                self.check_stop()
                rgb = workspace.image(frame)
                ids = self._mask(frame, rgb.shape)
                if ids is not None:
                    reviewer.add(frame, workspace.names[frame], rgb, ids)
                self.progress.emit(done, total)
            self.check_stop()
            return reviewer.finish()
        finally:
            reviewer.close()  # a stopped review's kept frames go at once


class ReviewController(QObject):
    """Runs the review of a project's masks, one at a time (a new request replaces a running one).

    Signals:
        started(int): a review of this many frames started.
        progress(int, int): frames done, frames in all.
        finished(int): it ended: the number of frames whose verdict was stored (-1: stopped or failed).
        message(str, int): a status-bar message and how long it stays (ms).
    """

    started = pyqtSignal(int)
    progress = pyqtSignal(int, int)
    finished = pyqtSignal(int)
    message = pyqtSignal(str, int)

    def __init__(self, project: Project, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.runner = JobRunner(self)
        self.runner.stateChanged.connect(self._state_changed)
        self._pending: tuple[list[int], str] | None = None
        project.review.propagated.connect(self._propagated)

    @property
    def running(self) -> bool:
        """A review runs."""
        return self.runner.busy

    def _propagated(self, changes: Mapping[int, object]) -> None:
        """Review what a propagation wrote, with the references among them as keyframes."""
        frames = sorted(changes)
        first, last = frames[0], frames[-1]
        references = [f for f in self.project.references if first <= f <= last]
        self.review(sorted({*frames, *references}), f"{len(frames)} propagated frames")

    def review_all(self) -> bool:
        """Review every frame that has a mask. Returns True when it started."""
        return self.review(sorted(self.project.masked_frames), "every masked frame")

    def review(self, frames: Sequence[int], what: str = "") -> bool:
        """Review `frames` (their saved masks); a running review is stopped and this one starts after it.

        Returns:
            False when there is nothing to review.
        """
        frames = [f for f in frames if self.project.has_mask(f)]
        if not frames:
            self.message.emit("nothing to review: no frame has a mask yet", 4000)
            return False
        if self.runner.busy:
            self._pending = (list(frames), what)
            self.runner.stop()
            return True
        p = self.project
        versions = {f: p.version(f) for f in frames}
        worker = ReviewWorker(p.workspace, frames, p.references)
        worker.progress.connect(self.progress)
        worker.failed.connect(lambda text, _weights: self.message.emit(f"the review failed: {text}", 10000))
        worker.finished.connect(lambda reviews: self._finished(reviews, versions, what))
        self.runner.start(JobState.reviewing, worker)
        self.started.emit(len(frames))
        return True

    def _finished(self, reviews: list[FrameReview] | None, versions: dict[int, int], what: str) -> None:
        if reviews is None:
            self.finished.emit(-1)
            return
        stored = self.project.review.apply_reviews(reviews, versions)
        flagged = len(self.project.review.flagged_frames())
        self.message.emit(
            f"Review of {what} finished: {flagged} flagged frame{'s' if flagged != 1 else ''}"
            + (f" ({shortcut('next_flagged').key_label} jumps to the next)" if flagged else ""),
            8000,
        )
        self.finished.emit(stored)

    def _state_changed(self, state: str) -> None:
        if state == JobState.idle.value and self._pending is not None:
            frames, what = self._pending
            self._pending = None
            self.review(frames, what)

    def stop(self) -> None:
        """Stop the running review (and drop a waiting one)."""
        self._pending = None
        self.runner.stop()

    def wait(self, timeout_ms: int = 120000) -> None:
        """Block until the running review's thread ends (tests, closing)."""
        self.runner.wait(timeout_ms)
