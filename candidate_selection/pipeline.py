"""From a model, frames and reference masks to the frames worth annotating next.

Two passes over the frames (each in order, so lazily decoded videos stream):
the key encoder gives every frame's key, shrinkage and selection (kept in
float16 on the CPU, so long shots fit in memory), and the target's soft mask
comes from the given predicted masks or from a propagation of the references.
Mask coverage is counted at the masks' own resolution and each mask is shrunk
to key resolution right away; then `select_candidates` picks the frames.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from xmempp.deprecation import legacy_positionals
from xmempp.errors import InputError
from xmempp.inference.config import InferenceConfig
from xmempp.inference.plan import Mode
from xmempp.model.network import XMemNetwork

from .selector import CandidateResult, FewerCandidatesWarning, select_candidates, summarise_masks

__all__ = ["CandidateFeatures", "extract_candidate_features", "suggest_candidates", "suggest_frames"]

logger = logging.getLogger(__name__)

#: Above this many bytes of float32 features, they are stored in float16.
FLOAT32_FEATURE_LIMIT = 512 << 20

#: progress(stage, done, total); stages: "features", "masks", "selection".
PipelineProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CandidateFeatures:
    """Key-encoder features of every frame of a shot.

    Attributes:
        keys: (T, C, h, w) keys.
        shrinkages: (T, 1, h, w) shrinkage terms.
        selections: (T, C, h, w) selection terms.
    """

    keys: torch.Tensor
    shrinkages: torch.Tensor
    selections: torch.Tensor

    @property
    def key_size(self) -> tuple[int, int]:
        """(h, w) of the key grid."""
        return tuple(self.keys.shape[-2:])  # type: ignore[return-value]


def _report(progress: PipelineProgress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


class _FeatureCollector:
    """Stores each frame's key features as they arrive, in a dtype chosen from the first frame."""

    def __init__(self, total: int, dtype: torch.dtype | None, progress: PipelineProgress | None) -> None:
        self.total, self.dtype, self.progress = total, dtype, progress
        self.tensors: list[torch.Tensor] | None = None
        self.done = 0

    def add(self, index: int, key: torch.Tensor, shrinkage: torch.Tensor, selection: torch.Tensor) -> None:
        """Keep frame `index`'s (1, C, h, w) key, shrinkage and selection."""
        parts = [t.detach().float().cpu().reshape(-1, *t.shape[-2:]) for t in (key, shrinkage, selection)]
        if self.tensors is None:
            if self.dtype is None:
                per_frame = 4 * sum(t.numel() for t in parts)
                self.dtype = torch.float32 if per_frame * self.total <= FLOAT32_FEATURE_LIMIT else torch.float16
            self.tensors = [torch.empty((self.total, *t.shape), dtype=self.dtype) for t in parts]
        for store, part in zip(self.tensors, parts):
            store[index] = part
        self.done += 1
        _report(self.progress, "features", self.done, self.total)

    @property
    def key_size(self) -> tuple[int, int]:
        """(h, w) of the key grid (known once a frame was added)."""
        if self.tensors is None:
            raise InputError("the key grid is known once a frame's features were added")
        height, width = self.tensors[0].shape[-2:]
        return int(height), int(width)

    def result(self) -> CandidateFeatures:
        """The features of every frame (all must have been added)."""
        if self.tensors is None or self.done != self.total:
            raise InputError(f"key features were computed for {self.done} of {self.total} frames")
        return CandidateFeatures(*self.tensors)


def extract_candidate_features(
    model: XMemNetwork,
    frames: Sequence[np.ndarray],
    config=None,
    *,
    dtype: torch.dtype | None = None,
    progress: PipelineProgress | None = None,
) -> CandidateFeatures:
    """Run the key encoder over every frame.

    Arguments:
        model: a loaded XMem network (`xmempp.load_model`).
        frames: sequence of HxWx3 uint8 RGB frames (decoded lazily is fine).
        config: `InferenceConfig` (its `size` sets the processing resolution).
        dtype: storage dtype of the features on the CPU. None: float32, or
            float16 (half the memory) when float32 would exceed
            `FLOAT32_FEATURE_LIMIT` bytes, as for long shots.
        progress: called as progress("features", done, total).
    Returns:
        `CandidateFeatures` on the CPU in `dtype`.
    """
    from xmempp import InferenceSession  # the engine; imported here so this module loads on its own

    total = len(frames)
    if total == 0:
        raise InputError("the shot has no frames")
    session = InferenceSession(model, config)
    collector = _FeatureCollector(total, dtype, progress)
    for index in range(total):
        collector.add(index, *session.encode_key(frames[index]))
    return collector.result()


def _check_predicted(predicted: Mapping[int, np.ndarray], references: Mapping[int, np.ndarray], total: int) -> None:
    missing = [i for i in range(total) if i not in predicted and i not in references]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise InputError(
            f"no predicted mask for {len(missing)} frame(s) ({shown}); give a mask for every "
            "frame, or leave the predicted masks out to run a propagation first"
        )


class _TargetKinds:
    """Counts which kind of target mask each non-reference frame had."""

    def __init__(self) -> None:
        self.soft = self.binary = 0

    @property
    def name(self) -> str:
        """ "soft", "binary" or "mixed"."""
        if self.binary == 0:
            return "soft"
        return "binary" if self.soft == 0 else "mixed"


def _predicted_soft_masks(
    predicted: Mapping[int, np.ndarray], references: Mapping[int, np.ndarray], total: int, kinds: _TargetKinds
) -> Iterator[tuple[int, torch.Tensor]]:
    for index in range(total):
        mask = np.asarray(references[index] if index in references else predicted[index])
        if mask.ndim != 2:
            raise InputError(
                f"predicted mask of frame {index} must be HxW object ids or a soft target, got shape {mask.shape}"
            )
        if np.issubdtype(mask.dtype, np.floating):
            kinds.soft += index not in references
            yield index, torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32)).clamp_(0.0, 1.0)
        else:
            kinds.binary += index not in references
            yield index, torch.from_numpy(mask > 0)


def _propagated_soft_masks(
    model, frames, references, config, mode: Mode | str, collector: _FeatureCollector | None
) -> Iterator[tuple[int, torch.Tensor]]:
    from xmempp.inference.jobs import ShotJob, iter_job

    listener = collector.add if collector is not None else None
    job = ShotJob(frames, references, config or InferenceConfig(), mode)
    for result in iter_job(model, job, on_key_features=listener):
        index, probs = result.index, torch.as_tensor(result.probs)
        if probs.shape[0] < 2:
            yield index, torch.zeros(probs.shape[1:], dtype=torch.float32)
        else:
            yield index, probs[1:].amax(dim=0).float().clamp_(0.0, 1.0)


@legacy_positionals("k", "alpha", "predicted_masks", "config", "progress", since="0.3.0")
def suggest_candidates(
    model: XMemNetwork,
    frames: Sequence[np.ndarray],
    references: Mapping[int, np.ndarray],
    *,
    k: int,
    alpha: float = 0.5,
    predicted_masks: Mapping[int, np.ndarray] | None = None,
    config: InferenceConfig | None = None,
    progress: PipelineProgress | None = None,
    min_mask_presence_percent: float = 0.25,
    epsilon: float = 0.5,
    mode: Mode | str = Mode.XMEMPP,
    features: CandidateFeatures | None = None,
    device: str | torch.device | None = None,
    priority: Sequence[float] | None = None,
) -> CandidateResult:
    """Suggest frames to annotate next, with the details as a `CandidateResult`: the candidate selector's one
    entry point from a model, frames and references (options keyword-only).

    Arguments:
        model: a loaded XMem network.
        frames: sequence of HxWx3 uint8 RGB frames.
        references: frame index -> HxW index mask the user annotated; these frames
            count as already chosen and are never suggested.
        k: how many frames to suggest.
        alpha: weight of the target mask in the comparison (0..1).
        predicted_masks: frame index -> the target of an earlier run: an HxW float
            soft target in [0, 1] (the max over objects of their probabilities,
            what XMem++ feeds its selector), or an HxW integer index mask, whose
            non-zero pixels become a binary target. Reference frames use the
            references. Without it the references are propagated first and the
            soft target is the max over objects of the probabilities.
        config: `InferenceConfig` for the key encoder and the propagation.
        progress: called as progress(stage, done, total).
        min_mask_presence_percent: frames whose target covers less than this
            percentage of the frame are never suggested.
        epsilon: foreground threshold of the soft masks.
        mode: propagation mode ("xmempp" or "xmem") when no masks are given.
        features: precomputed key features (skips the key-encoder pass).
        device: where the pair comparisons run (default: the model's device).
        priority: per frame, how much to prefer it among diverse frames (0..1, e.g. 1 - the review's
            score; see `select_candidates`).
    Returns:
        A `CandidateResult` (`chosen` in pick order; `reason` when fewer than k; `target`
        says whether the targets were soft or binary).
    """
    total = len(frames)
    if not references:
        raise InputError("no reference masks given: annotate at least one frame")
    outside = sorted(f for f in references if not 0 <= int(f) < total)
    if outside:
        raise InputError(f"reference frame(s) {outside} outside the clip of {total} frames")
    if predicted_masks is not None:
        _check_predicted(predicted_masks, references, total)
    collector = None
    kinds = _TargetKinds()
    if predicted_masks is not None:
        if features is None:
            features = extract_candidate_features(model, frames, config, progress=progress)
        soft_masks = _predicted_soft_masks(predicted_masks, references, total, kinds)
    else:
        # One pass: the propagation's own key-encoder output doubles as the candidates' features.
        collector = _FeatureCollector(total, None, progress) if features is None else None
        soft_masks = _propagated_soft_masks(model, frames, references, config, mode, collector)
    presence = torch.empty(total, dtype=torch.float32)
    weights: torch.Tensor | None = None
    grid: CandidateFeatures | _FeatureCollector = (
        features if features is not None else cast(_FeatureCollector, collector)
    )
    for seen, (index, soft) in enumerate(soft_masks, start=1):
        key_hw = grid.key_size
        if weights is None:
            weights = torch.empty((total, 1, *key_hw), dtype=torch.float32)
        frame_presence, frame_weight = summarise_masks([soft], key_hw, epsilon)
        presence[index] = frame_presence[0]
        weights[index] = frame_weight[0]
        _report(progress, "masks", seen, total)
    if collector is not None:
        features = collector.result()
    features = cast(CandidateFeatures, features)
    if weights is None:
        raise InputError("the shot has no frames")
    if features.keys.shape[0] != total:
        raise InputError(f"features cover {features.keys.shape[0]} frames but the shot has {total}")

    if device is None:
        parameter = next(iter(model.parameters()), None)
        device = parameter.device if parameter is not None else None

    def selection_progress(done: int, wanted: int) -> None:
        _report(progress, "selection", done, wanted)

    result = select_candidates(
        features.keys,
        features.shrinkages,
        features.selections,
        weights,
        k=k,
        previously_chosen=sorted(int(f) for f in references),
        alpha=alpha,
        min_mask_presence_percent=min_mask_presence_percent,
        epsilon=epsilon,
        presence_percent=presence,
        device=device,
        progress=selection_progress,
        priority=priority,
    )
    return dataclasses.replace(result, target=kinds.name)


def suggest_frames(
    model: XMemNetwork,
    frames: Sequence[np.ndarray],
    references: Mapping[int, np.ndarray],
    k: int,
    alpha: float = 0.5,
    predicted_masks: Mapping[int, np.ndarray] | None = None,
    config: InferenceConfig | None = None,
    progress: PipelineProgress | None = None,
    **options: Any,
) -> list[int]:
    """Deprecated since 0.3.0: use `suggest_candidates(...).chosen` (the result also says why fewer were chosen).

    Indices of up to `k` frames to annotate next; fewer than `k` (with a `FewerCandidatesWarning`) when not
    enough frames show the target.
    """
    warnings.warn(
        "suggest_frames() is deprecated since 0.3.0; use suggest_candidates(model, frames, references, k=...).chosen",
        DeprecationWarning,
        stacklevel=2,
    )
    result = suggest_candidates(
        model,
        frames,
        references,
        k=k,
        alpha=alpha,
        predicted_masks=predicted_masks,
        config=config,
        progress=progress,
        **options,
    )
    if result.reason is not None:
        logger.warning(result.reason)
        warnings.warn(result.reason, FewerCandidatesWarning, stacklevel=2)
    return list(result.chosen)
