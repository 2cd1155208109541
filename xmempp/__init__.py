"""xmempp: XMem video object segmentation with XMem++ permanent memory, for rotoscoping."""
from __future__ import annotations

__version__ = "0.1.0"

from .config import InferenceConfig
from .errors import ConfigError, InputError, MemoryStateError, OutputError, WeightsError, XMemppError
from .inference import InferenceSession, propagate
from .memory import MemoryStats
from .model_loading import load_model
from .network import XMemNetwork

__all__ = [
    "__version__", "InferenceConfig", "InferenceSession", "MemoryStats", "XMemNetwork", "load_model", "propagate",
    "XMemppError", "ConfigError", "InputError", "MemoryStateError", "OutputError", "WeightsError",
]
