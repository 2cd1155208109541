"""The artist's own soft values of a keyframe, for the output on that frame.

The network gets every keyframe binarised (`xmempp.io.masks`); the written matte of a keyframe
should be the artist's matte itself, so its edge does not pop against the refined frames around it.
`soft_keyframe` recovers the per-object soft matte of a keyframe with one object: a single-channel
8/16-bit matte, the alpha of a gray+alpha or RGBA image, or a flat colour anti-aliased or feathered
over black (alpha = the pixel's share of the object's colour). A hard mask, or one with several
objects, gives None (its binarised ids are the output, as before).
"""
from __future__ import annotations

from typing import Mapping, Optional

import cv2
import numpy as np

from xmempp.io.masks import LabeledMask

__all__ = ["soft_keyframe", "soft_keyframes"]


def _scale(data: np.ndarray) -> float:
    return 65535.0 if data.dtype == np.uint16 else 255.0 if data.dtype == np.uint8 else 1.0


def soft_keyframe(mask: LabeledMask) -> Optional[dict[int, np.ndarray]]:
    """The soft matte of a one-object soft keyframe.

    Arguments:
        mask: the keyframe as read (its `path` is re-read for the soft values).
    Returns:
        {object id: HxW float32 matte 0..1} when the file is a soft matte of one object, else None.
    """
    ids = mask.object_ids
    if mask.path is None or len(ids) != 1 or mask.path.suffix.lower() not in (".png", ".tif", ".tiff"):
        return None
    data = cv2.imread(str(mask.path), cv2.IMREAD_UNCHANGED)
    if data is None or data.shape[:2] != mask.size:
        return None
    if data.ndim == 3 and data.shape[2] in (2, 4):
        alpha = data[:, :, -1].astype(np.float32) / _scale(data)
    elif data.ndim == 3:
        rgb = data[:, :, :3].astype(np.float32)
        flat = np.median(rgb[mask.ids == ids[0]], axis=0)
        norm = float(flat @ flat)
        if norm <= 0:
            return None
        alpha = np.clip(rgb @ flat / norm, 0, 1).astype(np.float32)
    else:
        values = data.astype(np.float32)
        top = float(values.max())
        if top <= 0:
            return None
        alpha = values / (_scale(data) if top > 1 else top)
    if len(np.unique(alpha)) <= 2:
        return None  # hard: the binarised ids are the artist's matte already
    return {ids[0]: np.clip(alpha, 0, 1)}


def soft_keyframes(masks: Mapping[int, LabeledMask]) -> dict[int, dict[int, np.ndarray]]:
    """The soft keyframes among `masks` (frame index -> mask): frame index -> {object id: soft matte}."""
    found = {index: soft_keyframe(mask) for index, mask in masks.items()}
    return {index: soft for index, soft in found.items() if soft is not None}
