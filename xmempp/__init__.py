"""xmempp: XMem video object segmentation with XMem++ permanent memory, for rotoscoping."""
from __future__ import annotations

__version__ = "0.1.0"

from .config import InferenceConfig
from .errors import ConfigError, InputError, MemoryStateError, OutputError, WeightsError, XMemppError

__all__ = [
    "__version__", "InferenceConfig", "XMemppError", "ConfigError", "InputError", "MemoryStateError",
    "OutputError", "WeightsError",
]
