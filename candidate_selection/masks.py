"""The selector's target masks: per-frame presence (percent of pixels above a threshold) and key-resolution weights.

A frame's mask is its target's soft mask (max over objects); presence is counted at the resolution the
mask is given in, in float32 as the reference does; the weights are the merged mask resized to the keys'
resolution by nearest neighbour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from xmempp.errors import InputError

__all__ = ["ArrayLike", "MaskInput", "as_tensor", "mask_presence_percent", "summarise_masks"]

ArrayLike = torch.Tensor | np.ndarray
MaskInput = ArrayLike | Sequence[ArrayLike]

#: Masks may exceed [0, 1] by this much (rounding in upstream resizes).
_MASK_RANGE_SLACK = 1e-3


def as_tensor(value: ArrayLike, name: str) -> torch.Tensor:
    """`value` as a tensor (numpy arrays shared, not copied); anything else is an `InputError` naming `name`."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    raise InputError(f"{name} must be a torch.Tensor or numpy array, got {type(value).__name__}")


def _threshold_ready(mask: torch.Tensor) -> torch.Tensor:
    """Booleans and integers become float32; floating masks keep their dtype."""
    if mask.dtype == torch.bool or not torch.is_floating_point(mask):
        return mask.to(torch.float32)
    return mask


def _weight_dtype(mask: torch.Tensor) -> torch.dtype:
    # float16/bfloat16 widen exactly to float32; float64 stays (the reference
    # multiplies the keys by the mask in the promoted dtype).
    return torch.float64 if mask.dtype == torch.float64 else torch.float32


def _check_range(mask: torch.Tensor, what: str) -> None:
    if mask.numel() == 0:
        raise InputError(f"{what} is empty")
    low, high = float(mask.min()), float(mask.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputError(f"{what} holds NaN or infinite values")
    if low < -_MASK_RANGE_SLACK or high > 1 + _MASK_RANGE_SLACK:
        raise InputError(
            f"{what} must be a soft mask with values in [0, 1], found [{low:g}, {high:g}]; "
            "for an index mask pass (mask > 0)"
        )


def _presence(binary_counts: torch.Tensor, pixels: int) -> torch.Tensor:
    # Same float32 arithmetic as the reference: count / numel * 100.
    return binary_counts / pixels * 100


def mask_presence_percent(mask: ArrayLike, epsilon: float = 0.5) -> float:
    """Percentage of pixels of one frame's soft mask above `epsilon`.

    Arguments:
        mask: (H, W) soft mask or (K, H, W) per-object soft masks (max over K).
        epsilon: foreground threshold.
    Returns:
        The percentage (0..100), computed in float32 as the reference does.
    """
    tensor = _threshold_ready(as_tensor(mask, "mask"))
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 3:
        raise InputError(f"a frame's mask must be (H, W) or (K, H, W), got shape {tuple(tensor.shape)}")
    merged = tensor.amax(dim=0)
    return float(_presence((merged > epsilon).sum(), merged.numel()))


def _resize_nearest(merged: torch.Tensor, key_hw: tuple[int, int]) -> torch.Tensor:
    """(T, H, W) -> (T, 1, h, w) by nearest neighbour, as torchvision's NEAREST resize."""
    weights = merged.to(_weight_dtype(merged)).unsqueeze(1)
    if tuple(weights.shape[-2:]) != tuple(key_hw):
        weights = torch.nn.functional.interpolate(weights, size=key_hw, mode="nearest")
    return weights


def summarise_masks(
    masks: MaskInput, key_hw: tuple[int, int], epsilon: float = 0.5, num_frames: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame mask presence and key-resolution weights.

    Arguments:
        masks: soft masks in [0, 1]: a (T, K, H, W) or (T, H, W) tensor/array
            (K objects are merged by max), or a sequence of per-frame (H, W) or
            (K, H, W) masks. Any resolution; presence is counted as given.
        key_hw: the key resolution (h, w) the weights are resized to (nearest).
        epsilon: foreground threshold for the presence count.
        num_frames: if given, the number of frames the masks must cover.
    Returns:
        presence (T,) float32 percentages and weights (T, 1, h, w) on the CPU
        (float32, or float64 for float64 masks).
    """
    if isinstance(masks, (torch.Tensor, np.ndarray)):
        tensor = _threshold_ready(as_tensor(masks, "masks")).cpu()
        if tensor.ndim == 3:
            tensor = tensor.unsqueeze(1)
        if tensor.ndim != 4:
            raise InputError(f"masks must be (T, K, H, W) or (T, H, W), got shape {tuple(tensor.shape)}")
        if num_frames is not None and tensor.shape[0] != num_frames:
            raise InputError(f"masks cover {tensor.shape[0]} frames but there are {num_frames} key frames")
        _check_range(tensor, "masks")
        merged = tensor.amax(dim=1)
        counts = (merged > epsilon).flatten(1).sum(dim=1)
        presence = _presence(counts, merged.shape[1] * merged.shape[2]).to(torch.float32)
        return presence, _resize_nearest(merged, key_hw)

    frames = list(masks)
    if num_frames is not None and len(frames) != num_frames:
        raise InputError(f"masks cover {len(frames)} frames but there are {num_frames} key frames")
    if not frames:
        raise InputError("no masks given")
    presence = torch.empty(len(frames), dtype=torch.float32)
    weights: list[torch.Tensor] = []
    for index, frame_mask in enumerate(frames):
        tensor = _threshold_ready(as_tensor(frame_mask, f"mask of frame {index}")).cpu()
        if tensor.ndim == 2:
            tensor = tensor.unsqueeze(0)
        if tensor.ndim != 3:
            raise InputError(f"the mask of frame {index} must be (H, W) or (K, H, W), got shape {tuple(tensor.shape)}")
        _check_range(tensor, f"the mask of frame {index}")
        merged = tensor.amax(dim=0, keepdim=True)
        presence[index] = _presence((merged > epsilon).sum(), merged.numel())
        weights.append(_resize_nearest(merged, key_hw)[0])
    dtype = torch.float64 if any(w.dtype == torch.float64 for w in weights) else torch.float32
    return presence, torch.stack([w.to(dtype) for w in weights])
