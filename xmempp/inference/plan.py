"""Frame plans: which frames a job steps through, in which order, in how many passes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from xmempp.errors import ConfigError, InputError

__all__ = ["DIRECTIONS", "MODES", "Direction", "FramePlan", "Mode", "ProgressCallback", "plan_frames"]


class Direction(str, Enum):
    """Which frames a job steps, from where.

    "shot": every frame, first to last, in one pass (what `xmempp process` and the golden fixtures
    do); "forward" / "backward": from `start`, `count` frames; "both": forward from `start`, then
    backward.
    """

    SHOT = "shot"
    FORWARD = "forward"
    BACKWARD = "backward"
    BOTH = "both"


class Mode(str, Enum):
    """The memory mechanism: "xmempp" (every reference in permanent memory) or "xmem" (the original)."""

    XMEMPP = "xmempp"
    XMEM = "xmem"


#: The direction names, in `Direction` order.
DIRECTIONS = tuple(d.value for d in Direction)
#: The mode names, in `Mode` order.
MODES = tuple(m.value for m in Mode)

#: Called with (frames done, frames total).
ProgressCallback = Callable[[int, int], None]


def _direction(value: str | Direction) -> Direction:
    try:
        return Direction(value)
    except ValueError:
        raise ConfigError(f"unknown direction {value!r}; use one of {', '.join(DIRECTIONS)}") from None


@dataclass(frozen=True)
class FramePlan:
    """The frames a job steps through: one or more passes, each in stepping order.

    Memory is cleared (references kept) at the start of every pass; a pass's last frame is
    never written to memory.
    """

    passes: tuple[tuple[int, ...], ...]

    @property
    def total(self) -> int:
        """Frames stepped in all passes."""
        return sum(len(p) for p in self.passes)

    def order(self) -> list[int]:
        """Every stepped frame index, in stepping order over all passes."""
        return [index for frames in self.passes for index in frames]


def plan_frames(
    total: int,
    references: Sequence[int],
    direction: str | Direction = Direction.SHOT,
    start: int | None = None,
    count: int | None = None,
) -> FramePlan:
    """Which frames a job visits, in which order.

    Arguments:
        total: frames in the shot.
        references: frames that have a reference mask.
        direction: a `Direction` (or its name).
        start: first frame stepped (default: 0 for "shot"/"forward", the last frame for
            "backward", the first reference for "both").
        count: frames per pass including `start` (default: to the end of the shot).
    Returns:
        A `FramePlan` (empty when "forward"/"backward"/"both" would step only a reference frame).
        Raises `ConfigError` for an unknown direction and `InputError` for a start outside the shot
        or a count below 1.
    """
    direction = _direction(direction)
    if total < 1:
        raise InputError("the shot has no frames")
    if start is None:
        start = {Direction.SHOT: 0, Direction.FORWARD: 0, Direction.BACKWARD: total - 1}.get(
            direction, min(references, default=0)
        )
    if not 0 <= start < total:
        raise InputError(f"start frame {start} is outside the shot of {total} frames (0..{total - 1})")
    if count is not None and count < 1:
        raise InputError(f"frame count must be at least 1, not {count}")
    limit = total if count is None else count
    forward = tuple(range(start, min(total, start + limit)))
    backward = tuple(range(start, max(-1, start - limit), -1))
    if direction is Direction.SHOT:
        return FramePlan((forward,))
    candidates = {Direction.FORWARD: (forward,), Direction.BACKWARD: (backward,), Direction.BOTH: (forward, backward)}[
        direction
    ]
    # a pass of one reference frame only would re-output the user's mask: nothing to propagate
    return FramePlan(tuple(p for p in candidates if len(p) > 1 or p[0] not in references))
