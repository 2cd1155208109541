"""Cryptomatte output: the objects as a Cryptomatte layer in EXR (Cryptomatte specification 1.2).

Each object has a name (`object<id>` unless named) whose MurmurHash3_32 (seed 0), with bit 23
flipped where the exponent would be 0 or 255 (no denormals, infinities or NaNs), read as a float32
is its ID. Per pixel the objects with non-zero coverage are ranked by coverage, highest first, and
stored as (ID, coverage) pairs in float32 channels `<layer>00.R/G/B/A` (ranks 0 and 1),
`<layer>01.R/G/B/A` (ranks 2 and 3), ...; ranks without an object hold ID 0 and coverage 0. The
background is no object: its coverage is what the ranks leave to 1. The EXR header carries, under
`cryptomatte/<key>/` (key: the first 7 hex digits of the layer name's hash), `name`, `hash`
(`MurmurHash3_32`), `conversion` (`uint32_to_float32`) and `manifest` (JSON: name -> 8-digit hex ID).
Nuke's Cryptomatte node, Silhouette, Fusion and `cryptomatte-api` read these files.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xmempp.errors import OutputError
from xmempp.io.matte_files import write_image_spec

__all__ = [
    "DEFAULT_LAYER",
    "LOSSLESS_EXR",
    "MIN_RANKS",
    "CryptomatteSink",
    "cryptomatte_channels",
    "cryptomatte_metadata",
    "default_object_name",
    "murmurhash3_32",
    "object_id_float",
    "write_cryptomatte",
]

DEFAULT_LAYER = "CryptoObject"
#: EXR compressions that keep the float IDs exact.
LOSSLESS_EXR = ("zip", "zips", "piz", "rle", "none")
#: Ranks written at least (the renderers' usual depth); more when a pixel can hold more objects.
MIN_RANKS = 6


def murmurhash3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit of `data` (as the Cryptomatte specification uses it).

    Arguments:
        data: the bytes (a UTF-8 name).
        seed: hash seed (0 in Cryptomatte).
    Returns:
        The unsigned 32-bit hash.
    """
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    blocks = len(data) // 4
    for (k,) in struct.iter_unpack("<I", data[: blocks * 4]):
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[blocks * 4 :]
    k = 0
    for i, byte in enumerate(tail):
        k |= byte << (8 * i)
    if tail:
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    return h ^ (h >> 16)


def _id_bits(name: str) -> int:
    bits = murmurhash3_32(name.encode("utf-8"))
    exponent = (bits >> 23) & 0xFF
    return bits ^ (1 << 23) if exponent in (0, 255) else bits


def object_id_float(name: str) -> np.float32:
    """The Cryptomatte ID of a name: its hash (exponent fixed) read as a float32."""
    return np.frombuffer(struct.pack("<I", _id_bits(name)), dtype=np.float32)[0]


def default_object_name(object_id: int) -> str:
    """The name of an object nobody named: `object<id>`."""
    return f"object{object_id}"


def cryptomatte_metadata(layer: str, names: Sequence[str]) -> dict[str, str]:
    """The EXR header attributes of one Cryptomatte layer.

    Arguments:
        layer: the layer name (e.g. "CryptoObject").
        names: the object names.
    Returns:
        {attribute name: value} for `cryptomatte/<key>/name|hash|conversion|manifest`.
    """
    key = f"{murmurhash3_32(layer.encode('utf-8')):08x}"[:7]
    manifest = {name: f"{_id_bits(name):08x}" for name in names}
    prefix = f"cryptomatte/{key}/"
    return {
        prefix + "name": layer,
        prefix + "hash": "MurmurHash3_32",
        prefix + "conversion": "uint32_to_float32",
        prefix + "manifest": json.dumps(manifest, sort_keys=True),
    }


def cryptomatte_channels(
    coverage: np.ndarray, names: Sequence[str], layer: str = DEFAULT_LAYER, ranks: int | None = None
) -> tuple[list[np.ndarray], list[str]]:
    """Ranked (ID, coverage) planes of the objects.

    Arguments:
        coverage: K x H x W float coverage of each object (0..1).
        names: the K object names.
        layer: the layer name.
        ranks: ranks to write (default: `MIN_RANKS`, or K rounded up to even when larger).
    Returns:
        (planes, channel names): float32 HxW planes named `<layer>NN.R/G/B/A`.
    """
    k = coverage.shape[0]
    ranks = ranks or max(MIN_RANKS, k + k % 2)
    ranks += ranks % 2
    ids = np.array([object_id_float(n) for n in names], dtype=np.float32)
    cov = np.asarray(coverage, dtype=np.float32)
    order = np.argsort(-cov, axis=0, kind="stable")  # K x H x W, highest coverage first
    ranked = np.take_along_axis(cov, order, axis=0)
    planes: list[np.ndarray] = []
    channel_names: list[str] = []
    empty = np.zeros(cov.shape[1:], np.float32)
    for rank in range(ranks):
        if rank < k:
            value = ranked[rank]
            ident = np.where(value > 0, ids[order[rank]], np.float32(0.0)).astype(np.float32)
            value = np.where(value > 0, value, np.float32(0.0)).astype(np.float32)
        else:
            ident, value = empty, empty
        group, second = divmod(rank, 2)
        channels = ("B", "A") if second else ("R", "G")
        planes += [ident, value]
        channel_names += [f"{layer}{group:02d}.{c}" for c in channels]
    return planes, channel_names


def _oiio():
    try:
        import OpenImageIO as oiio
    except ImportError as exc:
        raise OutputError("writing Cryptomatte EXRs needs OpenImageIO: pip install 'xmempp[vfx]'") from exc
    return oiio


def write_cryptomatte(
    path: Path,
    coverage: np.ndarray,
    names: Sequence[str],
    layer: str = DEFAULT_LAYER,
    windows: tuple[tuple[int, int, int, int] | None, tuple[int, int, int, int] | None] = (None, None),
    compression: str | None = None,
    fsync: bool = True,
) -> None:
    """Write one frame's objects as a Cryptomatte EXR (float32, lossless compression).

    Arguments:
        path: the .exr file (written atomically).
        coverage: K x H x W coverage of each object.
        names: the K object names.
        layer: the Cryptomatte layer name.
        windows: (data window, display window) of the plate, or (None, None).
        compression: a lossless EXR compression (zip, zips, piz, rle, none; default zip).
        fsync: flush to disk before renaming into place.
    Returns:
        None. Raises `OutputError` when it cannot be written or the compression is lossy.
    """
    if compression is not None and compression not in LOSSLESS_EXR:
        raise OutputError(
            f"Cryptomatte IDs need lossless EXR compression, not {compression!r} (use zip, zips, piz, rle or none)"
        )
    oiio = _oiio()
    planes, channel_names = cryptomatte_channels(coverage, names, layer)
    h, w = planes[0].shape
    pixels = np.ascontiguousarray(np.stack(planes, axis=-1), dtype=np.float32)
    spec = oiio.ImageSpec(w, h, len(planes), "float")
    spec.channelnames = tuple(channel_names)
    data, display = windows
    if data is not None:
        spec.x, spec.y = int(data[0]), int(data[1])
    if display is not None:
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = (int(v) for v in display)
    else:
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = spec.x, spec.y, w, h
    spec.attribute("compression", compression or "zip")
    for key, value in cryptomatte_metadata(layer, names).items():
        spec.attribute(key, value)
    write_image_spec(path, spec, pixels, fsync)


@dataclass
class CryptomatteSink:
    """`cryptomatte/<name>.<n>.exr`: the frame's objects as a Cryptomatte layer (an output sink).

    Attributes:
        names: object id -> name (unnamed objects are `object<id>`).
        layer: the Cryptomatte layer name.
        file_name: file name before the frame number.
        compression: lossless EXR compression (default zip).
    """

    names: Mapping[int, str] = field(default_factory=dict)
    layer: str = DEFAULT_LAYER
    file_name: str = "cryptomatte"
    compression: str | None = None

    def write(self, frame, target) -> None:
        """Write the Cryptomatte EXR of `frame` (a `FrameOutput`) into `target` (an `OutputTarget`)."""
        if target.aborted.is_set():
            return
        file = frame.info.numbered(self.file_name, ".exr") if frame.info is not None else f"{frame.stem}.exr"
        path = target.claim(target.folder / "cryptomatte" / file)
        names = [self.names.get(oid, default_object_name(oid)) for oid in frame.object_ids]
        write_cryptomatte(
            path, np.asarray(frame.probs[1:]), names, self.layer, frame.windows, self.compression, target.fsync
        )
