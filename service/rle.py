"""Run-length encoding of index masks, the compact JSON form the service sends and accepts.

An encoded mask is ``{"size": [H, W], "values": [v0, v1, ...], "counts": [n0, n1, ...]}``: the
mask's pixels in row-major order are `n0` pixels of object id `v0`, then `n1` of `v1`, and so on
(0 = background). Any numpy user decodes it with ``np.repeat(values, counts).reshape(H, W)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from xmempp.errors import InputError

#: Largest mask an RLE body may declare (height x width), whatever the session: 16384 x 16384.
MAX_RLE_PIXELS = 1 << 28
#: Bytes an RLE JSON body may take per pixel of its mask, and on top: a run per pixel written out with an id
#: (up to 3 digits), a count and their separators, pretty-printed, fits with room to spare.
RLE_BODY_BYTES_PER_PIXEL = 32
RLE_BODY_SLACK_BYTES = 64 << 10


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
    return {
        "size": [int(ids.shape[0]), int(ids.shape[1])],
        "values": flat[starts].astype(int).tolist(),
        "counts": counts.astype(int).tolist(),
    }


def check_rle_body_length(length: int, expected_size: tuple[int, int]) -> None:
    """Refuse an RLE JSON body of `length` bytes that is longer than any valid mask of `expected_size` (height,
    width) needs (`InputError`); the service checks the declared Content-Length before reading the body."""
    height, width = expected_size
    most = RLE_BODY_SLACK_BYTES + RLE_BODY_BYTES_PER_PIXEL * int(height) * int(width)
    if length > most:
        raise InputError(
            f"the RLE body is {length} bytes, more than any mask of a {width}x{height} frame needs "
            f"(at most {most}); send the runs of one mask of the frame's size"
        )


def parse_rle_json(data: bytes, expected_size: tuple[int, int]) -> np.ndarray:
    """Decode an RLE mask sent as JSON bytes for a frame of `expected_size`, bounding the work first.

    A body longer than any valid mask of that size could need, or with more runs than the mask has pixels
    (counted by its commas: two per run), is refused before it is parsed, so a large body costs a length
    check and a byte scan, not a parse into millions of Python objects.

    Arguments:
        data: the request body (UTF-8 JSON `{"size": [H, W], "values": [...], "counts": [...]}`).
        expected_size: (height, width) of the session's frames.
    Returns:
        HxW uint8 index mask. Raises `InputError` saying what is wrong.
    """
    height, width = expected_size
    pixels = int(height) * int(width)
    check_rle_body_length(len(data), expected_size)
    commas = data.count(b",")
    if commas > 2 * pixels + 16:
        raise InputError(
            f"the RLE body holds about {commas // 2} runs, more than the {pixels} pixels of a "
            f"{width}x{height} frame; send the runs of one mask of the frame's size"
        )
    try:
        encoded = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"malformed JSON: {exc}") from None
    if not isinstance(encoded, dict):
        raise InputError('the JSON body must be an object {"size": [H, W], "values": [...], "counts": [...]}')
    return decode_rle(encoded, expected_size=(height, width))


def decode_rle(
    encoded: Mapping[str, Any], expected_size: tuple[int, int] | None = None, max_pixels: int = MAX_RLE_PIXELS
) -> np.ndarray:
    """Decode a mask made by `encode_rle` (or any client following the same form).

    Every declared size is checked before any pixel is allocated: the mask's size against
    `max_pixels` and `expected_size`, the lists' lengths and values, and the counts' sum.

    Arguments:
        encoded: mapping with "size" [H, W], "values" and "counts" of equal length (integers only).
        expected_size: (height, width) the mask must have, when known.
        max_pixels: largest mask accepted (height x width).
    Returns:
        HxW uint8 index mask. Raises `InputError` saying what is wrong with a malformed encoding.
    """
    size, values, counts = (encoded.get(key) for key in ("size", "values", "counts"))
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)):
        raise InputError('an RLE mask needs "size": [H, W] (two integers), "values" and "counts" (lists of integers)')
    height, width = size
    if height < 1 or width < 1:
        raise InputError(f"RLE mask size must be positive, got {height}x{width}")
    if height * width > max_pixels:
        raise InputError(
            f"the RLE mask declares {width}x{height} pixels, more than the {max_pixels} this server accepts"
        )
    if expected_size is not None and (height, width) != tuple(expected_size):
        raise InputError(
            f"the mask is {width}x{height}, the frames are {expected_size[1]}x{expected_size[0]}; a mask "
            "must match its frame"
        )
    if not isinstance(values, list) or not isinstance(counts, list):
        raise InputError('RLE "values" and "counts" must be lists of integers')
    if len(values) != len(counts):
        raise InputError(f'RLE "values" ({len(values)}) and "counts" ({len(counts)}) must be lists of equal length')
    if len(counts) > height * width:
        raise InputError(f"the RLE mask has {len(counts)} runs, more than its {height * width} pixels")
    for name, items in (("values", values), ("counts", counts)):
        bad = next((v for v in items if not _is_int(v)), None)
        if bad is not None:
            raise InputError(f'RLE "{name}" must hold integers only, got {bad!r}')
    if values and (min(values) < 0 or max(values) > 255):
        raise InputError("RLE values must be object ids 0..255")
    if counts and min(counts) < 0:
        raise InputError("RLE counts must not be negative")
    if sum(counts) != height * width:
        raise InputError(f"RLE counts add up to {sum(counts)} pixels, but a {width}x{height} mask has {height * width}")
    return np.repeat(np.asarray(values, dtype=np.uint8), np.asarray(counts, dtype=np.int64)).reshape(height, width)


def _is_int(value: Any) -> bool:
    """A JSON integer (not a bool, not a float such as 1.5 or 2.0)."""
    return isinstance(value, int) and not isinstance(value, bool)
