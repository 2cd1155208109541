"""The main window's background jobs: start a propagation or a suggestion, follow it, finish it.

A `JobController` owns the window's `JobRunner` (states idle / propagating / suggesting /
exporting), builds the workers from the project, and turns their signals into what the window
shows (progress bar, followed frame, undo step, candidates). The window asks it whether a job
runs and which, and never tracks jobs itself.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Optional

from PyQt5.QtCore import QObject
from PyQt5.QtWidgets import QMessageBox

from xmempp.errors import WeightsError

from .job_runner import JobRunner, JobState, Worker
from .workers import PropagationOutcome, PropagationWorker, SavedMasks, SuggestWorker, plan_propagation

if TYPE_CHECKING:
    from .main_window import MainWindow

__all__ = ["JobController"]


class JobController(QObject):
    """Starts and follows the jobs of one main window."""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        self.runner = JobRunner(self)
        self.runner.stateChanged.connect(self._state_changed)
        self.following = True
        self._last_follow = 0.0
        self._last_propagated: Optional[int] = None
        self.last_suggestion_result = None

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> JobState:
        """What runs now."""
        return self.runner.state

    @property
    def propagating(self) -> bool:
        """A propagation runs (editing, undo and references are locked)."""
        return self.runner.state is JobState.propagating

    def busy_message(self, what: str = "") -> bool:
        """Say on the status bar that a job runs (returns True), or return False when idle."""
        if not self.runner.busy:
            return False
        self.window.statusBar().showMessage(f"wait for the {self.state.job} to finish{what} (Esc stops it)", 4000)
        return True

    def _state_changed(self, _state: str) -> None:
        w = self.window
        busy = self.runner.busy
        w.progress.setVisible(busy)
        if not busy:
            w.job_label.setText("")
            w.pause_action.setChecked(False)
            w.model_label.setText(w.project.engine.status)
        w.update_enabled()

    def _start(self, state: JobState, worker: Worker, total: int, what: str) -> None:
        worker.progress.connect(self._progress)
        worker.status.connect(self._status)
        worker.failed.connect(lambda message, weights: self._failed(what, message, weights))
        w = self.window
        w.progress.setRange(0, max(0, total))
        w.progress.setValue(0)
        w.job_label.setText(f"{state.job}…")
        self.runner.start(state, worker)

    def _progress(self, done: int, total: int) -> None:
        self.window.progress.setRange(0, max(1, total))
        self.window.progress.setValue(done)

    def _status(self, text: str) -> None:
        self.window.job_label.setText(text)
        self.window.model_label.setText(self.window.project.engine.status)

    def _failed(self, what: str, message: str, weights: bool) -> None:
        if weights:
            self.window.show_weights_error(message)
        else:
            QMessageBox.warning(self.window, f"{what} failed", message)

    def weights_ready(self) -> bool:
        """The weights file exists; otherwise the weights message is shown."""
        try:
            self.window.project.engine.check_weights()
        except WeightsError as exc:
            self.window.show_weights_error(str(exc))
            return False
        return True

    def _references_to_run(self, none_message: str) -> list[int]:
        """The non-empty reference frames when a job can start (idle, references, weights), else [] after
        telling the user why (`none_message` when there is no usable reference)."""
        if self.busy_message():
            return []
        project = self.window.project
        refs = [f for f in project.references if project.mask(f).any()]
        if not refs:
            QMessageBox.information(self.window, "No reference yet", none_message)
            return []
        return refs if self.weights_ready() else []

    # ------------------------------------------------------------------ propagation
    def propagate(self, direction: str, limit: Optional[int] = None) -> bool:
        """Start a propagation ("forward", "backward", "full") from the current frame. Returns True when it started."""
        w = self.window
        if not self.runner.busy:
            w.canvas.tool.accept()
        refs = self._references_to_run("Paint the object on a frame and save it as a reference (R) before "
                                       "propagating.")
        if not refs:
            return False
        project = w.project
        plan = plan_propagation(direction, w.current, len(project), refs, limit)
        if not plan.passes:
            w.statusBar().showMessage("nothing to propagate from here", 4000)
            return False
        touched = {f for frames in plan.passes for f in frames}
        edited = sorted(f for f in project.settings.edited if f in touched and not project.is_reference(f)
                        and project.mask(f).any())
        if edited and not self._confirm_overwrite(edited):
            return False
        worker = PropagationWorker(project.engine, project.workspace, direction, w.current, limit,
                                   project.reference_snapshot(), project.config, project.settings.mode,
                                   project.palette)
        worker.frameDone.connect(self._propagated_frame)
        worker.memoryStats.connect(w.memory_panel.show_stats)
        worker.finished.connect(lambda outcome, p=plan: self._propagation_finished(outcome, p))
        self.following, self._last_follow, self._last_propagated = True, 0.0, None
        w.timeline.set_running(plan.span)
        self._start(JobState.propagating, worker, plan.total, "Propagation")
        return True

    def _confirm_overwrite(self, frames: list[int]) -> bool:
        project = self.window.project
        names = ", ".join(project.labels[f] for f in frames[:6]) + (" …" if len(frames) > 6 else "")
        box = QMessageBox(QMessageBox.Question, "Edited frames",
                          f"You edited {len(frames)} frame(s) that are not references ({names}). The propagation "
                          f"would replace their masks.\n\nSave them as references first?", parent=self.window)
        save = box.addButton("Save as references", QMessageBox.AcceptRole)
        box.addButton("Replace them", QMessageBox.DestructiveRole)
        cancel = box.addButton(QMessageBox.Cancel)
        box.setDefaultButton(save)
        box.exec_()
        clicked = box.clickedButton()
        if clicked is cancel:
            return False
        if clicked is save:
            for frame in frames:
                project.save_reference(frame)
        return True

    def _propagated_frame(self, index: int) -> None:
        self.window.project.accept_propagated(index)
        now = time.monotonic()
        if self.following and now - self._last_follow >= 0.08:  # at most ~12 redraws a second
            self._last_follow = now
            self.window.show_frame(index)
        self._last_propagated = index

    def _propagation_finished(self, outcome: PropagationOutcome, plan) -> None:
        w = self.window
        if self.following and self._last_propagated is not None:
            w.show_frame(self._last_propagated)
        w.project.finish_propagation(outcome.changes, plan.text)
        w.timeline.set_running(None)
        if outcome.completed:
            w.statusBar().showMessage(f"{plan.text.lower()}: {len(outcome.changes)} masks written and saved", 6000)
        elif outcome.frames:
            w.statusBar().showMessage(f"stopped after {outcome.frames} frames; their masks are saved "
                                      f"(Ctrl+Z undoes them)", 6000)
        w.memory_panel.show_stats(w.project.engine.memory_stats())
        w.references_panel.refresh()

    def toggle_pause(self) -> bool:
        """Pause / resume a running propagation. Returns False when none runs."""
        worker = self.runner.worker
        if not (self.propagating and isinstance(worker, PropagationWorker)):
            self.window.pause_action.setChecked(False)
            return False
        if worker.paused:
            worker.resume()
            self.window.job_label.setText("propagating…")
        else:
            worker.pause()
            self.window.job_label.setText("paused — Space continues")
        self.window.pause_action.setChecked(worker.paused)
        return True

    def stop(self) -> None:
        """Stop the running job after its current frame."""
        if self.runner.busy:
            self.runner.stop()
            self.window.job_label.setText("stopping…")

    def clear_memory(self) -> None:
        """Drop the session's working memory (references stay), unless a job runs."""
        if self.runner.busy:
            return
        engine = self.window.project.engine
        engine.clear_memory()
        self.window.memory_panel.show_stats(engine.memory_stats())

    # ------------------------------------------------------------------ suggestions
    def suggest(self) -> bool:
        """Run the candidate selector. Returns True when it started."""
        w = self.window
        refs = self._references_to_run("Save at least one reference (paint, then R) before asking for suggestions.")
        if not refs:
            return False
        project = w.project
        s = project.settings
        references = {f: project.mask(f).copy() for f in refs}
        masked = project.masked_frames
        # with a mask on every frame the selector uses them; otherwise it propagates the references first
        predicted = SavedMasks(project.workspace, masked) if len(masked) == len(project) else None
        worker = SuggestWorker(project.engine, project.workspace, references, s.k, s.alpha, s.min_mask_percent,
                               project.config, s.mode, predicted)
        worker.stageProgress.connect(w.candidates_panel.set_progress)
        worker.finished.connect(self._suggestion_finished)
        w.tabs.setCurrentWidget(w.candidates_panel)
        w.candidates_panel.set_running(True)
        self._start(JobState.suggesting, worker, 0, "Suggestion")
        return True

    def _suggestion_finished(self, result) -> None:
        w = self.window
        w.candidates_panel.set_running(False)
        self.last_suggestion_result = result
        if result is None:
            w.candidates_panel.set_note(w.candidates_panel.note.text() or "Stopped.")
            return
        w.project.set_suggestions(list(result.chosen))
        names = ", ".join(w.project.labels[f] for f in result.chosen) or "none"
        note = f"Annotate next: {names}."
        if result.reason:
            note += f"\n{result.reason}"
        w.candidates_panel.set_note(note)
        w.statusBar().showMessage(f"suggested {len(result.chosen)} frame(s); N jumps to them", 6000)
