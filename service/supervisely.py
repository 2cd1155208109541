"""A Supervisely-compatible mask tracker: ``predict(frames, input_mask) -> masks``.

Supervisely serves video object segmentation models as `sly.nn.inference.MaskTracking` apps whose
``predict(frames, input_mask)`` gets the frames of a "Track" request (the first one annotated) and a
multilabel mask of the first frame (0 = background, 1..N = objects), and returns one multilabel
mask per frame. `XMemppMaskTracker` implements that method (and ``load_on_device``) on the engine
of `xmempp serve`, so a Supervisely app is::

    import supervisely as sly
    from xmempp.service.supervisely import XMemppMaskTracker

    class XMemppTracking(XMemppMaskTracker, sly.nn.inference.MaskTracking):
        pass

    XMemppTracking().serve()

Without Supervisely, `track_masks` is the same computation as a plain function.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xmempp.errors import InputError
from xmempp.inference.config import InferenceConfig
from xmempp.inference.jobs import ShotJob, run_job
from xmempp.io.writers import probs_to_ids

from .scheduler import Scheduler


def track_masks(
    engine: Scheduler,
    frames: Sequence[np.ndarray],
    input_mask: np.ndarray,
    config: InferenceConfig | None = None,
    mode: str = "xmempp",
) -> list[np.ndarray]:
    """Propagate the first frame's multilabel mask through `frames`.

    Arguments:
        engine: the network and its work queue.
        frames: HxWx3 uint8 RGB frames; the first is the annotated one.
        input_mask: HxW integer mask of the first frame, 0 = background, other values = objects.
        config: inference settings (XMem++ defaults when None).
        mode: "xmempp" or "xmem".
    Returns:
        One HxW uint8 mask per frame with the input's object values (the first is the input mask).
    """
    if len(frames) == 0:
        raise InputError("no frames to track")
    mask = np.asarray(input_mask)
    if mask.ndim != 2 or mask.min() < 0 or mask.max() > 255:
        raise InputError(f"input_mask must be an HxW array of object values 0..255, got shape {mask.shape}")
    if not mask.any():  # nothing to track: every frame is background
        return [np.zeros(mask.shape, dtype=np.uint8) for _ in frames]
    if len(frames) == 1:  # only the annotated frame: its mask is the user's (a job plans no step for it)
        return [mask.astype(np.uint8)]
    job = ShotJob(frames, {0: mask.astype(np.uint8)}, config or InferenceConfig(), mode, direction="forward", start=0)
    masks: list[np.ndarray] = []
    objects = job.objects.ids

    def keep(result) -> None:
        masks.append(probs_to_ids(result.probs.numpy(), objects))

    engine.submit(lambda: run_job(engine.model, job, on_result=keep), interactive=False).result()
    return masks


class XMemppMaskTracker:
    """The two methods of Supervisely's `MaskTracking` model interface, on xmempp's engine.

    Attributes:
        config: inference settings used by `predict` (XMem++ defaults, processing size 480).
        weights: checkpoint path; None means `model_dir/XMem.pth` if present, else the official file.
    """

    config: InferenceConfig = InferenceConfig()
    weights: Path | None = None
    engine: Scheduler | None = None

    def load_on_device(self, model_dir: str | None = None, device: str = "cpu") -> None:
        """Load the network on `device` (Supervisely's `BaseTracking.__init__` calls it with "cuda" and, on a
        `RuntimeError`, again with "cpu").

        Arguments:
            model_dir: folder that may hold `XMem.pth` (None: `weights`, else the official file).
            device: "cpu", "cuda", "cuda:N" or "mps"; a device this host lacks raises `RuntimeError`.
        """
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} asked for, but this host has no CUDA device")
        if device == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("device 'mps' asked for, but this host has no MPS device")
        candidate = Path(model_dir) / "XMem.pth" if model_dir else None
        weights = self.weights or (candidate if candidate is not None and candidate.is_file() else None)
        self.engine = Scheduler.load(weights, device)

    def predict(self, frames: list[np.ndarray], input_mask: np.ndarray) -> list[np.ndarray]:
        """One multilabel mask per frame, tracking the objects of `input_mask` (the first frame's mask)."""
        if self.engine is None:
            raise InputError("the model is not loaded; call load_on_device first")
        return track_masks(self.engine, frames, input_mask, self.config)
