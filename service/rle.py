"""Run-length encoding of index masks, the compact JSON form the service sends and accepts.

An encoded mask is ``{"size": [H, W], "values": [v0, v1, ...], "counts": [n0, n1, ...]}``: the
mask's pixels in row-major order are `n0` pixels of object id `v0`, then `n1` of `v1`, and so on
(0 = background). Any numpy user decodes it with ``np.repeat(values, counts).reshape(H, W)``.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from xmempp.errors import InputError


def encode_rle(ids: np.ndarray) -> dict[str, list[int]]:
    """Encode an HxW uint8 index mask.

    Arguments:
        ids: HxW array of object ids (0..255).
    Returns:
        ``{"size": [H, W], "values": [...], "counts": [...]}``.
    """
    ids = np.asarray(ids)
    flat = ids.ravel()
    if flat.size == 0:
        return {"size": list(ids.shape), "values": [], "counts": []}
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    counts = np.diff(np.r_[starts, flat.size])
    return {"size": [int(ids.shape[0]), int(ids.shape[1])], "values": flat[starts].astype(int).tolist(),
            "counts": counts.astype(int).tolist()}


def decode_rle(encoded: Mapping[str, Any]) -> np.ndarray:
    """Decode a mask made by `encode_rle` (or any client following the same form).

    Arguments:
        encoded: mapping with "size" [H, W], "values" and "counts" of equal length.
    Returns:
        HxW uint8 index mask. Raises `InputError` saying what is wrong with a malformed encoding.
    """
    try:
        height, width = (int(v) for v in encoded["size"])
        values = np.asarray(encoded["values"], dtype=np.int64)
        counts = np.asarray(encoded["counts"], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError('an RLE mask needs "size": [H, W] and integer lists "values" and "counts" '
                         f"({type(exc).__name__}: {exc})") from None
    if height < 1 or width < 1:
        raise InputError(f"RLE mask size must be positive, got {height}x{width}")
    if values.ndim != 1 or values.shape != counts.shape:
        raise InputError(f'RLE "values" ({values.size}) and "counts" ({counts.size}) must be lists of equal length')
    if values.size and (values.min() < 0 or values.max() > 255):
        raise InputError("RLE values must be object ids 0..255")
    if counts.size and counts.min() < 0:
        raise InputError("RLE counts must not be negative")
    if int(counts.sum()) != height * width:
        raise InputError(f"RLE counts add up to {int(counts.sum())} pixels, but a {width}x{height} mask has "
                         f"{height * width}")
    return np.repeat(values.astype(np.uint8), counts).reshape(height, width)
