"""Review a mask sequence frame by frame: which frames and objects look wrong, and why.

`Reviewer` takes the frames in order (each with its index mask, and the network's soft
probabilities when xmempp made the masks). For each object on each frame it measures (see
`xmempp.review.signals`) the disagreement with the previous frame's mask carried along the optical
flow: what went missing, what appeared, the largest piece of either, parts away from the object, new
holes, the centroid's jump, and the centroid's jumps summed over the last `reach` frames (a slow
drift); how far its outline sits off the image's edges (a mask slid off its object, seen without the
flow); whether the mask sits where another object was expected (a swap); how far its colours moved
from the object's trusted appearance (keyframes, else its first frames; both passes use the same); and
where given, the network's own uncertainty along the outline. Each measurement is divided by its threshold; the
largest ratio decides: at 1 or above the object is flagged, and score = 1 - ratio / 2 (clipped to
0..1; 0.5 at the threshold; the geometric thresholds are relaxed on blurred frames and on the frame after
one, whose flow from the blurred frame is as rough). Once an object is flagged, the next `carry` frames
are compared with its last trusted mask carried forward (twice `reach` frames where the mask is that mask
slid a little: a drift), so a failure that lasts a few frames stays flagged. Parts of an object hidden
behind something untracked stay in its trusted mask, expected back.

A failure has a start and an end: the shot is reviewed forwards as frames arrive and backwards
in `finish` (over the frames kept at the working size in a temporary file, `xmempp.review.store`), and
a frame is flagged where one direction flags it and the other comes close (`xmempp.review.merge`), so
a correct frame that follows a failure (or an undetected slow drift) is not blamed for the jump
back. `review_sequence` runs it over whole sequences.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

from xmempp.errors import InputError
from xmempp.review.appearance import Appearance
from xmempp.review.merge import merge, settle_unseen_by_backward
from xmempp.review.motion import BLURRED, MotionEstimator, PastMask, working_size
from xmempp.review.signals import (
    MIN_AREA,
    MOSTLY_HIDDEN,
    centroid,
    centroid_distance,
    compare_masks,
    disk,
    edge_offset,
    edge_strength,
    edge_support,
    hidden_part,
)
from xmempp.review.store import FrameStore
from xmempp.review.verdict import ObjectReview, Thresholds, judge, relaxed

__all__ = ["FrameReview", "ReviewSettings", "Reviewer", "review_sequence"]


@dataclass(frozen=True)
class ReviewSettings:
    """How the review looks.

    Attributes:
        short_side: the shorter side (pixels) frames and masks are reviewed at.
        reach: frames back the drift check compares with.
        carry: frames a flagged object's last trusted mask is carried forward at most.
        thresholds: the level of each measurement at which an object is flagged.
    """

    short_side: int = 360
    reach: int = 8
    carry: int = 3
    thresholds: Thresholds = field(default_factory=Thresholds)

    def __post_init__(self) -> None:
        if self.short_side < 32:
            raise InputError(f"review short side {self.short_side} is too small; use 32 pixels or more")
        if self.reach < 2 or self.carry < 1:
            raise InputError("review reach must be at least 2 frames and carry at least 1")


@dataclass
class FrameReview:
    """The review of one frame: its name, index, and each object's verdict (by object id)."""

    index: int
    name: str
    objects: dict[int, ObjectReview]
    keyframe: bool = False

    @property
    def flagged(self) -> bool:
        """Whether any object on the frame is flagged."""
        return any(o.flagged for o in self.objects.values())

    @property
    def score(self) -> float:
        """The frame's score: its worst object's (1.0 for a frame without objects)."""
        return min((o.score for o in self.objects.values()), default=1.0)


@dataclass
class _Track:
    """What one pass keeps of one object between frames."""

    trusted: np.ndarray  # float32 mask at the working size, carried to the latest frame
    seen: np.ndarray | None = None  # the part of `trusted` that was visible (not hidden), carried the same way
    carried: int = 0  # frames the trusted mask has been carried without being confirmed
    full_area: float = 0.0  # the largest area of the last unflagged frames (slowly forgotten)
    history: deque[PastMask] = field(default_factory=deque)  # the last unflagged frames' masks, carried to the latest
    centre: tuple[float, float] | None = None  # the mask's centroid on the last frame, where it was not flagged
    velocity: tuple[float, float] | None = None  # the centroid's shift between the last two unflagged frames
    # (hidden parts included)


def _resize_ids(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if ids.shape == size:
        return ids
    return cv2.resize(ids, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def _ids(labels: np.ndarray) -> set[int]:
    """The object ids (not 0) on an HxW uint8 index mask."""
    counts = cv2.calcHist([labels], [0], None, [256], [0, 256]).ravel()  # twice as quick as numpy's bincount
    return {int(i) for i in np.flatnonzero(counts) if i}


def _solid(hidden: np.ndarray | None) -> np.ndarray | None:
    """The pieces of `hidden` (HxW bool, see `hidden_part`) thick enough to be a covered part of the object,
    not a sliver along its outline where the flow is uncertain; None where there are none."""
    if hidden is None or not hidden.any():
        return None
    radius = max(2, round(0.04 * np.sqrt(float(hidden.sum()) + 1.0)))
    solid = cv2.morphologyEx(hidden.astype(np.uint8), cv2.MORPH_OPEN, disk(radius)).astype(bool)
    return solid if solid.any() else None


def _displaced(mask: np.ndarray, trusted: np.ndarray) -> bool:
    """Whether `mask` is `trusted` slid a little: the same shape (their overlap once their centroids are put
    together is 85 % or more of their union), less than half its size away from where it should be."""
    centre, reference = centroid(mask), centroid(trusted)
    if centre is None or reference is None:
        return False
    if np.hypot(centre[0] - reference[0], centre[1] - reference[1]) >= 0.5 * np.sqrt(float(trusted.sum())):
        return False  # far off: the motion lost the object rather than the mask sliding off it
    shift = np.array([[1, 0, reference[0] - centre[0]], [0, 1, reference[1] - centre[1]]], np.float32)
    moved = cv2.warpAffine(mask.astype(np.uint8), shift, (mask.shape[1], mask.shape[0]), flags=cv2.INTER_NEAREST) > 0
    union = float((moved | trusted).sum())
    return union > 0 and float((moved & trusted).sum()) >= 0.85 * union


def _alike_in_area(first: float, second: float) -> bool:
    """Whether two areas differ by less than a quarter of the larger (a drift is measured only between such)."""
    return min(first, second) >= 0.75 * max(first, second)


def _uncertainty(probs: np.ndarray, mask: np.ndarray) -> float | None:
    """Mean uncertainty (1 - |2p - 1|) of an object's probability in a band around its outline."""
    kernel = np.ones((5, 5), np.uint8)
    solid = mask.astype(np.uint8)
    band = cv2.dilate(solid, kernel).astype(bool) & ~cv2.erode(solid, kernel).astype(bool)
    if not band.any():
        return None
    p = probs[band]
    return float(np.mean(1.0 - np.abs(2.0 * p - 1.0)))


@dataclass
class _Frame:
    """What the passes know of one frame besides its pixels (kept in the `FrameStore` between the passes)."""

    index: int
    name: str
    trusted: np.ndarray | None  # the keyframe's ids, or None
    uncertainty: dict[int, float]


#: How much stronger the edges along a mask's outline shifted onto them must be than along the outline as it is
#: for the outline to count as off the image's edges (see `edge_offset`).
EDGE_OFFSET_GAIN = 1.3


class _Pass:
    """One pass over the frames in one direction: each frame compared with the motion from the one before."""

    def __init__(self, settings: ReviewSettings, appearance: Appearance | None = None) -> None:
        self.settings = settings
        self._motion = MotionEstimator()
        self._sharpness: deque[float] = deque(maxlen=12)  # the last frames' sharpness (see `_blur`)
        self._previous_blur = 1.0
        self._tracks: dict[int, _Track] = {}
        self.appearance = appearance or Appearance()  # the objects' trusted colours (shared by the passes)
        self._previous_grey: np.ndarray | None = None
        self._previous_index: int | None = None
        self._previous_labels: np.ndarray | None = None

    def step(self, frame: _Frame, small: np.ndarray, labels: np.ndarray) -> dict[int, ObjectReview]:
        """The verdicts on one frame (every object on it, expected on it, or on its keyframe)."""
        grey = self._motion.grey(small)
        blur = self._blur(grey)
        pair_blur, self._previous_blur = max(blur, self._previous_blur), blur  # the flow between a blurred frame
        # and a sharp one is as rough as between two blurred ones
        thresholds = relaxed(self.settings.thresholds, pair_blur)
        present = _ids(labels) | set(self._tracks)
        if frame.trusted is not None:
            present |= _ids(frame.trusted)
        masks = {o: labels == o for o in present}
        previous, self._previous_grey = self._previous_grey, grey
        previous_labels, self._previous_labels = self._previous_labels, labels
        adjacent = self._previous_index is not None and abs(frame.index - self._previous_index) == 1
        self._previous_index = frame.index
        if previous is None or not adjacent or frame.trusted is not None:  # a gap in the masks starts afresh
            return self._start(small, masks, frame.trusted)
        motion = self._motion.motion(grey, previous)
        strength = edge_strength(grey)
        reliable: dict[int, np.ndarray] = {}
        shows: dict[int, np.ndarray] = {}
        lost: set[int] = set()
        for o, kept in self._tracks.items():  # every trusted mask (confirmed or carried) follows the object
            seen = kept.trusted if kept.seen is None else kept.seen
            # the object's visible content came here along the flow, its texture unchanged
            along_flow = motion.same_texture(None, motion.reliable & (motion.warp(seen) > 0.5))
            kept.trusted, own, transform = motion.follow(kept.trusted, kept.velocity, kept.seen, pair_blur)
            kept.seen = None if kept.seen is None else motion.carry(kept.seen, transform)
            reliable[o] = motion.reliable if own is None else motion.reliable | own
            if own is not None:  # or its own motion carried its visible content here, its texture unchanged
                carried_seen = kept.trusted if kept.seen is None else kept.seen  # `seen`, carried above
                own_content = motion.same_texture(transform, own & (carried_seen > 0.5))
                along_flow = along_flow | own_content
            shows[o] = along_flow
            if float((kept.trusted > 0.5).sum()) < MIN_AREA and (masks[o]).sum() >= MIN_AREA:
                lost.add(o)  # the motion lost it, or it comes out from behind something that hid it whole: nothing
                # to compare its shape with
            kept.history = deque(  # a blurred frame's carry is rough: slow drift is measured from after it
                past.carried(motion, transform)
                for past in kept.history
                if past.age < self.settings.reach and blur < BLURRED
            )
        expected = {o: (t.trusted > 0.5) for o, t in self._tracks.items()}
        assert previous_labels is not None  # set with the previous grey
        carried_labels = cv2.remap(previous_labels, motion.map_x, motion.map_y, cv2.INTER_NEAREST)
        verdicts: dict[int, ObjectReview] = {}
        for o in sorted(present):
            track = self._tracks.get(o)
            others = {j: e for j, e in expected.items() if j != o}
            uncovered = ((previous_labels != 0) & (previous_labels != o)) | (
                (carried_labels != 0) & (carried_labels != o)
            )
            signals = compare_masks(
                masks[o],
                expected.get(o, np.zeros(labels.shape, bool)),
                reliable.get(o, motion.reliable),
                labels,
                o,
                others,
                uncovered,
                motion.magnitude,
                track.full_area if track is not None else 0.0,
                shows.get(o),
            )
            signals.lost = o in lost
            if o in expected:
                tolerance = max(2, round(0.02 * np.sqrt(max(signals.area, signals.expected_area))))
                signals.edge_support = edge_support(strength, masks[o], expected[o], tolerance)
            size = np.sqrt(max(signals.area, signals.expected_area, MIN_AREA))
            off = edge_offset(strength, masks[o], (labels != o) & (labels != 0), int(min(12, max(3, 0.15 * size))))
            if off is not None and off[1] >= EDGE_OFFSET_GAIN:
                signals.edge_offset = off[0] / size
            hidden = (
                hidden_part(masks[o], expected[o], shows.get(o, motion.reliable), labels) if o in expected else None
            )
            if track is not None and len(track.history) >= self.settings.reach // 2:
                past = track.history[0].read() > 0.5
                if _alike_in_area(float(past.sum()), signals.area):  # a slid copy keeps its area; an object coming
                    # out from behind something, or going behind it, moves its visible part's centre
                    signals.drift = centroid_distance(masks[o], past, labels, o, hidden)
            if signals.area >= MOSTLY_HIDDEN * signals.full_area and blur < BLURRED:  # a small part in view shows a
                # subset of its colours, and motion blur mixes them with the background's
                signals.appearance, looks = self.appearance.distance(o, small, masks[o])
                if signals.looks_like is None and looks is not None:
                    signals.looks_like = looks
            signals.uncertainty = frame.uncertainty.get(o)
            verdicts[o] = judge(signals, thresholds, motion.magnitude)
            # leaving the picture: what is gone of it is out of view, not hidden, and not expected back
            gone = signals.at_edge and signals.area < 0.5 * signals.full_area
            self._update(o, masks[o], verdicts[o].flagged, small, _solid(hidden) if not (lost or gone) else None)
        return verdicts

    def _blur(self, grey: np.ndarray) -> float:
        """How much less sharp this frame is than the shot's recent sharp frames (1 = as sharp; at most 3): the
        geometric thresholds are relaxed by it where it reaches 1.5, since motion blur smears both the flow and
        what an outline can be compared with."""
        sharpness = float(cv2.Laplacian(grey, cv2.CV_32F).var())
        recent = float(np.percentile(self._sharpness, 75)) if self._sharpness else sharpness
        self._sharpness.append(sharpness)
        drop = recent / max(sharpness, 1e-6)
        return float(min(3.0, drop)) if drop >= BLURRED else 1.0

    def _start(
        self, small: np.ndarray, masks: dict[int, np.ndarray], trusted_ids: np.ndarray | None
    ) -> dict[int, ObjectReview]:
        """A first frame or a keyframe: the masks (the keyframe's where given) become the trusted ones."""
        verdicts: dict[int, ObjectReview] = {}
        self._tracks.clear()
        for o, mask in masks.items():
            truth = (trusted_ids == o) if trusted_ids is not None else mask
            self._tracks[o] = _Track(truth.astype(np.float32))
            if truth.any():
                self.appearance.learn(o, small, truth, trusted=trusted_ids is not None)
            verdicts[o] = ObjectReview.first(mask, truth, known=trusted_ids is not None)
        return verdicts

    def _update(
        self, object_id: int, mask: np.ndarray, flagged: bool, small: np.ndarray, hidden: np.ndarray | None = None
    ) -> None:
        """Keep what the next frame is compared with: the mask where it is not flagged (with the parts of the
        object hidden behind something untracked, `hidden`, so they are expected back), else the trusted mask
        carried on for a few frames."""
        track = self._tracks.setdefault(object_id, _Track(np.zeros(mask.shape, np.float32)))
        whole = mask | hidden if hidden is not None and not flagged else mask
        centre = centroid(whole) if not flagged else None
        if track.centre is not None and centre is not None:
            track.velocity = (centre[0] - track.centre[0], centre[1] - track.centre[1])
        elif centre is None and track.centre is not None and track.velocity is not None:  # flagged: it is taken to
            # go on as it moved (objects move smoothly), its centre predicted
            centre = (track.centre[0] + track.velocity[0], track.centre[1] + track.velocity[1])
        else:
            track.velocity = None
        track.centre = centre
        limit = 2 * self.settings.reach if flagged and _displaced(mask, track.trusted > 0.5) else self.settings.carry
        if flagged and track.carried < limit:  # a displaced copy of the object (a slide) is carried for longer
            track.carried += 1
            return
        track.trusted = whole.astype(np.float32)
        track.seen = mask.astype(np.float32) if hidden is not None and not flagged else None
        track.carried = 0
        if not flagged:
            track.history.append(PastMask(0, track.trusted))
            track.full_area = max(0.97 * track.full_area, float(track.trusted.sum()))
            self.appearance.learn(object_id, small, mask, trusted=False)


class Reviewer:
    """Review of one shot, fed frame by frame (see the module docstring).

    The forward pass runs as frames arrive; `finish` runs the backward pass over the frames kept at
    the working size (in a temporary file, about 0.9 MB a frame, removed by `finish`) and merges the two.

    Arguments:
        settings: `ReviewSettings`.
        keyframes: frame index -> HxW index mask the artist drew (trusted, and the appearance
            reference); masks on these frames that differ from them are flagged.
    """

    def __init__(
        self, settings: ReviewSettings | None = None, keyframes: Mapping[int, np.ndarray] | None = None
    ) -> None:
        self.settings = settings or ReviewSettings()
        self._keyframes = dict(keyframes or {})
        self._forward = _Pass(self.settings)
        self._kept: list[_Frame] = []
        self._store = FrameStore()
        self._verdicts: list[dict[int, ObjectReview]] = []
        self._size: tuple[int, int] | None = None

    def add(
        self, index: int, name: str, rgb: np.ndarray, ids: np.ndarray, probs: Mapping[int, np.ndarray] | None = None
    ) -> None:
        """Review the next frame (forward pass).

        Arguments:
            index: the frame's index in the shot (increasing from one call to the next).
            name: the frame's name as its mask file is named.
            rgb: HxWx3 uint8 RGB frame (any size; the mask's aspect).
            ids: HxW uint8 index mask (0 = background).
            probs: object id -> HxW float probability (the network's, any size), or None.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or ids.ndim != 2:
            raise InputError(
                f"frame {name}: the review needs an HxWx3 frame and an HxW mask, got {rgb.shape} and {ids.shape}"
            )
        size = working_size(ids.shape[0], ids.shape[1], self.settings.short_side)
        if self._size is not None and size != self._size:
            raise InputError(
                f"frame {name} is {ids.shape[1]}x{ids.shape[0]}, unlike the frames before it; every "
                f"frame of a shot must have one size"
            )
        self._size = size
        small = cv2.resize(np.ascontiguousarray(rgb), (size[1], size[0]), interpolation=cv2.INTER_AREA)
        labels = _resize_ids(np.ascontiguousarray(ids, dtype=np.uint8), size)
        keyframe = self._keyframes.get(index)
        uncertainty: dict[int, float] = {}
        for o, p in (probs or {}).items():
            scaled = cv2.resize(np.asarray(p, np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
            value = _uncertainty(scaled, labels == o)
            if value is not None:
                uncertainty[int(o)] = value
        trusted = None if keyframe is None else _resize_ids(np.ascontiguousarray(keyframe, dtype=np.uint8), size)
        frame = _Frame(index, name, trusted, uncertainty)
        self._store.append(small, labels)
        self._kept.append(frame)
        self._verdicts.append(self._forward.step(frame, small, labels))

    def close(self) -> None:
        """Let go of the frames kept for the backward pass (a review given up; `finish` does it too)."""
        self._store.close()

    def finish(self) -> list[FrameReview]:
        """Run the backward pass and return one `FrameReview` per frame, in order."""
        backward = _Pass(self.settings, self._forward.appearance)  # colours from the keyframes or first frames
        later: list[dict[int, ObjectReview]] = [{} for _ in self._kept]
        try:
            for position in reversed(range(len(self._kept))):
                small, labels = self._store.read(position)
                later[position] = backward.step(self._kept[position], small, labels)
        finally:
            self.close()
        merged = [
            {o: merge(v, later[position].get(o)) for o, v in sorted(self._verdicts[position].items())}
            for position in range(len(self._kept))
        ]
        for position in range(1, len(self._kept)):
            if self._kept[position].index == self._kept[position - 1].index + 1:
                settle_unseen_by_backward(merged[position], later[position], merged[position - 1], later[position - 1])
        reviews = []
        for position, frame in enumerate(self._kept):
            objects = merged[position]
            reviews.append(
                FrameReview(
                    frame.index, frame.name, {o: v for o, v in objects.items() if v.present}, frame.trusted is not None
                )
            )
        return reviews


def review_sequence(
    frames: Iterable[np.ndarray],
    masks: Iterable[np.ndarray],
    names: Iterable[str] | None = None,
    *,
    keyframes: Mapping[int, np.ndarray] | None = None,
    settings: ReviewSettings | None = None,
) -> list[FrameReview]:
    """Review whole sequences: `frames` (HxWx3 uint8 RGB) with their index `masks` (HxW uint8), in order.

    Arguments:
        frames, masks: one of each per frame, in frame order.
        names: each frame's name (default: its index).
        keyframes: frame index -> the artist's index mask (trusted).
        settings: `ReviewSettings`.
    Returns:
        One `FrameReview` per frame.
    """
    reviewer = Reviewer(settings, keyframes)
    name_list = list(names) if names is not None else None
    for index, (rgb, ids) in enumerate(zip(frames, masks)):
        reviewer.add(index, name_list[index] if name_list is not None else str(index), rgb, ids)
    return reviewer.finish()
