"""One shot's run inside a worker (a local worker process or a Ray task), through the job API.

`run_shot` opens the shot (`open_shot_job`), marks it started, loads the network once per worker
process, runs the job with `run_job` (saving checkpoints, and resuming from the checkpoint of an
interrupted run of the same job), reports progress as `ShotEvent`s and writes the done marker when
the last frame is written. Results in the output folder from an earlier batch run of the shot may be
replaced; anybody else's need the shot's `overwrite`. A user error (bad plate, bad masks, output
folder taken) becomes a failed `ShotResult`; anything else propagates to the runner, which records
it against this shot only.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from xmempp.errors import XMemppError
from xmempp.inference.checkpoint import (
    CheckpointPolicy,
    checkpoint_path,
    fingerprint_changes,
    job_fingerprint,
    load_checkpoint,
)
from xmempp.inference.guards import written_range
from xmempp.inference.jobs import ShotJob, run_job
from xmempp.inference.shot_folders import open_shot_job
from xmempp.io.frames import close_frames
from xmempp.model.loading import load_model
from xmempp.model.network import XMemNetwork
from xmempp.review.shot import review_results

from .marker import clear_marker, read_marker, write_marker
from .resources import ShotNeeds
from .shotlist import ShotSpec

__all__ = [
    "EventSink",
    "ShotEvent",
    "ShotResult",
    "ShotTask",
    "describe_failure",
    "open_shot",
    "run_shot",
    "set_threads",
]

#: Seconds between two progress events of a shot (the last frame is always reported).
PROGRESS_INTERVAL = 0.2


@dataclass(frozen=True)
class ShotTask:
    """A shot the runner decided to run.

    Attributes:
        shot: the shot.
        fingerprint: `shot_fingerprint`, carried by its markers.
        checkpoint: when the run saves its checkpoint (resumed from by the next run or a retry).
        needs: its memory needs (`resources.shot_needs`), once the batch's check estimated them.
    """

    shot: ShotSpec
    fingerprint: str
    checkpoint: CheckpointPolicy = field(default_factory=CheckpointPolicy)
    needs: ShotNeeds | None = None


@dataclass(frozen=True)
class ShotEvent:
    """What a shot is doing, sent from its worker to the batch's display.

    Attributes:
        shot: the shot's name.
        state: "queued", "running", "skipped", "done", "stopped", "failed", or "retry" (Ray lost the worker that
            ran the shot and runs it again on the worker `pid`, `host`, from its last checkpoint).
        frames: frames written so far (by this run).
        total: frames this run steps (0 until known).
        pid, host: the worker process running it (0 and "" before it starts).
        attempt: which run of the shot this is, for a "retry" (2 for the first retry; 0 otherwise).
    """

    shot: str
    state: str
    frames: int = 0
    total: int = 0
    pid: int = 0
    host: str = ""
    attempt: int = 0


@dataclass(frozen=True)
class ShotResult:
    """How a shot ended.

    Attributes:
        shot: the shot's name.
        status: "done", "skipped" (already finished by an earlier run), "stopped" (the batch was
            stopped: resumed by a rerun) or "failed".
        frames: frames written by this run (for "skipped", by the run that finished it).
        seconds: time of the propagation.
        error: why it failed ("" otherwise).
        resumed_from: frames an interrupted earlier run had done (this run started after them).
        retries: times Ray ran the shot again after losing its worker.
    """

    shot: str
    status: str
    frames: int = 0
    seconds: float = 0.0
    error: str = ""
    resumed_from: int = 0
    retries: int = 0

    @property
    def fps(self) -> float:
        """Frames per second of the run."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


#: Receives a shot's events as they happen.
EventSink = Callable[[ShotEvent], None]

_networks: dict[tuple[str, str, str], XMemNetwork] = {}


def set_threads(threads: int) -> None:
    """Give torch `threads` intra-op threads in this process (workers share the cores)."""
    torch.set_num_threads(max(1, threads))


def open_shot(shot: ShotSpec) -> ShotJob:
    """Open a batch shot as a job (results of an earlier run of this batch may be replaced).

    Arguments:
        shot: the shot.
    Returns:
        The `ShotJob`; close its frames when done. Raises the `XMemppError` of a bad input or output.
    """
    ours = read_marker(shot.output, "started") is not None or read_marker(shot.output, "done") is not None
    return open_shot_job(
        shot.plate,
        shot.masks,
        shot.output,
        shot.config,
        shot.mode,
        shot.writer,
        shot.overwrite or ours,
        shot.plates,
        refine=shot.refine,
        force_unlock=shot.force_unlock,
    )


def run_shot(
    task: ShotTask, weights: Path, device: str, emit: EventSink, stop: threading.Event | None = None
) -> ShotResult:
    """Run one shot to its last frame and mark it done.

    Arguments:
        task: the shot and its fingerprint.
        weights: the checkpoint file (the same path on every machine of a cluster).
        device: torch device name for this worker ("cpu", "cuda:0", ...).
        emit: receives "running" events with the frames written so far.
        stop: set it to stop the shot after the current frame, with a checkpoint to resume from.
    Returns:
        A `ShotResult` with status "done", "stopped" (by `stop`), or "failed" with the message of
        the user error.
    """
    shot = task.shot
    pid, host = os.getpid(), socket.gethostname()
    try:
        job = open_shot(shot)
        try:
            clear_marker(shot.output, "done")
            write_marker(shot.output, "started", task.fingerprint)
            network = _network(weights, device, shot.precision)
            resume = _resumable(network, job)
            emit(ShotEvent(shot.name, "running", 0, job.plan().total, pid, host))
            last = [0.0]

            def progress(done: int, all_frames: int) -> None:
                now = time.monotonic()
                if done == all_frames or now - last[0] >= PROGRESS_INTERVAL:
                    last[0] = now
                    emit(ShotEvent(shot.name, "running", done, all_frames, pid, host))

            report = run_job(network, job, progress=progress, checkpoint=task.checkpoint, resume=resume, cancel=stop)
        finally:
            close_frames(job.frames)
    except XMemppError as exc:
        return ShotResult(shot.name, "failed", error=str(exc))
    if not report.completed:
        status, why = (
            ("stopped", "stopped with a checkpoint; rerun the batch to resume it")
            if stop is not None and stop.is_set()
            else ("failed", "stopped before the last frame")
        )
        return ShotResult(shot.name, status, report.frames, report.seconds, why, report.resumed_from)
    if shot.qc:
        try:
            review_results(shot.plate, shot.masks, shot.output, shot.plates)
        except XMemppError as exc:
            return ShotResult(shot.name, "failed", report.frames, report.seconds, f"review: {exc}", report.resumed_from)
    write_marker(
        shot.output,
        "done",
        task.fingerprint,
        frames=report.resumed_from + report.frames,
        seconds=round(report.seconds, 3),
    )
    return ShotResult(shot.name, "done", report.frames, report.seconds, resumed_from=report.resumed_from)


def _resumable(network: XMemNetwork, job: ShotJob) -> bool:
    """Whether the job's output folder holds no checkpoint or one this very job can resume from
    (one from other inputs, settings, weights or device is replaced by a fresh run)."""
    if job.outputs is None:  # nothing written, so no checkpoint either
        return True
    saved = load_checkpoint(checkpoint_path(job.outputs.folder, written_range(job)))
    return saved is None or not fingerprint_changes(saved.fingerprint, job_fingerprint(network, job))


def _network(weights: Path, device: str, precision: str) -> XMemNetwork:
    """The network of this worker process in `precision`, loaded on first use."""
    key = (str(weights), device, precision)
    if key not in _networks:
        _networks.clear()
        _networks[key] = load_model(Path(weights), device=device, precision=precision)
    return _networks[key]


def describe_failure(exc: BaseException) -> str:
    """One line about an exception that ended a shot outside the user-error tree."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
