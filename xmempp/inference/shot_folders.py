"""A shot on disk (plate, annotation folder, output folder) turned into a `ShotJob`.

`xmempp process` and `xmempp batch` both start here, so frames, masks and the output folder are
opened and checked the same way for one shot or for hundreds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from xmempp.errors import ConfigError, InputError, OutputError, Remedy, RemedyKind
from xmempp.inference.config import InferenceConfig
from xmempp.inference.guards import written_range
from xmempp.inference.jobs import JobOutputs, ShotJob
from xmempp.inference.plan import Mode
from xmempp.io.colour import ColourOptions
from xmempp.io.frames import FrameSource, range_indices
from xmempp.io.lock import check_unlocked
from xmempp.io.masks import LabeledMask, object_names, output_palette, read_mask_folder
from xmempp.io.sequences import parse_frame_range
from xmempp.io.sources import open_frames
from xmempp.io.writers import WriterOptions, check_output_dir
from xmempp.refine.settings import RefineSettings
from xmempp.types import PathLike

__all__ = ["PlateOptions", "check_plate_options", "open_shot_job"]


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

    frames: str | None = None
    colorspace: str | None = None
    display: str | None = None
    view: str | None = None
    layer: str | None = None
    start_frame: int | None = None
    mask_threshold: float = 0.5
    mask_channel: str | None = None

    def open_frames(self, video: Path) -> FrameSource:
        """Open the frames (folder, pattern or video) with these options."""
        colour = None
        if self.colorspace or self.display or self.view:
            colour = ColourOptions(self.colorspace, self.display, self.view)
        frame_range = parse_frame_range(self.frames) if self.frames is not None else None
        source = open_frames(video, frames=frame_range, colour=colour, layer=self.layer, start_frame=self.start_frame)
        if self.start_frame is not None and not source.is_video:
            source.close()
            raise InputError(
                "a start frame numbers the frames of a video; a sequence keeps its own numbers",
                remedy=Remedy(RemedyKind.SET, "frames", note="(to pick a range of the sequence)"),
            )
        return source

    def chunk_of(self, source: FrameSource) -> tuple[int | None, int | None]:
        """Where the `frames` range lies in the whole sequence `source`: (start index, count), or
        (None, None) without a range. Raises `InputError` naming frames of the range that `source` lacks."""
        if self.frames is None:
            return None, None
        return range_indices(source, *parse_frame_range(self.frames))

    def read_masks(self, masks: Path, frames: FrameSource, notices: list[str] | None = None) -> dict[int, LabeledMask]:
        """Read and pair the keyframe masks of `frames` (notices: roto scaled or not used)."""
        windows = None
        if hasattr(frames, "info"):
            infos = [frames.info(i) for i in range(len(frames))]
            if any(info.data_window != info.display_window for info in infos):
                windows = [(info.data_window, info.display_window) for info in infos]
        return read_mask_folder(
            masks,
            frames.names,
            frames.size,
            by_index=frames.is_video,
            frame_numbers=frames.frame_numbers,
            threshold=self.mask_threshold,
            channel=self.mask_channel,
            windows=windows,
            notices=notices,
        )


def check_plate_options(plates: PlateOptions) -> None:
    """Check what can be checked without the files: the frame range and the mask threshold.

    Arguments:
        plates: the options.
    Returns:
        None. Raises `InputError` for a malformed range and `ConfigError` for a threshold outside 0..1.
    """
    if plates.frames is not None:
        parse_frame_range(plates.frames)
    if not 0.0 <= plates.mask_threshold <= 1.0:
        raise ConfigError(f"mask_threshold must be between 0 and 1, not {plates.mask_threshold}")


def open_shot_job(
    plate: PathLike,
    masks: PathLike,
    out: PathLike,
    config: InferenceConfig,
    mode: Mode | str = Mode.XMEMPP,
    options: WriterOptions | None = None,
    overwrite: bool = False,
    plates: PlateOptions | None = None,
    resume: bool = False,
    notices: list[str] | None = None,
    refine: RefineSettings | None = None,
    force_unlock: bool = False,
) -> ShotJob:
    """Open a shot's frames and masks, check its output folder, and describe the job.

    With a frame range (`plates.frames`) the job is a chunk: the whole sequence is opened, every
    keyframe of the annotation folder (inside the range or not) goes into permanent memory, and
    only the frames of the range are stepped and written. Chunks of one shot may write into one
    output folder (each refuses only results of its own frames).

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
        force_unlock: take over the output folder's lock from another run.
    Returns:
        A `ShotJob` over every frame, writing to `out`; close its `frames` when done. Raises `InputError` for
        unreadable frames or masks and `OutputError` when `out` cannot take the results.
    """
    options = options or WriterOptions()
    plates = plates or PlateOptions()
    frames = dataclasses.replace(plates, frames=None).open_frames(Path(plate))
    try:
        start, count = plates.chunk_of(frames)
        references = plates.read_masks(Path(masks), frames, notices)
        names = {**object_names(references), **options.object_names}
        if names != dict(options.object_names):
            options = dataclasses.replace(options, object_names=names)
        source = Path(plate)
        inputs = (Path(masks),) if frames.is_video else (Path(masks), source if source.is_dir() else source.parent)
        soft = {i: m.soft for i, m in references.items() if m.soft is not None}
        job = ShotJob(
            frames,
            {i: m.ids for i, m in references.items()},
            config,
            mode,
            start=start,
            count=count,
            outputs=JobOutputs(
                Path(out),
                options,
                output_palette(references),
                overwrite,
                inputs=inputs,
                force_unlock=force_unlock,
                refine=refine or RefineSettings(),
                keyframe_mattes=soft,
            ),
        )
        chunk = written_range(job)
        check_unlocked(out, chunk, force=force_unlock)
        if chunk is not None:
            _check_chunk_outputs(job, overwrite or resume)
        check_output_dir(
            out,
            overwrite=overwrite or resume or chunk is not None,
            preview=options.preview,
            inputs=inputs,
            create=False,
        )
    except BaseException:
        frames.close()
        raise
    return job


def _check_chunk_outputs(job: ShotJob, replace: bool) -> None:
    """A chunk refuses a preview video (it belongs to a whole shot) and, unless it may replace them,
    index masks of its own frames already in the folder (other chunks' frames are theirs)."""
    outputs = job.outputs
    assert outputs is not None
    if outputs.options.preview:
        raise ConfigError(
            "a preview video covers a whole shot; a frame range (a chunk) cannot write one",
            remedy=Remedy(RemedyKind.SET, "preview", note="off for chunks"),
        )
    if replace:
        return
    stems = job.stems()
    taken = [stems[i] for i in job.plan().passes[0] if (outputs.folder / "masks" / f"{stems[i]}.png").exists()]
    if taken:
        raise OutputError(
            f"output folder {outputs.folder} already holds results of frames in this range "
            f"({', '.join(taken[:3])}{' ...' if len(taken) > 3 else ''})",
            remedy=Remedy(RemedyKind.ENABLE, "overwrite"),
        )
