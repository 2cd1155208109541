"""Suggest which frames to annotate next (XMem++'s diversity-based candidate selector).

`select_next_candidates` works on key-encoder features and soft masks you already
have; `suggest_frames` runs the whole thing from a model, frames and reference masks.
"""

from __future__ import annotations

from .pipeline import CandidateFeatures, extract_candidate_features, suggest_candidates, suggest_frames
from .selector import (
    CandidateResult,
    FewerCandidatesWarning,
    mask_presence_percent,
    select_candidates,
    select_next_candidates,
    summarise_masks,
)

__all__ = [
    "CandidateFeatures",
    "CandidateResult",
    "FewerCandidatesWarning",
    "extract_candidate_features",
    "mask_presence_percent",
    "select_candidates",
    "select_next_candidates",
    "suggest_candidates",
    "suggest_frames",
    "summarise_masks",
]
