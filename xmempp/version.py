"""The installed version (pyproject.toml's is the one place it is written)."""

from __future__ import annotations

import importlib.metadata

try:
    __version__ = importlib.metadata.version("xmempp")
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
