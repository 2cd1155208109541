"""Deprecated since 0.3.0: renamed `xmempp.io.matte_folders`
(folders of existing soft mattes). Import that; this name goes in 1.0."""

from __future__ import annotations

import sys
import warnings

import xmempp.io.matte_folders as _renamed

warnings.warn(
    "xmempp.io.soft_mattes is deprecated since 0.3.0; import xmempp.io.matte_folders", DeprecationWarning, stacklevel=2
)
sys.modules[__name__] = _renamed
