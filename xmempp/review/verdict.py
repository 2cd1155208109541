"""From raw measurements to a verdict a person can read: a score, a flag and short reasons."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from xmempp.review.signals import MIN_AREA, MOSTLY_HIDDEN, ObjectSignals

__all__ = ["ObjectReview", "Thresholds", "judge", "relaxed"]


@dataclass(frozen=True)
class Thresholds:
    """The level of each measurement (see `ObjectSignals`) at which an object is flagged."""

    missing: float = 0.15
    extra: float = 0.15
    largest: float = 0.10
    detached: float = 0.02
    holes: float = 0.006
    changed: float = 0.22
    drift: float = 0.20
    shift: float = 0.10
    edge_offset: float = 0.08
    appearance: float = 0.60
    uncertainty: float = 0.45


@dataclass
class ObjectReview:
    """One object's verdict on one frame.

    Attributes:
        score: 0 (surely wrong) .. 1 (nothing found); 0.5 is the flagging line.
        flagged: whether the object should be looked at on this frame.
        reasons: short readable reasons, worst first.
        present: whether the object is on the frame or expected there.
        signals: the raw measurements (shares of the object's size), for reports and tuning.
        judged: False where nothing could be compared (the first frame of a run of masks).
        vanished: flagged because the mask is empty where the motion puts the object (a flag that only the frame
            without the object gets: its neighbours, where the object shows, are not flagged by it).
    """

    score: float
    flagged: bool
    reasons: list[str] = field(default_factory=list)
    present: bool = True
    signals: dict[str, float] = field(default_factory=dict)
    judged: bool = True
    vanished: bool = False

    @classmethod
    def first(cls, mask: np.ndarray, truth: np.ndarray, known: bool) -> ObjectReview:
        """The verdict on a first frame (nothing to compare with) or a keyframe (`known`: fine unless the mask
        differs from the artist's)."""
        present = bool(mask.any() or truth.any())
        if not known:
            return cls(score=1.0, flagged=False, present=present, judged=False)
        differ = float((mask ^ truth).sum()) / max(float(truth.sum()), float(mask.sum()), MIN_AREA)
        if differ > 0.01:
            return cls(
                score=0.0,
                flagged=True,
                reasons=[f"differs from the keyframe ({differ:.0%} of the object)"],
                present=present,
            )
        return cls(score=1.0, flagged=False, present=present)


#: The measurements of an object's shape and place (the others are its colours and the network's evidence).
_GEOMETRIC = ("missing", "extra", "changed", "largest", "detached", "holes", "drift", "shift")

#: The `ObjectSignals.edge_support` from which a changed outline counts as the image's own: the outline the mask
#: gained follows edges this many times stronger than the one it gave up.
EDGE_SUPPORT = 3.0

#: The largest patch away from an object (a share of its area) that counts while another object covers or leaves
#: part of it: a larger piece apart is the object's own part showing past the other one.
SMALL_PATCH = 0.08


def relaxed(thresholds: Thresholds, factor: float) -> Thresholds:
    """The geometric thresholds scaled by `factor` (colour and network evidence unchanged)."""
    return replace(thresholds, **{name: getattr(thresholds, name) * factor for name in _GEOMETRIC})


def _percent(value: float) -> str:
    return f"{value * 100:.0f} %"


def judge(signals: ObjectSignals, thresholds: Thresholds, motion: float = 0.0) -> ObjectReview:
    """The verdict for one object on one frame.

    Arguments:
        signals: the frame's measurements for the object.
        thresholds: `Thresholds`.
        motion: the picture's median motion in pixels (reported, not judged).
    Returns:
        An `ObjectReview`.
    """
    present = signals.area > 0 or signals.expected_area > 0
    if signals.contact > 0.15:  # another object covers or leaves part of it: its visible outline moves, and
        # what shows of it (where it is, which parts are apart) says little
        thresholds = replace(
            relaxed(thresholds, 1.0 + min(1.0, signals.contact / 0.3)),
            shift=np.inf,
            drift=np.inf,
            detached=thresholds.detached if signals.detached <= SMALL_PATCH else np.inf,
        )
    if signals.contact > 0.05:  # touching another object: where its visible part is centred, and whose edges its
        # outline follows, say little
        thresholds = replace(thresholds, shift=np.inf, drift=np.inf, edge_offset=np.inf)
    if signals.at_edge:  # the picture's edge clips it: where its visible part is centred says little
        thresholds = replace(thresholds, shift=np.inf, drift=np.inf)
    if signals.area < MOSTLY_HIDDEN * signals.full_area:  # a sliver of it shows: the outline of what hides it
        # shapes the sliver, and the sliver's centre moves with that outline, not with the object
        thresholds = replace(thresholds, shift=np.inf, drift=np.inf, edge_offset=np.inf)
    supported = signals.edge_support is not None and signals.edge_support >= EDGE_SUPPORT
    nothing_expected = signals.area > 0 and signals.expected_area < MIN_AREA  # it shows again after being hidden
    if signals.lost or supported or nothing_expected:  # nothing to compare its shape with, or the image's edges
        # back its new outline (an object turning in depth): only its colours and the network's evidence count
        thresholds = replace(thresholds, **{name: np.inf for name in _GEOMETRIC})
    found: list[tuple[float, str]] = []
    vanished = False
    leaving = signals.at_edge and signals.expected_area < 0.5 * signals.full_area  # mostly out of view already
    if signals.area == 0 and leaving:  # it left the picture
        thresholds = replace(thresholds, missing=np.inf, changed=np.inf, largest=np.inf)
    if signals.area == 0 and signals.expected_area >= MIN_AREA and signals.missing >= thresholds.missing:
        found.append((signals.missing / thresholds.missing + 1, "object missing where the motion puts it"))
        vanished = True
    elif signals.looks_like is not None:
        found.append((3.0, f"looks like object {signals.looks_like}"))
    else:
        change = signals.area / signals.expected_area - 1 if signals.expected_area >= MIN_AREA else 0.0
        if signals.missing >= thresholds.missing:
            found.append(
                (
                    signals.missing / thresholds.missing,
                    f"area {change * 100:+.0f} % without motion to explain it"
                    if change < -0.05
                    else f"part missing ({_percent(signals.missing)} of the object)",
                )
            )
        if signals.extra >= thresholds.extra:
            found.append(
                (
                    signals.extra / thresholds.extra,
                    f"area {change * 100:+.0f} % without motion to explain it"
                    if change > 0.05
                    else f"extra region ({_percent(signals.extra)} of the object)",
                )
            )
        if signals.changed >= thresholds.changed and not found:
            found.append(
                (
                    signals.changed / thresholds.changed,
                    f"{_percent(signals.changed)} of the object changed against the motion",
                )
            )
        if signals.largest >= thresholds.largest and not found:
            found.append(
                (
                    signals.largest / thresholds.largest,
                    f"a piece of {_percent(signals.largest)} of the object changed against the motion",
                )
            )
        if signals.shift >= thresholds.shift:
            found.append(
                (
                    signals.shift / thresholds.shift,
                    f"shifted {_percent(signals.shift)} of its size from where the motion puts it",
                )
            )
        if signals.edge_offset >= thresholds.edge_offset:
            found.append(
                (
                    signals.edge_offset / thresholds.edge_offset,
                    f"boundary off image edges ({_percent(signals.edge_offset)} of its size beside them)",
                )
            )
        if signals.detached >= thresholds.detached:
            found.append(
                (
                    signals.detached / thresholds.detached,
                    f"a patch away from the object ({_percent(signals.detached)} of its area)",
                )
            )
        if signals.holes >= thresholds.holes:
            found.append((signals.holes / thresholds.holes, f"holes inside ({_percent(signals.holes)} of its area)"))
        if signals.drift >= thresholds.drift:
            found.append(
                (
                    signals.drift / thresholds.drift,
                    f"sliding off the object ({_percent(signals.drift)} of its size over the last frames)",
                )
            )
    if signals.appearance is not None and signals.appearance >= thresholds.appearance:
        found.append((signals.appearance / thresholds.appearance, "colours unlike the object's keyframes"))
    if signals.uncertainty is not None and signals.uncertainty >= thresholds.uncertainty:
        found.append((signals.uncertainty / thresholds.uncertainty, "the network is unsure along the outline"))
    ratios = [getattr(signals, name) / getattr(thresholds, name) for name in (*_GEOMETRIC, "edge_offset")]
    ratios += [
        value / limit
        for value, limit in ((signals.appearance, thresholds.appearance), (signals.uncertainty, thresholds.uncertainty))
        if value is not None
    ]
    below = min(0.999, max(ratios, default=0.0))  # how close the object came to the line without crossing it
    worst = max((ratio for ratio, _ in found), default=below)
    measured = {
        k: round(float(v), 4)
        for k, v in asdict(signals).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("notes",)
    }
    measured["motion"] = round(motion, 2)
    found.sort(key=lambda item: -item[0])
    reasons = list(dict.fromkeys(text for _, text in found))
    return ObjectReview(
        score=round(float(np.clip(1.0 - worst / 2.0, 0.0, 1.0)), 3),
        flagged=worst >= 1.0,
        reasons=reasons,
        present=present,
        signals=measured,
        vanished=vanished,  # its ratio is at least 2: always flagged
    )
