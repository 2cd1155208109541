"""xmempp: XMem video object segmentation with XMem++ permanent memory, for rotoscoping."""
from __future__ import annotations

import importlib.metadata

try:  # pyproject.toml's version is the one place it is written
    __version__ = importlib.metadata.version("xmempp")
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

from xmempp.annotation import AnnotationSession
from xmempp.inference.config import InferenceConfig
from xmempp.errors import (ConfigError, InputError, MemoryStateError, OutputError, ResourceError, WeightsError,
                           XMemppError)
from xmempp.inference.jobs import propagate
from xmempp.inference.session import InferenceSession
from xmempp.memory.manager import MemoryStats
from xmempp.model.loading import load_model
from xmempp.model.network import XMemNetwork

__all__ = [
    "__version__", "AnnotationSession", "InferenceConfig", "InferenceSession", "MemoryStats", "XMemNetwork", "load_model", "propagate",
    "XMemppError", "ConfigError", "InputError", "MemoryStateError", "OutputError", "ResourceError", "WeightsError",
]
