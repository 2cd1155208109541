"""The main window: canvas and timeline in the middle, objects and the References / Candidates /
Memory tabs on the right, tools and propagation in the toolbar. It wires the panels to the project
and runs the workers; it holds no model code."""
from __future__ import annotations

import time
from typing import Optional

import numpy as np
from PyQt5.QtCore import Qt, QTimer
from PyQt5 import sip
from PyQt5.QtGui import QKeySequence
from PyQt5.QtWidgets import QApplication, QMainWindow, QMessageBox, QVBoxLayout, QWidget

from xmempp.errors import InputError

from .canvas import Canvas
from .export_dialog import ExportDialog
from .help_dialog import HelpDialog
from .job_controller import JobController
from .overlay import OVERLAY_LABELS, OVERLAY_MODES
from .project import Project
from .segment_backends import SegmentBackend, available_backends
from .space_key import SpaceKeyFilter
from .shortcuts import create_actions, shortcut
from .thumbnails import ThumbnailCache
from .timeline import Timeline
from .window_bars import (action_handlers, build_menus, build_side_dock, build_statusbar, build_toolbar,
                          fill_segment_modes)

__all__ = ["MainWindow"]

class MainWindow(QMainWindow):
    """The xmempp annotation window for one project."""

    def __init__(self, project: Project, parent: Optional[QWidget] = None, interactive: bool = True) -> None:
        """Arguments:
            project: the opened workspace.
            parent: parent widget.
            interactive: show message boxes for problems (False for --screenshot: status bar only).
        """
        super().__init__(parent)
        self.project = project
        self.interactive = interactive
        self.setWindowTitle(f"xmempp — {project.workspace.path.name}")
        self.resize(1560, 940)
        self._last_problem = ("", 0.0)
        self.thumbnails = ThumbnailCache(project)
        self.backends: list[SegmentBackend] = available_backends()

        self.canvas = Canvas(project, self)
        self.timeline = Timeline(project.labels, project.workspace.fps, self)
        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.canvas, 1)
        column.addWidget(self.timeline)
        self.setCentralWidget(central)

        build_side_dock(self)

        self.actions = create_actions(self, action_handlers(self))
        build_toolbar(self)
        build_menus(self)
        build_statusbar(self)
        self.jobs = JobController(self)
        self._connect()
        self._restore()
        self.space_key = SpaceKeyFilter(self)
        QApplication.instance().installEventFilter(self.space_key)

    # ------------------------------------------------------------------ construction
    def _connect(self) -> None:
        p = self.project
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
        self.canvas.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.canvas.objectPicked.connect(self.select_object)
        self.canvas.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.objects.objectSelected.connect(self.select_object)
        self.objects.addRequested.connect(self.add_object)
        self.references_panel.jumpRequested.connect(self.goto)
        self.references_panel.saveRequested.connect(self.save_reference)
        self.references_panel.deleteRequested.connect(self._delete_reference_confirmed)
        self.candidates_panel.suggestRequested.connect(self.suggest)
        self.candidates_panel.cancelRequested.connect(self.stop_job)
        self.candidates_panel.jumpRequested.connect(self.goto)
        self.memory_panel.clearRequested.connect(self.jobs.clear_memory)

    def _restore(self) -> None:
        s = self.project.settings
        self.canvas.segment_backend = self.backends[0] if self.backends else None
        fill_segment_modes(self)
        mode_index = self.segment_mode_box.findData(s.segment_mode)
        if mode_index >= 0:
            self.segment_mode_box.setCurrentIndex(mode_index)
        self.set_brush_size(s.brush_size)
        self.overlay_box.setCurrentIndex(OVERLAY_MODES.index(s.overlay_mode))
        self.opacity_slider.setValue(int(round(s.opacity * 100)))
        self.canvas.set_overlay(s.overlay_mode, s.opacity, s.show_mask)
        self.actions["toggle_mask"].setChecked(s.show_mask)
        self.actions[f"tool_{s.tool}"].setChecked(True)
        self.set_tool(s.tool)
        self.select_object(s.current_object)
        self.timeline.set_references(self.project.references)
        self.timeline.set_suggestions(s.suggestions)
        self.timeline.set_masked(self.project.masked_frames)
        self.model_label.setText(self.project.engine.status)
        self.show_frame(s.current_frame)
        self.update_enabled()
        self._update_undo_text()
        self.statusBar().showMessage("Paint with the brush (B), save the frame as a reference (R), propagate (F); "
                                     "F1 lists every shortcut.", 15000)
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
        self.references_panel.select_frame(index)
        self._frame_info_changed()

    def _frame_info_changed(self) -> None:
        index = self.current
        self.canvas.badge = "REFERENCE" if self.project.is_reference(index) else ""
        if index in self.project.settings.suggestions:
            rank = self.project.settings.suggestions.index(index) + 1
            self.canvas.badge = (self.canvas.badge + "  ·  " if self.canvas.badge else "") + f"SUGGESTED #{rank}"
        self.canvas.update()
        self._update_areas()

    def _update_areas(self) -> None:
        mask = self.canvas.work_mask
        counts = np.bincount(mask.ravel(), minlength=self.project.num_objects + 1)
        total = float(mask.size)
        self.objects.set_areas({k: 100.0 * counts[k] / total for k in range(1, len(counts)) if counts[k]})

    def jump_in(self, frames: list[int], step: int) -> None:
        """Go to the next (step +1) or previous (-1) of `frames` in frame order, wrapping around."""
        frames = sorted(frames)
        if not frames:
            self.statusBar().showMessage("no frames to jump to", 3000)
            return
        if step > 0:
            after = [f for f in frames if f > self.current]
            self.goto(after[0] if after else frames[0])
        else:
            before = [f for f in frames if f < self.current]
            self.goto(before[-1] if before else frames[-1])

    def jump_suggestion(self, step: int) -> None:
        """Go to the next (+1) or previous (-1) suggested frame in rank order, wrapping around."""
        suggestions = self.project.settings.suggestions
        if not suggestions:
            self.statusBar().showMessage("no suggested frames yet (Ctrl+G suggests some)", 4000)
            return
        if self.current in suggestions:
            i = (suggestions.index(self.current) + step) % len(suggestions)
        else:
            i = 0 if step > 0 else len(suggestions) - 1
        self.goto(suggestions[i])

    # ------------------------------------------------------------------ tools and view
    def set_tool(self, name: str) -> None:
        """Activate a tool."""
        self.canvas.set_tool(name)
        self.actions[f"tool_{name}"].setChecked(True)
        segment = name == "segment"
        self.backend_action.setVisible(segment)
        self.segment_mode_action.setVisible(segment)
        self.project.update_view(tool=name)
        if segment and self.canvas.segment_backend is not None:
            self.statusBar().showMessage(f"{self.canvas.segment_backend.name}: "
                                         f"{self.segment_mode_box.toolTip()}", 6000)

    def set_brush_size(self, size: int) -> None:
        """Brush / eraser diameter in image pixels."""
        size = max(1, min(500, int(size)))
        self.canvas.brush_size = size
        for widget in (self.size_slider, self.size_box):
            widget.blockSignals(True)
            widget.setValue(size)
            widget.blockSignals(False)
        self.project.update_view(brush_size=size)
        self.canvas.update()

    def set_overlay_mode(self, mode: str) -> None:
        """Colour blend, fade background, or object only."""
        self.canvas.set_overlay(mode=mode)
        index = OVERLAY_MODES.index(mode)
        if self.overlay_box.currentIndex() != index:
            self.overlay_box.setCurrentIndex(index)
        self.project.update_view(overlay_mode=mode)

    def cycle_overlay(self) -> None:
        """Next overlay mode."""
        i = OVERLAY_MODES.index(self.canvas.overlay_mode)
        self.set_overlay_mode(OVERLAY_MODES[(i + 1) % len(OVERLAY_MODES)])
        self.statusBar().showMessage(f"overlay: {OVERLAY_LABELS[self.canvas.overlay_mode]}", 2000)

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
            self.statusBar().showMessage(f"there is no object {object_id}; add objects in the object list", 4000)
            return
        if object_id != self.canvas.object_id:
            self.canvas.tool.reset()
        self.canvas.object_id = object_id
        self.objects.set_current(object_id)
        self.project.update_view(current_object=object_id)
        self.canvas.update()

    def add_object(self) -> None:
        """Add an object and select it."""
        try:
            new = self.project.add_object()
        except InputError as exc:
            self.report_problem(str(exc))
            return
        self.select_object(new)

    def _objects_changed(self) -> None:
        self.objects.rebuild()
        self.objects.set_current(self.canvas.object_id)
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

    def clear_object(self) -> None:
        """Remove the current object from the current frame."""
        if self.jobs.propagating:
            return
        if not self.project.clear_object(self.current, self.canvas.object_id):
            self.statusBar().showMessage(f"object {self.canvas.object_id} is not on this frame", 3000)

    def accept_shape(self) -> None:
        """Enter: finish the polygon / keep the segmentation."""
        self.canvas.tool.accept()

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
            self.statusBar().showMessage("references can be changed when the propagation has finished", 4000)
            return
        self.canvas.tool.accept()
        try:
            message = self.project.save_reference(self.current)
        except InputError as exc:
            self.statusBar().showMessage(str(exc), 6000)
            return
        self.statusBar().showMessage(message, 4000)

    def delete_reference(self) -> None:
        """Delete the current frame's reference (asks first)."""
        if self.jobs.propagating:
            return
        if not self.project.is_reference(self.current):
            self.statusBar().showMessage("this frame is not a reference", 3000)
            return
        self.references_panel.confirm_delete(self.current)

    def _delete_reference_confirmed(self, frame: int) -> None:
        if self.jobs.propagating:
            self.statusBar().showMessage("references can be changed when the propagation has finished", 4000)
            return
        self.project.delete_reference(frame)
        self.statusBar().showMessage(f"{self.project.labels[frame]} is no longer a reference (Ctrl+Z undoes)", 4000)

    # ------------------------------------------------------------------ project signals
    def _mask_changed(self, index: int) -> None:
        if index == self.current:
            self.canvas.reload_mask()
            self._update_areas()
        if self.project.has_mask(index):
            self.timeline.add_masked(index)
        else:
            self.timeline.set_masked(self.project.masked_frames)
        if self.project.is_reference(index):
            self.references_panel.update_frame(index)
        self._mark_saved()

    def _references_changed(self) -> None:
        self.timeline.set_references(self.project.references)
        self.references_panel.refresh()
        self.references_panel.select_frame(self.current)
        self._frame_info_changed()
        self._mark_saved()

    def _suggestions_changed(self) -> None:
        self.timeline.set_suggestions(self.project.settings.suggestions)
        self.candidates_panel.refresh()
        self._frame_info_changed()

    def _settings_changed(self) -> None:
        self.memory_panel.load_settings()
        if self.project.engine.session is None:
            self.memory_panel.show_stats(None)
        self._mark_saved()

    def _mark_saved(self) -> None:
        unsaved = sorted(self.project.unsaved)
        if unsaved:
            self.saved_label.setText("⚠ not saved")
            self.saved_label.setStyleSheet("color: #ff7b72;")
            self.saved_label.setToolTip("The last write failed for: " + ", ".join(unsaved[:10]) +
                                        (" …" if len(unsaved) > 10 else "") + ". They are kept in memory; the next "
                                        "edit of each writes it again.")
        else:
            self.saved_label.setText("✓ saved")
            self.saved_label.setStyleSheet("")
            self.saved_label.setToolTip(f"Every edit is written to {self.project.workspace.path} as you work")

    def report_problem(self, message: str) -> None:
        """Something could not be saved or read: tell the user (a dialog at most every few seconds)."""
        self._mark_saved()
        self.statusBar().showMessage(message, 10000)
        last, when = self._last_problem
        if self.interactive and (message != last or time.monotonic() - when > 10):
            self._last_problem = (message, time.monotonic())
            QMessageBox.warning(self, "xmempp", message)

    def _cursor_moved(self, info) -> None:
        if info is None:
            self.cursor_label.setText("")
            return
        x, y, object_id = info
        self.cursor_label.setText(f"x {x}  y {y}" + (f"  ·  object {object_id}" if object_id else ""))

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

    def update_enabled(self) -> None:
        """Enable what the running job (if any) allows."""
        running = self.jobs.runner.busy
        propagating = self.jobs.propagating
        stack = self.project.undo_stack
        self.actions["undo"].setEnabled(stack.canUndo() and not propagating)
        self.actions["redo"].setEnabled(stack.canRedo() and not propagating)
        for name in ("save_reference", "delete_reference", "clear_object"):
            self.actions[name].setEnabled(not propagating)
        for name in ("propagate_forward", "propagate_backward", "propagate_full", "suggest", "export"):
            self.actions[name].setEnabled(not running)
        self.pause_action.setEnabled(propagating)
        self.stop_action.setEnabled(running)
        self.references_panel.save_button.setEnabled(not propagating)
        self.memory_panel.settings_box.setEnabled(not propagating)
        self.memory_panel.clear_button.setEnabled(not running)
        self.canvas.set_editable(not propagating)

    # ------------------------------------------------------------------ weights and jobs (see JobController)
    def show_weights_error(self, message: str) -> None:
        """The clear message about missing / unusable weights."""
        QMessageBox.critical(self, "XMem weights needed", message)
        self.model_label.setText(self.project.engine.status)

    @property
    def job(self) -> Optional[str]:
        """The running job ("propagation", "suggestion"), or None."""
        return self.jobs.state.job

    @property
    def worker(self):
        """The running job's worker, or None."""
        return self.jobs.runner.worker

    @property
    def thread(self):
        """The running job's thread, or None."""
        return self.jobs.runner.thread

    @property
    def last_suggestion_result(self):
        """The last `CandidateResult` (None after a stop or error)."""
        return self.jobs.last_suggestion_result

    def propagate(self, direction: str, limit: Optional[int] = None) -> bool:
        """Start a propagation ("forward", "backward", "full"; at most `limit` frames per pass). True if started."""
        return self.jobs.propagate(direction, limit)

    def suggest(self) -> bool:
        """Run the candidate selector in a worker thread. Returns True when it started."""
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

    # ------------------------------------------------------------------ dialogs
    def show_help(self) -> None:
        """The keyboard shortcut list."""
        HelpDialog(self).exec_()

    def export(self) -> None:
        """The export dialog."""
        if self.jobs.busy_message(" before exporting"):
            return
        dialog = ExportDialog(self.project, self, on_weights_error=self.show_weights_error, runner=self.jobs.runner)
        dialog.exec_()

    def save_all(self) -> None:
        """Write the view settings now (everything else is already saved)."""
        if self.project.save_settings():
            self.statusBar().showMessage(f"everything is saved in {self.project.workspace.path}", 4000)

    # ------------------------------------------------------------------ closing
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not getattr(self, "_docks_sized", False):
            self._docks_sized = True
            self.resizeDocks([self.dock], [400], Qt.Horizontal)

    def closeEvent(self, event) -> None:
        if self.jobs.runner.busy:
            self.jobs.stop()
            self.wait_for_job(60000)
        self.project.save_settings()
        QApplication.instance().removeEventFilter(self.space_key)
        super().closeEvent(event)


_SPACE_KEY = QKeySequence(shortcut("toggle_pause").keys[0])[0]
