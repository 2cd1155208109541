"""Synthetic clips generated on the fly (never held in memory as a whole), for benchmarks, demos and tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class MovingDiscs(Sequence):
    """A textured background with `objects` discs moving on circles; frame i is made when asked for."""

    def __init__(self, length: int, height: int = 64, width: int = 112, objects: int = 1, seed: int = 0) -> None:
        self.length, self.height, self.width, self.objects = length, height, width, objects
        rng = np.random.default_rng(seed)
        self.background = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
        self.colours = rng.integers(0, 255, size=(objects, 3), dtype=np.uint8)

    def __len__(self) -> int:
        return self.length

    def _centres(self, index: int) -> list[tuple[float, float]]:
        t = index / 25.0
        return [
            (self.height / 2 + self.height / 4 * np.sin(t + k), self.width / 2 + self.width / 4 * np.cos(t + 2 * k))
            for k in range(self.objects)
        ]

    def mask(self, index: int) -> np.ndarray:
        """Index mask of frame `index`: object k+1 is the k-th disc (later discs on top)."""
        yy, xx = np.mgrid[: self.height, : self.width]
        mask = np.zeros((self.height, self.width), dtype=np.uint8)
        radius = min(self.height, self.width) / 6
        for k, (cy, cx) in enumerate(self._centres(index)):
            mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = k + 1
        return mask

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]  # no slices: frames by index
        if not 0 <= index < self.length:
            raise IndexError(index)
        frame = np.roll(self.background, index % self.width, axis=1).copy()
        mask = self.mask(index)
        for k in range(self.objects):
            frame[mask == k + 1] = self.colours[k]
        return frame
