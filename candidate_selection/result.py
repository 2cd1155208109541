"""What one candidate selection returns, and the warning when fewer frames qualify than were asked for."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CandidateResult", "FewerCandidatesWarning"]


class FewerCandidatesWarning(UserWarning):
    """Fewer frames qualified as candidates than were asked for."""


@dataclass(frozen=True)
class CandidateResult:
    """Outcome of one candidate selection.

    Attributes:
        chosen: the newly selected frame indices, in the order they were picked.
        requested: how many frames were asked for (`k`).
        dissimilarities: for each chosen frame, its minimum dissimilarity to the
            frames chosen before it, at the time it was picked.
        previously_chosen: the frames that counted as chosen from the start.
        invalid: frames never considered because their mask covers too little
            (previously chosen frames are never listed here).
        presence_percent: per frame, the percentage of mask pixels above `epsilon`.
        reason: why fewer than `requested` frames were returned, else None.
        target: what the target masks outside the references were: "soft" (probabilities, as
            XMem++ feeds its selector), "binary" (only index masks were given) or "mixed".
    """

    chosen: tuple[int, ...]
    requested: int
    dissimilarities: tuple[float, ...]
    previously_chosen: tuple[int, ...]
    invalid: tuple[int, ...]
    presence_percent: tuple[float, ...] = field(repr=False, default=())
    reason: str | None = None
    target: str = "soft"

    @property
    def complete(self) -> bool:
        """True when as many frames were chosen as were requested."""
        return len(self.chosen) == self.requested

    @property
    def eligible_count(self) -> int:
        """How many frames qualified at the start (valid and not already chosen)."""
        return len(self.presence_percent) - len(self.previously_chosen) - len(self.invalid)
