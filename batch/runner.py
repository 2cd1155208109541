"""A batch from start to report: skip finished shots, run the rest on a backend, collect results.

The backend is `LocalBackend` (worker processes on this machine) or `RayBackend` (a Ray cluster);
both run each shot with `run_shot` and report the same events and results.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from xmempp.inference.checkpoint import CheckpointPolicy
from xmempp.io.atomic import atomic_write_text

from .marker import read_marker, shot_fingerprint
from .preflight import preflight, refused_results
from .shotlist import ShotSpec
from .worker import EventSink, ShotEvent, ShotResult, ShotTask

__all__ = ["DEFAULT_CHECKPOINTS", "Backend", "BatchReport", "plan_batch", "run_batch", "write_report"]

#: Checkpoints of batch shots: once a minute, so a lost worker costs at most a minute of its shot.
DEFAULT_CHECKPOINTS = CheckpointPolicy(every_writes=None, every_seconds=60.0)


class Backend(Protocol):
    """Where shots run."""

    def describe(self) -> str:
        """One line about where the shots run."""

    def run(
        self,
        tasks: Sequence[ShotTask],
        weights: Path,
        on_event: EventSink,
        on_result: Callable[[ShotResult], None],
        stop: threading.Event | None = None,
    ) -> None:
        """Run every task, delivering events and results on the calling thread; when `stop` is set,
        running shots stop after their current frame with a checkpoint and queued ones do not start."""


@dataclass
class BatchReport:
    """What a batch did.

    Attributes:
        results: one per shot, in shot-list order.
        outputs: each shot's output folder, by name.
        seconds: wall-clock time of the batch.
        backend: where the shots ran.
    """

    results: list[ShotResult]
    outputs: dict[str, Path]
    seconds: float
    backend: str

    @property
    def failed(self) -> list[ShotResult]:
        """The shots that failed."""
        return [r for r in self.results if r.status == "failed"]

    @property
    def stopped(self) -> list[ShotResult]:
        """The shots a stop request interrupted or kept from starting (a rerun resumes them)."""
        return [r for r in self.results if r.status == "stopped"]

    def count(self, status: str) -> int:
        """How many shots ended with `status`."""
        return sum(r.status == status for r in self.results)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (per shot status, frames, seconds, FPS, error). The summary's frames
        are those this run wrote: of finished shots and of stopped or failed ones up to where they ended
        (skipped shots were written by an earlier run)."""
        frames = sum(r.frames for r in self.results if r.status != "skipped")
        return {
            "backend": self.backend,
            "seconds": round(self.seconds, 3),
            "summary": {
                "shots": len(self.results),
                "done": self.count("done"),
                "skipped": self.count("skipped"),
                "failed": self.count("failed"),
                "stopped": self.count("stopped"),
                "frames": frames,
                "fps": round(frames / self.seconds, 3) if self.seconds > 0 else 0.0,
            },
            "shots": [
                {
                    "name": r.shot,
                    "status": r.status,
                    "frames": r.frames,
                    "seconds": round(r.seconds, 3),
                    "fps": round(r.fps, 3),
                    "resumed_from": r.resumed_from,
                    "retries": r.retries,
                    "error": r.error,
                    "output": str(self.outputs[r.shot]),
                }
                for r in self.results
            ],
        }


def plan_batch(
    shots: Sequence[ShotSpec], weights: Path, checkpoint: CheckpointPolicy = DEFAULT_CHECKPOINTS
) -> tuple[list[ShotTask], list[ShotResult]]:
    """Split shots into those to run and those an earlier run already finished.

    Arguments:
        shots: the batch.
        weights: the checkpoint file (part of each shot's fingerprint).
        checkpoint: when running shots save the checkpoints they resume from.
    Returns:
        (tasks to run, "skipped" results). A shot whose done marker belongs to other inputs or
        settings runs again, replacing its earlier results.
    """
    tasks, skipped = [], []
    for shot in shots:
        fingerprint = shot_fingerprint(shot, weights)
        done = read_marker(shot.output, "done")
        if done is not None and done.get("fingerprint") == fingerprint:
            skipped.append(ShotResult(shot.name, "skipped", int(done.get("frames", 0)), float(done.get("seconds", 0))))
        else:
            tasks.append(ShotTask(shot, fingerprint, checkpoint))
    return tasks, skipped


def run_batch(
    shots: Sequence[ShotSpec],
    weights: Path,
    backend: Backend,
    on_event: EventSink | None = None,
    checkpoint: CheckpointPolicy = DEFAULT_CHECKPOINTS,
    stop: threading.Event | None = None,
    check: bool = True,
) -> BatchReport:
    """Run a batch: finished shots are skipped, the others run on `backend`; one failure stops nothing.

    Arguments:
        shots: the batch, from `read_shot_list`.
        weights: the checkpoint file.
        backend: `LocalBackend` or `RayBackend`.
        on_event: receives every shot's events ("queued", "skipped", "running" with frames,
            "done", "failed"; "retry" when Ray runs a shot again after losing its worker).
        checkpoint: when running shots save checkpoints; an interrupted shot (Ctrl-C, a killed
            worker, a lost Ray node) resumes from its last one.
        stop: set it (e.g. on SIGTERM) to stop: running shots checkpoint and end "stopped", queued
            shots are reported "stopped" without starting.
        check: refuse shots before any worker starts when their inputs, output folder or memory
            estimate fail (`xmempp.batch.preflight`); the estimate also sizes Ray's GPU requests.
    Returns:
        A `BatchReport` with one result per shot in shot-list order.
    """
    emit = on_event or (lambda event: None)
    started = time.perf_counter()
    weights = Path(weights).resolve()
    tasks, skipped = plan_batch(shots, weights, checkpoint)
    results: dict[str, ShotResult] = {}
    for result in skipped:
        results[result.shot] = result
        emit(ShotEvent(result.shot, "skipped", result.frames, result.frames))
    for task in tasks:
        emit(ShotEvent(task.shot.name, "queued"))

    def finished(result: ShotResult) -> None:
        results[result.shot] = result
        emit(ShotEvent(result.shot, result.status, result.frames))

    if check and tasks:
        checks = preflight(tasks, weights)
        for result in refused_results(checks):
            finished(result)
        needs = {c.shot: c.needs for c in checks}
        tasks = [dataclasses.replace(t, needs=needs[t.shot.name]) for t in tasks if t.shot.name not in results]
    if tasks and not (stop is not None and stop.is_set()):
        backend.run(tasks, weights, emit, finished, stop)
    for task in tasks:
        if task.shot.name not in results:
            finished(ShotResult(task.shot.name, "stopped", error="not started: the batch was stopped"))
    return BatchReport(
        [results[s.name] for s in shots],
        {s.name: s.output for s in shots},
        time.perf_counter() - started,
        backend.describe(),
    )


def write_report(path: Path, report: BatchReport) -> None:
    """Write the report as JSON, atomically.

    Arguments:
        path: destination file.
        report: the batch's report.
    Returns:
        None. Raises `OutputError` when it cannot be written.
    """
    atomic_write_text(path, json.dumps(report.to_json(), indent=2) + "\n")
