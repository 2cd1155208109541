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
"""

from __future__ import annotations

import hashlib
import logging
import math
import numbers
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from xmempp.deprecation import legacy_positionals
from xmempp.errors import ConfigError, InputError
from xmempp.memory.similarity import anisotropic_similarity

__all__ = [
    "CandidateResult",
    "FewerCandidatesWarning",
    "mask_presence_percent",
    "select_candidates",
    "select_next_candidates",
    "summarise_masks",
]

logger = logging.getLogger(__name__)

ArrayLike = torch.Tensor | np.ndarray
MaskInput = ArrayLike | Sequence[ArrayLike]
ProgressCallback = Callable[[int, int], None]

#: Work memory one batched chunk of pair computations may use on the device.
DEFAULT_CHUNK_BYTES = 256 * 2**20
#: Device memory the per-frame similarity factors may keep between rounds.
DEFAULT_CACHE_BYTES = 512 * 2**20
#: Candidates whose batched score is within this relative distance of the best
#: one are re-scored pair by pair, in the reference's exact order of operations.
NEAR_TIE_RTOL = 1e-3
#: At most this many near-tied candidates are re-scored in one round.
MAX_RESCORED = 64
#: Masks may exceed [0, 1] by this much (rounding in upstream resizes).
_MASK_RANGE_SLACK = 1e-3


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


# --------------------------------------------------------------------------- masks


def _as_tensor(value: ArrayLike, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    raise InputError(f"{name} must be a torch.Tensor or numpy array, got {type(value).__name__}")


def _threshold_ready(mask: torch.Tensor) -> torch.Tensor:
    """Booleans and integers become float32; floating masks keep their dtype."""
    if mask.dtype == torch.bool or not torch.is_floating_point(mask):
        return mask.to(torch.float32)
    return mask


def _weight_dtype(mask: torch.Tensor) -> torch.dtype:
    # float16/bfloat16 widen exactly to float32; float64 stays (the reference
    # multiplies the keys by the mask in the promoted dtype).
    return torch.float64 if mask.dtype == torch.float64 else torch.float32


def _check_range(mask: torch.Tensor, what: str) -> None:
    if mask.numel() == 0:
        raise InputError(f"{what} is empty")
    low, high = float(mask.min()), float(mask.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputError(f"{what} holds NaN or infinite values")
    if low < -_MASK_RANGE_SLACK or high > 1 + _MASK_RANGE_SLACK:
        raise InputError(
            f"{what} must be a soft mask with values in [0, 1], found [{low:g}, {high:g}]; "
            "for an index mask pass (mask > 0)"
        )


def _presence(binary_counts: torch.Tensor, pixels: int) -> torch.Tensor:
    # Same float32 arithmetic as the reference: count / numel * 100.
    return binary_counts / pixels * 100


def mask_presence_percent(mask: ArrayLike, epsilon: float = 0.5) -> float:
    """Percentage of pixels of one frame's soft mask above `epsilon`.

    Arguments:
        mask: (H, W) soft mask or (K, H, W) per-object soft masks (max over K).
        epsilon: foreground threshold.
    Returns:
        The percentage (0..100), computed in float32 as the reference does.
    """
    tensor = _threshold_ready(_as_tensor(mask, "mask"))
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 3:
        raise InputError(f"a frame's mask must be (H, W) or (K, H, W), got shape {tuple(tensor.shape)}")
    merged = tensor.amax(dim=0)
    return float(_presence((merged > epsilon).sum(), merged.numel()))


def _resize_nearest(merged: torch.Tensor, key_hw: tuple[int, int]) -> torch.Tensor:
    """(T, H, W) -> (T, 1, h, w) by nearest neighbour, as torchvision's NEAREST resize."""
    weights = merged.to(_weight_dtype(merged)).unsqueeze(1)
    if tuple(weights.shape[-2:]) != tuple(key_hw):
        weights = torch.nn.functional.interpolate(weights, size=key_hw, mode="nearest")
    return weights


def summarise_masks(
    masks: MaskInput, key_hw: tuple[int, int], epsilon: float = 0.5, num_frames: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame mask presence and key-resolution weights.

    Arguments:
        masks: soft masks in [0, 1]: a (T, K, H, W) or (T, H, W) tensor/array
            (K objects are merged by max), or a sequence of per-frame (H, W) or
            (K, H, W) masks. Any resolution; presence is counted as given.
        key_hw: the key resolution (h, w) the weights are resized to (nearest).
        epsilon: foreground threshold for the presence count.
        num_frames: if given, the number of frames the masks must cover.
    Returns:
        presence (T,) float32 percentages and weights (T, 1, h, w) on the CPU
        (float32, or float64 for float64 masks).
    """
    if isinstance(masks, (torch.Tensor, np.ndarray)):
        tensor = _threshold_ready(_as_tensor(masks, "masks")).cpu()
        if tensor.ndim == 3:
            tensor = tensor.unsqueeze(1)
        if tensor.ndim != 4:
            raise InputError(f"masks must be (T, K, H, W) or (T, H, W), got shape {tuple(tensor.shape)}")
        if num_frames is not None and tensor.shape[0] != num_frames:
            raise InputError(f"masks cover {tensor.shape[0]} frames but there are {num_frames} key frames")
        _check_range(tensor, "masks")
        merged = tensor.amax(dim=1)
        counts = (merged > epsilon).flatten(1).sum(dim=1)
        presence = _presence(counts, merged.shape[1] * merged.shape[2]).to(torch.float32)
        return presence, _resize_nearest(merged, key_hw)

    frames = list(masks)
    if num_frames is not None and len(frames) != num_frames:
        raise InputError(f"masks cover {len(frames)} frames but there are {num_frames} key frames")
    if not frames:
        raise InputError("no masks given")
    presence = torch.empty(len(frames), dtype=torch.float32)
    weights: list[torch.Tensor] = []
    for index, frame_mask in enumerate(frames):
        tensor = _threshold_ready(_as_tensor(frame_mask, f"mask of frame {index}")).cpu()
        if tensor.ndim == 2:
            tensor = tensor.unsqueeze(0)
        if tensor.ndim != 3:
            raise InputError(f"the mask of frame {index} must be (H, W) or (K, H, W), got shape {tuple(tensor.shape)}")
        _check_range(tensor, f"the mask of frame {index}")
        merged = tensor.amax(dim=0, keepdim=True)
        presence[index] = _presence((merged > epsilon).sum(), merged.numel())
        weights.append(_resize_nearest(merged, key_hw)[0])
    dtype = torch.float64 if any(w.dtype == torch.float64 for w in weights) else torch.float32
    return presence, torch.stack([w.to(dtype) for w in weights])


# ----------------------------------------------------------------------- features


class _Features:
    """Mask-weighted keys, shrinkage and selection, fetched in chunks on a device."""

    def __init__(
        self,
        keys: torch.Tensor,
        shrinkages: torch.Tensor,
        selections: torch.Tensor,
        weights: torch.Tensor,
        alpha: float,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        self.keys, self.shrinkages, self.selections, self.weights = keys, shrinkages, selections, weights
        self.alpha, self.dtype, self.device = alpha, dtype, device
        self.channels = keys.shape[1]
        self.pixels = keys.shape[2] * keys.shape[3]

    def get(
        self, frames: Sequence[int], device: torch.device | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, C, N) weighted keys, (B, 1, N) shrinkage, (B, C, N) selection."""
        device = self.device if device is None else device
        index = torch.as_tensor(list(frames), dtype=torch.long)
        key_index = index.to(self.keys.device)
        key = self.keys.index_select(0, key_index).to(device=device, dtype=self.dtype)
        mask = self.weights.index_select(0, index).to(device=device)
        # Same order of operations as the reference: (key * mask) * alpha + key * (1 - alpha).
        weighted = (key * mask * self.alpha + key * (1 - self.alpha)).to(self.dtype)
        shrinkage = self.shrinkages.index_select(0, key_index).to(device=device, dtype=self.dtype)
        selection = self.selections.index_select(0, key_index).to(device=device, dtype=self.dtype)
        batch = len(frames)
        return (
            weighted.reshape(batch, self.channels, self.pixels),
            shrinkage.reshape(batch, 1, self.pixels),
            selection.reshape(batch, self.channels, self.pixels),
        )

    def fingerprints(self, frames: Sequence[int], chunk: int) -> dict[int, bytes]:
        """Digest of each frame's weighted key, shrinkage and selection (equal digests: identical frames)."""
        result: dict[int, bytes] = {}
        for start in range(0, len(frames), chunk):
            batch = list(frames[start : start + chunk])
            parts = [(t + 0.0).cpu().numpy() for t in self.get(batch)]  # + 0.0 turns -0.0 into 0.0
            for row, frame in enumerate(batch):
                digest = hashlib.blake2b(digest_size=16)
                for part in parts:
                    digest.update(np.ascontiguousarray(part[row]).tobytes())
                result[frame] = digest.digest()
        return result

    def operands(self, frames: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Factors X (B, 2C+1, N) and Y (B, 2C+1, N) with S(a->b) = X_a^T Y_b.

        S(a->b)[i, j] = -s_a[i] / sqrt(C) * sum_c e_b[c, j] (k_a[c, i] - k_b[c, j])^2, expanded as
        X_a = [-k_a^2, 2 k_a, 1] * s_a / sqrt(C) and Y_b = [e_b, k_b e_b, -sum_c e_b k_b^2].
        """
        key, shrinkage, selection = self.get(frames)
        scale = shrinkage / math.sqrt(self.channels)
        left = torch.cat([-(key * key) * scale, 2 * key * scale, scale], dim=1)
        right = torch.cat([selection, key * selection, -(selection * key * key).sum(dim=1, keepdim=True)], dim=1)
        return left, right


def _cycle_scores(chosen: tuple[torch.Tensor, torch.Tensor], others: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean ReLU(S(c->j) - S(j->c)) of one chosen frame c against a batch of frames j.

    S(c->j) - S(j->c) = X_c^T Y_j - X_j^T Y_c, element by element: two products
    accumulated into one (B, N, N) buffer.
    """
    left_c, right_c = chosen
    left_j, right_j = others
    batch = left_j.shape[0]
    with _full_precision_matmul():
        difference = torch.matmul(left_c.transpose(1, 2), right_j)
        difference.baddbmm_(left_j.transpose(1, 2), right_c.expand(batch, -1, -1), alpha=-1)
    if difference.dtype != torch.float32:
        difference = difference.to(torch.float32)
    difference.relu_()
    count = difference[0].numel()
    return torch.stack([difference[b].sum() for b in range(batch)]) / count


class _full_precision_matmul:
    """Turn off TF32 / reduced-precision float32 matmuls for the duration (restored afterwards)."""

    def __enter__(self) -> None:
        self._previous = torch.get_float32_matmul_precision()
        if self._previous != "highest":
            torch.set_float32_matmul_precision("highest")

    def __exit__(self, *exc: object) -> None:
        if self._previous != "highest":
            torch.set_float32_matmul_precision(self._previous)


def _chunk_size(pixels: int, channels: int, budget: int) -> int:
    """Frames per batch so that one batch's work tensors stay within `budget` bytes."""
    per_frame = 8 * pixels * pixels + 4 * 8 * (2 * channels + 1) * pixels
    return max(1, budget // per_frame)


# ------------------------------------------------------------------------ checks


def _check_features(keys: torch.Tensor, shrinkages: torch.Tensor, selections: torch.Tensor) -> None:
    if keys.ndim != 4:
        raise InputError(f"keys must be (T, C, h, w), got shape {tuple(keys.shape)}")
    frames, channels, height, width = keys.shape
    if frames == 0 or channels == 0 or height == 0 or width == 0:
        raise InputError(f"keys must not be empty, got shape {tuple(keys.shape)}")
    if tuple(shrinkages.shape) != (frames, 1, height, width):
        raise InputError(
            f"shrinkages must be {(frames, 1, height, width)} to match the keys, got {tuple(shrinkages.shape)}"
        )
    if tuple(selections.shape) != tuple(keys.shape):
        raise InputError(f"selections must be {tuple(keys.shape)} to match the keys, got {tuple(selections.shape)}")
    for name, tensor in (("keys", keys), ("shrinkages", shrinkages), ("selections", selections)):
        if not torch.is_floating_point(tensor):
            raise InputError(f"{name} must be floating point, got {tensor.dtype}")
        if not bool(torch.isfinite(tensor).all()):
            raise InputError(f"{name} hold NaN or infinite values; re-extract the key features")


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_parameters(k: int, alpha: float, min_mask_presence_percent: float, epsilon: float) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ConfigError(f"k (number of frames to suggest) must be a non-negative integer, got {k!r}")
    if not _is_real(alpha) or not 0.0 <= alpha <= 1.0:
        raise ConfigError(
            f"alpha must be between 0 and 1 (0 ignores the masks, 1 compares only masked regions), got {alpha!r}"
        )
    if not _is_real(min_mask_presence_percent) or not 0.0 <= min_mask_presence_percent <= 100.0:
        raise ConfigError(
            f"min_mask_presence_percent is a percentage between 0 and 100, got {min_mask_presence_percent!r}"
        )
    if not _is_real(epsilon) or not math.isfinite(epsilon):
        raise ConfigError(f"epsilon (foreground threshold of the soft masks) must be a number, got {epsilon!r}")


def _normalise_chosen(previously_chosen: Iterable[int], frames: int) -> tuple[int, ...]:
    result: list[int] = []
    for value in previously_chosen:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InputError(f"previously chosen frames must be integer indices, got {value!r}")
        index = int(value)
        if not 0 <= index < frames:
            raise InputError(
                f"previously chosen frame {index} is out of range: the video has {frames} frames (0..{frames - 1})"
            )
        if index not in result:
            result.append(index)
    if not result:
        raise ConfigError(
            "previously_chosen must name at least one frame (the frames already annotated); "
            "dissimilarity is measured against them"
        )
    return tuple(result)


# --------------------------------------------------------------------- selection


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
    keys_t = _as_tensor(keys, "keys")
    shrink_t = _as_tensor(shrinkages, "shrinkages")
    select_t = _as_tensor(selections, "selections")
    _check_features(keys_t, shrink_t, select_t)
    _check_parameters(k, alpha, min_mask_presence_percent, epsilon)
    k = int(k)
    frames, _, height, width = keys_t.shape
    chosen_before = _normalise_chosen(previously_chosen, frames)

    presence, weights = summarise_masks(masks, (height, width), epsilon, num_frames=frames)
    if presence_percent is not None:
        presence = _as_tensor(presence_percent, "presence_percent").to(torch.float32).reshape(-1).cpu()
        if presence.numel() != frames:
            raise InputError(f"presence_percent has {presence.numel()} values but there are {frames} frames")
    boost = None
    if priority is not None:
        values = priority if isinstance(priority, (torch.Tensor, np.ndarray)) else np.asarray(priority, np.float32)
        boost = 1.0 + _as_tensor(values, "priority").to(torch.float32).reshape(-1).cpu().clamp(0.0, 1.0)
        if boost.numel() != frames:
            raise InputError(f"priority has {boost.numel()} values but there are {frames} frames")
    too_small = (presence < min_mask_presence_percent).tolist()
    invalid = tuple(i for i in range(frames) if too_small[i] and i not in chosen_before)
    blocked = set(invalid) | set(chosen_before)
    remaining = [i for i in range(frames) if i not in blocked]

    compute_dtype = torch.float64 if keys_t.dtype == torch.float64 else torch.float32
    compute_device = torch.device(device) if device is not None else keys_t.device
    features = _Features(keys_t, shrink_t, select_t, weights, float(alpha), compute_dtype, compute_device)
    chunk = _chunk_size(features.pixels, features.channels, max_chunk_bytes)

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
                scores = _cycle_scores(reference, (left, right)).cpu()
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
        frame, score = _pick(running if boost is None else running * boost, remaining, chosen_all, features, boost)
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


def _pair_score_exact(features: _Features, chosen: int, frame: int) -> float:
    """One pair scored as the reference does it (batch of one, on the CPU)."""
    cpu = torch.device("cpu")
    key_c, shrink_c, select_c = features.get([chosen], device=cpu)
    key_j, shrink_j, select_j = features.get([frame], device=cpu)
    with torch.no_grad():
        forward = anisotropic_similarity(key_c, shrink_c, key_j, select_j)
        backward = anisotropic_similarity(key_j, shrink_j, key_c, select_c)
        difference = (forward - backward).to(torch.float32)
        return float(torch.relu(difference).sum() / difference.numel())


def _pick(
    running: torch.Tensor,
    remaining: list[int],
    chosen_all: list[int],
    features: _Features,
    boost: torch.Tensor | None = None,
) -> tuple[int, float]:
    """The remaining frame with the largest running minimum (weighed by `boost`); near-ties re-scored exactly."""
    values = running[torch.as_tensor(remaining, dtype=torch.long)]
    best = float(values.max())
    if best <= 0.0:  # every remaining frame duplicates a chosen one: the reference takes the first index
        return min(remaining), 0.0
    tolerance = NEAR_TIE_RTOL * abs(best) + 1e-12
    near = [(float(v), f) for v, f in zip(values.tolist(), remaining) if float(v) >= best - tolerance]
    if len(near) == 1:
        return near[0][1], near[0][0]
    near.sort(key=lambda item: (-item[0], item[1]))
    contenders = sorted(f for _, f in near[:MAX_RESCORED])
    winner, winner_score = contenders[0], -math.inf
    for frame in contenders:  # ascending, so exact ties keep the lowest index
        score = min(_pair_score_exact(features, c, frame) for c in chosen_all)
        score = score * float(boost[frame]) if boost is not None else score
        if score > winner_score:
            winner, winner_score = frame, score
    return winner, winner_score


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
