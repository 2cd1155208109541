"""Plate sequences: EXR, DPX, TIFF, PNG, JPEG frame sequences read with OpenImageIO, colour managed.

`PlateFrames` is a `FrameSource` over a numbered `FrameSequence` (see `xmempp.io.sequences`):
each frame is decoded when asked for (OpenImageIO, multi-threaded inside the library), its
channels picked (RGB, a `--layer` of a multi-layer or multi-part EXR, or one gray channel), and
converted to display sRGB by `xmempp.io.colour`. Every header is read when the source is opened,
so a frame of another size or a file without colour channels is reported before anything is
processed or written.

Frame names are the file stems (`plate.1001`) and `frame_numbers` the plate's numbers; `info(i)`
gives the data and display windows that matte writers keep.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmempp.errors import InputError, Remedy, RemedyKind
from xmempp.io.colour import ColourConverter, ColourOptions, converter_for
from xmempp.io.frames import FrameSource, SceneLinearFrame
from xmempp.io.sequences import FrameInfo, FrameSequence, find_sequence
from xmempp.types import PathLike

__all__ = ["PLATE_EXTENSIONS", "PlateFrames", "open_plates", "read_image_channels"]

#: Formats that need OpenImageIO (a folder holding them is read as a plate sequence).
PLATE_EXTENSIONS = frozenset({".exr", ".sxr", ".mxr", ".dpx", ".cin", ".hdr"})
#: Every format `PlateFrames` reads.
SEQUENCE_EXTENSIONS = PLATE_EXTENSIONS | {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".webp", ".tga"}
_LOG = frozenset({".dpx", ".cin"})
_LINEAR = frozenset({".exr", ".sxr", ".mxr", ".hdr"})
_RGB = ("R", "G", "B")


def _oiio():
    try:
        import OpenImageIO as oiio
    except ImportError as exc:
        raise InputError(
            "reading EXR/DPX plates and frame patterns needs OpenImageIO: pip install 'xmempp[vfx]'"
        ) from exc
    return oiio


@dataclass(frozen=True)
class _Channels:
    """Where a frame's colour is stored: a subimage (EXR part) and up to three channel indices."""

    subimage: int
    indices: tuple[int, ...]
    names: tuple[str, ...]
    is_float: bool


def _open_input(path: Path):
    oiio = _oiio()
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        message = oiio.geterror() or "unknown format"
        if not path.exists():
            raise InputError(f"frame file disappeared while reading: {path}; do not move frames during a run")
        raise InputError(f"cannot read frame {path}: {message}; re-export it")
    return inp


def _subimages(inp) -> list:
    """Every subimage (EXR part) spec of an open file."""
    specs = []
    index = 0
    while inp.seek_subimage(index, 0):
        specs.append(inp.spec().copy())
        index += 1
    return specs


def _layer_names(specs: list) -> list[str]:
    names: list[str] = []
    for spec in specs:
        part = spec.get_string_attribute("name") or spec.get_string_attribute("oiio:subimagename")
        if part and part not in names:
            names.append(part)
        for channel in spec.channelnames:
            if "." in channel and channel.rsplit(".", 1)[0] not in names:
                names.append(channel.rsplit(".", 1)[0])
    return names


def _find_channels(specs: list, layer: str | None, path: Path) -> _Channels:
    """Pick the colour channels of a frame: RGB of the first part, or of `layer`."""

    def pick(index: int, prefix: str) -> _Channels | None:
        spec = specs[index]
        names = list(spec.channelnames)
        is_float = spec.format.basetype in (_oiio().HALF, _oiio().FLOAT, _oiio().DOUBLE)
        found = [names.index(prefix + c) for c in _RGB if prefix + c in names]
        if len(found) == 3:
            return _Channels(index, tuple(found), tuple(prefix + c for c in _RGB), is_float)
        for gray in ("Y", "L"):
            if prefix + gray in names and not found:
                i = names.index(prefix + gray)
                return _Channels(index, (i,), (prefix + gray,), is_float)
        if not prefix and path.suffix.lower() not in _LINEAR and len(names) <= 2 and not found:
            return _Channels(index, (0,), (names[0],), is_float)  # a plain gray image (DPX/PNG/TIFF luma)
        return None

    layers = _layer_names(specs)
    if layer:
        for index, spec in enumerate(specs):
            part = spec.get_string_attribute("name") or spec.get_string_attribute("oiio:subimagename")
            if part == layer:
                found = pick(index, "") or pick(index, layer + ".")
                if found:
                    return found
        for index in range(len(specs)):
            found = pick(index, layer + ".")
            if found:
                return found
        raise InputError(
            f"{path} has no colour channels in layer {layer!r} (layers: {', '.join(layers) or 'none'})",
            remedy=Remedy(RemedyKind.SET, "layer", choices=tuple(layers)),
        )
    found = pick(0, "")
    if found:
        return found
    channels = ", ".join(specs[0].channelnames)
    remedy = (
        Remedy(RemedyKind.SET, "layer", choices=tuple(layers))
        if layers
        else Remedy(RemedyKind.FIX_INPUT, note="(re-render it with R, G, B channels)")
    )
    raise InputError(f"{path} has no colour channels (R, G, B) in its first part (channels: {channels})", remedy=remedy)


def read_image_channels(path: Path, channels: _Channels, dtype: str) -> np.ndarray:
    """Decode the chosen channels of one image file.

    Arguments:
        path: the image.
        channels: subimage and channel indices (from the header scan).
        dtype: "half", "float", "uint16" or "uint8" (OpenImageIO converts while decoding).
    Returns:
        HxWx3 array of that type (a gray channel is repeated).
    """
    inp = _open_input(path)
    try:
        lo, hi = min(channels.indices), max(channels.indices) + 1
        data = inp.read_image(channels.subimage, 0, lo, hi, dtype)
        if data is None:
            raise InputError(f"cannot decode frame {path}: {inp.geterror() or 'corrupt data'}; re-export it")
    finally:
        inp.close()
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[:, :, None]
    picked = [i - lo for i in channels.indices]
    if picked == [0, 1, 2] and data.shape[2] == 3:
        return np.ascontiguousarray(data)
    if len(picked) == 1:
        return np.repeat(data[:, :, picked[0] : picked[0] + 1], 3, axis=2)
    return np.ascontiguousarray(data[:, :, picked])


class PlateFrames(FrameSource):
    """A numbered image sequence decoded with OpenImageIO and converted to display sRGB."""

    def __init__(
        self, sequence: FrameSequence, colour: ColourOptions = ColourOptions(), layer: str | None = None
    ) -> None:
        """Read every header, choose channels and colour conversion.

        Arguments:
            sequence: the files (gap-free, see `find_sequence`).
            colour: the plate's colour space and an optional display/view.
            layer: the EXR layer or part to read (default: R, G, B of the first part).
        Returns:
            None. Raises `InputError` for unreadable headers, missing colour channels or mixed
            sizes, and `ConfigError` for an unknown colour space.
        """
        self.sequence = sequence
        self.path = Path(sequence.pattern)
        self.files = list(sequence.files)
        self.names = [p.stem for p in self.files]
        self.frame_numbers = list(sequence.numbers)
        self._windows: list[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]] = []
        channels: _Channels | None = None
        for path in self.files:
            inp = _open_input(path)
            try:
                specs = _subimages(inp)
            finally:
                inp.close()
            chosen = _find_channels(specs, layer, path)
            spec = specs[chosen.subimage]
            data = (spec.x, spec.y, spec.width, spec.height)
            full = (spec.full_x, spec.full_y, spec.full_width, spec.full_height)
            if channels is None:
                channels = chosen
            elif self._windows[0][0][2:] != data[2:]:
                w, h = self._windows[0][0][2:]
                raise InputError(
                    f"frame {path} is {data[2]}x{data[3]} but the first frame {self.files[0].name} is "
                    f"{w}x{h}; all frames of a shot must have the same size"
                )
            self._windows.append((data, full))
        assert channels is not None
        self.channels = channels
        self.layer = layer
        suffix = self.files[0].suffix.lower()
        kind = "log" if suffix in _LOG else "linear" if suffix in _LINEAR else "display"
        self.kind = kind
        self.converter: ColourConverter = converter_for(kind, colour)
        self._dtype = self._read_type()

    def _read_type(self) -> str:
        """What OpenImageIO decodes to: 16-bit types feed the colour tables, 8-bit stays 8-bit."""
        if self.converter.identity and not self.channels.is_float:
            inp = _open_input(self.files[0])
            try:
                inp.seek_subimage(self.channels.subimage, 0)
                bits = inp.spec().format.size() * 8
            finally:
                inp.close()
            return "uint8" if bits <= 8 else "uint16"
        if self.converter.identity or self.converter.mixes_channels:
            return "float"
        return "half" if self.channels.is_float else "uint16"

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the data window of every frame."""
        _x, _y, w, h = self._windows[0][0]
        return (h, w)

    def info(self, index: int) -> FrameInfo:
        """Frame number and windows of frame `index`."""
        data, full = self._windows[index]
        numbers = self.frame_numbers
        assert numbers is not None  # a plate sequence always has its frame numbers
        return FrameInfo(numbers[index], self.sequence.padding, data, full)

    def _read(self, index: int) -> np.ndarray:
        data = read_image_channels(self.files[index], self.channels, self._dtype)
        if data.shape[:2] != self.size:
            raise InputError(
                f"frame {self.files[index]} changed size while reading; do not replace frames during a run"
            )
        return self.converter.to_display(data)

    def scene_linear(self, index: int) -> SceneLinearFrame | None:
        """Frame `index` of a linear plate (EXR, HDR): its own pixels, float32 and unclipped, in its own colour
        space; None for log and display-referred plates."""
        if self.kind != "linear":
            return None
        data = read_image_channels(self.files[index], self.channels, "float")
        return SceneLinearFrame(
            np.ascontiguousarray(data, dtype=np.float32), self.converter.source, self.converter.to_display_float
        )


def open_plates(
    path: PathLike,
    frames: tuple[int, int] | None = None,
    colour: ColourOptions = ColourOptions(),
    layer: str | None = None,
) -> PlateFrames:
    """Open a frame pattern or a folder holding one numbered sequence as plates.

    Arguments:
        path: `plate.%04d.exr`, `plate.####.exr`, `plate.@@@@.exr` or a folder.
        frames: optional (first, last) frame range.
        colour: colour space and display/view options.
        layer: EXR layer/part to read.
    Returns:
        A `PlateFrames`. Raises `InputError` (gaps, mixed sequences, no match, bad files) or
        `ConfigError` (colour space).
    """
    sequence = find_sequence(path, frames, SEQUENCE_EXTENSIONS)
    suffix = sequence.files[0].suffix.lower()
    if suffix not in SEQUENCE_EXTENSIONS:
        raise InputError(
            f"{sequence.pattern}: {suffix} files are not frames; give a sequence of EXR, DPX, TIFF, PNG or JPEG images"
        )
    oiio = _oiio()
    if not oiio.get_int_attribute("threads"):
        oiio.attribute("threads", os.cpu_count() or 1)
    return PlateFrames(sequence, colour, layer)
