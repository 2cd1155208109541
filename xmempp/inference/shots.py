"""Deprecated since 0.3.0: renamed `xmempp.inference.shot_folders`
(a shot's plate, annotation and output folders as a job). Import that; this name goes in 1.0."""

from __future__ import annotations

import sys
import warnings

import xmempp.inference.shot_folders as _renamed

warnings.warn(
    "xmempp.inference.shots is deprecated since 0.3.0; import xmempp.inference.shot_folders",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _renamed
