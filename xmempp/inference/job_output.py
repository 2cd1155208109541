"""Writing a job's frame results: the output folder checked once, results resized and numbered
like their frames, and queued on the threaded `ResultWriter`."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from xmempp.inference.job_spec import FrameResult, JobOutputs
from xmempp.inference.objects import ObjectOrder
from xmempp.inference.plan import ProgressCallback
from xmempp.inference.refine_stage import RefineStage
from xmempp.io.atomic import remove_leftovers
from xmempp.io.frames import Frames, scene_linear_reader
from xmempp.io.lock import folder_lock, others_running
from xmempp.io.sequences import frame_info
from xmempp.io.sinks import Sink
from xmempp.io.writers import ResultWriter, check_output_dir

__all__ = ["ResultCallback", "open_writer", "refine_stage_for", "submit_result", "write_results"]

#: Called with each frame's result.
ResultCallback = Callable[[FrameResult], None]


def open_writer(
    out: JobOutputs, objects: ObjectOrder, fps: float | None, resuming: bool = False, extra_sinks: Sequence[Sink] = ()
) -> ResultWriter:
    """Check the output folder (a resumed run may replace its own results), clear a killed run's
    leftovers, and start the writer.

    Arguments:
        out: where and what to write.
        objects: the original id of every probability channel.
        fps: frame rate of the preview video, if known.
        resuming: the run continues from a checkpoint (its own results are not refused).
        extra_sinks: outputs beyond the writer options' (Cryptomatte, refined mattes, ...).
    Returns:
        The started `ResultWriter` (use it as a context manager).
    """
    check_output_dir(out.folder, overwrite=out.overwrite or resuming, preview=out.options.preview, inputs=out.inputs)
    if not others_running(out.folder):  # a chunk running beside this one may have files in flight
        remove_leftovers(out.folder)
    if out.options.preview:
        preview = Path(out.options.preview)
        remove_leftovers(preview.parent, recursive=False, name=preview.name)
    options = dataclasses.replace(out.options, preview_fps=fps) if fps else out.options
    return ResultWriter(out.folder, out.palette, list(objects.ids), options, extra_sinks)


def refine_stage_for(outputs: JobOutputs | None, objects: ObjectOrder) -> RefineStage | None:
    """The job's refine stage (refinement, soft keyframes), or None when it would change nothing."""
    if outputs is None:
        return None
    stage = RefineStage(outputs.refine, list(objects.ids), outputs.keyframe_mattes)
    return stage if stage.active else None


def submit_result(
    writer: ResultWriter,
    outputs: JobOutputs,
    result: FrameResult,
    stems: Sequence[str],
    frames: Frames | None,
    stage: RefineStage | None = None,
) -> None:
    """Queue one result for writing: resized to `outputs.size` if set, through the refine `stage` if any,
    named and numbered like its frame."""
    probs, image = result.probs, result.image
    size = tuple(probs.shape[1:])
    if outputs.size is not None and size != tuple(outputs.size):
        probs, image = _resize(probs, image, outputs.size)
        size = tuple(outputs.size)
    if stage is not None:
        probs = stage(result.index, image, probs)
    info = frame_info(frames, result.index) if frames is not None else None
    writer.submit(stems[result.index], image, probs, info, linear=scene_linear_reader(frames, result.index, size))


def write_results(
    results: Iterable[FrameResult],
    outputs: JobOutputs | None,
    objects: ObjectOrder,
    stems: Sequence[str],
    *,
    fps: float | None = None,
    total: int | None = None,
    progress: ProgressCallback | None = None,
    on_result: ResultCallback | None = None,
    cancel: threading.Event | None = None,
    frames: Frames | None = None,
) -> int:
    """Write a stream of frame results that a front end already holds (the GUI exporting saved masks).

    Arguments:
        results: frame results, probs channels in `objects` order.
        outputs: where and what to write (checked before the first frame), or None to write nothing.
        objects: the original object id of every probability channel.
        stems: output file stem per frame index.
        fps: frame rate of the preview video (default: that of `outputs.options`).
        total: frames expected, for `progress` (default: len(stems)).
        progress: called after each frame with (done, total).
        on_result: called with each result after it is queued for writing.
        cancel: set it to stop before the next frame; files written so far stay, each complete.
        frames: the source, whose frame numbers (and plate windows) outputs keep, if any.
    Returns:
        Frames written (or passed through when `outputs` is None).
    """
    total = len(stems) if total is None else total
    lock = folder_lock(outputs.folder, force=outputs.force_unlock) if outputs is not None else contextlib.nullcontext()
    with lock:
        return _write_all(results, outputs, objects, stems, fps, total, progress, on_result, cancel, frames)


def _write_all(results, outputs, objects, stems, fps, total, progress, on_result, cancel, frames) -> int:
    """`write_results` once it holds the output folder."""
    writer = open_writer(outputs, objects, fps) if outputs is not None else None
    stage = refine_stage_for(outputs, objects)
    done = 0
    with writer if writer is not None else contextlib.nullcontext():
        for result in _until_cancelled(results, cancel):
            if writer is not None and outputs is not None:
                submit_result(writer, outputs, result, stems, frames, stage)
            if on_result is not None:
                on_result(result)
            done += 1
            if progress is not None:
                progress(done, total)
    return done


def _until_cancelled(results: Iterable[FrameResult], cancel: threading.Event | None) -> Iterator[FrameResult]:
    for result in results:
        if cancel is not None and cancel.is_set():
            return
        yield result


def _resize(
    probs: torch.Tensor | np.ndarray, image: np.ndarray | None, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities (bilinear, per channel) and the frame resized to (height, width) `size`."""
    h, w = size
    probs = probs.numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
    big = np.stack(
        [cv2.resize(np.ascontiguousarray(c, dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR) for c in probs]
    )
    if image is not None:
        image = cv2.resize(np.ascontiguousarray(image), (w, h), interpolation=cv2.INTER_LINEAR)
    return big, image
