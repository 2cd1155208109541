"""A shot on disk (plate, annotation folder, output folder) turned into a `ShotJob`.

`xmempp process` and `xmempp batch` both start here, so frames, masks and the output folder are
opened and checked the same way for one shot or for hundreds.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from xmempp.errors import InputError, Remedy, RemedyKind
from xmempp.inference.config import InferenceConfig
from xmempp.inference.jobs import JobOutputs, ShotJob
from xmempp.io.colour import ColourOptions
from xmempp.io.frames import FrameSource, open_frames
from xmempp.io.masks import LabeledMask, object_names, output_palette, read_mask_folder
from xmempp.io.sequences import parse_frame_range
from xmempp.io.writers import WriterOptions, check_output_dir
from xmempp.refine.settings import RefineSettings
from xmempp.types import PathLike

__all__ = ["PlateOptions", "open_shot_job"]


@dataclass(frozen=True)
class PlateOptions:
    """How frames and masks are read.

    Attributes:
        frames: "FIRST-LAST" range, or None.
        colorspace, display, view: colour settings (None = defaults).
        layer: EXR layer or part.
        start_frame: a video's first frame number.
        mask_threshold: soft-mask threshold.
        mask_channel: the EXR channel holding the roto (default: the only one, else A / mask).
    """

    frames: Optional[str] = None
    colorspace: Optional[str] = None
    display: Optional[str] = None
    view: Optional[str] = None
    layer: Optional[str] = None
    start_frame: Optional[int] = None
    mask_threshold: float = 0.5
    mask_channel: Optional[str] = None

    def open_frames(self, video: Path) -> FrameSource:
        """Open the frames (folder, pattern or video) with these options."""
        colour = None
        if self.colorspace or self.display or self.view:
            colour = ColourOptions(self.colorspace, self.display, self.view)
        frame_range = parse_frame_range(self.frames) if self.frames is not None else None
        source = open_frames(video, frames=frame_range, colour=colour, layer=self.layer,
                             start_frame=self.start_frame)
        if self.start_frame is not None and not source.is_video:
            source.close()
            raise InputError("a start frame numbers the frames of a video; a sequence keeps its own numbers",
                             remedy=Remedy(RemedyKind.SET, "frames", note="(to pick a range of the sequence)"))
        return source

    def read_masks(self, masks: Path, frames: FrameSource,
                   notices: Optional[list[str]] = None) -> dict[int, LabeledMask]:
        """Read and pair the keyframe masks of `frames` (notices: roto scaled or not used)."""
        windows = None
        if hasattr(frames, "info"):
            infos = [frames.info(i) for i in range(len(frames))]
            if any(info.data_window != info.display_window for info in infos):
                windows = [(info.data_window, info.display_window) for info in infos]
        return read_mask_folder(masks, frames.names, frames.size, by_index=frames.is_video,
                                frame_numbers=frames.frame_numbers, threshold=self.mask_threshold,
                                channel=self.mask_channel, windows=windows, notices=notices)


def open_shot_job(plate: PathLike, masks: PathLike, out: PathLike, config: InferenceConfig, mode: str = "xmempp",
                  options: WriterOptions | None = None, overwrite: bool = False,
                  plates: Optional[PlateOptions] = None, resume: bool = False,
                  notices: Optional[list[str]] = None, refine: Optional[RefineSettings] = None) -> ShotJob:
    """Open a shot's frames and masks, check its output folder, and describe the whole-shot job.

    Arguments:
        plate: folder of frames, a frame pattern, or a video file.
        masks: folder of annotation images paired with their frames (by stem, else frame number).
        out: output folder of the results (not created here: a run that fails before its first
            frame leaves no empty folder).
        config: inference settings.
        mode: "xmempp" or "xmem".
        options: which results to write (default: index PNGs only).
        overwrite: allow replacing results xmempp wrote earlier in `out`.
        plates: how frames and masks are read (range, colour, layer, start frame, threshold).
        resume: the run continues from a checkpoint in `out` (its own results are not refused).
        notices: receives a line for roto that was scaled or not used.
        refine: refinement of the mattes against the plate (default off); soft keyframes are written as
            the artist's mattes either way.
    Returns:
        A `ShotJob` over every frame, writing to `out`; close its `frames` when done. Raises `InputError` for
        unreadable frames or masks and `OutputError` when `out` cannot take the results.
    """
    options = options or WriterOptions()
    plates = plates or PlateOptions()
    frames = plates.open_frames(Path(plate))
    try:
        references = plates.read_masks(Path(masks), frames, notices)
        source = Path(plate)
        inputs = (Path(masks),) if frames.is_video else (Path(masks), source if source.is_dir() else source.parent)
        check_output_dir(out, overwrite=overwrite or resume, preview=options.preview, inputs=inputs, create=False)
    except BaseException:
        frames.close()
        raise
    names = {**object_names(references), **options.object_names}
    if names != dict(options.object_names):
        options = dataclasses.replace(options, object_names=names)
    soft = {i: m.soft for i, m in references.items() if m.soft is not None}
    return ShotJob(frames, {i: m.ids for i, m in references.items()}, config, mode,
                   outputs=JobOutputs(Path(out), options, output_palette(references), overwrite, inputs=inputs,
                                      refine=refine or RefineSettings(), keyframe_mattes=soft),
                   soft_references=soft)
