"""xmempp: XMem video object segmentation with XMem++ permanent memory, for rotoscoping.

Everything the docs use is importable from here: the front door `Predictor` (load weights, propagate, open a
session), the lower-level `load_model` / `propagate` / `InferenceSession`, the job API (`ShotJob`, `JobOutputs`,
`run_job`, `iter_job`), frame and mask readers (`open_frames`, `read_mask_folder`), the `Mode` and `Direction`
enums every front end uses, the Qt-free model of an interactive shot
(`AnnotationSession`), and the errors.
"""

from __future__ import annotations

from xmempp.annotation import AnnotationSession
from xmempp.errors import (
    ConfigError,
    InputError,
    MemoryStateError,
    OutputError,
    ResourceError,
    WeightsError,
    XMemppError,
)
from xmempp.inference.config import InferenceConfig
from xmempp.inference.jobs import JobOutputs, JobReport, ShotJob, iter_job, propagate, run_job
from xmempp.inference.plan import Direction, Mode
from xmempp.inference.predictor import Predictor, Propagated
from xmempp.inference.session import InferenceSession
from xmempp.io.masks import read_mask_folder
from xmempp.io.sources import open_frames
from xmempp.io.writers import WriterOptions
from xmempp.memory.manager import MemoryStats
from xmempp.model.loading import load_model
from xmempp.model.network import XMemNetwork
from xmempp.version import __version__

__all__ = [
    "AnnotationSession",
    "ConfigError",
    "Direction",
    "InferenceConfig",
    "InferenceSession",
    "InputError",
    "JobOutputs",
    "JobReport",
    "MemoryStateError",
    "MemoryStats",
    "Mode",
    "OutputError",
    "Predictor",
    "Propagated",
    "ResourceError",
    "ShotJob",
    "WeightsError",
    "WriterOptions",
    "XMemNetwork",
    "XMemppError",
    "__version__",
    "iter_job",
    "load_model",
    "open_frames",
    "propagate",
    "read_mask_folder",
    "run_job",
]
