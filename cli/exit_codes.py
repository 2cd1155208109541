"""Exit statuses by cause, so a render farm can decide whether to retry a task.

| code | cause | retry? |
| --- | --- | --- |
| 0 | success | - |
| 1 | internal error (a bug in xmempp) | no: report it |
| 2 | bad input or settings (frames, masks, weights, options) | no: fix the input |
| 3 | output or disk (folder not writable, disk full, results in the way) | after fixing the storage |
| 4 | out of memory (refused up front, or the device ran out) | on a bigger machine or smaller `--size` |
| 5 | output folder locked by another run | later (the other run holds it) |
| 6 | batch: some shots failed (the others are done) | rerun the batch: finished shots are skipped |
| 130 / 143 | interrupted by SIGINT / SIGTERM (a checkpoint was saved) | yes: `--resume` continues |
"""

from __future__ import annotations

import errno
from enum import IntEnum

from xmempp.errors import (
    ConfigError,
    InputError,
    MemoryStateError,
    OutputError,
    ResourceError,
    WeightsError,
    XMemppError,
)
from xmempp.io.lock import LockedError

__all__ = ["ExitCode", "exit_code_for"]


class ExitCode(IntEnum):
    """The exit statuses of every `xmempp` command."""

    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    OUTPUT = 3
    OUT_OF_MEMORY = 4
    LOCKED = 5
    SHOTS_FAILED = 6
    INTERRUPTED = 130
    TERMINATED = 143


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit status for an exception that ended a command.

    Arguments:
        exc: a reported `XMemppError`, an out-of-memory error, a disk error, or anything else (a bug).
    Returns:
        The `ExitCode` of its cause.
    """
    if isinstance(exc, LockedError):
        return ExitCode.LOCKED
    if isinstance(exc, OutputError):
        return ExitCode.OUTPUT
    if isinstance(exc, ResourceError) or _out_of_memory(exc):
        return ExitCode.OUT_OF_MEMORY
    if isinstance(exc, (InputError, ConfigError, WeightsError, MemoryStateError)):
        return ExitCode.BAD_INPUT
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
        return ExitCode.OUTPUT
    if isinstance(exc, XMemppError):
        return ExitCode.BAD_INPUT
    return ExitCode.INTERNAL


def _out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    import torch

    return isinstance(exc, torch.OutOfMemoryError)
