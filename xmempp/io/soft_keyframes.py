"""Soft keyframes: objects are the plateaus of a matte, each edge pixel goes to the objects whose edge it is.

A soft mask (anti-aliased, feathered, area-downscaled; the normal output of Nuke, Silhouette, After
Effects) holds, besides its objects' flat values, edge shades that blend two of them. A value is
therefore read by where it is, not only by what it is: in a grey matte with objects at 100 and 255,
a 100 on the edge between 255 and black is an edge shade of the 255 object, while a 100 plateau is
an object of its own.

* Plateaus (objects) are the values whose pixels are flat (all 8 neighbours equal) far more often
  than any nearby value: a peak of the histogram of flat pixels. Feather bands, whose neighbouring
  values are about as flat, are not peaks. Values that are no blend of the plateaus found so far
  and have flat pixels (brightest first), and thin one-value objects, are objects too.
* Every other pixel lies between two plateaus (background is the plateau 0): among the plateaus
  nearest to it (distance transforms), the closest pair whose blend gives its value. Its value
  then says the share of each: the object with the larger share gets the pixel when that share is
  at least the threshold (an object on background: when the object's share is). Three-way mixes
  with black are tried too for colour masks.
* A matte is refused as ambiguous when a plateau is only a thin band (a few pixels) lying between
  two plateaus whose blend it is (a thin object, or a step of a soft edge?), or a shade is no blend
  of object colours; the message names the values seen.

The shares are kept as each object's soft matte (the artist's edge, used for the keyframe outputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from xmempp.errors import InputError
from xmempp.io.mask_palette import MAX_OBJECTS

__all__ = ["SoftMask", "resolve_soft", "too_many_objects"]

#: Largest distance (per channel, 0..1 scale) of an edge shade from the blend of two object colours.
_BLEND_TOLERANCE = 2.5 / 255.0
#: Values this close (per channel, 0..1 scale) are neighbours when looking for histogram peaks.
_PEAK_SPAN = 4.5 / 255.0
#: A plateau has at least this many flat pixels, and this many times more than any neighbouring value.
_MIN_FLAT = 6
_PEAK_RATIO = 4.0
#: A plateau at most this thick (inscribed radius, pixels) lying between two plateaus it blends is ambiguous:
#: a thin object, or a step of a feathered edge? Refused when this share of its pixels touch both.
_BAND_RADIUS = 3.0
_BAND_SHARE = 0.8
#: Plateaus searched per pixel (nearest first) for the pair it blends.
_NEAREST = 4
_NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


@dataclass
class SoftMask:
    """A soft mask resolved into objects.

    Attributes:
        codes: HxW hard codes: each pixel's object value (0 = background).
        shares: object value -> HxW float32 share of that object per pixel (0..1).
    """

    codes: np.ndarray
    shares: dict[int, np.ndarray]


def too_many_objects(path: Path, count: int, kind: str) -> InputError:
    """The error for a mask with more than `MAX_OBJECTS` objects."""
    return InputError(
        f"mask {path} has {count} distinct {kind}, more than the {MAX_OBJECTS} objects a mask may hold: it looks "
        f"anti-aliased or noisy in a way that is no blend of flat object values (resampled with a sharpening "
        f"filter, dithered, or JPEG); re-export it with one flat colour or value per object"
    )


def _neighbourhood(codes: np.ndarray, packed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: is it flat (8 equal neighbours), does it touch two other values, and its smallest step.

    The step is the smallest per-channel (largest over channels) difference to a neighbour of
    another value (in code units; 0 where none differs). Border pixels count as not flat; the
    image is padded by edge replication.
    """
    h, w = codes.shape
    centre = codes.astype(np.int32)
    padded = np.pad(centre, 1, mode="edge")
    if packed:
        planes = [(centre >> s) & 255 for s in (16, 8, 0)]
        padded_planes = [(padded >> s) & 255 for s in (16, 8, 0)]
    flat = np.ones(codes.shape, dtype=bool)
    big = np.iinfo(np.int32).max
    lowest = np.full(codes.shape, big, dtype=np.int32)
    highest = np.full(codes.shape, -1, dtype=np.int32)
    step = np.full(codes.shape, big, dtype=np.int32)
    for dy, dx in _NEIGHBOURS:
        window = (slice(1 + dy, 1 + dy + h), slice(1 + dx, 1 + dx + w))
        other = padded[window]
        same = other == centre
        flat &= same
        differ = ~same
        np.minimum(lowest, other, out=lowest, where=differ)
        np.maximum(highest, other, out=highest, where=differ)
        if packed:
            diff = np.abs(padded_planes[0][window] - planes[0])
            for plane, pad in zip(planes[1:], padded_planes[1:]):
                np.maximum(diff, np.abs(pad[window] - plane), out=diff)
        else:
            diff = np.abs(other - centre)
        np.minimum(step, diff, out=step, where=differ)
    flat[[0, -1], :] = False
    flat[:, [0, -1]] = False
    between = (highest >= 0) & (lowest < highest)
    step[step == big] = 0
    return flat, between, step


def _neighbour_flatness(colours: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """For each value with flat pixels: the most flat pixels of any other value within `_PEAK_SPAN`."""
    idx = np.flatnonzero(flat > 0)
    best = np.zeros(len(colours))
    pts, counts = colours[idx], flat[idx]
    for start in range(0, len(idx), 512):
        block = pts[start : start + 512]
        near = np.abs(block[:, None, :] - pts[None, :, :]).max(axis=2) <= _PEAK_SPAN
        near[np.arange(len(block)), np.arange(start, start + len(block))] = False
        best[idx[start : start + 512]] = np.where(near, counts[None, :], 0).max(axis=1, initial=0)
    return best


def _blend(colours: np.ndarray, flats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Explain each colour as a mix of black and at most two flat colours (any pair of them).

    Arguments:
        colours: N x C colours (0..1).
        flats: K x C object colours (K >= 1).
    Returns:
        (distance, object, share) per colour: the largest per-channel error of the best mix, the
        flat (index) with the largest share in it, and that share.
    """
    n, k = len(colours), len(flats)
    mixes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (distance, object, share) per blend
    zero = np.zeros(colours.shape[1])
    for i in range(k):
        dist, t = _segment(colours, zero, flats[i])
        mixes.append((dist, np.full(n, i), t))
        for j in range(i + 1, k):
            dist, t = _segment(colours, flats[i], flats[j])
            mixes.append((dist, np.where(t >= 0.5, j, i), np.maximum(t, 1 - t)))
            if colours.shape[1] > 1:
                dist, mix = _triangle(colours, flats[i], flats[j])
                mixes.append((dist, np.where(mix[1] > mix[0], j, i), mix.max(axis=0)))
    dist, obj, share = (np.stack([m[part] for m in mixes]) for part in range(3))
    best = dist.argmin(axis=0)
    cols = np.arange(n)
    return dist[best, cols], obj[best, cols], share[best, cols]


def _segment(colours: np.ndarray, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each colour from the segment p-q, and its position t (share of q)."""
    d = q - p
    t = np.clip(((colours - p) @ d) / max(float(d @ d), 1e-12), 0.0, 1.0)
    return np.abs(p + t[:, None] * d - colours).max(axis=1), t


def _triangle(colours: np.ndarray, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each colour from the triangle black-p-q, and its 2 x N mix of p and q."""
    basis = np.stack([p, q], axis=1)  # C x 2
    mix, *_ = np.linalg.lstsq(basis, colours.T, rcond=None)  # 2 x N
    ok = (mix >= -1e-6).all(axis=0) & (mix.sum(axis=0) <= 1 + 1e-6)
    return np.where(ok, np.abs(basis @ mix - colours.T).max(axis=0), np.inf), np.clip(mix, 0.0, 1.0)


def _describe(colours: np.ndarray, indices, scale: float) -> str:
    values = [tuple(int(v) for v in np.rint(colours[i] * scale)) for i in indices]
    return ", ".join(str(v[0]) if len(v) == 1 else str(v) for v in values)


def _plateaus(colours: np.ndarray, flat: np.ndarray, thin: np.ndarray, black: int | None) -> list[int]:
    """Indices of the object values (see the module notes)."""
    rival = _neighbour_flatness(colours, flat)
    candidate = flat >= _MIN_FLAT
    if black is not None:
        candidate[black] = False
    peaks = [int(i) for i in np.flatnonzero(candidate & (flat >= _PEAK_RATIO * rival))]
    flats = list(peaks)
    norms = np.abs(colours).sum(axis=1)
    for i in np.argsort(-norms, kind="stable"):  # flat colours that are no blend: objects too
        if (
            flat[i]
            and i != black
            and i not in flats
            and (not flats or _blend(colours[i : i + 1], colours[flats])[0][0] > _BLEND_TOLERANCE)
        ):
            flats.append(int(i))
    flats += [int(i) for i in np.flatnonzero((flat == 0) & thin) if i != black]  # thin objects
    return flats


def resolve_soft(codes: np.ndarray, scale: float, channels: int, threshold: float, path: Path) -> SoftMask | None:
    """Resolve a soft mask into objects: every pixel takes an object's value (0 = background).

    Arguments:
        codes: HxW integer codes (gray values, or RGB packed as 0xRRGGBB when `channels` is 3).
        scale: full-scale value of one channel (255 or 65535).
        channels: 1 (gray) or 3 (packed RGB).
        threshold: an object's share a pixel needs to belong to it.
        path: the file, for error messages.
    Returns:
        A `SoftMask`, or None when the mask has no edge shades (it is read exactly instead).
        Raises `InputError` for an ambiguous mask.
    """
    if channels == 1:  # 8/16-bit values: a histogram, not a sort
        present = np.bincount(codes.ravel(), minlength=1) > 0
        uniq = np.flatnonzero(present).astype(codes.dtype)
        lut = np.cumsum(present) - 1
        inverse = lut[codes]
    else:
        uniq, inverse = np.unique(codes.ravel(), return_inverse=True)
        inverse = inverse.reshape(codes.shape)
    if len(uniq) < 2:
        return None
    is_flat, between, step = _neighbourhood(codes, channels == 3)
    n = len(uniq)
    counts = np.bincount(inverse.ravel(), minlength=n)
    flat = np.bincount(inverse.ravel(), weights=is_flat.ravel(), minlength=n)
    shade_share = np.bincount(inverse.ravel(), weights=between.ravel(), minlength=n) / counts
    shades = (flat == 0) & (shade_share >= 0.5) & (uniq != 0)
    hard_edged = np.bincount(inverse.ravel(), weights=(step > _PEAK_SPAN * scale).ravel(), minlength=n) >= counts / 2
    if not shades.any() and n - 1 <= MAX_OBJECTS:
        return None
    if channels == 3:
        colours = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1) / scale
    else:
        colours = uniq[:, None] / scale
    black = int(np.flatnonzero(uniq == 0)[0]) if uniq[0] == 0 else None
    flats = _plateaus(colours, flat, ~shades & hard_edged, black)
    if len(flats) > MAX_OBJECTS:
        raise too_many_objects(path, len(flats), "colours" if channels == 3 else "gray levels")
    if not flats:
        raise InputError(
            f"mask {path} has only soft edges and no solid object value; export a matte whose objects "
            f"are solid inside (value 1.0 / full colour)"
        )
    dist, _obj, _share = _blend(colours, colours[flats])
    unexplained = np.flatnonzero(shades & (dist > _BLEND_TOLERANCE))
    if len(unexplained):
        i = unexplained[np.argmax(counts[unexplained])]
        raise InputError(
            f"mask {path} is ambiguous: its edge value {_describe(colours, [i], scale)} "
            f"({int(counts[i])} pixels) is neither an object value ({_describe(colours, flats, scale)}) "
            f"nor a blend of them; export one flat colour per object (soft edges are fine) or one "
            f"matte per object"
        )
    return _assign(codes, uniq, colours, flats, is_flat, flat, threshold, scale, path)


def _cores(codes: np.ndarray, code: int, is_flat: np.ndarray, thin: bool) -> np.ndarray:
    """Pixels of one plateau: its value's connected areas that hold a flat pixel (all of them for a thin object).

    A pixel of that value elsewhere (a feather passing through it) is an edge shade of other objects.
    """
    same = codes == code
    if thin or not same.any():
        return same
    count, labels = cv2.connectedComponents(same.view(np.uint8), connectivity=8)
    keep = np.bincount(labels[is_flat & same], minlength=count) > 0
    keep[0] = False
    return keep[labels]


def _refuse_bands(slots: np.ndarray, plateaus: np.ndarray, scale: float, path: Path) -> None:
    """Raise `InputError` when a plateau is a thin band between two plateaus whose blend it is."""
    distances: dict[int, np.ndarray] = {}

    def distance(slot: int) -> np.ndarray:
        if slot not in distances:
            distances[slot] = cv2.distanceTransform((slots != slot).view(np.uint8), cv2.DIST_L2, 3)
        return distances[slot]

    k = len(plateaus)
    for p in range(1, k):
        core = slots == p
        if not core.any():
            continue
        radius = float(cv2.distanceTransform(np.pad(core, 1).view(np.uint8), cv2.DIST_L2, 3).max())
        if radius > _BAND_RADIUS:
            continue
        reach = 2.0 * radius + 2.0
        for q in range(k):
            for r in range(q + 1, k):
                if p in (q, r) or not (slots == q).any() or not (slots == r).any():
                    continue
                err, t = _segment(plateaus[p : p + 1], plateaus[q], plateaus[r])
                if err[0] > _BLEND_TOLERANCE or not 0.0 < t[0] < 1.0:
                    continue
                touching = (distance(q)[core] <= reach) & (distance(r)[core] <= reach)
                if touching.mean() >= _BAND_SHARE:
                    seen = _describe(plateaus, range(1, k), scale)
                    raise InputError(
                        f"mask {path} is ambiguous: the value {_describe(plateaus, [p], scale)} is a thin "
                        f"band between {_describe(plateaus, [q], scale)} and "
                        f"{_describe(plateaus, [r], scale)}, a thin object or a step of a soft edge "
                        f"(object values seen: {seen}); export one matte per object, or soft edges "
                        f"without flat steps"
                    )


def _assign(
    codes: np.ndarray,
    uniq: np.ndarray,
    colours: np.ndarray,
    flats: list[int],
    is_flat: np.ndarray,
    flat_counts: np.ndarray,
    threshold: float,
    scale: float,
    path: Path,
) -> SoftMask:
    """Give every pixel that is no plateau to the closest pair of plateaus whose blend it is."""
    plateau_codes = [0] + [int(uniq[i]) for i in flats]  # slot 0: background
    plateau_colours = np.concatenate([np.zeros((1, colours.shape[1])), colours[flats]])
    slots = np.full(codes.shape, -1, dtype=np.int64)
    for slot, code in enumerate(plateau_codes):
        thin = slot > 0 and flat_counts[flats[slot - 1]] == 0
        slots[_cores(codes, code, is_flat, thin)] = slot
    _refuse_bands(slots, plateau_colours, scale, path)
    shares = {c: (slots == k).astype(np.float32) for k, c in enumerate(plateau_codes) if k}
    hard = np.asarray(plateau_codes, dtype=codes.dtype)[np.maximum(slots, 0)]
    ty, tx = np.nonzero(slots < 0)
    if len(ty):
        k = len(plateau_codes)
        dist = np.full((k, len(ty)), np.inf, dtype=np.float32)
        for slot in range(k):
            where = slots != slot
            if not where.all():
                dist[slot] = cv2.distanceTransform(where.view(np.uint8), cv2.DIST_L2, 3)[ty, tx]
        values = colours[np.searchsorted(uniq, codes[ty, tx])]
        first, second, share_first, share_second = _closest_blends(values, plateau_colours, dist)
        winner = np.where(share_second > share_first, second, first)
        share = np.maximum(share_first, share_second)
        on_background = (first == 0) & (second != 0)
        winner = np.where(on_background, second, winner)
        share = np.where(on_background, share_second, share)
        winner = np.where((share >= threshold) & (winner > 0), winner, 0)
        hard[ty, tx] = np.asarray(plateau_codes, dtype=codes.dtype)[winner]
        for slot, code in enumerate(plateau_codes):
            if slot:
                shares[code][ty, tx] = np.where(first == slot, share_first, 0) + np.where(
                    second == slot, share_second, 0
                )
    return SoftMask(hard, {c: s for c, s in shares.items() if s.any()})


def _closest_blends(
    values: np.ndarray, plateaus: np.ndarray, dist: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: the two plateaus (slots) whose blend gives its value, nearest pair first, and their shares.

    Arguments:
        values: N x C pixel values (0..1).
        plateaus: K x C plateau values, slot 0 = background (black).
        dist: K x N distance of each pixel from each plateau.
    Returns:
        (first slot, second slot, share of first, share of second) per pixel, first < second; a
        three-way mix with black gives the two object slots. A pixel no pair nearby explains takes
        the best blend of any plateaus.
    """
    k, n = dist.shape
    near = np.zeros((k, n), dtype=bool)
    if k > _NEAREST:
        near[np.argpartition(dist, _NEAREST - 1, axis=0)[:_NEAREST], np.arange(n)] = True
    else:
        near[:] = True
    near &= np.isfinite(dist)
    rank = np.full(n, np.inf)
    first, second = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    share_first, share_second = np.zeros(n), np.zeros(n)
    for i in range(k):
        for j in range(i + 1, k):
            idx = np.flatnonzero(near[i] & near[j])
            if not len(idx):
                continue
            pair_rank = np.maximum(dist[i, idx], dist[j, idx]).astype(np.float64)
            err, t = _segment(values[idx], plateaus[i], plateaus[j])
            mixes = [(err, 1.0 - t, t, pair_rank)]
            if values.shape[1] > 1 and i > 0:
                err3, mix = _triangle(values[idx], plateaus[i], plateaus[j])
                mixes.append((err3, mix[0], mix[1], pair_rank + 0.5))  # prefer a two-way blend
            for err, a, b, r in mixes:
                better = (err <= _BLEND_TOLERANCE) & (r < rank[idx])
                sel = idx[better]
                rank[sel], first[sel], second[sel] = r[better], i, j
                share_first[sel], share_second[sel] = a[better], b[better]
    lost = np.flatnonzero(~np.isfinite(rank))
    if len(lost):
        _dist, obj, share = _blend(values[lost], plateaus[1:])
        first[lost], second[lost] = 0, obj + 1
        share_first[lost], share_second[lost] = 1.0 - share, share
    return first, second, share_first, share_second
