"""Deprecated since 0.3.0: renamed `xmempp.inference.job_spec`
(what a job is and its prepared run). Import that; this name goes in 1.0."""

from __future__ import annotations

import sys
import warnings

import xmempp.inference.job_spec as _renamed

warnings.warn(
    "xmempp.inference.shot_job is deprecated since 0.3.0; import xmempp.inference.job_spec",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _renamed
