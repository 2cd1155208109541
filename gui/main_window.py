"""The main window: canvas and timeline in the middle, objects and the References / Candidates / Memory / Review
tabs on the right, tools and propagation in the toolbar.

It only wires: the view state (`view_state.ViewState`, what is on screen) is followed by the canvas, the
widgets and the saved settings; each concern has its controller (navigation, tools, views, objects, edits,
references, jobs, files, review), given only what it needs; the actions call the controllers
(`window_actions`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PyQt5 import sip
from PyQt5.QtCore import QEvent, QTimer
from PyQt5.QtGui import QStatusTipEvent
from PyQt5.QtWidgets import QApplication, QDialog, QMainWindow, QStatusBar, QVBoxLayout, QWidget

from xmempp.inference.plan import Direction

from .canvas import Canvas
from .edit_controller import EditController
from .file_actions import RecentWorkspaces
from .file_controller import FileController
from .job_controller import JobController
from .job_view import JobPresenter
from .navigation import Navigation
from .object_controller import ObjectController
from .project import Project
from .reference_controller import ReferenceController
from .refined import RefinedMattes
from .review_ui import ReviewUi
from .segment_backends import SegmentBackend, available_backends
from .shortcuts import create_actions
from .space_key import SpaceKeyFilter
from .status_line import StatusLine
from .thumbnails import ThumbnailCache
from .timeline import Timeline
from .tool_controller import ToolController
from .view_binding import bind_canvas, bind_settings
from .view_controller import ViewController
from .view_state import ViewState
from .window_actions import action_handlers
from .window_bars import DOCK_WIDTH, WindowWidgets, build_widgets
from .window_geometry import WINDOW_SIZE, fit_options_bar, fit_to_screen, size_dock

__all__ = ["WINDOW_SIZE", "MainWindow"]

#: How long the first hint stays on the status bar (ms).
_HINT_MS = 15000
#: Open windows (a window opened from File > New / Open has no parent holding it).
_WINDOWS: list[MainWindow] = []


def _application() -> QApplication:
    """The running QApplication (a window exists only inside one)."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app


class MainWindow(QMainWindow):
    """The xmempp annotation window for one project."""

    def __init__(
        self,
        project: Project,
        parent: QWidget | None = None,
        interactive: bool = True,
        recent: RecentWorkspaces | None = None,
    ) -> None:
        """Arguments:
        project: the opened workspace.
        parent: parent widget.
        interactive: show message boxes for problems (False for --screenshot: status bar only).
        recent: the recent-workspaces list (default: the user's Qt settings).
        """
        super().__init__(parent)
        self.project = project
        self.interactive = interactive
        self.setWindowTitle(f"xmempp — {project.workspace.path.name}")
        fit_to_screen(self)
        self.view = ViewState.from_settings(project.settings, project.size)
        self.thumbnails = ThumbnailCache(project)
        self.backends: list[SegmentBackend] = available_backends()
        self.refined = RefinedMattes(project)
        self.canvas = Canvas(project, self)
        if self.refined.available:  # the matte the view shows: the object's, or all visible ones' (combined)
            self.canvas.refiner = lambda f, image, ids, obj: self.refined.view_matte(
                f, image, ids, obj, self.view.overlay_mode
            )
        self.timeline = Timeline(project.labels, project.workspace.fps, self)
        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.canvas, 1)
        column.addWidget(self.timeline)
        self.setCentralWidget(central)

        #: Action id -> QAction (`shortcuts.SHORTCUTS`); not `actions`, which is QWidget.actions().
        self.action_map = create_actions(self, action_handlers(self))
        self.ui: WindowWidgets = build_widgets(self, self)
        self.jobs = JobController(project, self)
        self._build_controllers(recent if recent is not None else RecentWorkspaces())
        self._connect()
        self._restore()
        _application().installEventFilter(self.space_key)
        _WINDOWS.append(self)

    # ------------------------------------------------------------------ construction
    def _build_controllers(self, recent: RecentWorkspaces) -> None:
        p, ui, view, canvas, actions = self.project, self.ui, self.view, self.canvas, self.action_map
        self.status = status = StatusLine(
            self._status_bar(), ui.saved_label, ui.cursor_label, ui.zoom_label, p, self if self.interactive else None
        )
        bind_canvas(view, canvas)
        self.nav = Navigation(view, p, self.jobs, canvas, status, self)
        self.tools = ToolController(view, canvas, self.backends, ui, actions, status)
        self.views = ViewController(view, canvas, self.refined, ui, actions, status, self._fit_options_bar)
        self.objects = ObjectController(view, p, canvas, ui.objects, status, status.problem, self.tools.reset_shape)
        self.edits = EditController(view, p, self.jobs, actions, status, self.tools.reset_shape, self)
        self.refs = ReferenceController(view, p, self.jobs, ui.references_panel, status, self.tools.accept_shape)
        self.job_view = JobPresenter(
            self.jobs, p, ui, actions, canvas, self.timeline, self.tools.accept_shape, self.refs.save, self
        )
        self.files = FileController(
            p,
            self.jobs,
            recent,
            ui.recent_menu,
            status,
            status.problem,
            canvas,
            self,
            self._new_window,
            self.job_view.show_weights_error,
            ui.model_label,
        )
        self.review_ui = ReviewUi(p, self.thumbnails, self.timeline, ui.tabs, self.jobs, self.nav, status, self)
        bind_settings(view, p)
        self.space_key = SpaceKeyFilter(self, canvas, self.job_view.toggle_pause)

    def _connect(self) -> None:
        p, ui, jobs, nav, status = self.project, self.ui, self.jobs, self.nav, self.status
        p.maskChanged.connect(self._mask_changed)
        p.referencesChanged.connect(self._references_changed)
        p.suggestionsChanged.connect(self._suggestions_changed)
        p.objectsChanged.connect(self._objects_changed)
        p.settingsChanged.connect(self._settings_changed)
        p.frameRequested.connect(nav.goto)
        p.problem.connect(status.problem)
        for signal in (p.undo_stack.canUndoChanged, p.undo_stack.canRedoChanged, p.undo_stack.indexChanged):
            signal.connect(self._undo_state_changed)
        self.timeline.frameRequested.connect(nav.goto)
        self.canvas.cursorMoved.connect(status.cursor)
        self.canvas.zoomChanged.connect(status.zoom)
        self.canvas.objectPicked.connect(self.objects.select)
        self.canvas.message.connect(lambda text: status.show(text, 5000))
        ui.references_panel.jumpRequested.connect(nav.goto)
        ui.candidates_panel.jumpRequested.connect(nav.goto)
        ui.load_weights_action.triggered.connect(self._load_weights)
        jobs.message.connect(status.show)
        jobs.showFrame.connect(nav.show_frame)
        jobs.runningSpan.connect(self.timeline.set_running)
        self.job_view.lock_listeners.append(self.edits.set_enabled)
        self.view.subscribe(self._view_changed)

    def _load_weights(self, _checked: bool = False) -> None:
        self.files.load_weights()

    def _restore(self) -> None:
        p = self.project
        self.timeline.set_references(p.references)
        self.timeline.set_suggestions(p.settings.suggestions)
        self.timeline.set_masked(p.masked_frames)
        self.nav.show_frame(p.settings.current_frame)
        tabs = self.ui.tabs  # the side tab where the artist left it
        names = [tabs.tabText(i) for i in range(tabs.count())]
        tabs.setCurrentIndex(names.index(self.view.tab) if self.view.tab in names else 0)

        def keep_tab(i: int) -> None:
            self.view.update(tab=tabs.tabText(i))

        tabs.currentChanged.connect(keep_tab)
        self.job_view.update_enabled()
        self.edits.update_texts()
        self.status.show("B paints, R saves a reference, F propagates; F1 lists every shortcut", _HINT_MS)
        if p.problems:
            QTimer.singleShot(0, lambda: self.status.problem(p.problems[-1]))

    def _new_window(self, project: Project) -> MainWindow:
        return MainWindow(project, interactive=self.interactive, recent=self.files.recent)

    # ------------------------------------------------------------------ the window's verbs (scripts and tests)
    @property
    def current(self) -> int:
        """The frame on screen."""
        return self.view.frame

    def goto(self, index: int) -> None:
        """Show frame `index` (clamped); a manual jump during a propagation stops following it."""
        self.nav.goto(index)

    def set_tool(self, name: str) -> None:
        """Activate a tool."""
        self.tools.set_tool(name)

    def set_brush_size(self, size: int) -> None:
        """Brush / eraser diameter in image pixels."""
        self.tools.set_brush_size(size)

    def set_overlay_mode(self, mode: str) -> None:
        """An overlay or a matte view (`matte_view.VIEW_MODES`)."""
        self.views.set_overlay_mode(mode)

    def set_compare(self, compare: str) -> None:
        """Raw, refined or split matte (matte views)."""
        self.views.set_compare(compare)

    def select_object(self, object_id: int) -> None:
        """Make `object_id` (1..K) the object tools paint."""
        self.objects.select(object_id)

    def add_object(self) -> None:
        """Add an object and select it."""
        self.objects.add()

    def save_reference(self) -> None:
        """Save the current frame as a reference."""
        self.refs.save()

    def propagate(self, direction: Direction | str, limit: int | None = None) -> bool:
        """Start a propagation (a `Direction`; at most `limit` frames per pass). True if started."""
        return self.job_view.propagate(direction, self.current, limit)

    def suggest(self) -> bool:
        """Run the candidate selector in a worker thread. Returns True when it started."""
        return self.job_view.suggest()

    def toggle_pause(self) -> None:
        """Space: pause / resume a propagation, or play / stop playback."""
        self.job_view.toggle_pause()

    def stop_job(self) -> None:
        """Stop the running job after its current frame."""
        self.job_view.stop()

    def wait_for_job(self, timeout_ms: int = 120000) -> None:
        """Block until the running job's thread ends (tests, closing)."""
        self.job_view.wait(timeout_ms)

    def open_path(self, path) -> QMainWindow | None:
        """Open workspace `path` in a new window and close this one (None when it cannot be opened)."""
        return self.files.open_path(path)

    @property
    def job(self) -> str | None:
        """The running job ("propagation", "suggestion"), or None."""
        return self.jobs.state.job

    @property
    def worker(self):
        """The running job's worker, or None."""
        return self.jobs.runner.worker

    @property
    def last_suggestion_result(self):
        """The last `CandidateResult` (None after a stop or error)."""
        return self.jobs.last_suggestion_result

    @property
    def _history(self) -> QDialog | None:
        return self.edits.history

    # ------------------------------------------------------------------ the model's news, shown
    def _view_changed(self, changes: Mapping[str, Any]) -> None:
        if "tool" in changes:  # a tool's options show in the options bar
            self._fit_options_bar()
        if "frame" in changes:
            self.timeline.set_current(self.view.frame)
            self.ui.references_panel.select_frame(self.view.frame)
            self.nav.refresh_badge()

    def _frame_info_changed(self) -> None:
        self.nav.refresh_badge()
        self.objects.update_areas()

    def _mask_changed(self, index: int) -> None:
        if index == self.current:
            self.canvas.reload_mask()
            self.objects.update_areas()
        elif self.view.onion_skin and abs(index - self.current) == 1:
            self.canvas.refresh()
        if self.project.has_mask(index):
            self.timeline.add_masked(index)
        else:
            self.timeline.set_masked(self.project.masked_frames)
        if self.project.is_reference(index):
            self.ui.references_panel.update_frame(index)
        self.status.mark_saved()

    def _references_changed(self) -> None:
        self.timeline.set_references(self.project.references)
        self.ui.references_panel.refresh()
        self.ui.references_panel.select_frame(self.current)
        self._frame_info_changed()
        self.status.mark_saved()

    def _suggestions_changed(self) -> None:
        self.timeline.set_suggestions(self.project.settings.suggestions)
        self.ui.candidates_panel.refresh()
        self._frame_info_changed()

    def _objects_changed(self) -> None:
        self.thumbnails.clear()
        self.objects.objects_changed()
        self.ui.references_panel.refresh()
        self.ui.candidates_panel.refresh()

    def _settings_changed(self) -> None:
        self.ui.memory_panel.load_settings()
        if self.project.engine.session is None:
            self.ui.memory_panel.show_stats(None)
        self.status.mark_saved()

    def _undo_state_changed(self, *_args) -> None:
        if sip.isdeleted(self) or sip.isdeleted(self.project.undo_stack):
            return  # the window or the project is being torn down
        self.job_view.update_enabled()
        self.edits.update_texts()
        self.canvas.reload_mask()  # a step may change only a soft layer, which the matte views show

    # ------------------------------------------------------------------ layout and closing
    def event(self, event: QEvent | None) -> bool:
        if isinstance(event, QStatusTipEvent):  # a hovered menu item's help goes through the message bar too
            self._status_bar().showMessage(event.tip())
            return True
        return super().event(event)

    def _status_bar(self) -> QStatusBar:
        bar = self.statusBar()  # QMainWindow makes one when asked
        assert bar is not None
        return bar

    def _fit_options_bar(self) -> None:
        fit_options_bar(self.ui.options_bar, self.width(), self.ui.droppable)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_options_bar()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        size_dock(self, self.ui.dock, DOCK_WIDTH)

    def closeEvent(self, event) -> None:
        if self.jobs.runner.busy:
            self.jobs.stop()
            self.wait_for_job(60000)
        self.review_ui.shutdown()
        self.project.save_settings()
        _application().removeEventFilter(self.space_key)
        if self in _WINDOWS:
            _WINDOWS.remove(self)
        super().closeEvent(event)
