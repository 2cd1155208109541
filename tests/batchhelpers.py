"""Helpers for the batch tests: small generated shots on disk and shot lists naming them."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from iohelpers import write_palette_png
from xmempp.io.masks import davis_palette
from xmempp.io.synthetic import MovingDiscs


def write_shot(folder: Path, frames: int = 10, seed: int = 0, objects: int = 1) -> tuple[Path, Path]:
    """A clip of moving discs (64x112) as PNG frames, with its frame-0 mask; returns (plate, masks)."""
    clip = MovingDiscs(frames, objects=objects, seed=seed)
    plate, masks = folder / "plate", folder / "masks"
    plate.mkdir(parents=True)
    masks.mkdir()
    for index in range(frames):
        Image.fromarray(clip[index]).save(plate / f"{folder.name}_{1001 + index}.png")
    write_palette_png(masks / f"{folder.name}_1001.png", clip.mask(0), davis_palette())
    return plate, masks


def write_csv(path: Path, rows: Sequence[Mapping[str, object]]) -> Path:
    """A CSV shot list with the union of the rows' keys as columns."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_masks(output: Path) -> dict[str, np.ndarray]:
    """Every index PNG of an output folder, by file name."""
    return {p.name: np.array(Image.open(p)) for p in sorted((output / "masks").glob("*.png"))}
