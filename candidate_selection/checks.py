"""Checks of the selector's inputs: key features, parameters and the frames already chosen."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np
import torch

from xmempp.errors import ConfigError, InputError

__all__ = ["check_features", "check_parameters", "normalise_chosen"]


def check_features(keys: torch.Tensor, shrinkages: torch.Tensor, selections: torch.Tensor) -> None:
    """Raise `InputError` unless keys (T, C, h, w), shrinkages (T, 1, h, w) and selections match, finite floats."""
    if keys.ndim != 4:
        raise InputError(f"keys must be (T, C, h, w), got shape {tuple(keys.shape)}")
    frames, channels, height, width = keys.shape
    if frames == 0 or channels == 0 or height == 0 or width == 0:
        raise InputError(f"keys must not be empty, got shape {tuple(keys.shape)}")
    if tuple(shrinkages.shape) != (frames, 1, height, width):
        raise InputError(
            f"shrinkages must be {(frames, 1, height, width)} to match the keys, got {tuple(shrinkages.shape)}"
        )
    if tuple(selections.shape) != tuple(keys.shape):
        raise InputError(f"selections must be {tuple(keys.shape)} to match the keys, got {tuple(selections.shape)}")
    for name, tensor in (("keys", keys), ("shrinkages", shrinkages), ("selections", selections)):
        if not torch.is_floating_point(tensor):
            raise InputError(f"{name} must be floating point, got {tensor.dtype}")
        if not bool(torch.isfinite(tensor).all()):
            raise InputError(f"{name} hold NaN or infinite values; re-extract the key features")


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_parameters(k: int, alpha: float, min_mask_presence_percent: float, epsilon: float) -> None:
    """Raise `ConfigError` for a negative or non-integer `k` or a parameter out of its range."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ConfigError(f"k (number of frames to suggest) must be a non-negative integer, got {k!r}")
    if not _is_real(alpha) or not 0.0 <= alpha <= 1.0:
        raise ConfigError(
            f"alpha must be between 0 and 1 (0 ignores the masks, 1 compares only masked regions), got {alpha!r}"
        )
    if not _is_real(min_mask_presence_percent) or not 0.0 <= min_mask_presence_percent <= 100.0:
        raise ConfigError(
            f"min_mask_presence_percent is a percentage between 0 and 100, got {min_mask_presence_percent!r}"
        )
    if not _is_real(epsilon) or not math.isfinite(epsilon):
        raise ConfigError(f"epsilon (foreground threshold of the soft masks) must be a number, got {epsilon!r}")


def normalise_chosen(previously_chosen: Iterable[int], frames: int) -> tuple[int, ...]:
    """The frames already chosen as distinct ints in their order, each checked against the clip's `frames`."""
    result: list[int] = []
    for value in previously_chosen:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InputError(f"previously chosen frames must be integer indices, got {value!r}")
        index = int(value)
        if not 0 <= index < frames:
            raise InputError(
                f"previously chosen frame {index} is out of range: the video has {frames} frames (0..{frames - 1})"
            )
        if index not in result:
            result.append(index)
    if not result:
        raise ConfigError(
            "previously_chosen must name at least one frame (the frames already annotated); "
            "dissimilarity is measured against them"
        )
    return tuple(result)
