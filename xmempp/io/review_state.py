"""Review states of a workspace's masks: which frames are fresh, stale, flagged or approved, and their saved form.

A frame's mask is
    fresh     when a propagation from the current references wrote it;
    stale     when a propagation wrote it before a later change of the references (a reference added,
              replaced - its mask edited - or removed): every propagated frame is stale until a propagation
              writes it again, so a stopped one leaves the frames it did not reach stale;
    flagged   when the review (`xmempp.review`) found something to look at on it;
    approved  when the artist said it is good; an edit of the frame, a propagation over it or a change of
              the references (for a propagated frame) clears it.
References are the artist's own masks, and a frame no propagation wrote (painted, imported) is none of these
unless the review flags it or the artist approves it. Precedence: approved, stale, flagged, fresh.

Staleness is counted in generations: every change of the references that matters starts a new one, and a
frame propagated in an older generation than the current one is stale.

The states are saved beside info.json as `review.json` (atomically), keyed by frame name, so that info.json
stays small and readable by XMem++ and a workspace without the file (older ones) opens with no states:

    {"version": 1, "generation": 3,
     "frames": {"<frame>": {"propagated": 3, "approved": true,
                            "objects": {"<id>": {"score": 0.42, "flagged": true, "reasons": ["..."]}}}}}

Reading is lenient: unknown keys and frames are skipped, a value of the wrong type counts as absent, and a
newer version's file is read for the fields this version knows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypeGuard

from xmempp.errors import InputError
from xmempp.io.atomic import atomic_write_text

__all__ = [
    "REVIEW_FILE",
    "REVIEW_STATE_VERSION",
    "FrameCheck",
    "FrameRecord",
    "FrameState",
    "ObjectCheck",
    "ReviewStates",
]

#: File name of the saved states in a workspace folder.
REVIEW_FILE = "review.json"
#: Version of review.json's layout.
REVIEW_STATE_VERSION = 1


class FrameState(str, Enum):
    """What is known of a frame's mask (see the module docstring)."""

    none = "none"  # no mask, or a mask no propagation wrote (painted or imported), neither flagged nor approved
    reference = "reference"
    fresh = "fresh"
    stale = "stale"
    flagged = "flagged"
    approved = "approved"


@dataclass
class ObjectCheck:
    """The review's verdict on one object of a frame: score 0 (surely wrong) .. 1 (nothing found)."""

    score: float
    flagged: bool
    reasons: list[str] = field(default_factory=list)


@dataclass
class FrameCheck:
    """The review's verdict on a frame, by workspace object id."""

    objects: dict[int, ObjectCheck] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        """Whether any object is flagged."""
        return any(o.flagged for o in self.objects.values())

    @property
    def score(self) -> float:
        """The worst object's score (1.0 without objects)."""
        return min((o.score for o in self.objects.values()), default=1.0)

    @classmethod
    def from_review(cls, review: Any) -> FrameCheck:
        """From a `xmempp.review.FrameReview` (anything with `objects`: id -> score, flagged, reasons)."""
        return cls(
            {
                int(o): ObjectCheck(float(v.score), bool(v.flagged), [str(r) for r in v.reasons])
                for o, v in review.objects.items()
            }
        )


@dataclass(frozen=True)
class FrameRecord:
    """Everything the states hold for one frame (undo puts it back)."""

    propagated: int | None = None
    approved: bool = False
    check: FrameCheck | None = None


class ReviewStates:
    """The review states of one workspace's frames (indices 0..count-1); no Qt, no files until asked.

    Arguments:
        count: number of frames.
    """

    def __init__(self, count: int) -> None:
        self.count = int(count)
        self.generation = 0
        self._propagated: dict[int, int] = {}
        self._approved: set[int] = set()
        self._checks: dict[int, FrameCheck] = {}

    # ------------------------------------------------------------------ queries
    def state(self, frame: int, *, reference: bool = False, has_mask: bool = True) -> FrameState:
        """The state of `frame`.

        Arguments:
            frame: frame index.
            reference: the frame is a reference now.
            has_mask: the frame has a mask now.
        Returns:
            A `FrameState`.
        """
        if not has_mask:
            return FrameState.none
        if reference:
            return FrameState.reference
        if frame in self._approved:
            return FrameState.approved
        stamp = self._propagated.get(frame)
        if stamp is not None and stamp < self.generation:
            return FrameState.stale
        check = self._checks.get(frame)
        if check is not None and check.flagged:
            return FrameState.flagged
        return FrameState.fresh if stamp is not None else FrameState.none

    def is_stale(self, frame: int) -> bool:
        """A propagation wrote `frame` before the references last changed (approval aside)."""
        stamp = self._propagated.get(frame)
        return stamp is not None and stamp < self.generation

    def is_approved(self, frame: int) -> bool:
        """The artist approved `frame`."""
        return frame in self._approved

    def check(self, frame: int) -> FrameCheck | None:
        """The review's verdict on `frame`, or None when it has none (not reviewed since its last change)."""
        return self._checks.get(frame)

    def propagated_at(self, frame: int) -> int | None:
        """The generation a propagation last wrote `frame` in, or None."""
        return self._propagated.get(frame)

    def stale_frames(self) -> list[int]:
        """Frames whose propagated mask is stale and not approved, ascending (filter references yourself)."""
        return sorted(f for f in self._propagated if self.is_stale(f) and f not in self._approved)

    def approved_frames(self) -> list[int]:
        """Approved frames, ascending."""
        return sorted(self._approved)

    def record(self, frame: int) -> FrameRecord:
        """What the states hold for `frame`."""
        return FrameRecord(self._propagated.get(frame), frame in self._approved, self._checks.get(frame))

    # ------------------------------------------------------------------ changes (each returns whether anything changed)
    def references_changed(self) -> bool:
        """A reference was added, replaced or removed: every propagated frame is stale and loses its approval."""
        current = any(g == self.generation for g in self._propagated.values())
        cleared = self._approved & self._propagated.keys()
        if not current and not cleared:
            return False
        self.generation += 1
        self._approved -= cleared
        return True

    def propagated(self, frame: int) -> bool:
        """A propagation from the current references wrote `frame`: fresh, its verdict and approval gone."""
        before = self.record(frame)
        self._propagated[frame] = self.generation
        self._approved.discard(frame)
        self._checks.pop(frame, None)
        return before != self.record(frame)

    def edited(self, frame: int) -> bool:
        """The artist edited `frame`'s mask: its verdict and approval no longer hold."""
        changed = frame in self._approved or frame in self._checks
        self._approved.discard(frame)
        self._checks.pop(frame, None)
        return changed

    def forget(self, frame: int) -> bool:
        """`frame` became a reference (or lost its mask): nothing of a propagation or review holds for it."""
        before = self.record(frame)
        self.restore(frame, FrameRecord())
        return before != FrameRecord()

    def approve(self, frame: int, on: bool = True) -> bool:
        """Approve `frame` (or take the approval back)."""
        if on == (frame in self._approved):
            return False
        if on:
            self._approved.add(frame)
        else:
            self._approved.discard(frame)
        return True

    def set_check(self, frame: int, check: FrameCheck | None) -> None:
        """Store the review's verdict on `frame` (None: forget it)."""
        if check is None:
            self._checks.pop(frame, None)
        else:
            self._checks[frame] = check

    def restore(self, frame: int, record: FrameRecord) -> None:
        """Put back what `record` holds for `frame` (undo)."""
        if record.propagated is None:
            self._propagated.pop(frame, None)
        else:
            self._propagated[frame] = record.propagated
        if record.approved:
            self._approved.add(frame)
        else:
            self._approved.discard(frame)
        self.set_check(frame, record.check)

    # ------------------------------------------------------------------ saved form
    def to_dict(self, names: Sequence[str]) -> dict[str, Any]:
        """The JSON object of review.json (frames keyed by `names[frame]`)."""
        frames: dict[str, Any] = {}
        for frame in sorted({*self._propagated, *self._approved, *self._checks}):
            if not 0 <= frame < len(names):
                continue
            entry: dict[str, Any] = {}
            if frame in self._propagated:
                entry["propagated"] = self._propagated[frame]
            if frame in self._approved:
                entry["approved"] = True
            check = self._checks.get(frame)
            if check is not None:
                entry["objects"] = {
                    str(o): {"score": round(v.score, 4), "flagged": v.flagged, "reasons": v.reasons}
                    for o, v in sorted(check.objects.items())
                }
            frames[names[frame]] = entry
        return {"version": REVIEW_STATE_VERSION, "generation": self.generation, "frames": frames}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], names: Sequence[str]) -> ReviewStates:
        """Parse review.json's object leniently (see the module docstring)."""
        states = cls(len(names))
        generation = data.get("generation")
        states.generation = generation if _is_int(generation) else 0
        frames = data.get("frames")
        index = {name: i for i, name in enumerate(names)}
        for name, entry in frames.items() if isinstance(frames, dict) else ():
            frame = index.get(name)
            if frame is None or not isinstance(entry, dict):
                continue
            stamp = entry.get("propagated")
            if _is_int(stamp) and stamp <= states.generation:
                states._propagated[frame] = stamp
            if entry.get("approved") is True:
                states._approved.add(frame)
            check = _check(entry.get("objects"))
            if check is not None:
                states._checks[frame] = check
        return states

    @classmethod
    def read(cls, path: Path, names: Sequence[str]) -> ReviewStates:
        """Read review.json (an absent file gives no states).

        Arguments:
            path: the file.
            names: the workspace's frame names in frame order.
        Returns:
            The states. Raises `InputError` for a file that is not a JSON object (it is replaced at the next save).
        """
        if not path.exists():
            return cls(len(names))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise InputError(f"cannot read {path}: {exc}; the review states start afresh") from exc
        if not isinstance(data, dict):
            raise InputError(f"{path} is not a JSON object; the review states start afresh")
        return cls.from_dict(data, names)

    def write(self, path: Path, names: Sequence[str]) -> None:
        """Write review.json atomically (`OutputError` when it cannot be written)."""
        atomic_write_text(path, json.dumps(self.to_dict(names), separators=(",", ":")) + "\n")


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check(value: Any) -> FrameCheck | None:
    if not isinstance(value, dict):
        return None
    objects: dict[int, ObjectCheck] = {}
    for key, v in value.items():
        if not (isinstance(key, str) and key.isdigit() and isinstance(v, dict)):
            continue
        score, flagged, reasons = v.get("score"), v.get("flagged"), v.get("reasons", [])
        if isinstance(score, (int, float)) and not isinstance(score, bool) and isinstance(flagged, bool):
            reasons = [r for r in reasons if isinstance(r, str)] if isinstance(reasons, list) else []
            objects[int(key)] = ObjectCheck(float(min(1.0, max(0.0, score))), flagged, reasons)
    return FrameCheck(objects)
