"""Output sinks: each one writes one kind of result file for a frame.

`ResultWriter` (xmempp.io.writers) runs a list of sinks on its background threads. A sink gets the
frame's `FrameOutput` (probabilities, the winning object per pixel, the source frame, its plate
windows) and an `OutputTarget` (the folder, atomic writes recorded in the manifest). New outputs
(Cryptomatte, refined mattes, foreground colour) are new sinks; nothing else changes.

    OUT/masks/<stem>.png          index PNG at source resolution, original ids and palette
    OUT/alpha/<id>/<stem>.png     soft matte (.tif 8/16-bit or .exr half float with `matte_format`)
    OUT/layers/matte.<n>.exr      one EXR per frame, a channel `obj<id>.A` per object
    OUT/binary/<id>/<stem>.png    0/255: pixels where the object wins the argmax
    OUT/overlay/<stem>.jpg        preview: the frame blended with the object colours

Elsewhere: `CryptomatteSink` (xmempp.io.cryptomatte), `ForegroundSink` (xmempp.io.foreground_files:
`foreground/<id>/<stem>.png` and `rgba/<id>/<stem>.exr`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from xmempp.errors import OutputError
from xmempp.io.atomic import atomic_write_bytes, encode_jpeg, encode_png
from xmempp.io.frames import SceneLinearReader
from xmempp.io.manifest import Manifest
from xmempp.io.matte_files import write_exr_channels, write_matte
from xmempp.io.pixels import overlay_image
from xmempp.io.sequences import FrameInfo

__all__ = [
    "MATTE_SUFFIXES",
    "AlphaMatteSink",
    "BinaryMatteSink",
    "FrameOutput",
    "IndexMaskSink",
    "LayeredExrSink",
    "OutputTarget",
    "OverlaySink",
    "Sink",
]

#: File suffix of a soft matte per matte format.
MATTE_SUFFIXES = {"png": ".png", "tiff": ".tif", "exr": ".exr"}


@dataclass
class FrameOutput:
    """One frame's results as the sinks see them.

    Attributes:
        stem: the frame's file stem.
        frame_rgb: the HxWx3 uint8 RGB source frame, or None where no sink needs it.
        probs: (1+K)xHxW float probabilities, background first, objects in `object_ids` order.
        winner: HxW uint8 channel index of the most probable channel (0 = background).
        ids: HxW uint8 original object id per pixel.
        object_ids: original id of each object channel.
        info: the frame's number and plate windows, or None.
        overlay: the overlay image, set by `OverlaySink` for the preview video.
        linear: reads the frame's scene-linear pixels for the foreground's RGBA EXR (None, or a reader that
            gives None: display-referred, the colour of `frame_rgb`).
    """

    stem: str
    frame_rgb: np.ndarray | None
    probs: np.ndarray
    winner: np.ndarray
    ids: np.ndarray
    object_ids: Sequence[int]
    info: FrameInfo | None = None
    overlay: np.ndarray | None = None
    linear: SceneLinearReader | None = None

    @property
    def windows(self) -> tuple[tuple[int, int, int, int] | None, tuple[int, int, int, int] | None]:
        """(data window, display window) of the plate, (None, None) when unknown."""
        return (self.info.data_window, self.info.display_window) if self.info is not None else (None, None)


class OutputTarget:
    """The output folder as sinks write into it: every file atomic and recorded in the manifest."""

    def __init__(self, folder: Path, fsync: bool = True) -> None:
        """Arguments: folder: the output folder (exists); fsync: flush each file before renaming it."""
        self.folder = folder
        self.fsync = fsync
        self.manifest = Manifest(folder)
        self.aborted = threading.Event()

    def claim(self, path: Path) -> Path:
        """Record `path` as xmempp's before writing it; refuse to replace a file xmempp did not write."""
        if path.exists() and not self.manifest.owns(path):
            raise OutputError(
                f"{path} exists and was not written by xmempp; it is left untouched: move it away or "
                f"choose another output folder"
            )
        self.manifest.add(path)
        return path

    def write(self, path: Path, data: bytes) -> None:
        """Write `data` to `path` atomically (claimed first)."""
        atomic_write_bytes(self.claim(path), data, fsync=self.fsync)


class Sink(Protocol):
    """Writes one kind of result for a frame."""

    def write(self, frame: FrameOutput, target: OutputTarget) -> None:
        """Write this sink's files for `frame` into `target` (return early when `target.aborted` is set)."""


@dataclass
class IndexMaskSink:
    """`masks/<stem>.png`: the original object id per pixel, with the input's palette."""

    palette: np.ndarray | None

    def write(self, frame: FrameOutput, target: OutputTarget) -> None:
        target.write(target.folder / "masks" / f"{frame.stem}.png", encode_png(frame.ids, palette=self.palette))


@dataclass
class AlphaMatteSink:
    """`alpha/<id>/<stem>.<ext>`: each object's soft matte (PNG/TIFF 8 or 16 bits, or EXR half)."""

    matte_format: str = "png"
    bits: int = 8
    compression: str | None = None

    def write(self, frame: FrameOutput, target: OutputTarget) -> None:
        suffix = MATTE_SUFFIXES[self.matte_format]
        for k, oid in enumerate(frame.object_ids, start=1):
            if target.aborted.is_set():
                return
            path = target.claim(target.folder / "alpha" / str(oid) / f"{frame.stem}{suffix}")
            write_matte(
                path, frame.probs[k], self.matte_format, self.bits, self.compression, frame.windows, target.fsync
            )


@dataclass
class LayeredExrSink:
    """`layers/<name>.<n>.exr`: one EXR per frame with a channel `<object name>.A` (default `obj<id>.A`) per object."""

    name: str = "matte"
    compression: str | None = None
    names: Mapping[int, str] = field(default_factory=dict)

    def write(self, frame: FrameOutput, target: OutputTarget) -> None:
        file = frame.info.numbered(self.name, ".exr") if frame.info is not None else f"{frame.stem}.exr"
        path = target.claim(target.folder / "layers" / file)
        data, display = frame.windows
        write_exr_channels(
            path,
            [frame.probs[k] for k in range(1, len(frame.object_ids) + 1)],
            [f"{self.names.get(oid, f'obj{oid}')}.A" for oid in frame.object_ids],
            data,
            display,
            self.compression,
            target.fsync,
        )


class BinaryMatteSink:
    """`binary/<id>/<stem>.png`: 255 where the object wins the argmax, else 0."""

    def write(self, frame: FrameOutput, target: OutputTarget) -> None:
        for k, oid in enumerate(frame.object_ids, start=1):
            if target.aborted.is_set():
                return
            binary = np.where(frame.winner == k, np.uint8(255), np.uint8(0))
            target.write(target.folder / "binary" / str(oid) / f"{frame.stem}.png", encode_png(binary))


@dataclass
class OverlaySink:
    """The frame blended with the object colours: kept on the frame for the preview video, and written
    as `overlay/<stem>.jpg` when `write_files` is set."""

    palette: np.ndarray | None
    opacity: float = 0.5
    jpeg_quality: int = 90
    write_files: bool = True

    def write(self, frame: FrameOutput, target: OutputTarget) -> None:
        if frame.frame_rgb is None:
            return
        frame.overlay = overlay_image(frame.frame_rgb, frame.ids, self.palette, self.opacity)
        if self.write_files:
            target.write(target.folder / "overlay" / f"{frame.stem}.jpg", encode_jpeg(frame.overlay, self.jpeg_quality))
