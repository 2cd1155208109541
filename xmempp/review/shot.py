"""Review a whole shot from its frames and mask files and write `qc.json` and `qc.html` (the front ends' one way)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from xmempp.inference.shot_folders import PlateOptions
from xmempp.io.frames import FrameSource
from xmempp.io.mask_labels import LabeledMask
from xmempp.review.report import write_qc_html, write_qc_json
from xmempp.review.reviewer import FrameReview, Reviewer, ReviewSettings

__all__ = ["QC_FILES", "review_results", "review_shot"]

#: The files a shot's review writes into its output folder.
QC_FILES = ("qc.json", "qc.html")


def review_shot(
    frames: FrameSource,
    masks: Mapping[int, LabeledMask],
    out: Path,
    *,
    keyframes: Mapping[int, np.ndarray] | None = None,
    title: str = "",
    source: dict | None = None,
    settings: ReviewSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[FrameReview], dict]:
    """Review every frame that has a mask and write OUT/qc.json and OUT/qc.html (atomically).

    Arguments:
        frames: the shot's frames.
        masks: frame index -> the mask to review (as `read_mask_folder` gives them).
        out: the folder qc.json and qc.html go into (created).
        keyframes: frame index -> the artist's index mask (trusted, the appearance reference).
        title: the shot's name on the contact sheet.
        source: what was reviewed, recorded in qc.json.
        settings: `ReviewSettings`.
        progress: called with (frames done, frames in all) as the forward pass goes.
    Returns:
        (the frames' reviews, the qc.json content). A frame is named as its mask file is (else as the frame).
    """
    order = sorted(masks)
    reviewer = Reviewer(settings, {i: k for i, k in (keyframes or {}).items() if i in masks})
    try:
        for done, index in enumerate(order, start=1):
            mask = masks[index]
            name = mask.path.stem if mask.path is not None and mask.path.is_file() else frames.names[index]
            reviewer.add(index, name, frames[index], mask.ids)
            if progress is not None:
                progress(done, len(order))
        reviews = reviewer.finish()
    finally:
        reviewer.close()  # an interrupted review's kept frames go at once
    out.mkdir(parents=True, exist_ok=True)
    data = write_qc_json(out / QC_FILES[0], reviews, source=source)
    write_qc_html(
        out / QC_FILES[1], reviews, title, lambda position: (frames[order[position]], masks[order[position]].ids)
    )
    return reviews, data


def review_results(
    video: Path,
    roto: Path,
    out: Path,
    plates: PlateOptions | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[FrameReview], dict]:
    """Review what `xmempp process` wrote into `out` (its masks/) against the frames, the roto as keyframes,
    and write OUT/qc.json and OUT/qc.html.

    Arguments:
        video: the shot's frames (as given to the run).
        roto: the artist's keyframes (the run's masks folder).
        out: the run's output folder.
        plates: the run's frame range, colour and roto options.
        progress: called with (frames done, frames in all).
    Returns:
        (the frames' reviews, the qc.json content).
    """
    plates = plates or PlateOptions()
    frames = plates.open_frames(video)
    try:
        results = plates.read_masks(out / "masks", frames)
        keyframes = {i: m.ids for i, m in plates.read_masks(roto, frames).items()}
        return review_shot(
            frames,
            results,
            out,
            keyframes=keyframes,
            title=Path(video).name,
            progress=progress,
            source={"video": str(video), "masks": str(out / "masks"), "keyframes": str(roto)},
        )
    finally:
        frames.close()
