"""The window's side of the background jobs: start them from the actions, show what `JobController` says
(progress bar, job line, model line, the Candidates tab) and enable only the controls that can act while
one runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
from PyQt5.QtWidgets import QAbstractSpinBox, QAction, QApplication, QMessageBox, QWidget

from xmempp.inference.plan import Direction

from .job_controller import JobController
from .job_runner import JobState
from .window_bars import WindowWidgets

__all__ = ["EditableCanvas", "JobPresenter", "Keyframes", "Playback"]


class Keyframes(Protocol):
    """What starting a propagation reads of the project: its references, masks and model status."""

    @property
    def engine(self) -> Any: ...  # its `status` line
    @property
    def labels(self) -> list[str]: ...
    @property
    def references(self) -> list[int]: ...
    def is_reference(self, index: int) -> bool: ...
    def mask(self, index: int) -> np.ndarray: ...


class EditableCanvas(Protocol):
    """The canvas's edit lock."""

    def set_editable(self, editable: bool) -> None: ...


class Playback(Protocol):
    """The timeline's playback and running span."""

    @property
    def playing(self) -> bool: ...
    def toggle_play(self) -> None: ...
    def stop(self) -> None: ...


class JobPresenter:
    """Starts jobs for the window and keeps its widgets in step with them."""

    def __init__(
        self,
        jobs: JobController,
        shot: Keyframes,
        ui: WindowWidgets,
        actions: Mapping[str, QAction],
        canvas: EditableCanvas,
        playback: Playback,
        accept_shape: Callable[[], None],
        save_reference: Callable[[], bool],
        dialog_parent: QWidget,
    ) -> None:
        """`accept_shape` finishes a shape being drawn before a propagation reads the frame; `save_reference` saves
        the frame on screen as a reference (F on a painted frame offers it)."""
        self.jobs, self.shot, self.ui, self.actions = jobs, shot, ui, actions
        self.canvas, self.playback = canvas, playback
        self.accept_shape, self.save_reference, self.dialog_parent = accept_shape, save_reference, dialog_parent
        #: Called with `propagating` whenever what may act changes (undo, references...).
        self.lock_listeners: list[Callable[[bool], None]] = []
        jobs.busyChanged.connect(self._busy_changed)
        jobs.progressChanged.connect(self._progress)
        jobs.statusChanged.connect(ui.job_label.setText)
        jobs.pausedChanged.connect(ui.pause_action.setChecked)
        jobs.modelChanged.connect(ui.model_label.setText)
        jobs.memoryStats.connect(ui.memory_panel.show_stats)
        jobs.propagationFinished.connect(ui.references_panel.refresh)
        jobs.suggestionStarted.connect(self._suggestion_started)
        jobs.suggestionFinished.connect(self._suggestion_finished)
        jobs.weightsError.connect(self.show_weights_error)

        def warn(title: str, message: str) -> None:
            QMessageBox.warning(dialog_parent, title, message)

        jobs.failed.connect(warn)
        ui.candidates_panel.suggestRequested.connect(self._suggest_requested)
        ui.candidates_panel.cancelRequested.connect(self.stop)
        ui.memory_panel.clearRequested.connect(jobs.clear_memory)
        ui.pause_action.triggered.connect(lambda _checked: self.toggle_pause())
        ui.stop_action.triggered.connect(self.stop)
        ui.model_label.setText(self.model_status())

    def model_status(self) -> str:
        """The model cache's status line."""
        return str(self.shot.engine.status)

    def update_enabled(self) -> None:
        """Enable what the running job (if any) allows."""
        ui = self.ui
        running, propagating = self.jobs.runner.busy, self.jobs.propagating
        for name in ("save_reference", "delete_reference", "clear_object", "approve_frame", "review_masks"):
            self.actions[name].setEnabled(not propagating)
        for name in (
            "propagate_forward",
            "propagate_backward",
            "propagate_shot",
            "suggest",
            "export",
            "new_workspace",
            "open_workspace",
        ):
            self.actions[name].setEnabled(not running)
        ui.recent_menu.setEnabled(not running)
        ui.load_weights_action.setEnabled(not running)
        ui.pause_action.setEnabled(propagating)
        ui.stop_action.setEnabled(running)
        ui.candidates_panel.button.setEnabled(not running or self.jobs.state is JobState.suggesting)  # Stop
        ui.references_panel.save_button.setEnabled(not propagating)
        ui.memory_panel.settings_box.setEnabled(not propagating)
        ui.memory_panel.clear_button.setEnabled(not running)
        self.canvas.set_editable(not propagating)
        for listener in self.lock_listeners:
            listener(propagating)

    def _busy_changed(self, busy: bool) -> None:
        self.ui.progress.setVisible(busy)
        if busy:
            self.ui.progress.setValue(0)
        self.update_enabled()

    def _progress(self, done: int, total: int, text: str) -> None:
        self.ui.progress.setRange(0, max(1, total))
        self.ui.progress.setValue(done)
        self.ui.job_label.setText(text)
        if self.jobs.state is JobState.suggesting:
            self.ui.candidates_panel.set_progress(done, total, text)

    def _suggestion_started(self) -> None:
        self.ui.tabs.setCurrentWidget(self.ui.candidates_panel)
        self.ui.candidates_panel.set_running(True)

    def _suggestion_finished(self, result, note: str) -> None:
        panel = self.ui.candidates_panel
        panel.set_running(False)
        panel.set_note(note if result is not None else (panel.note.text() or note))

    def show_weights_error(self, message: str) -> None:
        """The clear message about missing / unusable weights."""
        QMessageBox.critical(self.dialog_parent, "XMem weights needed", message)
        self.ui.model_label.setText(self.model_status())

    @staticmethod
    def commit_typed_value() -> None:
        """A number typed into a field but not yet confirmed counts (a job must not run with the old value)."""
        focus = QApplication.focusWidget()
        if isinstance(focus, QAbstractSpinBox):
            focus.interpretText()

    def propagate(self, direction: Direction | str, start: int, limit: int | None = None) -> bool:
        """Start a propagation (a `Direction`; at most `limit` frames per pass). True if started."""
        self.commit_typed_value()
        if not self.jobs.runner.busy:
            self.accept_shape()
            if self._painted_without_reference(start) and not self._save_first(start):
                return False
        return self.jobs.propagate(direction, start, limit)

    def _painted_without_reference(self, frame: int) -> bool:
        shot = self.shot
        return (
            not shot.is_reference(frame)
            and bool(shot.mask(frame).any())
            and not any(shot.mask(f).any() for f in shot.references)
        )

    def _save_first(self, frame: int) -> bool:
        """F on a painted frame before any reference: offer to save it as one and go on."""
        box = QMessageBox(
            QMessageBox.Question,
            "No reference yet",
            f"{self.shot.labels[frame]} is painted but is not a reference yet, and a propagation starts "
            f"from references.\n\nSave it as a reference and propagate?",
            parent=self.dialog_parent,
        )
        save = box.addButton("Save as reference and propagate", QMessageBox.AcceptRole)
        box.addButton(QMessageBox.Cancel)
        box.setDefaultButton(save)
        box.exec_()
        return box.clickedButton() is save and self.save_reference()

    def _suggest_requested(self) -> None:
        self.suggest()

    def suggest(self) -> bool:
        """Run the candidate selector in a worker thread. Returns True when it started."""
        self.commit_typed_value()
        return self.jobs.suggest()

    def toggle_pause(self) -> None:
        """Space: pause / resume a propagation, or play / stop playback."""
        if not self.jobs.toggle_pause() and not self.jobs.runner.busy:
            self.playback.toggle_play()

    def stop(self) -> None:
        """Stop the running job after its current frame."""
        self.jobs.stop()

    def cancel(self, cancel_shape: Callable[[], bool]) -> None:
        """Esc: cancel the shape being drawn, else stop the running job, else stop playback."""
        if cancel_shape():
            return
        if self.jobs.runner.busy:
            self.stop()
        elif self.playback.playing:
            self.playback.stop()

    def wait(self, timeout_ms: int = 120000) -> None:
        """Block until the running job's thread ends (tests, closing)."""
        self.jobs.runner.wait(timeout_ms)
        QApplication.processEvents()
