"""Mask colours: the DAVIS palette and the exact colour -> object id numbering of RGB masks."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from xmempp.errors import InputError

__all__ = ["MAX_OBJECTS", "ColorTable", "davis_palette", "pack_rgb", "present_ids", "unpack_rgb"]

#: Most distinct object ids one mask may hold; more means anti-aliased / soft edges.
MAX_OBJECTS = 64


def davis_palette() -> np.ndarray:
    """The DAVIS / PASCAL VOC palette: index bits interleaved into the high bits of R, G, B.

    Returns:
        A (256, 3) uint8 array; index 0 = (0,0,0), 1 = (128,0,0), 2 = (0,128,0), 3 = (128,128,0),
        4 = (0,0,128), ..., 255 = (224,224,192).
    """
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
            if not value:
                break
        palette[index] = (r, g, b)
    return palette


_DAVIS = davis_palette()
_DAVIS_CODES = {int(r) << 16 | int(g) << 8 | int(b): i for i, (r, g, b) in enumerate(_DAVIS) if i > 0}


def present_ids(ids: np.ndarray) -> list[int]:
    """Sorted non-zero values of a uint8 id array (fast: a histogram, not a sort).

    Arguments:
        ids: array of uint8 object ids.
    Returns:
        The ids present, ascending, without 0.
    """
    counts = np.bincount(np.asarray(ids, dtype=np.uint8).ravel(), minlength=256)
    return [int(i) for i in np.flatnonzero(counts) if i != 0]


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """Pack HxWx3 uint8 colours into one uint32 code (0xRRGGBB) per pixel."""
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def unpack_rgb(code: int) -> tuple[int, int, int]:
    """The (r, g, b) of a packed 0xRRGGBB code."""
    return (code >> 16) & 255, (code >> 8) & 255, code & 255


class ColorTable:
    """Exact colour -> id assignment for RGB masks, shared across the masks of one folder.

    Black is 0; a DAVIS palette colour is its palette index; every other colour gets the next id
    after the highest id assigned so far. Adding colours in order of first appearance gives the
    numbering documented in `xmempp.io.masks`.
    """

    def __init__(self) -> None:
        self._ids: dict[int, int] = {0: 0}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, code: int) -> bool:
        return code in self._ids

    def add(self, codes: Iterable[int], culprit: Path | None = None) -> None:
        """Register colours (packed as 0xRRGGBB) in order of first appearance.

        Arguments:
            codes: packed colours; ones already known are skipped.
            culprit: file named in the error raised when ids run out.
        Returns:
            None.
        """
        new = [int(c) for c in dict.fromkeys(int(c) for c in codes) if int(c) not in self._ids]
        used = set(self._ids.values())
        rest = []
        for code in new:
            index = _DAVIS_CODES.get(code)
            if index is not None and index not in used:
                self._ids[code] = index
                used.add(index)
            else:
                rest.append(code)
        for code in rest:
            next_id = max(used) + 1
            if next_id > 255:
                where = f" (in {culprit})" if culprit else ""
                raise InputError(
                    f"too many mask colours{where}: object ids ran past 255; use at most {MAX_OBJECTS} flat colours"
                )
            self._ids[code] = next_id
            used.add(next_id)

    def lookup(self, codes: np.ndarray) -> np.ndarray:
        """Map an array of packed colours (all registered) to uint8 ids."""
        uniq, inverse = np.unique(codes.ravel(), return_inverse=True)
        lut = np.array([self._ids[int(c)] for c in uniq], dtype=np.uint8)
        return lut[inverse].reshape(codes.shape)

    def id_of(self, code: int) -> int:
        """The id of one registered colour."""
        return self._ids[int(code)]

    def items(self) -> list[tuple[int, int]]:
        """(packed colour, id) of every registered colour, by id: adding the colours one at a time in this order
        to a new table gives the same ids (how a saved table is restored)."""
        return sorted(self._ids.items(), key=lambda item: item[1])

    def palette(self) -> np.ndarray:
        """(256, 3) uint8 palette: DAVIS colours, overridden by every registered colour at its id."""
        palette = _DAVIS.copy()
        for code, index in self._ids.items():
            palette[index] = unpack_rgb(code)
        return palette
