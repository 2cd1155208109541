"""Decoding one roto file: PNG/TIFF (Pillow), EXR (OpenImageIO, by channel), without lossy conversion.

`decode_mask` turns a file into object ids or packed colours (`RawMask`), resolving soft edges
(`xmempp.io.soft_keyframes`) and keeping each object's soft values. `read_matte` reads one matte as
coverage 0..1 (an object's folder of soft mattes, results read back). EXR files are placed on their
display window (the data window inside it), so a roto file is always the size of its display window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xmempp.errors import InputError, Remedy, RemedyKind
from xmempp.io.images import DECODE_ERRORS, open_image
from xmempp.io.mask_palette import MAX_OBJECTS, davis_palette, pack_rgb
from xmempp.io.soft_keyframes import SoftMask, resolve_soft, too_many_objects

__all__ = ["EXR_SUFFIXES", "LOSSY", "RawMask", "decode_mask", "exr_channels", "read_matte"]

LOSSY = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".webp"})
EXR_SUFFIXES = frozenset({".exr", ".sxr", ".mxr"})
_GRAY_MODES = ("L", "1", "I;16", "I;16B", "I;16L", "I;16N", "I")
_ALPHA_NAMES = ("A", "alpha", "mask", "matte", "Y")


@dataclass
class RawMask:
    """A decoded mask before RGB colours are turned into ids.

    Attributes:
        path: the file.
        kind: "index" (ids ready) or "rgb" (packed colours).
        data: HxW uint8 ids, or HxW uint32 packed colours.
        palette: the palette of a palette PNG.
        colours: "rgb": distinct codes in order of first appearance.
        soft: id (or packed colour) -> HxW float32 coverage, for soft masks; None for hard ones.
    """

    path: Path
    kind: str
    data: np.ndarray
    palette: np.ndarray | None = None
    colours: np.ndarray | None = None
    soft: dict[int, np.ndarray] | None = field(default=None)


def _oiio():
    try:
        import OpenImageIO as oiio
    except ImportError as exc:
        raise InputError("reading EXR roto needs OpenImageIO: pip install 'xmempp[vfx]'") from exc
    return oiio


def exr_channels(path: Path) -> list[str]:
    """Channel names of an EXR file (every part)."""
    oiio = _oiio()
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise InputError(
            f"cannot read mask {path}: {oiio.geterror() or 'not an EXR file'}",
            remedy=Remedy(RemedyKind.FIX_INPUT, note="by re-exporting it"),
        )
    try:
        names: list[str] = []
        index = 0
        while inp.seek_subimage(index, 0):
            names += [n for n in inp.spec().channelnames if n not in names]
            index += 1
        return names
    finally:
        inp.close()


def _pick_channel(path: Path, names: list[str], channel: str | None) -> str:
    if channel is not None:
        if channel in names:
            return channel
        raise InputError(
            f"mask {path} has no channel {channel!r} (channels: {', '.join(names)})",
            remedy=Remedy(RemedyKind.SET, "mask_channel", choices=tuple(names)),
        )
    if len(names) == 1:
        return names[0]
    for wanted in _ALPHA_NAMES:
        if wanted in names:
            return wanted
    raise InputError(
        f"mask {path} has several channels ({', '.join(names)}) and none is a matte (A, mask)",
        remedy=Remedy(RemedyKind.SET, "mask_channel", choices=tuple(names)),
    )


def _read_exr(path: Path, channel: str | None, on_display: bool = True) -> np.ndarray:
    """One channel of an EXR as float32 on its display window (0 outside the data window), or as stored."""
    oiio = _oiio()
    names = exr_channels(path)
    wanted = _pick_channel(path, names, channel)
    inp = oiio.ImageInput.open(str(path))
    try:
        index = 0
        while inp.seek_subimage(index, 0):
            spec = inp.spec()
            if wanted in spec.channelnames:
                c = list(spec.channelnames).index(wanted)
                data = inp.read_image(index, 0, c, c + 1, "float")
                break
            index += 1
        if data is None:
            raise InputError(
                f"cannot decode mask {path}: {inp.geterror() or 'corrupt data'}",
                remedy=Remedy(RemedyKind.FIX_INPUT, note="by re-exporting it"),
            )
    finally:
        inp.close()
    plane = np.asarray(data, dtype=np.float32).reshape(spec.height, spec.width)
    if not on_display:
        return np.nan_to_num(plane, nan=0.0, posinf=1.0, neginf=0.0)
    full = np.zeros((spec.full_height, spec.full_width), np.float32)
    x0, y0 = spec.x - spec.full_x, spec.y - spec.full_y
    ys = slice(max(0, y0), min(full.shape[0], y0 + spec.height))
    xs = slice(max(0, x0), min(full.shape[1], x0 + spec.width))
    full[ys, xs] = plane[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    return np.nan_to_num(full, nan=0.0, posinf=1.0, neginf=0.0)


def read_matte(path: Path, channel: str | None = None, on_display: bool = True) -> np.ndarray:
    """Read one soft matte as coverage 0..1.

    Arguments:
        path: PNG/TIFF (8/16-bit gray: the value; with alpha: the alpha; RGB: the largest channel;
            float TIFF as is) or EXR (`channel`, default: the only channel, else A / mask).
        channel: the EXR channel to read.
        on_display: place an EXR on its display window (False: its data window, as stored).
    Returns:
        HxW float32 array in 0..1. Raises `InputError` for a lossy, unreadable or unsuitable file.
    """
    if path.suffix.lower() in EXR_SUFFIXES:
        return np.clip(_read_exr(path, channel, on_display), 0.0, 1.0)
    _refuse_lossy(path)
    try:
        with open_image(path, "matte") as image:
            mode = image.mode
            if mode in _GRAY_MODES:
                values = np.asarray(image)
                top = 1.0 if mode == "1" else 65535.0 if values.dtype != np.uint8 and values.max() > 255 else 255.0
                return (values.astype(np.float32) / top).clip(0.0, 1.0)
            if mode == "F":
                return np.asarray(image, dtype=np.float32).clip(0.0, 1.0)
            if "A" in mode:
                return np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
            return np.asarray(image.convert("RGB"), dtype=np.float32).max(axis=2) / 255.0
    except DECODE_ERRORS as exc:
        raise InputError(
            f"cannot read matte {path}: unsupported image data ({exc})",
            remedy=Remedy(RemedyKind.FIX_INPUT, note="by re-exporting it as PNG, TIFF or EXR"),
        ) from exc


def _refuse_lossy(path: Path) -> None:
    if path.suffix.lower() in LOSSY:
        raise InputError(
            f"mask {path} is a {path.suffix} file: lossy compression changes mask colours",
            remedy=Remedy(RemedyKind.FIX_INPUT, note="by saving masks as PNG, TIFF or EXR"),
        )


def _check_count(path: Path, ids: np.ndarray, kind: str) -> None:
    count = int(np.count_nonzero(np.bincount(ids.ravel(), minlength=256)[1:]))
    if count > MAX_OBJECTS:
        raise too_many_objects(path, count, kind)


def _gray(path: Path, values: np.ndarray, threshold: float, matte: bool = False) -> RawMask:
    """Ids of a single-channel mask: exact values (ids), or a soft matte resolved into objects.

    `matte`: the values are 16-bit coverage (EXR, float TIFF): hard levels are objects too.
    """
    values = values.astype(np.int64)
    if values.min() < 0:
        raise InputError(f"mask {path} has negative values; use 8-bit ids 0..255")
    if values.max() > 255 and np.all(values % 257 == 0):
        values = values // 257  # 8-bit ids stored in a 16-bit file
    sixteen = values.max() > 255
    scale = 65535.0 if sixteen else 255.0
    soft = resolve_soft(values.astype(np.uint16 if sixteen else np.uint8), scale, 1, threshold, path)
    if soft is None and sixteen and matte:
        soft = SoftMask(
            values.astype(np.uint16), {int(v): (values == v).astype(np.float32) for v in np.unique(values) if v}
        )
    if soft is None:
        if sixteen:
            raise InputError(
                f"mask {path} holds 16-bit values above 255 but no soft edges; object ids must be 0..255",
                remedy=Remedy(RemedyKind.FIX_INPUT, note="by saving it as an 8-bit grayscale or palette PNG"),
            )
        ids = values.astype(np.uint8)
        _check_count(path, ids, "gray levels")
        return RawMask(path, "index", ids)
    levels = sorted(soft.shares)
    ids_of = {v: int(round(v / 257.0)) if sixteen else int(v) for v in levels}
    if len(set(ids_of.values())) != len(levels) or 0 in ids_of.values():
        raise InputError(
            f"mask {path} is a 16-bit matte whose object levels {levels[:6]} do not map to distinct 8-bit ids",
            remedy=Remedy(RemedyKind.FIX_INPUT, note="by using one level per object, far apart"),
        )
    lut = np.zeros(int(scale) + 1, dtype=np.uint8)
    for v, i in ids_of.items():
        lut[v] = i
    ids = lut[soft.codes]
    _check_count(path, ids, "gray levels")
    return RawMask(path, "index", ids, soft={ids_of[v]: s for v, s in soft.shares.items()})


def decode_mask(path: Path, threshold: float = 0.5, channel: str | None = None) -> RawMask:
    """Decode a mask file without any lossy conversion (soft masks resolved at `threshold`).

    Arguments:
        path: palette/gray/RGB(A) PNG or TIFF, or an EXR (one channel: `channel` or the matte one).
        threshold: share of an object a soft-mask pixel needs to belong to it.
        channel: the EXR channel holding the roto.
    Returns:
        A `RawMask` at the file's own size (an EXR's display window). Raises `InputError`.
    """
    if path.suffix.lower() in EXR_SUFFIXES:
        values = np.clip(_read_exr(path, channel), 0.0, 1.0)
        return _gray(path, np.rint(values * 65535.0).astype(np.int64), threshold, matte=True)
    _refuse_lossy(path)
    try:
        with open_image(path, "mask") as image:
            mode = image.mode
            if mode == "P":
                ids = np.asarray(image, dtype=np.uint8).copy()
                raw_palette = image.getpalette() or []
                pal = np.asarray(raw_palette[: 256 * 3], dtype=np.uint8).reshape(-1, 3)
                palette = davis_palette()
                palette[: len(pal)] = pal
                _check_count(path, ids, "palette indices")
                return RawMask(path, "index", ids, palette)
            if mode in _GRAY_MODES:
                return _gray(path, np.asarray(image), threshold)
            if mode == "F":
                values = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
                return _gray(path, np.rint(values * 65535.0).astype(np.int64), threshold, matte=True)
            if mode == "LA":
                la = np.asarray(image)
                if len(np.unique(la[..., 0][la[..., 1] > 0])) <= 1:  # a white matte in alpha: the alpha is the matte
                    return _gray(path, la[..., 1], threshold)
                return _gray(path, np.where(la[..., 1] >= threshold * 255.0, la[..., 0], 0), threshold)
            if mode not in ("RGB", "RGBA"):
                image = image.convert("RGBA" if "A" in mode else "RGB")
            arr = np.asarray(image)
    except DECODE_ERRORS as exc:
        raise InputError(
            f"cannot read mask {path}: unsupported image data ({exc})",
            remedy=Remedy(RemedyKind.FIX_INPUT, note="by re-exporting it as PNG, TIFF or EXR"),
        ) from exc
    codes = pack_rgb(arr[..., :3])
    alpha = arr[..., 3].astype(np.float32) / 255.0 if arr.shape[2] == 4 else None
    if alpha is not None:
        codes[alpha < max(1.0 / 255.0, threshold)] = 0  # transparent (below the threshold) = background
    soft = resolve_soft(codes, 255.0, 3, threshold, path)
    shares = None
    if soft is not None:
        codes, shares = soft.codes, soft.shares
    if alpha is not None and (alpha[codes > 0] < 1).any():
        base = (
            shares if shares is not None else {int(c): (codes == c).astype(np.float32) for c in np.unique(codes) if c}
        )
        shares = {c: s * alpha for c, s in base.items()}
    uniq, first = np.unique(codes.ravel(), return_index=True)
    colours = uniq[np.argsort(first, kind="stable")]
    nonzero = int(np.count_nonzero(colours))
    if nonzero > MAX_OBJECTS:
        raise too_many_objects(path, nonzero, "colours")
    return RawMask(path, "rgb", codes, None, colours, shares)
