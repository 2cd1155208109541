"""Deprecated since 0.3.0: renamed `xmempp.io.matte_files`
(soft matte files: read and write one matte or EXR channels). Import that; this name goes in 1.0."""

from __future__ import annotations

import sys
import warnings

import xmempp.io.matte_files as _renamed

warnings.warn(
    "xmempp.io.mattes is deprecated since 0.3.0; import xmempp.io.matte_files", DeprecationWarning, stacklevel=2
)
sys.modules[__name__] = _renamed
