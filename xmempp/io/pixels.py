"""Pixel operations on probabilities: the winning object per pixel and coloured overlays."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from xmempp.inference.objects import ObjectOrder
from xmempp.io.masks import davis_palette

__all__ = ["argmax_channels", "overlay_image", "probs_to_ids"]


def argmax_channels(probs: np.ndarray) -> np.ndarray:
    """Index of the largest channel per pixel (first one on ties, like `np.argmax`), as uint8.

    Walks the channels with whole-image operations, which is several times faster than
    `np.argmax(axis=0)` on a channel-first array.
    """
    best = np.array(probs[0], dtype=np.float32, copy=True)
    winner = np.zeros(best.shape, dtype=np.uint8)
    for k in range(1, probs.shape[0]):
        channel = probs[k]
        better = channel > best
        winner[better] = k
        np.maximum(best, channel, out=best)
    return winner


def probs_to_ids(probs: np.ndarray, object_ids: Sequence[int]) -> np.ndarray:
    """Per-pixel argmax of (1+K)xHxW probabilities, as original object ids.

    Arguments:
        probs: background first, then the objects in `object_ids` order.
        object_ids: original id of each object channel.
    Returns:
        HxW uint8 array of original ids (0 = background).
    """
    return ObjectOrder(tuple(int(i) for i in object_ids)).to_ids(argmax_channels(np.asarray(probs)))


def overlay_image(
    frame_rgb: np.ndarray, ids: np.ndarray, palette: np.ndarray | None = None, opacity: float = 0.5
) -> np.ndarray:
    """Blend object colours over a frame.

    Arguments:
        frame_rgb: HxWx3 uint8 RGB frame.
        ids: HxW uint8 object ids (0 = background, left untouched).
        palette: (256,3) uint8 colours per id (DAVIS palette when None).
        opacity: weight of the colour in object pixels.
    Returns:
        HxWx3 uint8 RGB image.
    """
    palette = davis_palette() if palette is None else np.asarray(palette, dtype=np.uint8)
    lut = np.zeros((256, 1, 3), dtype=np.uint8)
    lut[: len(palette), 0] = palette[:256]
    ids = np.ascontiguousarray(ids, dtype=np.uint8)
    colours = cv2.LUT(cv2.merge([ids, ids, ids]), lut)
    frame_rgb = np.ascontiguousarray(frame_rgb)
    out = cv2.addWeighted(frame_rgb, 1.0 - opacity, colours, opacity, 0.0)
    background = (ids == 0).view(np.uint8)
    cv2.copyTo(frame_rgb, background, out)
    return out
