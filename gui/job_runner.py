"""One runner for the GUI's background jobs, with explicit states, and the base class of its workers.

The UI thread never runs the network: a `Worker` (propagation, suggestion, export) runs on a
QThread owned by a `JobRunner`. The runner is in one of four states - idle, propagating,
suggesting, exporting - and says so through `stateChanged`; the main window and the export dialog
each hold one and never track jobs themselves.
"""

from __future__ import annotations

import logging
import threading
import traceback
from enum import Enum
from typing import Any

from PyQt5.QtCore import QObject, Qt, QThread, pyqtSignal, pyqtSlot

from xmempp.errors import WeightsError, XMemppError

from .remedies import gui_message

__all__ = ["JobRunner", "JobState", "Stopped", "Worker"]

logger = logging.getLogger(__name__)


class JobState(str, Enum):
    """What the runner is doing; `job` is the noun used in messages ("wait for the propagation")."""

    idle = "idle"
    propagating = "propagating"
    suggesting = "suggesting"
    exporting = "exporting"
    reviewing = "reviewing"  # the review's own runner (`review_jobs.ReviewController`), beside the window's

    @property
    def job(self) -> str | None:
        """ "propagation", "suggestion", "export", "review", or None when idle."""
        return {
            "propagating": "propagation",
            "suggesting": "suggestion",
            "exporting": "export",
            "reviewing": "review",
        }.get(self.value)


class Stopped(Exception):
    """Raised inside a worker (e.g. from a progress callback) to abandon the job after a stop."""


class Worker(QObject):
    """A background job: subclasses implement `work()`; stop, errors and the end signal are handled here.

    Signals:
        progress(int, int): done, total.
        status(str): a line for the status bar ("loading the model…").
        failed(str, bool): an error message, and whether it is about the weights.
        finished(object): `work()`'s result, or `stopped_result()` after a stop or an error
            (always emitted exactly once).
    """

    progress = pyqtSignal(int, int)
    status = pyqtSignal(str)
    failed = pyqtSignal(str, bool)
    finished = pyqtSignal(object)

    def __init__(self) -> None:
        super().__init__()
        self.cancel = threading.Event()

    def stop(self) -> None:
        """Ask the job to stop after its current step (any thread)."""
        self.cancel.set()

    def check_stop(self) -> None:
        """Raise `Stopped` when a stop was asked for."""
        if self.cancel.is_set():
            raise Stopped()

    def work(self) -> Any:
        """The job itself (worker thread). Returns what `finished` carries."""
        raise NotImplementedError

    def stopped_result(self) -> Any:
        """What `finished` carries after a stop or an error (None unless overridden)."""
        return None

    @pyqtSlot()
    def run(self) -> None:
        result = None
        try:
            result = self.work()
        except Stopped:
            result = self.stopped_result()
        except BaseException as exc:
            self.failed.emit(*describe_error(exc))
            result = self.stopped_result()
        finally:
            self.finished.emit(result)


def describe_error(exc: BaseException) -> tuple[str, bool]:
    """The message shown for a worker's error, and whether it is about the weights (bugs are logged)."""
    if isinstance(exc, WeightsError):
        return gui_message(exc), True
    if isinstance(exc, XMemppError):
        return gui_message(exc), False
    logger.error("worker failed:\n%s", "".join(traceback.format_exception(exc)))
    return f"unexpected error: {type(exc).__name__}: {exc}", False


class JobRunner(QObject):
    """Runs one worker at a time on a QThread and tracks the state.

    Signals:
        stateChanged(str): the new `JobState` value (after the worker's own `finished` handlers ran).
    """

    stateChanged = pyqtSignal(str)

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.state = JobState.idle
        self.worker: Worker | None = None
        self.job_thread: QThread | None = None  # not `thread`: that is QObject.thread()

    @property
    def busy(self) -> bool:
        """A job is running."""
        return self.state is not JobState.idle

    def start(self, state: JobState, worker: Worker) -> bool:
        """Run `worker` in a new thread, entering `state`; the runner turns idle when it finishes.

        Arguments:
            state: what the job is (not `JobState.idle`).
            worker: the job; connect its signals before calling this.
        Returns:
            False (and nothing started) while another job runs.
        """
        if self.busy:
            return False
        self.state, self.worker = state, worker
        thread = QThread(self)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # thread-safe; the UI thread may be waiting
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)  # type: ignore[call-arg]

        worker.finished.connect(self._finished)
        thread.finished.connect(thread.deleteLater)
        self.job_thread = thread
        self.stateChanged.emit(state.value)
        thread.start()
        return True

    def stop(self) -> None:
        """Ask the running job to stop after its current step."""
        if self.worker is not None:
            self.worker.stop()

    def wait(self, timeout_ms: int = 120000) -> None:
        """Block until the running job's thread ends (tests, closing)."""
        if self.job_thread is not None:
            self.job_thread.wait(timeout_ms)

    def _finished(self, _result: object) -> None:
        self.state, self.worker, self.job_thread = JobState.idle, None, None
        self.stateChanged.emit(JobState.idle.value)
