"""Batch runs: many shots from a shot list, in parallel on local devices or as tasks on a Ray cluster.

Every shot runs through the core's job API; finished shots are marked in their output folders so a
rerun skips them. Ray is optional (`pip install 'xmempp[ray]'`) and imported only for `RayBackend`.
"""

from __future__ import annotations

from .cluster import RayBackend
from .local import LocalBackend, WorkerSlot, plan_slots
from .runner import DEFAULT_CHECKPOINTS, BatchReport, plan_batch, run_batch, write_report
from .shotlist import BatchDefaults, ShotSpec, read_shot_list
from .worker import ShotEvent, ShotResult

__all__ = [
    "DEFAULT_CHECKPOINTS",
    "BatchDefaults",
    "BatchReport",
    "LocalBackend",
    "RayBackend",
    "ShotEvent",
    "ShotResult",
    "ShotSpec",
    "WorkerSlot",
    "plan_batch",
    "plan_slots",
    "read_shot_list",
    "run_batch",
    "write_report",
]
