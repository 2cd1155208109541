"""Small type aliases shared across the core."""

from __future__ import annotations

import os
from typing import Union

#: A filesystem path as callers give it.
PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["PathLike"]
