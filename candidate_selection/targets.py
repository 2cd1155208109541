"""Soft target masks for the selector, read back from the mattes `xmempp process` writes.

Every matte output is read: `OUT/alpha/<id>/<stem>.png|.tif|.exr` (8/16-bit PNG or TIFF, half-float
EXR) and `OUT/layers/<name>.<n>.exr` (one channel `<object>.A` per object). A frame's target is the
largest of its objects' mattes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xmempp.errors import InputError
from xmempp.io.mask_files import EXR_SUFFIXES, exr_channels, read_matte
from xmempp.io.masks import mask_frame_index

__all__ = ["AlphaTargets", "LayerTargets", "is_alpha_folder", "is_layers_folder"]

_MATTE_SUFFIXES = (".png", ".tif", ".tiff", ".exr")


def _object_folders(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def _mattes(folder: Path) -> list[Path]:
    return [
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in _MATTE_SUFFIXES and not p.name.startswith(".")
    ]


def is_alpha_folder(folder: Path) -> bool:
    """True when `folder` looks like OUT/alpha: numeric object folders holding mattes (PNG, TIFF or EXR)."""
    return folder.is_dir() and any(_mattes(p) for p in _object_folders(folder))


def is_layers_folder(folder: Path) -> bool:
    """True when `folder` looks like OUT/layers: EXR files (one channel per object)."""
    return folder.is_dir() and any(p.suffix.lower() in EXR_SUFFIXES for p in folder.iterdir() if p.is_file())


def _check(path: Path, matte: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if matte.shape != size:
        raise InputError(f"matte {path} is {matte.shape[1]}x{matte.shape[0]}, its frame {size[1]}x{size[0]}")
    return matte


class _FileTargets(Mapping):
    """Soft targets read from files on demand: frame index -> the file(s) holding its matte (`_files`)."""

    _files: Mapping[int, Any]

    def __contains__(self, index: object) -> bool:
        return index in self._files

    def __iter__(self) -> Iterator[int]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


class AlphaTargets(_FileTargets):
    """frame index -> HxW float32 soft target (max over objects of their mattes), read when asked for.

    Arguments:
        folder: OUT/alpha of `xmempp process --alpha`: `<id>/<stem>.<png|tif|exr>`.
        names: the shot's frame stems, in frame order.
        size: (height, width) every matte must have (the frames').
    """

    def __init__(self, folder: Path, names: Sequence[str], size: tuple[int, int]) -> None:
        self.folder = Path(folder)
        self.size = (int(size[0]), int(size[1]))
        self._objects = _object_folders(self.folder)
        if not self._objects:
            raise InputError(f"{self.folder} holds no alpha mattes (expected <object id>/<frame>.png, .tif or .exr)")
        files: dict[str, list[Path]] = {}
        for obj in self._objects:
            for path in _mattes(obj):
                files.setdefault(path.stem, []).append(path)
        self._files = {index: files[name] for index, name in enumerate(names) if name in files}

    def __getitem__(self, index: int) -> np.ndarray:
        target = np.zeros(self.size, np.float32)
        for path in self._files[index]:
            np.maximum(target, _check(path, read_matte(path, on_display=False), self.size), out=target)
        return target


class LayerTargets(_FileTargets):
    """frame index -> HxW float32 soft target from layered EXRs (max over their `.A` channels).

    Arguments:
        folder: OUT/layers of `xmempp process --exr-layers`: `<name>.<frame number>.exr`.
        numbers: the shot's frame numbers, in frame order (the files' trailing numbers), or None to
            use the trailing numbers of `names`.
        names: the shot's frame stems.
        size: (height, width) every layer must have.
    """

    def __init__(
        self, folder: Path, numbers: Sequence[int] | None, names: Sequence[str], size: tuple[int, int]
    ) -> None:
        self.folder = Path(folder)
        self.size = (int(size[0]), int(size[1]))
        by_number = {
            mask_frame_index(p.stem): p
            for p in self.folder.iterdir()
            if p.is_file() and p.suffix.lower() in EXR_SUFFIXES
        }
        keys = list(numbers) if numbers is not None else [mask_frame_index(n) for n in names]
        self._files = {index: by_number[key] for index, key in enumerate(keys) if key is not None and key in by_number}
        if not self._files:
            raise InputError(f"no EXR in {self.folder} is numbered like the frames (expected <name>.<frame>.exr)")

    def __getitem__(self, index: int) -> np.ndarray:
        path = self._files[index]
        target = np.zeros(self.size, np.float32)
        channels = [c for c in exr_channels(path) if c == "A" or c.endswith(".A")]
        if not channels:
            raise InputError(f"{path} has no matte channels (A or <object>.A)")
        for channel in channels:
            np.maximum(target, _check(path, read_matte(path, channel, on_display=False), self.size), out=target)
        return target
