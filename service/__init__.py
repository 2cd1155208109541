"""`xmempp serve`: XMem++ as a tracking service for annotation tools (HTTP API, CVAT and Supervisely adapters).

The service is a front end: it runs every shot through the core's job API, on one network shared by
a single work queue (`Scheduler`).
"""

from __future__ import annotations

from typing import Any

from .app import create_app
from .scheduler import Scheduler
from .settings import ServiceSettings

__all__ = ["Scheduler", "ServiceSettings", "create_app"]


def __getattr__(name: str) -> Any:
    """`Engine`, the scheduler's old name, still works with a `DeprecationWarning` (until 1.0)."""
    from .engine import deprecated_name

    return deprecated_name(__name__, name)
