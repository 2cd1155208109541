"""The two passes' verdicts on a frame made one: a failure has a start and an end, and each direction sees one of
them (see `xmempp.review.reviewer`)."""

from __future__ import annotations

from xmempp.review.verdict import ObjectReview

__all__ = ["AGREE", "merge", "settle_unseen_by_backward"]


#: A pass's score at or below which it backs the other pass's flag (0.8 of the flagging ratio).
AGREE = 0.6


def merge(forward: ObjectReview, backward: ObjectReview | None) -> ObjectReview:
    """A frame's verdict from both passes: flagged where one pass flags it and the other comes close (a failure
    has a start and an end; a disagreement that only one direction sees is the other frames' fault: the jump
    back after a failure), scored by the milder. An object missing where one pass's motion puts it is flagged
    on that pass's word: the jump back after a drop (the object showing again) flags nothing, and the other pass
    may not know the object (it left the picture that way, or is dropped up to the shot's end)."""
    if backward is None or not backward.judged:
        return forward
    if not forward.judged:
        return backward
    agreed = (forward.flagged and backward.score <= AGREE) or (backward.flagged and forward.score <= AGREE)
    alone = next((v for v in (forward, backward) if v.flagged and v.vanished), None)
    if agreed or alone is not None:
        worse = forward if forward.score <= backward.score else backward
        return ObjectReview(
            score=max(forward.score, backward.score) if agreed else worse.score,
            flagged=True,
            reasons=worse.reasons,
            present=forward.present or backward.present,
            signals=worse.signals,
            vanished=alone is not None,
        )
    mild = forward if forward.score >= backward.score else backward
    return ObjectReview(
        score=max(0.5, min(forward.score, backward.score)) if not mild.flagged else mild.score,
        flagged=False,
        reasons=[],
        present=forward.present or backward.present,
        signals=mild.signals,
    )


def settle_unseen_by_backward(
    merged: dict[int, ObjectReview],
    backward: dict[int, ObjectReview],
    merged_before: dict[int, ObjectReview],
    backward_before: dict[int, ObjectReview],
) -> None:
    """A frame the backward pass could not judge (the shot's last, or the last before a gap) has only the forward
    pass's word; where the backward pass found the frame before it consistent with it and that frame is fine, a
    forward flag on it is the forward pass still comparing with an old mask: lifted (in place)."""
    for o, verdict in merged.items():
        own, before, before_merged = backward.get(o), backward_before.get(o), merged_before.get(o)
        if not verdict.flagged or (own is not None and own.judged) or before is None or before_merged is None:
            continue
        if before.judged and not before.flagged and before.score > AGREE and not before_merged.flagged:
            merged[o] = ObjectReview(score=0.5, flagged=False, present=verdict.present, signals=verdict.signals)
