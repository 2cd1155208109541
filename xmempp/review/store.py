"""The frames a review keeps for its backward pass: raw pixels in a temporary file, not in memory.

The forward pass sees each frame once, as it arrives; the backward pass needs them again, last first.
Kept raw (no compression: a PNG costs about ten milliseconds a frame to write and five to read, as much as
the rest of a review step) in an unnamed temporary file, a shot of any length holds the process's memory
steady; the operating system's cache serves the reads while memory is free. At the review's working size a
frame takes about 0.9 MB of disk (360x640 RGB and its index mask); the file goes when the store is closed.
"""

from __future__ import annotations

import tempfile

import numpy as np

from xmempp.errors import InputError

__all__ = ["FrameStore"]


class FrameStore:
    """Append-only store of (RGB frame, index mask) pairs, read back by position."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="xmempp-review-")  # noqa: SIM115 (lives as long as the store)
        self._entries: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = []  # offset, RGB shape, mask shape
        self._end = 0

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, rgb: np.ndarray, labels: np.ndarray) -> None:
        """Keep one frame (HxWx3 uint8) and its index mask (HxW uint8)."""
        rgb, labels = np.ascontiguousarray(rgb, np.uint8), np.ascontiguousarray(labels, np.uint8)
        self._file.seek(self._end)
        try:  # the arrays' own buffers, written as they are (no copy into one bytes object first)
            self._file.write(rgb.data)
            self._file.write(labels.data)
        except OSError as error:
            raise InputError(
                f"the review could not keep frame {len(self._entries)} in a temporary file ({error}); free space "
                f"in the temporary folder (TMPDIR, {tempfile.gettempdir()}) or review a shorter range"
            ) from error
        self._entries.append((self._end, rgb.shape, labels.shape))
        self._end += rgb.nbytes + labels.nbytes

    def read(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """The frame and index mask kept at `position` (0 = the first appended)."""
        offset, rgb_shape, labels_shape = self._entries[position]
        rgb_size, labels_size = int(np.prod(rgb_shape)), int(np.prod(labels_shape))
        self._file.seek(offset)
        data = self._file.read(rgb_size + labels_size)
        rgb = np.frombuffer(data, np.uint8, rgb_size).reshape(rgb_shape)
        labels = np.frombuffer(data, np.uint8, labels_size, offset=rgb_size).reshape(labels_shape)
        return rgb, labels

    def close(self) -> None:
        """Remove the temporary file."""
        self._file.close()
