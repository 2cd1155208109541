"""Annotation masks: read index, grayscale and RGB PNGs exactly, pair them with frames.

A mask becomes a `LabeledMask`: an HxW uint8 array of object ids (0 = background) plus the palette
to restore on output. Conversions are exact lookups, never dithering or colour quantisation:

* palette ("P") PNG: the pixel indices are the ids, the file's palette is kept;
* grayscale ("L", 16-bit "I;16", 1-bit) PNG: the values are the ids (16-bit files holding 8-bit
  values scaled by 257 are scaled back); no palette (outputs are grayscale too);
* RGB/RGBA PNG: every exact colour is one id: black (and fully transparent pixels) is 0, a DAVIS
  palette colour is its palette index, any other colour gets the next id after the highest one in
  use, in order of first appearance (row-major; files in frame order). The palette restores the
  exact colours.

Soft keyframes (the normal output of Nuke, Silhouette, After Effects) are read as soft and binarised
at `threshold` (default 0.5), each object's matte separately: a single-channel matte (8/16-bit), the
alpha of an RGBA or gray+alpha PNG, and anti-aliased or feathered flat colours. A mask is soft when
some of its values have no interior (no pixel whose 8 neighbours share it) and sit between two other
values: those are edge shades. Each shade is explained as a blend of two object colours (or of one
colour and black) and goes to the object whose share is at least the threshold; flat colours keep
their objects, so one object is never split into several. A shade that is no such blend is an error
naming the file and the fix. A hard mask (no shades) is read exactly as above.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
from PIL import UnidentifiedImageError

from xmempp.errors import InputError
from xmempp.io.frames import DECODE_ERRORS, is_hidden, open_image
from xmempp.types import PathLike

__all__ = [
    "MAX_OBJECTS", "LabeledMask", "ColorTable", "davis_palette", "read_mask", "read_mask_folder",
    "output_palette", "mask_frame_index", "present_ids",
]

#: Most distinct object ids one mask may hold; more means anti-aliased / soft edges.
MAX_OBJECTS = 64

_LOSSY = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".webp"})
_TRAILING_NUMBER = re.compile(r"(\d+)$")


def davis_palette() -> np.ndarray:
    """The DAVIS / PASCAL VOC palette: index bits interleaved into the high bits of R, G, B.

    Returns:
        A (256, 3) uint8 array; index 0 = (0,0,0), 1 = (128,0,0), 2 = (0,128,0), 3 = (128,128,0),
        4 = (0,0,128), ..., 255 = (224,224,192).
    """
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
            if not value:
                break
        palette[index] = (r, g, b)
    return palette


_DAVIS = davis_palette()
_DAVIS_CODES = {int(r) << 16 | int(g) << 8 | int(b): i for i, (r, g, b) in enumerate(_DAVIS) if i > 0}


def present_ids(ids: np.ndarray) -> list[int]:
    """Sorted non-zero values of a uint8 id array (fast: a histogram, not a sort).

    Arguments:
        ids: array of uint8 object ids.
    Returns:
        The ids present, ascending, without 0.
    """
    counts = np.bincount(np.asarray(ids, dtype=np.uint8).ravel(), minlength=256)
    return [int(i) for i in np.flatnonzero(counts) if i != 0]


def _pack(rgb: np.ndarray) -> np.ndarray:
    """Pack HxWx3 uint8 colours into one uint32 code per pixel."""
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _unpack(code: int) -> tuple[int, int, int]:
    return (code >> 16) & 255, (code >> 8) & 255, code & 255


@dataclass
class LabeledMask:
    """An annotation mask as object ids.

    Attributes:
        ids: HxW uint8 array of object ids (0 = background).
        palette: (256, 3) uint8 palette to write outputs with, or None for a grayscale source
            (outputs are then written as grayscale index PNGs).
        path: the file it was read from, if any.
    """

    ids: np.ndarray
    palette: Optional[np.ndarray] = None
    path: Optional[Path] = None

    @property
    def object_ids(self) -> list[int]:
        """Sorted non-zero ids present in the mask."""
        return present_ids(self.ids)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return (int(self.ids.shape[0]), int(self.ids.shape[1]))


class ColorTable:
    """Exact colour -> id assignment for RGB masks, shared across the masks of one folder.

    Black is 0; a DAVIS palette colour is its palette index; every other colour gets the next id
    after the highest id assigned so far. Adding colours in order of first appearance gives the
    numbering documented in this module.
    """

    def __init__(self) -> None:
        self._ids: dict[int, int] = {0: 0}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, code: int) -> bool:
        return code in self._ids

    def add(self, codes: Iterable[int], culprit: Optional[Path] = None) -> None:
        """Register colours (packed as 0xRRGGBB) in order of first appearance.

        Arguments:
            codes: packed colours; ones already known are skipped.
            culprit: file named in the error raised when ids run out.
        Returns:
            None.
        """
        new = [int(c) for c in dict.fromkeys(int(c) for c in codes) if int(c) not in self._ids]
        used = set(self._ids.values())
        rest = []
        for code in new:
            index = _DAVIS_CODES.get(code)
            if index is not None and index not in used:
                self._ids[code] = index
                used.add(index)
            else:
                rest.append(code)
        for code in rest:
            next_id = max(used) + 1
            if next_id > 255:
                where = f" (in {culprit})" if culprit else ""
                raise InputError(f"too many mask colours{where}: object ids ran past 255; use at most "
                                 f"{MAX_OBJECTS} flat colours")
            self._ids[code] = next_id
            used.add(next_id)

    def lookup(self, codes: np.ndarray) -> np.ndarray:
        """Map an array of packed colours (all registered) to uint8 ids."""
        uniq, inverse = np.unique(codes.ravel(), return_inverse=True)
        lut = np.array([self._ids[int(c)] for c in uniq], dtype=np.uint8)
        return lut[inverse].reshape(codes.shape)

    def palette(self) -> np.ndarray:
        """(256, 3) uint8 palette: DAVIS colours, overridden by every registered colour at its id."""
        palette = _DAVIS.copy()
        for code, index in self._ids.items():
            palette[index] = _unpack(code)
        return palette


def _ordered_colours(codes: np.ndarray) -> np.ndarray:
    """Distinct codes in order of first appearance (row-major)."""
    uniq, first = np.unique(codes.ravel(), return_index=True)
    return uniq[np.argsort(first, kind="stable")]


#: Largest distance (per channel, 0..1 scale) of an edge shade from the blend of two object colours.
_BLEND_TOLERANCE = 2.5 / 255.0
_NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def _neighbourhood(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: does it have an interior (8 equal neighbours), and does it touch two other values?

    Border pixels count as having no interior; the image is padded by edge replication.
    """
    padded = np.pad(codes, 1, mode="edge")
    h, w = codes.shape
    interior = np.ones(codes.shape, dtype=bool)
    lowest = np.full(codes.shape, np.iinfo(np.int64).max, dtype=np.int64)
    highest = np.full(codes.shape, -1, dtype=np.int64)
    centre = codes.astype(np.int64)
    for dy, dx in _NEIGHBOURS:
        other = padded[1 + dy: 1 + dy + h, 1 + dx: 1 + dx + w].astype(np.int64)
        same = other == centre
        interior &= same
        np.minimum(lowest, np.where(same, lowest, other), out=lowest)
        np.maximum(highest, np.where(same, highest, other), out=highest)
    interior[[0, -1], :] = False
    interior[:, [0, -1]] = False
    between = (highest >= 0) & (lowest < highest)
    return interior, between


def _blend(colours: np.ndarray, flats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Explain each colour as a mix of black and at most two flat colours.

    Tries every segment black-flat and flat-flat, and every triangle black-flat-flat (colour images).

    Arguments:
        colours: N x C colours (0..1).
        flats: K x C object colours (K >= 1).
    Returns:
        (distance, object, share) per colour: the largest per-channel error of the best mix, the
        flat (index) with the largest share in it, and that share.
    """
    n, k = len(colours), len(flats)
    dists, objects, shares = [], [], []

    def segment(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = q - p
        t = np.clip(((colours - p) @ d) / max(float(d @ d), 1e-12), 0.0, 1.0)
        return np.abs(p + t[:, None] * d - colours).max(axis=1), t

    zero = np.zeros(colours.shape[1])
    for i in range(k):
        dist, t = segment(zero, flats[i])
        dists.append(dist), objects.append(np.full(n, i)), shares.append(t)
        for j in range(i + 1, k):
            dist, t = segment(flats[i], flats[j])
            dists.append(dist), objects.append(np.where(t >= 0.5, j, i)), shares.append(np.maximum(t, 1 - t))
            if colours.shape[1] > 1:
                basis = np.stack([flats[i], flats[j]], axis=1)                   # C x 2
                mix, *_ = np.linalg.lstsq(basis, colours.T, rcond=None)          # 2 x N
                ok = (mix >= -1e-6).all(axis=0) & (mix.sum(axis=0) <= 1 + 1e-6)
                dist = np.where(ok, np.abs(basis @ mix - colours.T).max(axis=0), np.inf)
                dists.append(dist), objects.append(np.where(mix[1] > mix[0], j, i)), shares.append(mix.max(axis=0))
    dist, obj, share = np.stack(dists), np.stack(objects), np.stack(shares)
    best = dist.argmin(axis=0)
    cols = np.arange(n)
    return dist[best, cols], obj[best, cols], share[best, cols]


def _resolve_soft(codes: np.ndarray, scale: float, channels: int, threshold: float, path: Path) -> Optional[np.ndarray]:
    """Binarise a soft mask: every pixel takes its object's flat code (0 = background).

    Arguments:
        codes: HxW integer codes (gray values, or RGB packed as 0xRRGGBB when `channels` is 3).
        scale: full-scale value of one channel (255 or 65535).
        channels: 1 (gray) or 3 (packed RGB).
        threshold: an object's share a pixel needs to belong to it.
        path: the file, for error messages.
    Returns:
        The hard codes, or None when the mask has no edge shades (it is read exactly instead).
    """
    uniq, inverse = np.unique(codes.ravel(), return_inverse=True)
    if len(uniq) < 2:
        return None
    interior, between = _neighbourhood(codes)
    n = len(uniq)
    counts = np.bincount(inverse, minlength=n)
    has_interior = np.bincount(inverse, weights=interior.ravel(), minlength=n) > 0
    shade_share = np.bincount(inverse, weights=between.ravel(), minlength=n) / counts
    shades = ~has_interior & (shade_share >= 0.5) & (uniq != 0)
    if not shades.any():
        return None
    if channels == 3:
        colours = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1) / scale
    else:
        colours = uniq[:, None] / scale
    norms = np.abs(colours).sum(axis=1)
    black = int(np.flatnonzero(uniq == 0)[0]) if (uniq == 0).any() else None
    flats: list[int] = []

    def explained(i: int) -> bool:
        return bool(flats) and _blend(colours[i:i + 1], colours[flats])[0][0] <= _BLEND_TOLERANCE

    solid = [i for i in np.argsort(-norms, kind="stable") if has_interior[i] and i != black]
    for i in solid:                      # flat colours, brightest first; feather bands are blends
        if not explained(i):
            flats.append(int(i))
    flats += [int(i) for i in range(n) if not has_interior[i] and not shades[i] and i != black]  # thin objects
    if len(flats) > MAX_OBJECTS:
        raise _too_many(path, len(flats), "colours" if channels == 3 else "gray levels")
    if not flats:
        raise InputError(f"mask {path} has only soft edges and no solid object colour; export a matte whose objects "
                         f"are solid inside (value 1.0 / full colour)")
    dist, obj, share = _blend(colours, colours[flats])
    unexplained = np.flatnonzero(shades & (dist > _BLEND_TOLERANCE))
    if len(unexplained):
        i = unexplained[np.argmax(counts[unexplained])]
        value = tuple(int(v) for v in np.rint(colours[i] * scale))
        raise InputError(f"mask {path} is ambiguous: its edge value {value[0] if channels == 1 else value} "
                         f"({int(counts[i])} pixels) is neither an object colour nor a blend of object colours; "
                         f"export one flat colour per object (soft edges are fine) or one matte per object")
    lut = np.where(share >= threshold, uniq[flats][obj], 0).astype(uniq.dtype)
    lut[flats] = uniq[flats]
    if black is not None:
        lut[black] = 0
    return lut[inverse].reshape(codes.shape)


def _check_threshold(threshold: float) -> float:
    if not 0.0 < float(threshold) <= 1.0:
        raise InputError(f"mask threshold must be in (0, 1], not {threshold}; use e.g. --mask-threshold 0.5")
    return float(threshold)


def _too_many(path: Path, count: int, kind: str) -> InputError:
    return InputError(
        f"mask {path} has {count} distinct {kind}, more than the {MAX_OBJECTS} objects a mask may hold: it looks "
        f"anti-aliased (soft or blended edges). Masks must use one flat colour or value per object with hard "
        f"edges (no anti-aliasing, no resampling, no JPEG); re-export it that way")


@dataclass
class _RawMask:
    """A decoded mask before RGB colours are turned into ids."""

    path: Path
    kind: str                      # "index" (ids ready) or "rgb" (packed colours)
    data: np.ndarray               # HxW uint8 ids, or HxW uint32 packed colours
    palette: Optional[np.ndarray]  # for "index" masks from palette PNGs
    colours: Optional[np.ndarray] = None  # "rgb": distinct codes in order of first appearance


def _check_count(path: Path, ids: np.ndarray, kind: str) -> None:
    count = int(np.count_nonzero(np.bincount(ids.ravel(), minlength=256)[1:]))
    if count > MAX_OBJECTS:
        raise _too_many(path, count, kind)


def _gray_ids(path: Path, values: np.ndarray, threshold: float) -> np.ndarray:
    """Ids of a single-channel mask: exact values, or a soft matte binarised per object."""
    values = values.astype(np.int64)
    if values.min() < 0:
        raise InputError(f"mask {path} has negative values; use 8-bit ids 0..255")
    if values.max() > 255 and np.all(values % 257 == 0):
        values = values // 257  # 8-bit ids stored in a 16-bit file
    sixteen = values.max() > 255
    hard = _resolve_soft(values.astype(np.uint16 if sixteen else np.uint8), 65535.0 if sixteen else 255.0, 1,
                         threshold, path)
    if hard is None:
        if sixteen:
            distinct = len(np.unique(values))
            if distinct - 1 > MAX_OBJECTS:
                raise _too_many(path, distinct - 1, "gray levels")
            raise InputError(f"mask {path} holds 16-bit values above 255; object ids must be 0..255 "
                             f"(save it as an 8-bit grayscale or palette PNG)")
        ids = values.astype(np.uint8)
    elif sixteen:
        levels = [int(v) for v in np.unique(hard) if v]
        ids_of = {v: int(round(v / 257.0)) for v in levels}
        if len(set(ids_of.values())) != len(levels) or 0 in ids_of.values():
            raise InputError(f"mask {path} is a 16-bit matte whose object levels {levels[:6]} do not map to distinct "
                             f"8-bit ids; use one level per object, far apart (e.g. 65535 for a single object)")
        lut = np.zeros(65536, dtype=np.uint8)
        for v, i in ids_of.items():
            lut[v] = i
        ids = lut[hard]
    else:
        ids = hard.astype(np.uint8)
    _check_count(path, ids, "gray levels")
    return ids


def _load_raw(path: Path, expected_size: Optional[tuple[int, int]] = None, frame_hint: str = "",
              threshold: float = 0.5) -> _RawMask:
    """Decode a mask file without any lossy conversion (soft masks binarised at `threshold`)."""
    if path.suffix.lower() in _LOSSY:
        raise InputError(f"mask {path} is a {path.suffix} file: lossy compression changes mask colours; save "
                         f"masks as PNG (palette, grayscale or flat RGB)")
    try:
        with open_image(path, "mask") as image:
            mode = image.mode
            size = (image.height, image.width)
            if expected_size is not None and size != tuple(expected_size):
                eh, ew = expected_size
                raise InputError(f"mask {path} is {size[1]}x{size[0]} but {frame_hint or 'the frames are'} "
                                 f"{ew}x{eh}; masks must have the resolution of their frames")
            if mode == "P":
                ids = np.asarray(image, dtype=np.uint8).copy()
                raw_palette = image.getpalette() or []
                palette = _DAVIS.copy()
                pal = np.asarray(raw_palette[: 256 * 3], dtype=np.uint8).reshape(-1, 3)
                palette[: len(pal)] = pal
                _check_count(path, ids, "palette indices")
                return _RawMask(path, "index", ids, palette)
            if mode in ("L", "1", "I;16", "I;16B", "I;16L", "I;16N", "I"):
                return _RawMask(path, "index", _gray_ids(path, np.asarray(image), threshold), None)
            if mode == "LA":
                la = np.asarray(image)
                gray = np.where(la[..., 1] >= threshold * 255.0, la[..., 0], 0)
                return _RawMask(path, "index", _gray_ids(path, gray, threshold), None)
            if mode not in ("RGB", "RGBA"):
                image = image.convert("RGBA" if "A" in mode else "RGB")
            arr = np.asarray(image)
    except DECODE_ERRORS as exc:
        raise InputError(f"cannot read mask {path}: unsupported image data ({exc}); re-export it") from exc
    codes = _pack(arr[..., :3])
    if arr.shape[2] == 4:
        codes[arr[..., 3] < max(1.0, threshold * 255.0)] = 0  # transparent (below the threshold) = background
    hard = _resolve_soft(codes, 255.0, 3, threshold, path)
    if hard is not None:
        codes = hard
    colours = _ordered_colours(codes)
    nonzero = int(np.count_nonzero(colours))
    if nonzero > MAX_OBJECTS:
        raise _too_many(path, nonzero, "colours")
    return _RawMask(path, "rgb", codes, None, colours)


def _finish(raw: _RawMask, table: Optional[ColorTable]) -> LabeledMask:
    if raw.kind == "index":
        return LabeledMask(raw.data, raw.palette, raw.path)
    if table is None:
        raise InputError(f"{raw.path} is a colour mask: read it with a ColorTable to number its colours")
    return LabeledMask(table.lookup(raw.data), table.palette(), raw.path)


def read_mask(path: PathLike, color_table: Optional[ColorTable] = None,
              expected_size: Optional[tuple[int, int]] = None, threshold: float = 0.5) -> LabeledMask:
    """Read one annotation mask as object ids.

    Arguments:
        path: a PNG (palette, grayscale 8/16-bit, or flat-colour RGB/RGBA).
        color_table: colour numbering shared with other RGB masks of the same shot (a new table
            is used when None, i.e. this mask is numbered on its own).
        expected_size: (height, width) the mask must have, e.g. its frame's size.
        threshold: share of an object a soft-mask pixel needs to belong to it (0 < t <= 1).
    Returns:
        A `LabeledMask`. Raises `InputError` naming the file when it is not an image, is lossy,
        corrupt, of the wrong size, ambiguous, or has more than `MAX_OBJECTS` objects.
    """
    raw = _load_raw(Path(path), expected_size, threshold=_check_threshold(threshold))
    if raw.kind == "rgb":
        color_table = color_table if color_table is not None else ColorTable()
        color_table.add(raw.colours, culprit=raw.path)
    return _finish(raw, color_table)


def mask_frame_index(stem: str) -> Optional[int]:
    """The trailing number of a mask stem (`12`, `0012`, `frame_000012` -> 12), or None."""
    match = _TRAILING_NUMBER.search(stem)
    return int(match.group(1)) if match else None


def read_mask_folder(folder: PathLike, frame_names: Sequence[str],
                     frame_size: Optional[tuple[int, int]] = None, *, by_index: bool = False,
                     frame_numbers: Optional[Sequence[int]] = None, threshold: float = 0.5
                     ) -> dict[int, LabeledMask]:
    """Read every mask of a folder and pair each with its frame.

    Masks pair with frames by file stem (`shot_a_1022.png` <-> frame `shot_a_1022.jpg`). When no
    mask's stem matches a frame and the frames have numbers (a numbered sequence), each mask's
    trailing number is its frame number (`sh010_roto_v002.1001.png` annotates `sh010_plate_v001.1001.exr`). With
    `by_index` (frames of a video file) only the trailing number counts: the frame number, or the
    0-based frame index when `frame_numbers` is None (`12.png`, `000012.png` and
    `frame_000012.png` all annotate frame 12). RGB masks share one colour numbering, assigned in
    frame order.

    Arguments:
        folder: the mask folder (hidden files are ignored).
        frame_names: the frame stems, in frame order (`FrameSource.names`).
        frame_size: (height, width) every mask must have; not checked when None.
        by_index: pair by trailing number instead of by stem.
        frame_numbers: the number of each frame (`FrameSource.frame_numbers`), if any.
        threshold: share of an object a soft-mask pixel needs to belong to it.
    Returns:
        {frame index: LabeledMask}, ordered by frame index. Raises `InputError` for a missing or
        empty folder, a file that is not an image, a mask matching no frame, two masks for one
        frame, a size mismatch, or an anti-aliased mask.
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"mask folder not found: {folder}")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; give the folder that holds the annotation masks")
    files = sorted((p for p in folder.iterdir() if p.is_file() and not is_hidden(p)), key=lambda p: p.name)
    if not files:
        raise InputError(f"mask folder {folder} is empty; add at least one annotation PNG named after its frame "
                         f"(e.g. {frame_names[0] if frame_names else 'frame_0001'}.png)")
    threshold = _check_threshold(threshold)
    lookup = {name: i for i, name in enumerate(frame_names)}
    numbers = list(frame_numbers) if frame_numbers is not None else None
    if by_index and numbers is None:
        numbers = list(range(len(frame_names)))
    by_number = {n: i for i, n in enumerate(numbers or [])}
    by_stem = not by_index and any(p.stem in lookup for p in files)  # numbers only when no stem matches
    paired: dict[int, Path] = {}
    for path in files:
        if path.suffix.lower() not in _LOSSY:
            try:
                open_image(path, "mask", decode=False).close()
            except InputError as exc:
                if isinstance(exc.__cause__, UnidentifiedImageError):
                    raise InputError(f"{path} in the mask folder is not an image; remove it from the folder or "
                                     f"move it elsewhere") from exc
                raise
        found = None if by_index else lookup.get(path.stem)
        if found is None and numbers is not None and not by_stem:
            number = mask_frame_index(path.stem)
            what = "a video" if by_index else "a numbered sequence"
            if number is None:
                raise InputError(f"mask {path} has no frame number in its name; for {what}, end each mask's name "
                                 f"with its frame number (e.g. {frame_names[0] if frame_names else '000000'}.png)")
            found = by_number.get(number)
            if found is None:
                if by_index and numbers and numbers[0] == 0:
                    raise InputError(f"mask {path} is for frame {number} but the video has {len(frame_names)} "
                                     f"frames (0..{len(frame_names) - 1}); frame numbers of a video start at 0 (or "
                                     f"number them with --start-frame)")
                raise InputError(f"mask {path} is for frame {number} but the frames are numbered {numbers[0]}.."
                                 f"{numbers[-1]}; check the mask's frame number (or --start-frame / --frames)")
        elif found is None:
            example = (f"'{frame_names[0]}' ... '{frame_names[-1]}'" if frame_names else "nothing")
            raise InputError(f"mask {path} matches no frame: no frame is named '{path.stem}' (frames are named "
                             f"{example}); name each mask after its frame")
        index = found
        if index in paired:
            raise InputError(f"two masks for frame {frame_names[index]}: {paired[index].name} and {path.name}; "
                             f"keep one of them")
        paired[index] = path
    raws: dict[int, _RawMask] = {}
    for index in sorted(paired):
        hint = f"its frame {frame_names[index]} is" if index < len(frame_names) else ""
        raws[index] = _load_raw(paired[index], frame_size, hint, threshold)
    table: Optional[ColorTable] = None
    if any(r.kind == "rgb" for r in raws.values()):
        table = ColorTable()
        all_colours = [int(c) for r in raws.values() if r.kind == "rgb" for c in r.colours]
        table.add(all_colours, culprit=folder)
    return {index: _finish(raws[index], table) for index in sorted(raws)}


def output_palette(masks: Mapping[int, LabeledMask]) -> Optional[np.ndarray]:
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
