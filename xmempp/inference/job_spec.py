"""What a job is (`ShotJob`, `JobOutputs`) and the same job prepared once for a run (`JobRun`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from xmempp.errors import ConfigError, InputError
from xmempp.inference.config import InferenceConfig
from xmempp.inference.objects import ObjectOrder
from xmempp.inference.plan import Direction, FramePlan, Mode, plan_frames
from xmempp.inference.session import InferenceSession
from xmempp.io.frame_capabilities import names_of
from xmempp.io.frames import Frames
from xmempp.io.writers import WriterOptions
from xmempp.model.network import XMemNetwork
from xmempp.refine.settings import RefineSettings

__all__ = ["FrameResult", "JobOutputs", "JobRun", "ShotJob", "check_usage_counting", "open_session", "prepare_job"]


@dataclass
class JobOutputs:
    """Where and what a job writes (see `xmempp.io.writers`).

    Attributes:
        folder: output folder (`masks/`, `alpha/`, ...).
        options: which results to write.
        palette: palette of the index PNGs (the input masks'), or None for grayscale.
        overwrite: allow replacing results xmempp wrote earlier in `folder`.
        size: (height, width) results are resized to before writing (e.g. the source size of a
            workspace imported smaller), or None to write them at the frames' size.
        inputs: input folders (frames, masks) that `folder` must not overlap.
        force_unlock: take over the folder's lock even when another run (maybe on a lost host) holds it.
        refine: refinement of the mattes against the full-resolution frame (`xmempp.refine`; off by default).
        keyframe_mattes: frame index -> {object id: HxW soft matte}: the artist's soft keyframes, written
            as they are on their frames (`xmempp.io.soft_keyframes`).
    """

    folder: Path
    options: WriterOptions = field(default_factory=WriterOptions)
    palette: np.ndarray | None = None
    overwrite: bool = False
    size: tuple[int, int] | None = None
    inputs: tuple[Path, ...] = ()
    force_unlock: bool = False
    refine: RefineSettings = field(default_factory=RefineSettings)
    keyframe_mattes: Mapping[int, Mapping[int, np.ndarray]] = field(default_factory=dict)


@dataclass
class ShotJob:
    """One shot to propagate.

    Attributes:
        frames: the shot's frames, HxWx3 uint8 RGB, read by index within `len` (a frame source).
        references: frame index -> HxW uint8 mask of original object ids (0 = background).
        config: inference settings.
        mode: a `Mode` (or its name): "xmempp" (every reference in permanent memory) or "xmem".
        direction, start, count: which frames, see `plan_frames`.
        names: output file stem per frame (default: the source's `names`, else the index).
        outputs: where results are written by `run_job`, or None to write nothing (the artist's soft
            keyframe mattes, written as they are at their frames, are `outputs.keyframe_mattes`).
    """

    frames: Frames
    references: Mapping[int, np.ndarray]
    config: InferenceConfig = field(default_factory=InferenceConfig)
    mode: str | Mode = Mode.XMEMPP
    direction: str | Direction = Direction.SHOT
    start: int | None = None
    count: int | None = None
    names: Sequence[str] | None = None
    outputs: JobOutputs | None = None

    @property
    def objects(self) -> ObjectOrder:
        """The shot's objects in channel order (scans the references: a `JobRun` keeps it)."""
        return ObjectOrder.from_masks(self.references)

    def plan(self) -> FramePlan:
        """The frames this job steps through."""
        return plan_frames(len(self.frames), sorted(self.references), self.direction, self.start, self.count)

    def stems(self) -> Sequence[str]:
        """Output file stem of every frame."""
        if self.names is not None:
            return self.names
        names = names_of(self.frames)
        return names if names is not None else [f"{i:05d}" for i in range(len(self.frames))]


@dataclass(frozen=True)
class JobRun:
    """A `ShotJob` checked and prepared once: its plan, objects and output stems.

    Build it with `prepare_job`; `iter_job`, `run_job`, checkpoints and the memory guard all read
    these instead of recomputing them.
    """

    job: ShotJob
    plan: FramePlan
    objects: ObjectOrder
    stems: Sequence[str]

    @property
    def total(self) -> int:
        """Frames stepped over all passes."""
        return self.plan.total


def prepare_job(job: ShotJob | JobRun) -> JobRun:
    """Check a job once and compute what a run needs (a `JobRun` is returned as it is).

    Arguments:
        job: the shot.
    Returns:
        The `JobRun`. Raises `InputError` when the references cannot drive a propagation of these
        frames and `ConfigError` for settings that cannot work.
    """
    if isinstance(job, JobRun):
        return job
    total = len(job.frames)
    if not job.references:
        raise InputError("no reference masks given: annotate at least one frame")
    outside = sorted(f for f in job.references if not 0 <= f < total)
    if outside:
        raise InputError(f"reference frame(s) {outside} outside the clip of {total} frames")
    try:
        Mode(job.mode)
    except ValueError:
        raise ConfigError(f"unknown mode {job.mode!r}; use one of {', '.join(m.value for m in Mode)}") from None
    objects = job.objects
    if not len(objects):
        raise InputError("the reference masks contain no objects (every pixel is 0)")
    job.config.validate()
    check_usage_counting(job.config, total)
    return JobRun(job, job.plan(), objects, job.stems())


def open_session(model: XMemNetwork, job: ShotJob | JobRun) -> InferenceSession:
    """A session with the job's references added in ascending frame order (the canonical state)."""
    run = prepare_job(job)
    session = InferenceSession(model, run.job.config, run.job.mode)
    for frame in sorted(run.job.references):
        session.add_reference(frame, run.job.frames[frame], run.job.references[frame])
    return session


def check_usage_counting(config: InferenceConfig, frames: int) -> None:
    """Reject `enable_long_term_count_usage=False` where long-term memory can fill.

    Without usage counts long-term memory cannot evict (the reference fails there too); the
    reference turns counting off only when `frames / (max_mid_term_frames - min_mid_term_frames)
    * num_prototypes < max_long_term_elements`, which guarantees it never fills.

    Arguments:
        config: inference settings.
        frames: frames per pass (at most the shot's length).
    Returns:
        None. Raises `ConfigError` when counting is off and memory could fill.
    """
    if not config.enable_long_term or config.enable_long_term_count_usage:
        return
    consolidations = frames / (config.max_mid_term_frames - config.min_mid_term_frames)
    if consolidations * config.num_prototypes >= config.max_long_term_elements:
        raise ConfigError(
            f"enable_long_term_count_usage is false, but on {frames} frames long-term memory can reach "
            f"max_long_term_elements ({config.max_long_term_elements}) and must then evict its least used "
            "elements, which needs usage counts: set enable_long_term_count_usage to true (or raise "
            "max_long_term_elements)"
        )


@dataclass
class FrameResult:
    """One stepped frame.

    Attributes:
        index: frame index in the shot.
        image: the HxWx3 uint8 RGB frame (None where a caller of `write_results` writes no overlays).
        probs: (1+K)xHxW float32 probabilities at the frame's resolution, background first, objects
            in the job's `objects` order (zero for an object not yet met in "xmem" mode).
    """

    index: int
    image: np.ndarray | None
    probs: torch.Tensor | np.ndarray
