"""What one object's mask on one frame is compared with, and the raw measurements that come out.

Every measurement is a share of the object's size (its area in the expected or the given mask,
whichever is larger), so that thresholds hold for small and large objects alike. Disagreements are
counted only on reliable pixels (see `xmempp.review.motion`), beyond a tolerance of about 2 % of
the object's size around the expected outline (flow and outlines are never exact), and not where
another tracked object explains them (it now covers the pixels and was expected there: an occlusion).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = [
    "MIN_AREA",
    "MOSTLY_HIDDEN",
    "ObjectSignals",
    "Window",
    "centroid",
    "centroid_distance",
    "compare_masks",
    "disk",
    "edge_offset",
    "edge_strength",
    "edge_support",
    "fill_holes",
    "hidden_part",
    "touches_edge",
]

#: Smallest object area (pixels at the working size) a share is taken of.
MIN_AREA = 64

#: The share of its full area below which an object counts as mostly hidden (or mostly out of view): what shows
#: of it says little about where it is, what it looks like or whose place it takes.
MOSTLY_HIDDEN = 0.35


@dataclass
class ObjectSignals:
    """Raw measurements for one object on one frame (shares of the object's area unless said).

    Attributes:
        area: the mask's area in pixels at the working size.
        expected_area: the area the motion predicts (the trusted previous mask carried along the flow).
        missing: expected pixels the mask lacks.
        extra: mask pixels nothing expected.
        largest: the largest connected disagreement.
        detached: mask parts away from everything expected (a spurious patch, a leak far out).
        holes: holes in the mask where the object was expected.
        drift: how far the mask's centroid is from that of a mask of several frames back carried along the
            motion since (a slow slide that no single frame shows), as a share of the size.
        changed: missing and extra together.
        shift: distance between the mask's centroid and the expected one, as a share of the size (both
            taken where no other object is or is expected, so an occlusion does not move them).
        contact: share of the object's expected outline region that another object covers or is expected
            on (an occlusion in progress: the geometry of the visible part is then least certain).
        at_edge: the mask or the expected one touches the picture's edge (clipped by it: its centroid moves).
        full_area: the object's area in pixels when last seen whole (see `compare_masks`).
        lost: the object shows now but nothing of it is expected (the motion lost its carried mask, or it comes
            out from behind something that hid it whole): its shape has nothing to be compared with.
        edge_offset: how far the mask's outline sits off the image's edges (see `edge_offset`), as a share of its
            size; 0 where it sits on them or no shift puts it on clearly stronger ones.
        edge_support: how much stronger the image's edges are along the outline the mask gained than along
            the outline it gave up (see `edge_support`), or None where it did not move enough to tell.
        looks_like: another object whose expected place the mask covers, or None.
        appearance: colour distance to the object's trusted appearance (0 same .. 1 unrelated), or None.
        uncertainty: the network's soft-probability uncertainty in the object's band (0..1), or None.
    """

    area: float
    expected_area: float
    missing: float = 0.0
    extra: float = 0.0
    largest: float = 0.0
    detached: float = 0.0
    holes: float = 0.0
    drift: float = 0.0
    changed: float = 0.0
    shift: float = 0.0
    contact: float = 0.0
    at_edge: bool = False
    full_area: float = 0.0
    lost: bool = False
    edge_offset: float = 0.0
    edge_support: float | None = None
    looks_like: int | None = None
    appearance: float | None = None
    uncertainty: float | None = None
    notes: list[str] = field(default_factory=list)


def disk(radius: int) -> np.ndarray:
    """A filled disk of `radius` pixels, the structuring element every morphology of the review uses."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """`mask` (HxW bool) with every region of background it encloses filled."""
    padded = np.pad(mask, 1).astype(np.uint8)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 2)
    return (flood != 2)[1:-1, 1:-1]


@dataclass(frozen=True)
class Window:
    """The part of the picture (rows y0:y1, columns x0:x1 of an HxW picture) that an object's measurement is
    worked out in: what it looks at lies well inside, so the results are those of the whole picture at a
    fraction of the cost."""

    y0: int
    y1: int
    x0: int
    x1: int
    height: int
    width: int

    @classmethod
    def around(cls, region: np.ndarray, margin: int) -> Window:
        """The bounding box of `region` (HxW bool, not empty) grown by `margin` pixels, clipped to the picture."""
        x, y, w, h = cv2.boundingRect(region.astype(np.uint8))
        height, width = region.shape
        return cls(
            max(0, y - margin),
            min(height, y + h + margin),
            max(0, x - margin),
            min(width, x + w + margin),
            height,
            width,
        )

    def __call__(self, plane: np.ndarray) -> np.ndarray:
        """`plane`'s (HxW) part in the window."""
        return plane[self.y0 : self.y1, self.x0 : self.x1]

    def off_border(self, mask: np.ndarray, band: int) -> np.ndarray:
        """`mask` (the window's) without the pixels within `band` of the picture's edge (where an object enters
        or leaves view)."""
        inner = mask.copy()
        top, bottom = max(0, band - self.y0), max(0, band - (self.height - self.y1))
        left, right = max(0, band - self.x0), max(0, band - (self.width - self.x1))
        inner[:top], inner[inner.shape[0] - bottom :] = False, False
        inner[:, :left], inner[:, inner.shape[1] - right :] = False, False
        return inner

    def inside_pieces(self, mask: np.ndarray, away_from: np.ndarray | None = None, distance: float = 0.0) -> np.ndarray:
        """The pieces of `mask` (the window's) that do not reach the picture's edge: no object entering view
        makes them, wherever they are; with `away_from` (the window's), also those farther than `distance` pixels
        from every pixel of it (an object enters view beside the rest of it)."""
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        x = stats[:, cv2.CC_STAT_LEFT] + self.x0
        y = stats[:, cv2.CC_STAT_TOP] + self.y0
        w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
        inside = (x > 0) & (y > 0) & (x + w < self.width) & (y + h < self.height)
        if away_from is not None and away_from.any():
            near = cv2.distanceTransform((~away_from).astype(np.uint8), cv2.DIST_L2, 3) <= distance
            far = np.ones(count, bool)
            far[labels[mask & near]] = False
            inside |= far
        inside[0] = False  # the background
        return inside[labels]

    def touches_edge(self, mask: np.ndarray) -> bool:
        """Whether `mask` (the window's) has a pixel on the picture's edge."""
        return bool(
            (self.y0 == 0 and mask[0].any())
            or (self.y1 == self.height and mask[-1].any())
            or (self.x0 == 0 and mask[:, 0].any())
            or (self.x1 == self.width and mask[:, -1].any())
        )


def touches_edge(mask: np.ndarray) -> bool:
    """Whether `mask` (HxW bool) has a pixel on the picture's edge."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def _largest(mask: np.ndarray) -> int:
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return int(stats[1:, cv2.CC_STAT_AREA].max()) if count > 1 else 0


def centroid(mask: np.ndarray) -> tuple[float, float] | None:
    """(x, y) of `mask`'s (HxW bool) pixels' mean, or None where it is empty."""
    moments = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    if moments["m00"] == 0:
        return None
    return moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]


def compare_masks(
    mask: np.ndarray,
    expected: np.ndarray,
    reliable: np.ndarray,
    ids: np.ndarray,
    object_id: int,
    others_expected: dict[int, np.ndarray],
    uncovered: np.ndarray | None = None,
    motion: float = 0.0,
    full_area: float = 0.0,
    shows: np.ndarray | None = None,
) -> ObjectSignals:
    """Compare one object's mask with where the motion says it should be.

    Arguments:
        mask: HxW bool, the object's pixels on this frame.
        expected: HxW bool, the trusted previous mask carried to this frame along the flow.
        reliable: HxW bool, pixels whose flow is trusted.
        ids: HxW uint8, every object's id on this frame (0 = background).
        object_id: the object compared.
        others_expected: every other object's expected mask (HxW bool) on this frame.
        uncovered: HxW bool, pixels another object covered on the previous frame (where they were, or
            along the flow): the object may show there now (it comes out from behind).
        motion: the picture's median motion in pixels (the band along the edge where objects may enter or
            leave view is at least twice it).
        full_area: the object's area when last seen whole (recent largest): shares are taken of at least
            a third of it, so a nearly hidden object's few visible pixels do not make large shares.
        shows: HxW bool, pixels where the object's own content is seen on this frame (the dense flow brought
            it there, or the object's own motion reproduces it); an expected pixel it lacks elsewhere is hidden
            by something untracked moving in front, not missing (default: `reliable`).
    Returns:
        The `ObjectSignals` (drift, appearance and uncertainty left unset).
    """
    area, expected_area = float(mask.sum()), float(expected.sum())
    size_area = max(area, expected_area, 0.35 * full_area, MIN_AREA)
    size = math.sqrt(size_area)
    signals = ObjectSignals(area=area, expected_area=expected_area, full_area=full_area)
    if area == 0 and expected_area == 0:
        return signals
    tolerance = max(1, round(0.02 * size))
    reach = max(2, round(0.1 * size))  # the widest neighbourhood looked at around the object
    window = Window.around(mask | expected, reach + tolerance + 2)
    mask, expected, reliable, ids = window(mask), window(expected), window(reliable), window(ids)
    shows = reliable if shows is None else window(shows)
    covered_by_other = np.zeros_like(mask)
    left_by_other = np.zeros_like(mask)
    others_now = (ids != object_id) & (ids != 0)
    for other, other_expected in others_expected.items():
        covered_by_other |= ids == other  # lost to another object: an occlusion, or that object's own error
        left_by_other |= window(other_expected) & (ids != other)
    if uncovered is not None:
        left_by_other |= window(uncovered) & ~others_now
    near_expected = cv2.dilate(expected.astype(np.uint8), disk(max(2, round(0.08 * size)))).astype(bool)
    if expected_area >= MIN_AREA:
        signals.contact = float((near_expected & (others_now | left_by_other)).sum()) / float(near_expected.sum())
    band = int(
        min(max(8, 0.05 * min(window.height, window.width), 1.5 * motion), 0.12 * min(window.height, window.width))
    )
    # an empty mask where the object is expected mostly in view is judged on the whole expected object (the band
    # is for objects entering or leaving view)
    whole = area == 0 and expected_area >= 0.5 * full_area
    missing = window.off_border(expected & ~mask & shows & ~covered_by_other, 0 if whole else band)
    extra = window.off_border(mask & ~expected & reliable & ~left_by_other, band)
    kernel = disk(tolerance)
    missing_core = cv2.morphologyEx(missing.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)
    extra_core = cv2.morphologyEx(extra.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)
    signals.missing = float(missing_core.sum()) / size_area
    signals.extra = float(extra_core.sum()) / size_area
    signals.largest = _largest(missing_core | extra_core) / size_area
    holes = fill_holes(mask) & ~mask & expected & shows & ~covered_by_other
    holes = cv2.morphologyEx(holes.astype(np.uint8), cv2.MORPH_OPEN, disk(1)).astype(bool)
    signals.holes = float(holes.sum()) / size_area
    near = cv2.dilate(expected.astype(np.uint8), disk(reach)).astype(bool)
    near_others = cv2.dilate((others_now | left_by_other).astype(np.uint8), disk(reach))
    apart = mask & ~near & reliable & ~near_others.astype(bool)
    away = window.off_border(apart, band)
    if (away != apart).any():  # a piece on the picture's edge may be the object entering view, unless it is far
        # from all of the object
        away |= apart & window.inside_pieces(mask, expected, 0.5 * size)
    away = cv2.morphologyEx(away.astype(np.uint8), cv2.MORPH_OPEN, disk(1)).astype(bool)
    signals.detached = float(away.sum()) / size_area
    signals.changed = signals.missing + signals.extra
    signals.at_edge = window.touches_edge(mask) or window.touches_edge(expected)
    visible = ~(covered_by_other | left_by_other | others_now | hidden_part(mask, expected, shows, ids))
    centre, centre_expected = centroid(mask & visible), centroid(expected & visible)
    if centre is not None and centre_expected is not None:
        signals.shift = math.hypot(centre[0] - centre_expected[0], centre[1] - centre_expected[1]) / size
    if area > 0 and area >= MOSTLY_HIDDEN * full_area and expected_area >= MIN_AREA:  # a sliver beside what hides
        # it lies in that one's place, and an object coming out from behind it, where that one was
        for other, other_expected in others_expected.items():
            if float((mask & window(other_expected)).sum()) > 0.5 * area and (mask & expected).sum() < 0.5 * area:
                signals.looks_like = other
                break
    return signals


def hidden_part(mask: np.ndarray, expected: np.ndarray, shows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Expected pixels (HxW bool) that no object's mask has and where the object's content is not seen:
    something untracked covers them (or the motion there is unknown). Centroids are taken without them, so an
    untracked occluder does not move them."""
    return expected & ~mask & ~shows & (ids == 0)


def centroid_distance(
    mask: np.ndarray, reference: np.ndarray, ids: np.ndarray, object_id: int, hidden: np.ndarray | None = None
) -> float:
    """How far `mask`'s centroid is from `reference`'s (HxW bool), as a share of the object's size, both
    taken where no other object is and outside `hidden` (see `hidden_part`; 0 when either is empty)."""
    both = mask | reference
    if not both.any():
        return 0.0
    window = Window.around(both, 1)
    mask, reference, ids = window(mask), window(reference), window(ids)
    visible = (ids == object_id) | (ids == 0)
    if hidden is not None:
        visible &= ~window(hidden)
    centre, centre_reference = centroid(mask & visible), centroid(reference & visible)
    if centre is None or centre_reference is None:
        return 0.0
    size = math.sqrt(max(float(mask.sum()), float(reference.sum()), MIN_AREA))
    return math.hypot(centre[0] - centre_reference[0], centre[1] - centre_reference[1]) / size


def edge_strength(grey: np.ndarray) -> np.ndarray:
    """HxW float32: the image's gradient magnitude (Sobel, after a light blur) of `grey` (HxW uint8)."""
    smooth = cv2.GaussianBlur(grey.astype(np.float32), (3, 3), 0)
    return cv2.magnitude(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1))


def _outline(mask: np.ndarray) -> np.ndarray:
    mask = mask.astype(np.uint8)
    return (mask - cv2.erode(mask, np.ones((3, 3), np.uint8))) > 0


def edge_support(strength: np.ndarray, mask: np.ndarray, expected: np.ndarray, tolerance: int) -> float | None:
    """The mean edge strength (`edge_strength`) along the outline `mask` gained (its outline farther than
    `tolerance` pixels from `expected`'s) over that along the outline it gave up (the other way round): well
    above 1 where the new outline follows the image's edges and the abandoned one lies where there are none (an
    object turning in depth, a right mask the motion did not foresee); None where either has fewer than 12
    pixels."""
    gained, given_up = _outline(mask), _outline(expected)
    near = disk(max(1, tolerance))
    gained_only = gained & ~cv2.dilate(given_up.astype(np.uint8), near).astype(bool)
    given_up_only = given_up & ~cv2.dilate(gained.astype(np.uint8), near).astype(bool)
    if gained_only.sum() < 12 or given_up_only.sum() < 12:
        return None
    return float(strength[gained_only].mean()) / max(float(strength[given_up_only].mean()), 1.0)


def edge_offset(strength: np.ndarray, mask: np.ndarray, others: np.ndarray, reach: int) -> tuple[float, float] | None:
    """How far `mask`'s outline (HxW bool) sits off the image's edges (`edge_strength`): the shift (dx, dy),
    within `reach` pixels, that puts the outline on the strongest edges, as (its length in pixels, the mean edge
    strength along the outline so shifted over that along the outline as it is). A mask that slid off its object
    has its outline beside the object's edges (length > 0, gain well above 1); a right one sits on them. The
    outline along the picture's edge and along `others` (HxW bool, the other objects' pixels, whose edges belong
    to them) is left out. None where fewer than 24 outline pixels are left."""
    if not mask.any():
        return None
    window = Window.around(mask, 3)
    outline = window.off_border(_outline(window(mask)), 2)
    outline &= ~cv2.dilate(window(others).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    count = int(np.count_nonzero(outline))
    if count < 24:
        return None
    x, y, w, h = cv2.boundingRect(outline.astype(np.uint8))
    x0, y0 = window.x0 + x, window.y0 + y  # the outline's box in the picture, then the strengths within `reach`
    rows = np.clip(np.arange(y0 - reach, y0 + h + reach), 0, strength.shape[0] - 1)  # of it (the picture's edge
    columns = np.clip(np.arange(x0 - reach, x0 + w + reach), 0, strength.shape[1] - 1)  # repeated beyond it)
    region = strength[np.ix_(rows, columns)]
    sums = cv2.matchTemplate(region, outline[y : y + h, x : x + w].astype(np.float32), cv2.TM_CCORR)
    _, best, _, (bx, by) = cv2.minMaxLoc(sums)
    here = float(sums[reach, reach])
    return float(np.hypot(bx - reach, by - reach)), float(best) / max(here, float(count))
