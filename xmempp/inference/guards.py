"""What `run_job` checks before a job's first frame, for every front end: the memory it needs, and
that no other run writes the same frames into its output folder (`xmempp.io.lock`).

A job that steps a frame range of its shot (`direction="shot"` with `start`/`count`: a chunk) holds
the lock of those frames only, so chunks of one shot can run into one folder at once.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

from xmempp.errors import XMemppWarning
from xmempp.inference.memory_estimate import check_job_memory
from xmempp.inference.plan import Direction
from xmempp.io.frame_capabilities import frame_numbers_of
from xmempp.io.lock import FolderLock, take_lock

__all__ = ["guard_job", "written_range"]


def written_range(job) -> tuple[int, int] | None:
    """The frame numbers (first, last) a chunk job writes, or None for a whole shot (or a non-shot plan).

    Arguments:
        job: a `ShotJob`.
    Returns:
        (first, last) by the source's frame numbers (0-based indices when it has none).
    """
    if job.direction != Direction.SHOT or (job.start is None and job.count is None):
        return None
    frames = job.plan().passes[0]
    if frames[0] == 0 and frames[-1] == len(job.frames) - 1:
        return None
    numbers = frame_numbers_of(job.frames) or range(len(job.frames))
    return int(numbers[frames[0]]), int(numbers[frames[-1]])


@contextlib.contextmanager
def guard_job(model, job, force_memory: bool = False) -> Iterator[FolderLock | None]:
    """Refuse a job the machine cannot hold, then hold its output folder's lock while it runs.

    Arguments:
        model: the loaded network (its widths and device, for the memory estimate).
        job: the `ShotJob` about to run; `job.outputs.force_unlock` takes over a held lock.
        force_memory: warn (`XMemppWarning`) instead of refusing when the estimate does not fit.
    Returns:
        A context manager yielding the lock (None without outputs). Raises `ResourceError` when the
        job does not fit and `LockedError` naming the run that holds the folder.
    """
    warning = check_job_memory(model, job, force=force_memory)
    if warning is not None:
        warnings.warn(XMemppWarning(str(warning), error=warning), stacklevel=3)
    if job.outputs is None:
        yield None
        return
    lock = take_lock(job.outputs.folder, written_range(job), force=job.outputs.force_unlock)
    try:
        yield lock
    finally:
        lock.release()
