"""XMem++'s annotation-candidate selector: which frames to annotate next.

The published method (XMem++, Sec. 3.3) scores every frame against the frames
that are already annotated ("chosen") and greedily adds the frame that is least
like any of them:

* every frame has a key, shrinkage and selection from the key encoder and a
  soft mask of the target (max over objects);
* a frame whose mask covers less than ``min_mask_presence_percent`` percent of
  its pixels (pixels above ``epsilon``, counted at the resolution the mask is
  given in) is invalid unless it is already chosen;
* keys are weighted by the mask resized to key resolution (nearest):
  ``key * mask * alpha + key * (1 - alpha)``; shrinkage and selection are not;
* the dissimilarity of frame j to a chosen frame c is the mean over all pixel
  pairs of ``ReLU(S(c->j) - S(j->c))``, where ``S(a->b)`` is the anisotropic L2
  similarity with ``a`` as memory (its shrinkage) and ``b`` as query (its
  selection) -- the (N, M) matrices are subtracted element by element;
* each round picks the frame whose minimum dissimilarity to all chosen frames is
  largest; exact ties go to the lowest frame index.

This implementation makes the same decisions with less work: a running minimum
per frame is updated only against the newly chosen frame (the reference
recomputes every pair every round); the pairs of a round are batched on the
compute device, with S(c->j) - S(j->c) formed by a single matrix product per
pair instead of two similarity matrices; keys may be held in float16 on the CPU
(they are widened to float32 chunk by chunk). The fast scores agree with the
reference's to about 1e-7 relative; candidates within `NEAR_TIE_RTOL` of the
best are re-scored pair by pair with `anisotropic_similarity` in the
reference's exact order of operations, so exact ties (duplicated frames) and
near-ties are decided as the reference decides them. Unlike the reference it never returns a frame
that is already chosen or invalid: when fewer than ``k`` frames qualify it
returns fewer and says so.

The parts live beside this module, one job each: `masks` (presence and key-resolution weights), `checks`
(the inputs), `dissimilarity` (the weighted key features, the batched pair scores and a round's pick) and
`result` (`CandidateResult`).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from xmempp.deprecation import legacy_positionals
from xmempp.errors import InputError

from .checks import check_features, check_parameters, normalise_chosen
from .dissimilarity import KeyFeatures, chunk_size, cycle_scores, pick
from .masks import ArrayLike, MaskInput, as_tensor, mask_presence_percent, summarise_masks
from .result import CandidateResult, FewerCandidatesWarning

__all__ = [
    "CandidateResult",
    "FewerCandidatesWarning",
    "mask_presence_percent",
    "select_candidates",
    "select_next_candidates",
    "summarise_masks",
]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]

#: Work memory one batched chunk of pair computations may use on the device.
DEFAULT_CHUNK_BYTES = 256 * 2**20
#: Device memory the per-frame similarity factors may keep between rounds.
DEFAULT_CACHE_BYTES = 512 * 2**20


@legacy_positionals("k", "previously_chosen", "alpha", "min_mask_presence_percent", "epsilon", since="0.3.0")
def select_candidates(
    keys: ArrayLike,
    shrinkages: ArrayLike,
    selections: ArrayLike,
    masks: MaskInput,
    *,
    k: int,
    previously_chosen: Iterable[int] = (0,),
    alpha: float = 0.5,
    min_mask_presence_percent: float = 0.25,
    epsilon: float = 0.5,
    presence_percent: ArrayLike | None = None,
    device: str | torch.device | None = None,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    max_cache_bytes: int = DEFAULT_CACHE_BYTES,
    progress: ProgressCallback | None = None,
    priority: ArrayLike | Sequence[float] | None = None,
) -> CandidateResult:
    """Pick up to `k` frames to annotate next, with the reasons if fewer qualify.

    Arguments:
        keys: (T, C, h, w) key-encoder keys (float32, float64, or float16 to
            save memory; float16 is computed in float32).
        shrinkages: (T, 1, h, w) shrinkage terms.
        selections: (T, C, h, w) selection terms.
        masks: soft masks in [0, 1] per frame, see `summarise_masks`; at key
            resolution or higher (resized to key resolution by nearest).
        k: how many new frames to pick.
        previously_chosen: frames already annotated (never returned).
        alpha: weight of the mask in the keys (0: masks ignored, 1: masked
            regions only).
        min_mask_presence_percent: frames whose mask covers less than this
            percentage of pixels are never suggested.
        epsilon: foreground threshold of the soft masks.
        presence_percent: optional (T,) precomputed presence percentages (e.g.
            counted on full-resolution masks by the caller); then `masks` only
            provides the weights.
        device: where pair computations run; default: the keys' device.
        max_chunk_bytes: work memory of one batch of pair computations.
        max_cache_bytes: the per-frame factors of the similarity are kept on
            the device between rounds when they fit in this many bytes, and
            recomputed each round otherwise.
        progress: called as progress(done, k) after each pick.
        priority: optional (T,) values in [0, 1], e.g. 1 - the review's score (`xmempp.review`): a
            frame's dissimilarity is weighed by 1 + priority, so among diverse frames the ones the
            review flagged come first. Without it the selection is XMem++'s, unchanged.
    Returns:
        A `CandidateResult`; `reason` says why fewer than `k` frames were chosen.
    """
    keys_t = as_tensor(keys, "keys")
    shrink_t = as_tensor(shrinkages, "shrinkages")
    select_t = as_tensor(selections, "selections")
    check_features(keys_t, shrink_t, select_t)
    check_parameters(k, alpha, min_mask_presence_percent, epsilon)
    k = int(k)
    frames, _, height, width = keys_t.shape
    chosen_before = normalise_chosen(previously_chosen, frames)

    presence, weights = summarise_masks(masks, (height, width), epsilon, num_frames=frames)
    if presence_percent is not None:
        presence = as_tensor(presence_percent, "presence_percent").to(torch.float32).reshape(-1).cpu()
        if presence.numel() != frames:
            raise InputError(f"presence_percent has {presence.numel()} values but there are {frames} frames")
    boost = None
    if priority is not None:
        values = priority if isinstance(priority, (torch.Tensor, np.ndarray)) else np.asarray(priority, np.float32)
        boost = 1.0 + as_tensor(values, "priority").to(torch.float32).reshape(-1).cpu().clamp(0.0, 1.0)
        if boost.numel() != frames:
            raise InputError(f"priority has {boost.numel()} values but there are {frames} frames")
    too_small = (presence < min_mask_presence_percent).tolist()
    invalid = tuple(i for i in range(frames) if too_small[i] and i not in chosen_before)
    blocked = set(invalid) | set(chosen_before)
    remaining = [i for i in range(frames) if i not in blocked]

    compute_dtype = torch.float64 if keys_t.dtype == torch.float64 else torch.float32
    compute_device = torch.device(device) if device is not None else keys_t.device
    features = KeyFeatures(keys_t, shrink_t, select_t, weights, float(alpha), compute_dtype, compute_device)
    chunk = chunk_size(features.pixels, features.channels, max_chunk_bytes)

    running = torch.full((frames,), math.inf, dtype=torch.float32)
    eligible = list(remaining)
    fingerprints = features.fingerprints(list(chosen_before) + eligible, chunk) if k > 0 else {}
    operand_bytes = (
        len(eligible) * 2 * (2 * features.channels + 1) * features.pixels * (torch.finfo(compute_dtype).bits // 8)
    )
    cached: tuple[torch.Tensor, torch.Tensor] | None = None
    if k > 0 and eligible and operand_bytes <= max_cache_bytes:
        with torch.no_grad():
            parts = [features.operands(eligible[i : i + chunk]) for i in range(0, len(eligible), chunk)]
        cached = (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
        del parts

    def batches():
        """(frames, X, Y) per chunk of the frames still in the running."""
        if cached is not None:  # fixed order; frames chosen meanwhile are scored too and ignored
            for start in range(0, len(eligible), chunk):
                batch = eligible[start : start + chunk]
                yield batch, cached[0][start : start + chunk], cached[1][start : start + chunk]
        else:
            for start in range(0, len(remaining), chunk):
                batch = remaining[start : start + chunk]
                yield (batch, *features.operands(batch))

    def absorb(new_chosen: int) -> None:
        """Lower the running minimum of every remaining frame by its score against `new_chosen`."""
        if not remaining:
            return
        reference = features.operands([new_chosen])
        with torch.no_grad():
            for batch, left, right in batches():
                scores = cycle_scores(reference, (left, right)).cpu()
                index = torch.as_tensor(batch, dtype=torch.long)
                running[index] = torch.minimum(running[index], scores)
        # A frame identical to a chosen one scores exactly 0 in the reference; make sure it does here too.
        twins = [j for j in remaining if fingerprints.get(j) == fingerprints[new_chosen]]
        if twins:
            running[torch.as_tensor(twins, dtype=torch.long)] = 0.0

    chosen_all = list(chosen_before)
    picked: list[int] = []
    picked_scores: list[float] = []
    if k > 0:
        for frame in chosen_before:
            absorb(frame)
    for round_index in range(k):
        if not remaining:
            break
        frame, score = pick(running if boost is None else running * boost, remaining, chosen_all, features, boost)
        picked.append(frame)
        picked_scores.append(score)
        chosen_all.append(frame)
        remaining.remove(frame)
        if round_index + 1 < k:
            absorb(frame)
        if progress is not None:
            progress(round_index + 1, k)

    reason = None
    if len(picked) < k:
        reason = (
            f"only {len(picked)} of the {k} requested frames qualify: {frames} frames, "
            f"{len(chosen_before)} already chosen, {len(invalid)} with a mask covering less than "
            f"{min_mask_presence_percent:g}% of the frame (threshold {epsilon:g})"
        )
    return CandidateResult(
        chosen=tuple(picked),
        requested=k,
        dissimilarities=tuple(picked_scores),
        previously_chosen=chosen_before,
        invalid=invalid,
        presence_percent=tuple(float(p) for p in presence.tolist()),
        reason=reason,
    )


def select_next_candidates(
    keys: ArrayLike,
    shrinkages: ArrayLike,
    selections: ArrayLike,
    masks: MaskInput,
    k: int,
    previously_chosen: Iterable[int] = (0,),
    alpha: float = 0.5,
    min_mask_presence_percent: float = 0.25,
    epsilon: float = 0.5,
    *,
    device: str | torch.device | None = None,
    progress: ProgressCallback | None = None,
) -> list[int]:
    """Indices of up to `k` frames to annotate next (XMem++'s selector).

    Arguments:
        keys: (T, C, h, w) keys from the key encoder (float16 allowed).
        shrinkages: (T, 1, h, w) shrinkage terms.
        selections: (T, C, h, w) selection terms.
        masks: (T, 1, h, w) soft masks in [0, 1] at key resolution or higher
            (also (T, K, H, W), (T, H, W) or a per-frame sequence).
        k: how many frames to suggest.
        previously_chosen: frames already annotated; never returned.
        alpha: weight of the mask in the keys, 0..1.
        min_mask_presence_percent: minimum mask coverage, in percent, of a frame
            that may be suggested.
        epsilon: foreground threshold of the soft masks.
        device: where pair computations run (default: the keys' device).
        progress: called as progress(done, k) after each pick.
    Returns:
        New frame indices in the order they were picked. When fewer than `k`
        frames qualify, fewer are returned and a `FewerCandidatesWarning` is
        issued; `select_candidates` gives the reason as data.
    """
    result = select_candidates(
        keys,
        shrinkages,
        selections,
        masks,
        k=k,
        previously_chosen=previously_chosen,
        alpha=alpha,
        min_mask_presence_percent=min_mask_presence_percent,
        epsilon=epsilon,
        device=device,
        progress=progress,
    )
    if result.reason is not None:
        logger.warning(result.reason)
        warnings.warn(result.reason, FewerCandidatesWarning, stacklevel=2)
    return list(result.chosen)
