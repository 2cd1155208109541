"""The review's part of the main window: the strip under the timeline, the Review tab, the review run in the
background after each propagation, approving the current frame and jumping between flagged frames. The
window creates one `ReviewUi` and its actions call it; this module holds the wiring."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from PyQt5.QtCore import QObject, QTimer
from PyQt5.QtWidgets import QTabWidget, QWidget

from xmempp.io.review_state import FrameState

from .job_controller import MESSAGE_MS, JobController
from .project import Project
from .review_jobs import ReviewController
from .review_panel import ReviewPanel
from .review_strip import ReviewStrip
from .shortcuts import shortcut
from .status_line import Messages
from .thumbnails import ThumbnailCache
from .timeline import Timeline

__all__ = ["ReviewFrames", "ReviewUi"]

#: The strip and the tab are redrawn at most this often while frames change (ms).
_REDRAW_MS = 150
#: The canvas badge of the states worth a badge.
_BADGES = {FrameState.stale: "STALE", FrameState.flagged: "FLAGGED", FrameState.approved: "APPROVED"}


class ReviewFrames(Protocol):
    """The moves through the shot the review makes, and the badge it adds its word to."""

    badges: list[Callable[[int], str]]

    @property
    def current(self) -> int: ...
    def goto(self, index: int) -> None: ...
    def jump_in(self, frames: Sequence[int], step: int, what: str = "frames") -> None: ...
    def refresh_badge(self) -> None: ...


class ReviewUi(QObject):
    """Builds the review's widgets (a strip on the timeline, a tab) and keeps them current."""

    def __init__(
        self,
        project: Project,
        thumbnails: ThumbnailCache,
        timeline: Timeline,
        tabs: QTabWidget,
        jobs: JobController,
        frames: ReviewFrames,
        messages: Messages,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.project, self.tabs, self.jobs, self.frames, self.messages = project, tabs, jobs, frames, messages
        self.tracker = project.review
        self.controller = ReviewController(project, self)
        self.strip = ReviewStrip(project.review, project.labels, timeline)
        self.strip.setToolTip("Review: green good .. red flagged; grey stale; white mark approved")
        timeline.add_strip(self.strip)
        self.panel = ReviewPanel(project, thumbnails, parent)
        frames.badges.append(self.badge)
        tabs.addTab(self.panel, "Review")
        tabs.setTabToolTip(tabs.indexOf(self.panel), "Review")
        tabs.setStyleSheet("QTabBar::tab { padding-left: 8px; padding-right: 8px; }")  # four tabs in the dock
        self._timer = QTimer(self)  # many changes in a row (a propagation) redraw once
        self._timer.setSingleShot(True)
        self._timer.setInterval(_REDRAW_MS)
        self._timer.timeout.connect(self.refresh)
        self._panel_stale = False  # the Review tab is rebuilt when shown (30 ms at 2000 frames)
        tabs.currentChanged.connect(self._tab_changed)
        for signal in (self.tracker.changed, project.maskChanged, project.referencesChanged, project.objectsChanged):
            signal.connect(self.schedule)
        self.strip.frameRequested.connect(frames.goto)
        self.panel.jumpRequested.connect(frames.goto)
        self.panel.reviewRequested.connect(self.review_all)
        self.panel.approveRequested.connect(self.approve_current)
        c = self.controller
        c.started.connect(self.panel.set_running)
        c.progress.connect(self.panel.set_progress)
        c.finished.connect(lambda _stored: self.panel.set_finished())
        c.message.connect(messages.show)
        jobs.busyChanged.connect(self._jobs_busy)

    def schedule(self) -> None:
        """Redraw the strip and the panel soon."""
        self._timer.start()

    def refresh(self) -> None:
        """Redraw the strip, the panel and the frame's badge now."""
        self._timer.stop()
        self.strip.refresh()
        if self.tabs.currentWidget() is self.panel:
            self._refresh_panel()
        else:
            self._panel_stale = True
        self.frames.refresh_badge()

    def _tab_changed(self, _index: int) -> None:
        if self._panel_stale:
            self._refresh_panel()

    def _refresh_panel(self) -> None:
        self._panel_stale = False
        self.panel.refresh()

    def badge(self, frame: int) -> str:
        """The canvas badge of `frame`'s state ("STALE", "FLAGGED", "APPROVED"), or ""."""
        return _BADGES.get(self.tracker.state(frame), "")

    def _jobs_busy(self, busy: bool) -> None:
        if busy and self.jobs.propagating:  # its masks are about to change: review them afterwards
            self.controller.stop()
        for button in (self.panel.review_button, self.panel.approve_button):  # they wait for the propagation
            button.setEnabled(not (busy and self.jobs.propagating))

    # ------------------------------------------------------------------ actions
    def approve_current(self) -> None:
        """Approve the current frame's mask, or take the approval back."""
        project, frame, messages = self.project, self.frames.current, self.messages
        if self.jobs.propagating:
            messages.show("frames can be approved when the propagation has finished", MESSAGE_MS)
            return
        if not project.has_mask(frame):
            messages.show("this frame has no mask to approve", MESSAGE_MS)
            return
        if project.is_reference(frame):
            messages.show("a reference is your own mask: there is nothing to approve", MESSAGE_MS)
            return
        on = not self.tracker.states.is_approved(frame)
        self.tracker.approve(frame, on)
        key = shortcut("approve_frame").key_label
        label = project.labels[frame]
        messages.show(
            f"approved {label} ({key} again takes it back)" if on else f"{label} is no longer approved", MESSAGE_MS
        )

    def jump_flagged(self, step: int) -> None:
        """Go to the next (+1) or previous (-1) flagged frame in time order, wrapping around."""
        self.frames.jump_in(self.tracker.flagged_frames(), step, "flagged frames")

    def review_all(self) -> None:
        """Review every frame's mask now (in the background)."""
        if self.jobs.propagating:
            self.messages.show("the review runs by itself when the propagation has finished", MESSAGE_MS)
            return
        self.tabs.setCurrentWidget(self.panel)
        self.controller.review_all()

    def shutdown(self) -> None:
        """The window closes: stop a running review and wait for its thread."""
        self.controller.stop()
        self.controller.wait(60000)
