"""Review: which frames and objects of a mask sequence look wrong, and why (no network needed).

`Reviewer` (streaming) and `review_sequence` score every frame and object of any mask sequence
against its frames; `xmempp.review.report` writes `qc.json` and the `qc.html` contact sheet.
"""

from __future__ import annotations

from xmempp.review.reviewer import FrameReview, Reviewer, ReviewSettings, review_sequence
from xmempp.review.verdict import ObjectReview, Thresholds

__all__ = ["FrameReview", "ObjectReview", "ReviewSettings", "Reviewer", "Thresholds", "review_sequence"]
