"""Deprecated since 0.3.0: renamed `xmempp.io.soft_keyframes`
(soft keyframes split into objects). Import that; this name goes in 1.0."""

from __future__ import annotations

import sys
import warnings

import xmempp.io.soft_keyframes as _renamed

warnings.warn(
    "xmempp.io.mask_soft is deprecated since 0.3.0; import xmempp.io.soft_keyframes", DeprecationWarning, stacklevel=2
)
sys.modules[__name__] = _renamed
