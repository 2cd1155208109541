"""The refine stage of a job: between the upsampled probabilities and the writers.

On a keyframe whose artist matte is soft, the output is that matte (the network was given it
binarised); on every other frame, with refinement on, the probabilities are refined against the
full-resolution frame (`xmempp.refine`). With refinement off and no soft keyframes the stage passes
results through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from xmempp.refine import Refiner, RefineSettings

__all__ = ["RefineStage"]


class RefineStage:
    """Per-job state of the refine stage (the refiner's temporal average).

    Arguments:
        settings: the refinement (mode `off` refines nothing).
        object_ids: original id of each probability channel after the background.
        keyframes: frame index -> {object id: HxW soft matte} of the soft keyframes.
    """

    def __init__(
        self,
        settings: RefineSettings,
        object_ids: Sequence[int],
        keyframes: Mapping[int, Mapping[int, np.ndarray]] | None = None,
    ) -> None:
        self.settings = settings
        self.object_ids = [int(i) for i in object_ids]
        self.keyframes = dict(keyframes or {})
        self.refiner = Refiner(settings) if settings.enabled else None

    @property
    def active(self) -> bool:
        """False when the stage would change nothing."""
        return self.refiner is not None or bool(self.keyframes)

    def __call__(
        self, index: int, image: np.ndarray | None, probs: torch.Tensor | np.ndarray
    ) -> torch.Tensor | np.ndarray:
        """The output probabilities of frame `index` ((1+K)xHxW, background first)."""
        soft = self.keyframes.get(index)
        if soft is not None:
            return self._artist(soft, probs)
        if self.refiner is None or image is None:
            return probs
        return self.refiner(image, probs)

    def _artist(self, soft: Mapping[int, np.ndarray], probs: torch.Tensor | np.ndarray) -> np.ndarray:
        out = (
            probs.detach().cpu().float().numpy()
            if isinstance(probs, torch.Tensor)
            else np.array(probs, dtype=np.float32, copy=True)
        )
        for oid, matte in soft.items():
            if oid in self.object_ids and matte.shape == out.shape[1:]:
                k = 1 + self.object_ids.index(oid)
                others = np.delete(out[1:], k - 1, axis=0)
                out[k] = matte
                if len(others):  # other objects keep their share of what the artist's matte leaves
                    scale = np.minimum(1.0, (1 - matte) / np.maximum(others.sum(0), 1e-6))
                    out[1:][np.arange(len(out) - 1) != k - 1] *= scale
        out[0] = np.clip(1 - out[1:].sum(0), 0, 1)
        return out
