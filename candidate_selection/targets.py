"""Soft target masks for the selector, read back from the alpha mattes of `xmempp process --alpha`."""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from xmempp.errors import InputError

__all__ = ["AlphaTargets", "is_alpha_folder"]


def _object_folders(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def is_alpha_folder(folder: Path) -> bool:
    """True when `folder` looks like OUT/alpha: numeric object folders holding PNG mattes."""
    return folder.is_dir() and any(any(p.glob("*.png")) for p in _object_folders(folder))


class AlphaTargets(Mapping):
    """frame index -> HxW float32 soft target (max over objects of their mattes), read when asked for.

    Arguments:
        folder: OUT/alpha of `xmempp process --alpha`: `<id>/<stem>.png`, 8- or 16-bit grayscale.
        names: the shot's frame stems, in frame order.
        size: (height, width) every matte must have (the frames').
    """

    def __init__(self, folder: Path, names: Sequence[str], size: tuple[int, int]) -> None:
        self.folder = Path(folder)
        self.size = tuple(size)
        self._objects = _object_folders(self.folder)
        if not self._objects:
            raise InputError(f"{self.folder} holds no alpha mattes (expected <object id>/<frame>.png)")
        stems = {p.stem for obj in self._objects for p in obj.glob("*.png")}
        self._frames = {index: name for index, name in enumerate(names) if name in stems}

    def __getitem__(self, index: int) -> np.ndarray:
        name = self._frames[index]
        target = np.zeros(self.size, np.float32)
        for obj in self._objects:
            path = obj / f"{name}.png"
            if not path.exists():
                continue
            matte = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if matte is None or matte.ndim != 2 or matte.dtype not in (np.uint8, np.uint16):
                raise InputError(f"{path} is not an 8- or 16-bit grayscale matte")
            if matte.shape != self.size:
                raise InputError(f"matte {path} is {matte.shape[1]}x{matte.shape[0]}, its frame "
                                 f"{self.size[1]}x{self.size[0]}")
            np.maximum(target, matte.astype(np.float32) / np.iinfo(matte.dtype).max, out=target)
        return target

    def __contains__(self, index: object) -> bool:
        return index in self._frames

    def __iter__(self) -> Iterator[int]:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)
