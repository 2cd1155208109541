"""The main window's background jobs: start a propagation or a suggestion, follow it, finish it.

A `JobController` owns the window's `JobRunner` (states idle / propagating / suggesting /
exporting), builds the workers from the project, tracks their phases (`JobProgress`) and says
what happens through signals that the window connects to its widgets; it never touches a widget
itself (it only parents its question dialogs on the window).
"""

from __future__ import annotations

import time

from PyQt5.QtCore import QObject, pyqtSignal
from PyQt5.QtWidgets import QMessageBox, QWidget

from xmempp.errors import WeightsError
from xmempp.inference.plan import Direction

from .job_progress import PROPAGATION_PHASES, SUGGESTION_PHASES, JobProgress
from .job_runner import JobRunner, JobState, Worker
from .project import Project
from .workers import PropagationOutcome, PropagationPlan, PropagationWorker, SavedMasks, SuggestWorker, plan_propagation

__all__ = ["JobController"]

#: A followed propagation redraws the view at most this often (seconds).
FOLLOW_INTERVAL = 0.08
#: How long status-bar messages stay (milliseconds).
MESSAGE_MS, FINISHED_MS = 4000, 10000


class JobController(QObject):
    """Starts and follows the jobs of one main window.

    Signals:
        busyChanged(bool): a job started / ended (`state` says which).
        progressChanged(int, int, str): overall progress in per mille (done, 1000) and the job's line
            (phase, frames/s, time left).
        statusChanged(str): a short state line ("paused — Space continues").
        pausedChanged(bool): the propagation was paused or resumed.
        modelChanged(str): the model status line changed (loaded, device).
        memoryStats(object): `MemoryStats` while a job fills the memory (None: no session).
        message(str, int): a status-bar message and how long it stays (ms).
        showFrame(int): a followed propagation reached this frame.
        runningSpan(object): (first, last) frame a propagation covers, or None when it ends.
        propagationFinished(): a propagation ended (its masks are saved).
        suggestionStarted(): the selector started.
        suggestionFinished(object, str): the `CandidateResult` (None: stopped or failed) and a note.
        weightsError(str): the weights are missing or unusable (the clear message).
        failed(str, str): a job failed: title and message.
    """

    busyChanged = pyqtSignal(bool)
    progressChanged = pyqtSignal(int, int, str)
    statusChanged = pyqtSignal(str)
    pausedChanged = pyqtSignal(bool)
    modelChanged = pyqtSignal(str)
    memoryStats = pyqtSignal(object)
    message = pyqtSignal(str, int)
    showFrame = pyqtSignal(int)
    runningSpan = pyqtSignal(object)
    propagationFinished = pyqtSignal()
    suggestionStarted = pyqtSignal()
    suggestionFinished = pyqtSignal(object, str)
    weightsError = pyqtSignal(str)
    failed = pyqtSignal(str, str)

    def __init__(self, project: Project, dialog_parent: QWidget) -> None:
        super().__init__(dialog_parent)
        self.project = project
        self.dialog_parent = dialog_parent
        self.runner = JobRunner(self)
        self.runner.stateChanged.connect(self._state_changed)
        self.following = True
        self._last_follow = 0.0
        self._last_propagated: int | None = None
        self.last_suggestion_result = None
        self.job_progress: JobProgress | None = None

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
        self.message.emit(f"wait for the {self.state.job} to finish{what} (Esc stops it)", MESSAGE_MS)
        return True

    def _state_changed(self, _state: str) -> None:
        busy = self.runner.busy
        if not busy:
            self.job_progress = None
            self.statusChanged.emit("")
            self.pausedChanged.emit(False)
            self.modelChanged.emit(self.project.engine.status)
        self.busyChanged.emit(busy)

    def _start(self, state: JobState, worker: Worker, progress: JobProgress, what: str) -> None:
        worker.progress.connect(
            lambda done, total: self._stage(progress.phases[0].key if len(progress.phases) == 1 else None, done, total)
        )
        worker.status.connect(self._status)
        worker.failed.connect(lambda message, weights: self._failed(what, message, weights))
        self.job_progress = progress
        self.runner.start(state, worker)
        self.statusChanged.emit(f"{progress.title}…")
        self.modelChanged.emit(self._model_line())
        self._emit_progress()

    def _model_line(self) -> str:
        engine = self.project.engine
        return engine.status if engine.model is not None else f"model: loading {engine.weights_file.name}…"

    def _stage(self, stage: str | None, done: int, total: int) -> None:
        progress = self.job_progress
        if progress is None or stage is None:
            return
        progress.update(stage, done, total)
        self._emit_progress()

    def _emit_progress(self) -> None:
        if self.job_progress is not None:
            self.progressChanged.emit(int(round(self.job_progress.fraction * 1000)), 1000, self.job_progress.text())

    def _status(self, text: str) -> None:
        self.statusChanged.emit(text)
        self.modelChanged.emit(self._model_line())

    def _failed(self, what: str, message: str, weights: bool) -> None:
        if weights:
            self.weightsError.emit(message)
        else:
            self.failed.emit(f"{what} failed", message)

    def weights_ready(self) -> bool:
        """The weights file exists; otherwise the weights message is sent."""
        try:
            self.project.engine.check_weights()
        except WeightsError as exc:
            self.weightsError.emit(str(exc))
            return False
        return True

    def _references_to_run(self, none_message: str) -> list[int]:
        """The non-empty reference frames when a job can start (idle, references, weights), else [] after
        telling the user why (`none_message` when there is no usable reference)."""
        if self.busy_message():
            return []
        project = self.project
        refs = [f for f in project.references if project.mask(f).any()]
        if not refs:
            QMessageBox.information(self.dialog_parent, "No reference yet", none_message)
            return []
        return refs if self.weights_ready() else []

    # ------------------------------------------------------------------ propagation
    def propagate(self, direction: Direction | str, start: int, limit: int | None = None) -> bool:
        """Start a propagation (a `Direction`) from frame `start`. Returns True when it started."""
        refs = self._references_to_run("Paint the object on a frame and save it as a reference (R) before propagating.")
        if not refs:
            return False
        project = self.project
        plan = plan_propagation(direction, start, len(project), refs, limit)
        if not plan.passes:
            self.message.emit("nothing to propagate from here", MESSAGE_MS)
            return False
        touched = {f for frames in plan.passes for f in frames}
        edited = sorted(
            f for f in project.settings.edited if f in touched and not project.is_reference(f) and project.mask(f).any()
        )
        if edited and not self._confirm_overwrite(edited):
            return False
        worker = PropagationWorker(
            project.engine,
            project.workspace,
            direction,
            start,
            limit,
            project.reference_snapshot(),
            project.config,
            project.settings.mode,
            project.palette,
        )
        worker.frameDone.connect(self._propagated_frame)
        worker.memoryStats.connect(self.memoryStats)
        worker.finished.connect(lambda outcome, p=plan: self._propagation_finished(outcome, p))
        self.following, self._last_follow, self._last_propagated = True, 0.0, None
        self.runningSpan.emit(plan.span)
        free = sum(f in refs for frames in plan.passes for f in frames)  # references are handed back as they are
        self._start(
            JobState.propagating,
            worker,
            JobProgress(plan.text, PROPAGATION_PHASES, plan.total, free_steps=free),
            "Propagation",
        )
        return True

    def _confirm_overwrite(self, frames: list[int]) -> bool:
        project = self.project
        names = ", ".join(project.labels[f] for f in frames[:6]) + (" …" if len(frames) > 6 else "")
        box = QMessageBox(
            QMessageBox.Question,
            "Edited frames",
            f"You edited {len(frames)} frame(s) that are not references ({names}). The propagation "
            f"would replace their masks.\n\nSave them as references first?",
            parent=self.dialog_parent,
        )
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
        self.project.accept_propagated(index)
        now = time.monotonic()
        if self.following and now - self._last_follow >= FOLLOW_INTERVAL:
            self._last_follow = now
            self.showFrame.emit(index)
        self._last_propagated = index

    def _propagation_finished(self, outcome: PropagationOutcome, plan: PropagationPlan) -> None:
        if self.following and self._last_propagated is not None:
            self.showFrame.emit(self._last_propagated)
        self.project.finish_propagation(outcome.changes, f"{plan.text} · {len(outcome.changes)} frames")
        self.runningSpan.emit(None)
        progress = self.job_progress
        summary = progress.summary() if progress is not None else f"{outcome.frames} frames"
        if outcome.completed:
            self.message.emit(f"{plan.text} finished: {summary}; {len(outcome.changes)} masks saved", FINISHED_MS)
        elif outcome.frames:
            self.message.emit(
                f"{plan.text} stopped after {summary}; their masks are saved (Ctrl+Z undoes them)", FINISHED_MS
            )
        self.memoryStats.emit(self.project.engine.memory_stats())
        self.propagationFinished.emit()

    def toggle_pause(self) -> bool:
        """Pause / resume a running propagation. Returns False when none runs."""
        worker = self.runner.worker
        if not (self.propagating and isinstance(worker, PropagationWorker)):
            self.pausedChanged.emit(False)
            return False
        if self.job_progress is not None:
            (self.job_progress.pause if not worker.paused else self.job_progress.resume)()
        if worker.paused:
            worker.resume()
            self.statusChanged.emit("propagating…")
        else:
            worker.pause()
            self.statusChanged.emit("paused — Space continues")
        self.pausedChanged.emit(worker.paused)
        return True

    def stop(self) -> None:
        """Stop the running job after its current frame."""
        if self.runner.busy:
            self.runner.stop()
            self.statusChanged.emit("stopping…")

    def clear_memory(self) -> None:
        """Drop the session's working memory (references stay), unless a job runs."""
        if self.runner.busy:
            return
        engine = self.project.engine
        engine.clear_memory()
        self.memoryStats.emit(engine.memory_stats())

    # ------------------------------------------------------------------ suggestions
    def suggest(self) -> bool:
        """Run the candidate selector. Returns True when it started."""
        refs = self._references_to_run("Save at least one reference (paint, then R) before asking for suggestions.")
        if not refs:
            return False
        project = self.project
        s = project.settings
        references = {f: v for f, v in project.reference_snapshot().items() if f in refs}
        masked = project.masked_frames
        # with a mask on every frame the selector uses them; otherwise it propagates the references first
        predicted = SavedMasks(project.workspace, masked, project.engine) if len(masked) == len(project) else None
        worker = SuggestWorker(
            project.engine,
            project.workspace,
            references,
            s.k,
            s.alpha,
            s.min_mask_percent,
            project.config,
            s.mode,
            predicted,
        )
        phases = tuple(p for p in SUGGESTION_PHASES if predicted is None or p.key != "propagation")
        progress = JobProgress("Suggest frames", phases, len(project))
        worker.stageProgress.connect(self._suggestion_stage)
        worker.memoryStats.connect(self.memoryStats)
        worker.finished.connect(self._suggestion_finished)
        self.suggestionStarted.emit()
        self._start(JobState.suggesting, worker, progress, "Suggestion")
        return True

    def _suggestion_stage(self, stage: str, done: int, total: int) -> None:
        self._stage(stage, done, total)
        if stage != "model":
            self.modelChanged.emit(self._model_line())

    def _suggestion_finished(self, result) -> None:
        self.last_suggestion_result = result
        progress = self.job_progress
        if result is None:
            self.suggestionFinished.emit(None, "Stopped.")
            return
        self.project.set_suggestions(list(result.chosen))
        names = ", ".join(self.project.labels[f] for f in sorted(result.chosen)) or "none"
        note = f"Annotate next: {names}."
        if result.reason:
            note += f"\n{result.reason}"
        frames = f"{len(self.project)} frames"
        summary = progress.summary(frames) if progress is not None else frames
        self.suggestionFinished.emit(result, note)
        self.message.emit(
            f"Suggest frames finished: {len(result.chosen)} frame(s) from {summary}; N jumps to them", FINISHED_MS
        )
