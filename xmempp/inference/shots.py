"""A shot on disk (plate, annotation folder, output folder) turned into a `ShotJob`.

`xmempp process` and `xmempp batch` both start here, so frames, masks and the output folder are
opened and checked the same way for one shot or for hundreds.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from xmempp.inference.config import InferenceConfig
from xmempp.inference.jobs import JobOutputs, ShotJob
from xmempp.io.frames import open_frames
from xmempp.io.masks import output_palette, read_mask_folder
from xmempp.io.writers import WriterOptions, check_output_dir

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["open_shot_job"]


def open_shot_job(plate: PathLike, masks: PathLike, out: PathLike, config: InferenceConfig, mode: str = "xmempp",
                  options: WriterOptions | None = None, overwrite: bool = False) -> ShotJob:
    """Open a shot's frames and masks, check its output folder, and describe the whole-shot job.

    Arguments:
        plate: folder of frames or a video file.
        masks: folder of annotation PNGs named after their frames (by frame number for a video).
        out: output folder of the results.
        config: inference settings.
        mode: "xmempp" or "xmem".
        options: which results to write (default: index PNGs only).
        overwrite: allow replacing results already in `out`.
    Returns:
        A `ShotJob` over every frame, writing to `out`; close its `frames` when done. Raises `InputError` for unreadable frames
        or masks and `OutputError` when `out` cannot take the results.
    """
    options = options or WriterOptions()
    frames = open_frames(plate)
    try:
        references = read_mask_folder(masks, frames.names, frames.size, by_index=frames.is_video)
        check_output_dir(out, overwrite=overwrite, preview=options.preview)
    except BaseException:
        frames.close()
        raise
    return ShotJob(frames, {i: m.ids for i, m in references.items()}, config, mode,
                   outputs=JobOutputs(Path(out), options, output_palette(references), overwrite))
