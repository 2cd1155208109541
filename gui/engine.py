"""Deprecated module: the GUI's model cache is `xmempp.gui.model_cache.ModelCache` (it was called `Engine` here
until 0.2.0; the old name keeps working with a `DeprecationWarning` and goes in 1.0)."""

from __future__ import annotations

import warnings
from typing import Any


def __getattr__(name: str) -> Any:
    """`Engine` and `weights_message` from their new module, with a `DeprecationWarning`."""
    from . import model_cache

    new = {"Engine": "ModelCache", "weights_message": "weights_message"}.get(name)
    if new is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"{__name__}.{name} is deprecated, use xmempp.gui.model_cache.{new} (it will be removed in 1.0)",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(model_cache, new)
