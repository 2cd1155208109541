"""Check every shot of a batch before any worker starts: its inputs, its output folder and lock, and
the memory it needs (the job API's guard, with the network loaded here on the CPU).

A shot that fails here is reported as failed with its row (e.g. "shots.csv line 3") and never
reaches a worker; the others run. On a Ray cluster the estimate uses this machine's memory; each
task checks again on its node before its first frame (`run_job`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from xmempp.errors import XMemppError
from xmempp.inference.memory_estimate import check_job_memory
from xmempp.io.frames import close_frames
from xmempp.model.loading import load_model
from xmempp.model.network import XMemNetwork

from .resources import ShotNeeds, shot_needs
from .worker import ShotResult, ShotTask, open_shot

__all__ = ["ShotCheck", "preflight", "refused_results"]


@dataclass(frozen=True)
class ShotCheck:
    """What the check found for one shot: its frames to step and memory needs, or why it is refused."""

    shot: str
    frames: int = 0
    error: str = ""
    needs: ShotNeeds | None = None

    @property
    def ok(self) -> bool:
        """Whether the shot may run."""
        return not self.error


def preflight(tasks: Sequence[ShotTask], weights: Path, model: XMemNetwork | None = None) -> list[ShotCheck]:
    """Open every shot (frame headers, masks, output folder, lock), check its memory estimate and note its needs.

    Arguments:
        tasks: the shots about to run.
        weights: the checkpoint file (loaded on the CPU for the estimate unless `model` is given).
        model: an already loaded network.
    Returns:
        One `ShotCheck` per task, in order; a refusal's `error` starts with the shot's row.
    """
    if not tasks:
        return []
    network = model if model is not None else load_model(Path(weights), device="cpu")  # a bad one fails the batch
    checks = []
    for task in tasks:
        shot = task.shot
        try:
            job = open_shot(shot)
            try:
                check_job_memory(network, job)
                checks.append(ShotCheck(shot.name, job.plan().total, needs=shot_needs(network, job)))
            finally:
                close_frames(job.frames)
        except XMemppError as exc:
            checks.append(ShotCheck(shot.name, error=f"{shot.where}: {exc}" if shot.where else str(exc)))
    return checks


def refused_results(checks: Sequence[ShotCheck]) -> list[ShotResult]:
    """The failed results of the shots `preflight` refused."""
    return [ShotResult(c.shot, "failed", error=c.error) for c in checks if not c.ok]
