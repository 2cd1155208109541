"""Roto as object ids: `LabeledMask`, reading one file onto its frame (see `xmempp.io.masks`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xmempp.errors import InputError, Remedy, RemedyKind
from xmempp.io.mask_files import RawMask, decode_mask
from xmempp.io.mask_fit import Window, fit_to_frame
from xmempp.io.mask_palette import ColorTable, present_ids
from xmempp.types import PathLike

__all__ = [
    "LabeledMask",
    "check_threshold",
    "finish_mask",
    "mask_frame_index",
    "object_names",
    "output_palette",
    "read_mask",
]


@dataclass
class LabeledMask:
    """An annotation mask as object ids.

    Attributes:
        ids: HxW uint8 array of object ids (0 = background).
        palette: (256, 3) uint8 palette to write outputs with, or None for a grayscale source
            (outputs are then written as grayscale index PNGs).
        path: the file (or object folder) it was read from, if any.
        soft: object id -> HxW float32 coverage 0..1 of a soft roto (the artist's edge), None for
            a hard mask (coverage = ids == id).
        names: object id -> name (per-object folders), empty when the roto names no objects.
    """

    ids: np.ndarray
    palette: np.ndarray | None = None
    path: Path | None = None
    soft: dict[int, np.ndarray] | None = None
    names: dict[int, str] = field(default_factory=dict)

    @property
    def object_ids(self) -> list[int]:
        """Sorted non-zero ids present in the mask."""
        return present_ids(self.ids)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return (int(self.ids.shape[0]), int(self.ids.shape[1]))

    def matte(self, object_id: int) -> np.ndarray:
        """The object's coverage 0..1 as HxW float32: the artist's soft values, else its hard pixels."""
        if self.soft is not None and object_id in self.soft:
            return self.soft[object_id]
        return (self.ids == object_id).astype(np.float32)


def check_threshold(threshold: float) -> float:
    """The mask threshold as a float; `InputError` outside (0, 1]."""
    if not 0.0 < float(threshold) <= 1.0:
        raise InputError(
            f"mask threshold must be in (0, 1], not {threshold}", remedy=Remedy(RemedyKind.SET, "mask_threshold", 0.5)
        )
    return float(threshold)


def finish_mask(
    raw: RawMask,
    table: ColorTable | None,
    size: tuple[int, int] | None = None,
    windows: tuple[Window, Window] | None = None,
    threshold: float = 0.5,
    notices: list[str] | None = None,
) -> LabeledMask:
    """Turn a decoded mask into ids (RGB colours through `table`) on its frame's pixels.

    Arguments:
        raw: from `decode_mask`.
        table: the shot's colour numbering (needed for RGB masks).
        size, windows: the frame's (height, width) and EXR windows; None keeps the file's size.
        threshold: coverage an object needs after scaling.
        notices: receives a line when the roto was scaled.
    Returns:
        A `LabeledMask`.
    """
    if raw.kind == "index":
        ids, palette, soft = raw.data, raw.palette, raw.soft
    else:
        if table is None:
            raise InputError(f"{raw.path} is a colour mask: read it with a ColorTable to number its colours")
        ids, palette = table.lookup(raw.data), table.palette()
        soft = {table.id_of(c): s for c, s in raw.soft.items()} if raw.soft is not None else None
    if size is not None:
        ids, soft, notice = fit_to_frame(ids, soft, size, windows, threshold, raw.path)
        if notice and notices is not None:
            notices.append(notice)
    return LabeledMask(ids, palette, raw.path, soft)


def read_mask(
    path: PathLike,
    color_table: ColorTable | None = None,
    expected_size: tuple[int, int] | None = None,
    threshold: float = 0.5,
    channel: str | None = None,
    windows: tuple[Window, Window] | None = None,
    notices: list[str] | None = None,
) -> LabeledMask:
    """Read one annotation mask as object ids.

    Arguments:
        path: a PNG/TIFF (palette, grayscale 8/16-bit, flat or soft colour, soft matte) or an EXR.
        color_table: colour numbering shared with other RGB masks of the same shot (a new table
            is used when None, i.e. this mask is numbered on its own).
        expected_size: (height, width) of its frame: the roto is brought onto it (display window,
            scaled proxy) or refused.
        threshold: share of an object a soft-mask pixel needs to belong to it (0 < t <= 1).
        channel: the EXR channel holding the roto.
        windows: (data window, display window) of its frame (EXR plates).
        notices: receives a line for every roto that was scaled.
    Returns:
        A `LabeledMask`. Raises `InputError` naming the file when it is not an image, is lossy,
        corrupt, of another aspect ratio, ambiguous, or has more than `MAX_OBJECTS` objects.
    """
    threshold = check_threshold(threshold)
    raw = decode_mask(Path(path), threshold, channel)
    if raw.kind == "rgb":
        color_table = color_table if color_table is not None else ColorTable()
        color_table.add(raw.colours if raw.colours is not None else (), culprit=raw.path)
    return finish_mask(raw, color_table, expected_size, windows, threshold, notices)


def mask_frame_index(stem: str) -> int | None:
    """The trailing number of a mask stem (`12`, `0012`, `frame_000012` -> 12), or None."""
    digits = len(stem) - len(stem.rstrip("0123456789"))
    return int(stem[-digits:]) if digits else None


def output_palette(masks: Mapping[int, LabeledMask]) -> np.ndarray | None:
    """The palette outputs should use: that of the first mask (frame order) that has one.

    Arguments:
        masks: {frame index: LabeledMask}.
    Returns:
        A (256, 3) uint8 palette, or None when every mask is grayscale (outputs stay grayscale).
    """
    for index in sorted(masks):
        if masks[index].palette is not None:
            return masks[index].palette
    return None


def object_names(masks: Mapping[int, LabeledMask]) -> dict[int, str]:
    """Object id -> name from the roto (per-object folders); empty when it names none."""
    names: dict[int, str] = {}
    for mask in masks.values():
        names.update(mask.names)
    return names
