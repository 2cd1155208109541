"""The review's part of the main window: the strip under the timeline, the Review tab, the review run in the
background after each propagation, approving the current frame and jumping between flagged frames. The
window creates one `ReviewUi` and calls it from its actions; this module holds the wiring."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt5.QtCore import QObject, QTimer

from xmempp.io.review_state import FrameState

from .job_controller import MESSAGE_MS
from .review_jobs import ReviewController
from .review_panel import ReviewPanel
from .review_strip import ReviewStrip
from .shortcuts import shortcut

if TYPE_CHECKING:  # pragma: no cover
    from .main_window import MainWindow

__all__ = ["ReviewUi"]

#: The strip and the tab are redrawn at most this often while frames change (ms).
_REDRAW_MS = 150
#: The canvas badge of the states worth a badge.
_BADGES = {FrameState.stale: "STALE", FrameState.flagged: "FLAGGED", FrameState.approved: "APPROVED"}


class ReviewUi(QObject):
    """Builds the review's widgets on `window` and keeps them current."""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        project = window.project
        self.tracker = project.review
        self.controller = ReviewController(project, self)
        self.strip = ReviewStrip(project.review, project.labels, window.timeline)
        self.strip.setToolTip("Review: green good .. red flagged; grey stale; white mark approved")
        window.timeline.add_strip(self.strip)
        self.panel = ReviewPanel(project, window.thumbnails, window)
        tabs = window.ui.tabs
        tabs.addTab(self.panel, "Review")
        tabs.setStyleSheet("QTabBar::tab { padding-left: 8px; padding-right: 8px; }")  # four tabs in the dock
        self._timer = QTimer(self)  # many changes in a row (a propagation) redraw once
        self._timer.setSingleShot(True)
        self._timer.setInterval(_REDRAW_MS)
        self._timer.timeout.connect(self.refresh)
        self._panel_stale = False  # the Review tab is rebuilt when shown (30 ms at 2000 frames)
        window.ui.tabs.currentChanged.connect(lambda _i: self._panel_stale and self._refresh_panel())
        for signal in (self.tracker.changed, project.maskChanged, project.referencesChanged, project.objectsChanged):
            signal.connect(self.schedule)
        self.strip.frameRequested.connect(window.goto)
        self.panel.jumpRequested.connect(window.goto)
        self.panel.reviewRequested.connect(self.review_all)
        self.panel.approveRequested.connect(self.approve_current)
        c = self.controller
        c.started.connect(self.panel.set_running)
        c.progress.connect(self.panel.set_progress)
        c.finished.connect(lambda _stored: self.panel.set_finished())
        c.message.connect(lambda text, ms: window.statusBar().showMessage(text, ms))
        window.jobs.busyChanged.connect(self._jobs_busy)

    def schedule(self) -> None:
        """Redraw the strip and the panel soon."""
        self._timer.start()

    def refresh(self) -> None:
        """Redraw the strip, the panel and the frame's badge now."""
        self._timer.stop()
        self.strip.refresh()
        if self.window.ui.tabs.currentWidget() is self.panel:
            self._refresh_panel()
        else:
            self._panel_stale = True
        self.window.canvas.badge = self.window.frame_badge(self.window.current)
        self.window.canvas.update()

    def _refresh_panel(self) -> None:
        self._panel_stale = False
        self.panel.refresh()

    def badge(self, frame: int) -> str:
        """The canvas badge of `frame`'s state ("STALE", "FLAGGED", "APPROVED"), or ""."""
        return _BADGES.get(self.tracker.state(frame), "")

    def _jobs_busy(self, busy: bool) -> None:
        if busy and self.window.jobs.propagating:  # its masks are about to change: review them afterwards
            self.controller.stop()

    # ------------------------------------------------------------------ actions
    def approve_current(self) -> None:
        """Approve the current frame's mask, or take the approval back."""
        window, project = self.window, self.window.project
        frame = window.current
        bar = window.statusBar()
        if window.jobs.propagating:
            bar.showMessage("frames can be approved when the propagation has finished", MESSAGE_MS)
            return
        if not project.has_mask(frame):
            bar.showMessage("this frame has no mask to approve", MESSAGE_MS)
            return
        if project.is_reference(frame):
            bar.showMessage("a reference is your own mask: there is nothing to approve", MESSAGE_MS)
            return
        on = not self.tracker.states.is_approved(frame)
        self.tracker.approve(frame, on)
        key = shortcut("approve_frame").key_label
        label = project.labels[frame]
        bar.showMessage(f"approved {label} ({key} again takes it back)" if on else f"{label} is no longer approved",
                        MESSAGE_MS)

    def jump_flagged(self, step: int) -> None:
        """Go to the next (+1) or previous (-1) flagged frame in time order, wrapping around."""
        self.window.jump_in(self.tracker.flagged_frames(), step, "flagged frames")

    def review_all(self) -> None:
        """Review every frame's mask now (in the background)."""
        if self.window.jobs.propagating:
            self.window.statusBar().showMessage("the review runs by itself when the propagation has finished",
                                                MESSAGE_MS)
            return
        self.window.ui.tabs.setCurrentWidget(self.panel)
        self.controller.review_all()

    def shutdown(self) -> None:
        """The window closes: stop a running review and wait for its thread."""
        self.controller.stop()
        self.controller.wait(60000)
