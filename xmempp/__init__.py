"""xmempp: XMem video object segmentation with XMem++ permanent memory, for rotoscoping.

Everything the docs use is importable from here: the front door `Predictor` (load weights, propagate, open a
session), the lower-level `load_model` / `propagate` / `InferenceSession`, the job API (`ShotJob`, `JobOutputs`,
`run_job`, `iter_job`), frame and mask readers (`open_frames`, `read_mask_folder`), the `Mode` and `Direction`
enums every front end uses, the Qt-free model of an interactive shot
(`AnnotationSession`), and the errors.
"""
from __future__ import annotations

from xmempp.version import __version__

from xmempp.annotation import AnnotationSession
from xmempp.inference.config import InferenceConfig
from xmempp.errors import (ConfigError, InputError, MemoryStateError, OutputError, ResourceError, WeightsError,
                           XMemppError)
from xmempp.inference.jobs import JobOutputs, JobReport, ShotJob, iter_job, propagate, run_job
from xmempp.inference.plan import Direction, Mode
from xmempp.inference.predictor import Predictor, Propagated
from xmempp.inference.session import InferenceSession
from xmempp.memory.manager import MemoryStats
from xmempp.model.loading import load_model
from xmempp.model.network import XMemNetwork
from xmempp.io.masks import read_mask_folder
from xmempp.io.sources import open_frames
from xmempp.io.writers import WriterOptions

__all__ = [
    "__version__", "Predictor", "Propagated", "Mode", "Direction", "AnnotationSession",
    "InferenceConfig", "InferenceSession", "MemoryStats", "XMemNetwork", "load_model", "propagate",
    "ShotJob", "JobOutputs", "JobReport", "run_job", "iter_job", "WriterOptions", "open_frames", "read_mask_folder",
    "XMemppError", "ConfigError", "InputError", "MemoryStateError", "OutputError", "ResourceError", "WeightsError",
]
