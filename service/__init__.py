"""`xmempp serve`: XMem++ as a tracking service for annotation tools (HTTP API, CVAT and Supervisely adapters).

The service is a front end: it runs every shot through the core's job API, on one network shared by
a single work queue (`Engine`).
"""
from __future__ import annotations

from .app import create_app
from .engine import Engine
from .settings import ServiceSettings

__all__ = ["create_app", "Engine", "ServiceSettings"]
