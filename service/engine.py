"""Deprecated module: the service's scheduler is `xmempp.service.scheduler.Scheduler` (it was called `Engine`
here until 0.2.0; the old names keep working with a `DeprecationWarning` and go in 1.0)."""

from __future__ import annotations

import warnings
from typing import Any

from .scheduler import Scheduler, SchedulerClosed

#: Old name -> the object it now is.
RENAMED = {"Engine": Scheduler, "EngineClosed": SchedulerClosed}


def deprecated_name(module: str, name: str) -> Any:
    """The object an old name of the service's scheduler stands for, with a `DeprecationWarning` naming the new
    one; raises `AttributeError` for any other name."""
    if name not in RENAMED:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    new = RENAMED[name].__name__
    warnings.warn(
        f"{module}.{name} is deprecated, use xmempp.service.scheduler.{new} (it will be removed in 1.0)",
        DeprecationWarning,
        stacklevel=3,
    )
    return RENAMED[name]


def __getattr__(name: str) -> Any:
    return deprecated_name(__name__, name)
