"""The selector's dissimilarity of frames: mask-weighted key features, the batched pair scores, the pick of a round.

The dissimilarity of frame j to a chosen frame c is the mean over all pixel pairs of
``ReLU(S(c->j) - S(j->c))``, with ``S`` the anisotropic L2 similarity. Here it is formed by one matrix
product per pair from per-frame factors (`KeyFeatures.operands`); candidates within `NEAR_TIE_RTOL` of a
round's best are re-scored pair by pair with `anisotropic_similarity` in the reference's exact order of
operations (`pick`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np
import torch

from xmempp.memory.similarity import anisotropic_similarity

__all__ = ["MAX_RESCORED", "NEAR_TIE_RTOL", "KeyFeatures", "chunk_size", "cycle_scores", "pick"]

#: Candidates whose batched score is within this relative distance of the best
#: one are re-scored pair by pair, in the reference's exact order of operations.
NEAR_TIE_RTOL = 1e-3
#: At most this many near-tied candidates are re-scored in one round.
MAX_RESCORED = 64


class KeyFeatures:
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


def cycle_scores(chosen: tuple[torch.Tensor, torch.Tensor], others: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
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


def chunk_size(pixels: int, channels: int, budget: int) -> int:
    """Frames per batch so that one batch's work tensors stay within `budget` bytes."""
    per_frame = 8 * pixels * pixels + 4 * 8 * (2 * channels + 1) * pixels
    return max(1, budget // per_frame)


def _pair_score_exact(features: KeyFeatures, chosen: int, frame: int) -> float:
    """One pair scored as the reference does it (batch of one, on the CPU)."""
    cpu = torch.device("cpu")
    key_c, shrink_c, select_c = features.get([chosen], device=cpu)
    key_j, shrink_j, select_j = features.get([frame], device=cpu)
    with torch.no_grad():
        forward = anisotropic_similarity(key_c, shrink_c, key_j, select_j)
        backward = anisotropic_similarity(key_j, shrink_j, key_c, select_c)
        difference = (forward - backward).to(torch.float32)
        return float(torch.relu(difference).sum() / difference.numel())


def pick(
    running: torch.Tensor,
    remaining: list[int],
    chosen_all: list[int],
    features: KeyFeatures,
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
