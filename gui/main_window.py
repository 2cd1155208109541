"""The main window: canvas and timeline in the middle, objects and the References / Candidates /
Memory tabs on the right, tools and propagation in the toolbar. It wires the panels to the project
and runs the workers; it holds no model code."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np
from PyQt5.QtCore import Qt, QTimer
from PyQt5 import sip
from PyQt5.QtWidgets import (QAbstractSpinBox, QApplication, QDialog, QFileDialog, QMainWindow, QMessageBox,
                             QUndoView, QVBoxLayout, QWidget)

from xmempp.errors import InputError, XMemppError

from .canvas import Canvas
from .export_dialog import ExportDialog
from .file_actions import NewWorkspaceDialog, RecentWorkspaces, ask_frame
from .help_dialog import HelpDialog
from .job_controller import MESSAGE_MS, JobController
from .job_runner import JobState
from .matte_view import COMPARE_LABELS, COMPARE_MODES, MATTE_MODES, VIEW_LABELS, VIEW_MODES
from .project import Project
from .refined import RefinedMattes
from .remedies import gui_message
from .review_ui import ReviewUi
from .segment_backends import SegmentBackend, available_backends
from .space_key import SpaceKeyFilter
from .shortcuts import create_actions
from .thumbnails import ThumbnailCache
from .timeline import Timeline
from .window_bars import BRUSH_RANGE, DOCK_WIDTH, SEGMENT_MODES, WindowWidgets, action_handlers, build_widgets

__all__ = ["MainWindow", "WINDOW_SIZE"]

#: Size of a new window.
WINDOW_SIZE = (1560, 940)
#: How long the first hint and problem messages stay on the status bar (ms).
_HINT_MS, _PROBLEM_MS = 15000, 10000
#: The same problem is shown in a dialog again only after this many seconds.
_PROBLEM_REPEAT_S = 10
#: Open windows (a window opened from File > New / Open has no parent holding it).
_WINDOWS: list["MainWindow"] = []

class MainWindow(QMainWindow):
    """The xmempp annotation window for one project."""

    def __init__(self, project: Project, parent: Optional[QWidget] = None, interactive: bool = True,
                 recent: Optional[RecentWorkspaces] = None) -> None:
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
        self._fit_to_screen()
        self._last_problem = ("", 0.0)
        self._history: Optional[QDialog] = None
        self.thumbnails = ThumbnailCache(project)
        self.backends: list[SegmentBackend] = available_backends()
        self.refined = RefinedMattes(project)
        self.recent = recent if recent is not None else RecentWorkspaces()

        self.canvas = Canvas(project, self)
        self.canvas.refiner = self.refined.matte if self.refined.available else None
        self.timeline = Timeline(project.labels, project.workspace.fps, self)
        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.canvas, 1)
        column.addWidget(self.timeline)
        self.setCentralWidget(central)

        self.actions = create_actions(self, action_handlers(self))
        self.ui: WindowWidgets = build_widgets(self)
        self.jobs = JobController(project, self)
        self.review_ui = ReviewUi(self)  # review strip, Review tab, the review after each propagation
        self._connect()
        self._restore()
        self.space_key = SpaceKeyFilter(self)
        QApplication.instance().installEventFilter(self.space_key)
        self.recent.add(project.workspace.path)
        self._fill_recent()
        _WINDOWS.append(self)

    # ------------------------------------------------------------------ construction
    def _connect(self) -> None:
        p, ui, jobs = self.project, self.ui, self.jobs
        p.maskChanged.connect(self._mask_changed)
        p.referencesChanged.connect(self._references_changed)
        p.suggestionsChanged.connect(self._suggestions_changed)
        p.objectsChanged.connect(self._objects_changed)
        p.settingsChanged.connect(self._settings_changed)
        p.frameRequested.connect(self.goto)
        p.problem.connect(self.report_problem)
        p.undo_stack.canUndoChanged.connect(self._undo_state_changed)
        p.undo_stack.canRedoChanged.connect(self._undo_state_changed)
        p.undo_stack.indexChanged.connect(self._undo_state_changed)
        self.timeline.frameRequested.connect(self.goto)
        self.canvas.cursorMoved.connect(self._cursor_moved)
        self.canvas.zoomChanged.connect(lambda z: ui.zoom_label.setText(f"{z * 100:.0f} %"))
        self.canvas.objectPicked.connect(self.select_object)
        self.canvas.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        ui.objects.objectSelected.connect(self.select_object)
        ui.objects.addRequested.connect(self.add_object)
        ui.objects.problem.connect(self.report_problem)
        ui.references_panel.jumpRequested.connect(self.goto)
        ui.references_panel.saveRequested.connect(self.save_reference)
        ui.references_panel.deleteRequested.connect(self._delete_reference_confirmed)
        ui.candidates_panel.suggestRequested.connect(self.suggest)
        ui.candidates_panel.cancelRequested.connect(self.stop_job)
        ui.candidates_panel.jumpRequested.connect(self.goto)
        ui.memory_panel.clearRequested.connect(jobs.clear_memory)
        # the jobs say what happens; the window shows it
        jobs.busyChanged.connect(self._busy_changed)
        jobs.progressChanged.connect(self._job_progress)
        jobs.statusChanged.connect(self._job_status)
        jobs.pausedChanged.connect(ui.pause_action.setChecked)
        jobs.modelChanged.connect(ui.model_label.setText)
        jobs.memoryStats.connect(ui.memory_panel.show_stats)
        jobs.message.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        jobs.showFrame.connect(self.show_frame)
        jobs.runningSpan.connect(self.timeline.set_running)
        jobs.propagationFinished.connect(ui.references_panel.refresh)
        jobs.suggestionStarted.connect(self._suggestion_started)
        jobs.progressChanged.connect(self._suggestion_progress)
        jobs.suggestionFinished.connect(self._suggestion_finished)
        jobs.weightsError.connect(self.show_weights_error)
        jobs.failed.connect(lambda title, message: QMessageBox.warning(self, title, message))

    def _restore(self) -> None:
        s, ui = self.project.settings, self.ui
        self.canvas.segment_backend = self.backends[0] if self.backends else None
        self._fill_segment_modes()
        mode_index = ui.segment_mode_box.findData(s.segment_mode)
        if mode_index >= 0:
            ui.segment_mode_box.setCurrentIndex(mode_index)
        self.set_brush_size(s.brush_size)
        ui.view_box.setCurrentIndex(VIEW_MODES.index(s.overlay_mode))
        ui.opacity_slider.setValue(int(round(s.opacity * 100)))
        self.canvas.set_overlay(s.overlay_mode, s.opacity, s.show_mask)
        self.canvas.onion_skin = s.onion_skin
        self.actions["toggle_mask"].setChecked(s.show_mask)
        self.actions["toggle_onion"].setChecked(s.onion_skin)
        ui.compare_box.setCurrentIndex(COMPARE_MODES.index(s.compare))
        ui.compare_box.setEnabled(self.refined.available)
        if not self.refined.available:
            ui.compare_box.setToolTip(f"Raw / refined matte: {self.refined.why_unavailable}")
        self.canvas.compare = s.compare
        self._update_compare_visible()
        self.actions[f"tool_{s.tool}"].setChecked(True)
        self.set_tool(s.tool)
        self.select_object(s.current_object)
        self.timeline.set_references(self.project.references)
        self.timeline.set_suggestions(s.suggestions)
        self.timeline.set_masked(self.project.masked_frames)
        ui.model_label.setText(self.project.engine.status)
        self.show_frame(s.current_frame)
        self.update_enabled()
        self._update_undo_text()
        self.statusBar().showMessage("B paints, R saves a reference, F propagates; F1 lists every shortcut",
                                     _HINT_MS)
        if self.project.problems:
            QTimer.singleShot(0, lambda: self.report_problem(self.project.problems[-1]))

    # ------------------------------------------------------------------ frames
    @property
    def current(self) -> int:
        """The frame on screen."""
        return self.canvas.frame_index

    def goto(self, index: int) -> None:
        """Show frame `index` (clamped); a manual jump during a propagation stops following it."""
        if self.jobs.propagating:
            self.jobs.following = False
        self.show_frame(index)

    def show_frame(self, index: int) -> None:
        """Show frame `index` (clamped) without touching the propagation's following."""
        index = max(0, min(len(self.project) - 1, int(index)))
        if index == self.current:
            return
        self.canvas.show_frame(index)
        self.timeline.set_current(index)
        self.project.update_view(current_frame=index)
        self.ui.references_panel.select_frame(index)
        self._frame_info_changed()

    def ask_frame(self) -> None:
        """Frame > Go to frame: ask for a number or a frame name."""
        index = ask_frame(self, self.project.labels, self.current)
        if index is None:
            return
        self.goto(index)

    def _frame_info_changed(self) -> None:
        self.canvas.badge = self.frame_badge(self.current)
        self.canvas.update()
        self._update_areas()

    def frame_badge(self, index: int) -> str:
        """The canvas badge of frame `index`: reference, suggestion rank, review state (stale, flagged, approved)."""
        badges = ["REFERENCE"] if self.project.is_reference(index) else []
        if index in self.project.settings.suggestions:
            badges.append(f"SUGGESTED #{self.project.settings.suggestions.index(index) + 1}")
        return "  ·  ".join([*badges, self.review_ui.badge(index)] if self.review_ui.badge(index) else badges)

    def _update_areas(self) -> None:
        mask = self.canvas.work_mask
        counts = np.bincount(mask.ravel(), minlength=self.project.num_objects + 1)
        total = float(mask.size)
        self.ui.objects.set_areas({k: 100.0 * counts[k] / total for k in range(1, len(counts)) if counts[k]})

    def jump_in(self, frames: list[int], step: int, what: str = "frames") -> None:
        """Go to the next (step +1) or previous (-1) of `frames` in time order, wrapping around."""
        frames = sorted(frames)
        if not frames:
            self.statusBar().showMessage(f"no {what} to jump to", 3000)
            return
        if step > 0:
            after = [f for f in frames if f > self.current]
            self.goto(after[0] if after else frames[0])
        else:
            before = [f for f in frames if f < self.current]
            self.goto(before[-1] if before else frames[-1])

    def jump_suggestion(self, step: int) -> None:
        """Go to the next (+1) or previous (-1) suggested frame in time order, wrapping around."""
        if not self.project.settings.suggestions:
            self.statusBar().showMessage("no suggested frames yet (Ctrl+G suggests some)", MESSAGE_MS)
            return
        self.jump_in(self.project.settings.suggestions, step, "suggested frames")

    # ------------------------------------------------------------------ tools and view
    def set_tool(self, name: str) -> None:
        """Activate a tool."""
        self.canvas.set_tool(name)
        self.actions[f"tool_{name}"].setChecked(True)
        segment = name == "segment"
        self.ui.backend_action.setVisible(segment)
        self.ui.segment_mode_action.setVisible(segment)
        self.project.update_view(tool=name)
        if segment and self.canvas.segment_backend is not None:
            self.statusBar().showMessage(f"{self.canvas.segment_backend.name}: "
                                         f"{self.ui.segment_mode_box.toolTip()}", 6000)

    def set_segment_backend(self, index: int) -> None:
        """Use click-to-segment backend `index` of `backends`."""
        if 0 <= index < len(self.backends):
            self.canvas.tool.reset()
            self.canvas.segment_backend = self.backends[index]
            self._fill_segment_modes()

    def set_segment_mode(self, mode: Optional[str]) -> None:
        """Box, strokes or clicks for click-to-segment."""
        if mode:
            self.canvas.tool.reset()
            self.canvas.segment_mode = mode
            self.project.update_view(segment_mode=mode)

    def _fill_segment_modes(self) -> None:
        """Offer the modes of the current click-to-segment backend (keeping the chosen one if it has it)."""
        box = self.ui.segment_mode_box
        backend = self.canvas.segment_backend
        current = box.currentData() or self.project.settings.segment_mode
        box.blockSignals(True)
        box.clear()
        for mode in (backend.modes if backend is not None else ()):
            box.addItem(SEGMENT_MODES[mode], mode)
        box.setCurrentIndex(max(0, box.findData(current)))
        box.blockSignals(False)
        self.canvas.segment_mode = box.currentData() or "box"

    def set_brush_size(self, size: int) -> None:
        """Brush / eraser diameter in image pixels."""
        size = max(BRUSH_RANGE[0], min(BRUSH_RANGE[1], int(size)))
        self.canvas.brush_size = size
        for widget in (self.ui.size_slider, self.ui.size_box):
            widget.blockSignals(True)
            widget.setValue(size)
            widget.blockSignals(False)
        self.project.update_view(brush_size=size)
        self.canvas.update()

    def set_overlay_mode(self, mode: str) -> None:
        """An overlay (colour blend, fade background, object only) or a matte view (`VIEW_MODES`)."""
        self.canvas.set_overlay(mode=mode)
        index = VIEW_MODES.index(mode)
        if self.ui.view_box.currentIndex() != index:
            self.ui.view_box.setCurrentIndex(index)
        self.project.update_view(overlay_mode=mode)
        self._update_compare_visible()

    def cycle_overlay(self) -> None:
        """Next view mode."""
        i = VIEW_MODES.index(self.canvas.overlay_mode)
        self.set_overlay_mode(VIEW_MODES[(i + 1) % len(VIEW_MODES)])
        self.statusBar().showMessage(f"view: {VIEW_LABELS[self.canvas.overlay_mode]}", 2000)

    def set_compare(self, compare: str) -> None:
        """Raw, refined or split matte (matte views)."""
        self.canvas.set_compare(compare)
        index = COMPARE_MODES.index(compare)
        if self.ui.compare_box.currentIndex() != index:
            self.ui.compare_box.setCurrentIndex(index)
        self.project.update_view(compare=compare)

    def cycle_compare(self) -> None:
        """A: raw → refined → split, in a matte view (switches to the alpha view from an overlay)."""
        if not self.refined.available:
            self.statusBar().showMessage(f"no refined matte: {self.refined.why_unavailable}", MESSAGE_MS)
            return
        if self.canvas.overlay_mode not in MATTE_MODES[1:]:
            self.set_overlay_mode("alpha")
        i = COMPARE_MODES.index(self.canvas.compare)
        self.set_compare(COMPARE_MODES[(i + 1) % len(COMPARE_MODES)])
        self.statusBar().showMessage(COMPARE_LABELS[self.canvas.compare], 2000)

    def _update_compare_visible(self) -> None:
        self.ui.compare_action.setVisible(self.canvas.overlay_mode in MATTE_MODES[1:])
        self._fit_options_bar()

    def set_onion_skin(self, on: bool) -> None:
        """Outline the previous and next frames' masks."""
        self.canvas.set_onion_skin(bool(on))
        self.actions["toggle_onion"].setChecked(bool(on))
        self.project.update_view(onion_skin=bool(on))

    def set_opacity(self, opacity: float) -> None:
        """Overlay opacity (blend mode)."""
        self.canvas.set_overlay(opacity=opacity)
        self.project.update_view(opacity=round(float(opacity), 3))

    def set_mask_visible(self, visible: bool) -> None:
        """Show or hide the mask overlay."""
        self.canvas.set_overlay(visible=bool(visible))
        self.actions["toggle_mask"].setChecked(bool(visible))
        self.project.update_view(show_mask=bool(visible))

    # ------------------------------------------------------------------ objects
    def select_object(self, object_id: int) -> None:
        """Make `object_id` (1..K) the object tools paint."""
        if not 1 <= object_id <= self.project.num_objects:
            self.statusBar().showMessage(f"there is no object {object_id}; add objects in the object list",
                                         MESSAGE_MS)
            return
        if object_id != self.canvas.object_id:
            self.canvas.tool.reset()
        self.canvas.object_id = object_id
        self.ui.objects.set_current(object_id)
        self.project.update_view(current_object=object_id)
        self.canvas.refresh()

    def add_object(self) -> None:
        """Add an object and select it."""
        try:
            new = self.project.add_object()
        except InputError as exc:
            self.report_problem(str(exc))
            return
        self.select_object(new)

    def _objects_changed(self) -> None:
        self.ui.objects.rebuild()
        self.ui.objects.set_current(self.canvas.object_id)
        self.thumbnails.clear()
        self.ui.references_panel.refresh()
        self.ui.candidates_panel.refresh()
        self.canvas.refresh()
        self._update_areas()

    # ------------------------------------------------------------------ edits
    def undo(self) -> None:
        """Undo the last edit."""
        if self.jobs.propagating:
            self.statusBar().showMessage("undo is paused while the propagation runs", 3000)
            return
        self.canvas.tool.reset()
        self.project.undo_stack.undo()

    def redo(self) -> None:
        """Redo the edit undone last."""
        if self.jobs.propagating:
            return
        self.canvas.tool.reset()
        self.project.undo_stack.redo()

    def show_history(self) -> None:
        """Edit > History: every edit by name; clicking one goes back (or forward) to it."""
        if self._history is None:
            dialog = QDialog(self)
            dialog.setWindowTitle("History")
            view = QUndoView(self.project.undo_stack, dialog)
            view.setEmptyLabel("Opened workspace")
            layout = QVBoxLayout(dialog)
            layout.addWidget(view)
            dialog.resize(360, 420)
            self._history = dialog
        self._history.show()
        self._history.raise_()

    def clear_object(self) -> None:
        """Remove the current object from the current frame."""
        if self.jobs.propagating:
            return
        if not self.project.clear_object(self.current, self.canvas.object_id):
            self.statusBar().showMessage(f"{self.project.object_name(self.canvas.object_id)} is not on this frame",
                                         3000)

    def accept_shape(self, erase: bool = False) -> None:
        """Enter: finish the polygon / keep the segmentation; Shift+Enter closes the polygon as an erase."""
        self.canvas.tool.accept(erase)

    def cancel(self) -> None:
        """Esc: cancel the shape being drawn, else stop the running job, else stop playback."""
        if self.canvas.tool.cancel():
            return
        if self.jobs.runner.busy:
            self.stop_job()
        elif self.timeline.playing:
            self.timeline.stop()

    def save_reference(self) -> None:
        """Save the current frame as a reference."""
        if self.jobs.propagating:
            self.statusBar().showMessage("references can be changed when the propagation has finished", MESSAGE_MS)
            return
        self.canvas.tool.accept()
        try:
            message = self.project.save_reference(self.current)
        except InputError as exc:
            self.statusBar().showMessage(str(exc), 6000)
            return
        self.statusBar().showMessage(message, MESSAGE_MS)

    def delete_reference(self) -> None:
        """Delete the current frame's reference (asks first)."""
        if self.jobs.propagating:
            return
        if not self.project.is_reference(self.current):
            self.statusBar().showMessage("this frame is not a reference", 3000)
            return
        self.ui.references_panel.confirm_delete(self.current)

    def _delete_reference_confirmed(self, frame: int) -> None:
        if self.jobs.propagating:
            self.statusBar().showMessage("references can be changed when the propagation has finished", MESSAGE_MS)
            return
        self.project.delete_reference(frame)
        self.statusBar().showMessage(f"{self.project.labels[frame]} is no longer a reference (Ctrl+Z undoes)",
                                     MESSAGE_MS)

    # ------------------------------------------------------------------ project signals
    def _mask_changed(self, index: int) -> None:
        if index == self.current:
            self.canvas.reload_mask()
            self._update_areas()
        elif self.canvas.onion_skin and abs(index - self.current) == 1:
            self.canvas.refresh()
        if self.project.has_mask(index):
            self.timeline.add_masked(index)
        else:
            self.timeline.set_masked(self.project.masked_frames)
        if self.project.is_reference(index):
            self.ui.references_panel.update_frame(index)
        self._mark_saved()

    def _references_changed(self) -> None:
        self.timeline.set_references(self.project.references)
        self.ui.references_panel.refresh()
        self.ui.references_panel.select_frame(self.current)
        self._frame_info_changed()
        self._mark_saved()

    def _suggestions_changed(self) -> None:
        self.timeline.set_suggestions(self.project.settings.suggestions)
        self.ui.candidates_panel.refresh()
        self._frame_info_changed()

    def _settings_changed(self) -> None:
        self.ui.memory_panel.load_settings()
        if self.project.engine.session is None:
            self.ui.memory_panel.show_stats(None)
        self._mark_saved()

    def _mark_saved(self) -> None:
        label = self.ui.saved_label
        unsaved = sorted(self.project.unsaved)
        if unsaved:
            label.setText("⚠ not saved")
            label.setStyleSheet("color: #ff7b72;")
            label.setToolTip("The last write failed for: " + ", ".join(unsaved[:10]) +
                             (" …" if len(unsaved) > 10 else "") + ". They are kept in memory; the next "
                             "edit of each writes it again.")
        else:
            label.setText("✓ saved")
            label.setStyleSheet("")
            label.setToolTip(f"Every edit is written to {self.project.workspace.path} as you work")

    def report_problem(self, message: str) -> None:
        """Something could not be saved or read: tell the user (a dialog at most every few seconds)."""
        self._mark_saved()
        self.statusBar().showMessage(message, _PROBLEM_MS)
        last, when = self._last_problem
        if self.interactive and (message != last or time.monotonic() - when > _PROBLEM_REPEAT_S):
            self._last_problem = (message, time.monotonic())
            QMessageBox.warning(self, "xmempp", message)

    def _cursor_moved(self, info) -> None:
        if info is None:
            self.ui.cursor_label.setText("")
            return
        x, y, object_id = info
        name = f"  ·  {self.project.object_name(object_id)}" if object_id else ""
        self.ui.cursor_label.setText(f"x {x}  y {y}{name}")

    def _undo_state_changed(self, *_args) -> None:
        if sip.isdeleted(self) or sip.isdeleted(self.project.undo_stack):
            return  # the window or the project is being torn down
        self.update_enabled()
        self._update_undo_text()

    def _update_undo_text(self) -> None:
        stack = self.project.undo_stack
        self.actions["undo"].setToolTip(f"Undo {stack.undoText()} (Ctrl+Z)" if stack.canUndo() else "Nothing to undo")
        self.actions["redo"].setToolTip(f"Redo {stack.redoText()} (Ctrl+Shift+Z)" if stack.canRedo()
                                        else "Nothing to redo")
        self.actions["undo"].setText(f"Undo {stack.undoText()}" if stack.canUndo() else "Undo")
        self.actions["redo"].setText(f"Redo {stack.redoText()}" if stack.canRedo() else "Redo")

    def update_enabled(self) -> None:
        """Enable what the running job (if any) allows."""
        ui = self.ui
        running = self.jobs.runner.busy
        propagating = self.jobs.propagating
        stack = self.project.undo_stack
        self.actions["undo"].setEnabled(stack.canUndo() and not propagating)
        self.actions["redo"].setEnabled(stack.canRedo() and not propagating)
        for name in ("save_reference", "delete_reference", "clear_object"):
            self.actions[name].setEnabled(not propagating)
        for name in ("propagate_forward", "propagate_backward", "propagate_full", "suggest", "export",
                     "new_workspace", "open_workspace"):
            self.actions[name].setEnabled(not running)
        ui.recent_menu.setEnabled(not running)
        ui.pause_action.setEnabled(propagating)
        ui.stop_action.setEnabled(running)
        ui.references_panel.save_button.setEnabled(not propagating)
        ui.memory_panel.settings_box.setEnabled(not propagating)
        ui.memory_panel.clear_button.setEnabled(not running)
        self.canvas.set_editable(not propagating)

    # ------------------------------------------------------------------ jobs (see JobController)
    def _busy_changed(self, busy: bool) -> None:
        self.ui.progress.setVisible(busy)
        if busy:
            self.ui.progress.setValue(0)
        self.update_enabled()

    def _job_progress(self, done: int, total: int, text: str) -> None:
        self.ui.progress.setRange(0, max(1, total))
        self.ui.progress.setValue(done)
        self.ui.job_label.setText(text)

    def _job_status(self, text: str) -> None:
        self.ui.job_label.setText(text)

    def _suggestion_started(self) -> None:
        self.ui.tabs.setCurrentWidget(self.ui.candidates_panel)
        self.ui.candidates_panel.set_running(True)

    def _suggestion_progress(self, done: int, total: int, text: str) -> None:
        if self.jobs.state is JobState.suggesting:
            self.ui.candidates_panel.set_progress(done, total, text)

    def _suggestion_finished(self, result, note: str) -> None:
        panel = self.ui.candidates_panel
        panel.set_running(False)
        panel.set_note(note if result is not None else (panel.note.text() or note))

    def show_weights_error(self, message: str) -> None:
        """The clear message about missing / unusable weights."""
        QMessageBox.critical(self, "XMem weights needed", message)
        self.ui.model_label.setText(self.project.engine.status)

    @property
    def job(self) -> Optional[str]:
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

    @staticmethod
    def _commit_typed_value() -> None:
        """A number typed into a field but not yet confirmed counts (a job must not run with the old value)."""
        focus = QApplication.focusWidget()
        if isinstance(focus, QAbstractSpinBox):
            focus.interpretText()

    def propagate(self, direction: str, limit: Optional[int] = None) -> bool:
        """Start a propagation ("forward", "backward", "full"; at most `limit` frames per pass). True if started."""
        self._commit_typed_value()
        if not self.jobs.runner.busy:
            self.canvas.tool.accept()
        return self.jobs.propagate(direction, self.current, limit)

    def suggest(self) -> bool:
        """Run the candidate selector in a worker thread. Returns True when it started."""
        self._commit_typed_value()
        return self.jobs.suggest()

    def toggle_pause(self) -> None:
        """Space: pause / resume a propagation, or play / stop playback."""
        if not self.jobs.toggle_pause() and not self.jobs.runner.busy:
            self.timeline.toggle_play()

    def stop_job(self) -> None:
        """Stop the running job after its current frame."""
        self.jobs.stop()

    def wait_for_job(self, timeout_ms: int = 120000) -> None:
        """Block until the running job's thread ends (tests, closing)."""
        self.jobs.runner.wait(timeout_ms)
        QApplication.processEvents()

    # ------------------------------------------------------------------ files and dialogs
    def show_help(self) -> None:
        """The keyboard shortcut list."""
        HelpDialog(self).exec_()

    def export(self) -> None:
        """The export dialog."""
        if self.jobs.busy_message(" before exporting"):
            return
        dialog = ExportDialog(self.project, self, on_weights_error=self.show_weights_error, runner=self.jobs.runner)
        dialog.exec_()
        self.canvas.refresh()  # the A/B view follows the refine settings the dialog remembered

    def new_workspace(self) -> None:
        """File > New: a workspace from frames, a frame pattern or a video, opened in place of this one."""
        if self.jobs.busy_message(" before opening another workspace"):
            return
        dialog = NewWorkspaceDialog(self.project.workspace.path.parent, self)
        if dialog.exec_() and dialog.path is not None:
            self.open_path(dialog.path)

    def open_workspace(self) -> None:
        """File > Open workspace: choose a workspace folder."""
        if self.jobs.busy_message(" before opening another workspace"):
            return
        folder = QFileDialog.getExistingDirectory(self, "Open workspace", str(self.project.workspace.path.parent))
        if folder:
            self.open_path(Path(folder))

    def open_path(self, path: Path) -> Optional["MainWindow"]:
        """Open workspace `path` in a new window with the same weights and device, and close this one.

        Returns:
            The new window, or None when `path` cannot be opened (the reason is shown).
        """
        engine = self.project.engine
        try:
            project = Project.open(path, engine.model_path, engine.device)
        except XMemppError as exc:
            self.report_problem(f"cannot open {path}: {gui_message(exc)}")
            return None
        project.cleanup_temp_files()
        window = MainWindow(project, interactive=self.interactive, recent=self.recent)
        window.resize(self.size())
        window.show()
        self.close()
        return window

    def _fill_recent(self) -> None:
        menu = self.ui.recent_menu
        menu.clear()
        here = self.project.workspace.path.resolve()
        paths = [p for p in self.recent.paths() if p.resolve() != here]
        for path in paths:
            menu.addAction(f"{path.name}  —  {path.parent}", lambda p=path: self.open_path(p))
        if not paths:
            menu.addAction("(no other workspace yet)").setEnabled(False)

    def save_all(self) -> None:
        """Write the view settings now (everything else is already saved)."""
        if self.project.save_settings():
            self.statusBar().showMessage(f"everything is saved in {self.project.workspace.path}", MESSAGE_MS)

    # ------------------------------------------------------------------ layout and closing
    def _fit_to_screen(self) -> None:
        """Open at `WINDOW_SIZE`, or at the screen's free area when that is smaller (a 1280x720 laptop)."""
        width, height = WINDOW_SIZE
        screen = QApplication.primaryScreen()
        if screen is not None:
            free = screen.availableGeometry()
            width, height = min(width, free.width()), min(height, free.height())
        self.resize(width, height)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_options_bar()

    def _fit_options_bar(self) -> None:
        """On a narrow window the options bar shows icons only (tooltips name them), so Export stays in reach."""
        bar = self.ui.options_bar
        bar.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        if bar.sizeHint().width() > self.width():
            bar.setToolButtonStyle(Qt.ToolButtonIconOnly)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not getattr(self, "_docks_sized", False):
            self._docks_sized = True
            self.resizeDocks([self.ui.dock], [DOCK_WIDTH], Qt.Horizontal)

    def closeEvent(self, event) -> None:
        if self.jobs.runner.busy:
            self.jobs.stop()
            self.wait_for_job(60000)
        self.review_ui.shutdown()
        self.project.save_settings()
        QApplication.instance().removeEventFilter(self.space_key)
        if self in _WINDOWS:
            _WINDOWS.remove(self)
        super().closeEvent(event)
