"""Refining soft mattes that already exist, against their plate: folders in, folders out.

The mattes are named after the plate's frames (see `xmempp.io.matte_folders`); frames without a matte
are skipped, an object without a matte on a frame that has others counts as empty there. Mattes
of another size than the plate are upsampled bilinearly first. Results go to
`OUT/alpha/<id>/<stem>.png` (16-bit, or TIFF/EXR) through the shared result writer, and with
`foreground` to `OUT/foreground/<id>/<stem>.png` and `OUT/rgba/<id>/<stem>.exr` (its foreground
sink, `xmempp.io.foreground_files`, as `xmempp process` writes them).

Reading runs ahead of refining: a reader thread decodes the next frames and their mattes while the
refiner works on this one, and the result writer encodes on its own threads, so decoding, refining and
encoding overlap (the 16-bit 2K files are most of the work).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from xmempp.errors import InputError, Remedy, RemedyKind
from xmempp.io.frames import scene_linear_reader
from xmempp.io.matte_folders import find_matte_folders, read_soft_matte
from xmempp.io.sources import open_frames
from xmempp.io.writers import ResultWriter, WriterOptions, check_output_dir
from xmempp.refine.refiner import Refiner
from xmempp.refine.settings import RefineSettings

__all__ = ["READ_AHEAD", "RefineReport", "refine_folders"]

#: Frames decoded ahead of the one being refined.
READ_AHEAD = 2


@dataclass
class RefineReport:
    """What `refine_folders` did."""

    frames: int
    skipped: int
    objects: list[int]
    seconds: float

    @property
    def fps(self) -> float:
        """Frames refined and written per second, end to end."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def _frame_probs(mattes: dict[int, dict[str, Path]], stem: str, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    planes = []
    for per_stem in mattes.values():
        if stem not in per_stem:
            planes.append(np.zeros((h, w), np.float32))
            continue
        m = read_soft_matte(per_stem[stem])
        if m.shape != (h, w):
            m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
        planes.append(m)
    objects = np.stack(planes)
    return np.concatenate([np.clip(1 - objects.sum(0, keepdims=True), 0, 1), objects])


def refine_folders(
    plate: Path,
    matte_dir: Path,
    out: Path,
    settings: RefineSettings,
    *,
    matte_format: str = "png",
    foreground: bool = False,
    premultiplied: bool = True,
    overwrite: bool = False,
    device: str | torch.device | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RefineReport:
    """Refine every matte in `matte_dir` against the frames of `plate` and write the results to `out`.

    Arguments:
        plate: a frame folder, pattern or video (as `open_frames` takes it).
        matte_dir: one object's mattes, or one sub-folder per object id.
        out: output folder (checked like every result folder).
        settings: the refinement (mode `off` writes the mattes as read, resized to the plate).
        matte_format: "png" (16-bit), "tiff" (16-bit) or "exr" (half float).
        foreground: also write the decontaminated foreground and an RGBA EXR per object.
        premultiplied: the RGBA EXR's colour is premultiplied by alpha.
        overwrite: replace results written earlier.
        device: torch device (default: CPU).
        progress: called with (frames done, frames to do).
    Returns:
        A `RefineReport`. Raises `InputError` when no matte matches a frame of the plate.
    """
    options = WriterOptions(
        masks=False,
        alpha=True,
        alpha_bits=16,
        matte_format=matte_format,
        foreground=foreground,
        premultiplied=premultiplied,
    )
    mattes = find_matte_folders(matte_dir)
    frames = open_frames(plate)
    try:
        names = list(getattr(frames, "names", [str(i) for i in range(len(frames))]))
        wanted = [i for i, stem in enumerate(names) if any(stem in m for m in mattes.values())]
        if not wanted:
            raise InputError(
                f"no matte in {matte_dir} is named after a frame of {plate} (first frame: {names[0]})",
                remedy=Remedy(RemedyKind.FIX_INPUT, note="name each matte after its frame's file stem"),
            )
        check_output_dir(out, overwrite, inputs=(plate, matte_dir))
        ids = list(mattes)
        refiner = Refiner(settings, device)
        start = time.perf_counter()

        def read(index: int) -> tuple[np.ndarray, np.ndarray]:
            rgb = frames[index]
            return rgb, _frame_probs(mattes, names[index], rgb.shape[:2])

        with ResultWriter(out, None, ids, options) as writer, ThreadPoolExecutor(1, "xmempp-read") as reader:
            ahead: deque[Future] = deque(reader.submit(read, i) for i in wanted[:READ_AHEAD])
            for done, index in enumerate(wanted):
                if done + READ_AHEAD < len(wanted):
                    ahead.append(reader.submit(read, wanted[done + READ_AHEAD]))
                rgb, probs = ahead.popleft().result()
                refined = np.asarray(refiner(rgb, probs))
                info = frames.info(index) if hasattr(frames, "info") else None
                writer.submit(
                    names[index], rgb, refined, info, linear=scene_linear_reader(frames, index, rgb.shape[:2])
                )
                if progress is not None:
                    progress(done + 1, len(wanted))
        return RefineReport(len(wanted), len(names) - len(wanted), ids, time.perf_counter() - start)
    finally:
        frames.close()
