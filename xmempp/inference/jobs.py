"""Shot jobs: the one propagation pipeline under every front end.

A `ShotJob` says what to run (frames, references, settings, which frames in which direction, where
results go); `prepare_job` checks it once and gives the `JobRun` (plan, objects, stems) a run
reads; `iter_job` steps the engine through it and yields each frame's result; `run_job` is
`iter_job` plus writing (`xmempp.inference.job_output`), with checkpoints as a wrapper around it
(`xmempp.inference.job_checkpoints`). The CLI, the GUI, the tracking service and batch runs all
call these; none owns a propagation loop or sets up writers itself.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from xmempp.inference.checkpoint import Checkpointer, CheckpointPolicy
from xmempp.inference.config import InferenceConfig
from xmempp.inference.guards import guard_job, written_range
from xmempp.inference.job_checkpoints import RunCheckpoints
from xmempp.inference.job_output import ResultCallback, open_writer, refine_stage_for, submit_result, write_results
from xmempp.inference.job_spec import (
    FrameResult,
    JobOutputs,
    JobRun,
    ShotJob,
    check_usage_counting,
    open_session,
    prepare_job,
)
from xmempp.inference.objects import ObjectOrder
from xmempp.inference.plan import DIRECTIONS, Direction, FramePlan, Mode, ProgressCallback, plan_frames
from xmempp.inference.session import InferenceSession, KeyListener
from xmempp.io.frame_capabilities import fps_of
from xmempp.io.frames import Frames, prefetch
from xmempp.model.network import XMemNetwork

__all__ = [
    "DIRECTIONS",
    "Direction",
    "FramePlan",
    "FrameResult",
    "JobOutputs",
    "JobReport",
    "JobRun",
    "Mode",
    "ProgressCallback",
    "ShotJob",
    "check_usage_counting",
    "iter_job",
    "open_session",
    "plan_frames",
    "prepare_job",
    "propagate",
    "run_job",
    "write_results",
]


@dataclass
class JobReport:
    """What a job did: frames stepped, seconds, and whether it ran to the end (not cancelled).

    `resumed_from`: frames a checkpoint had done before this run; `checkpoints`: the run's
    checkpointer (saves, seconds, last_bytes), None without checkpoints.
    """

    frames: int
    seconds: float
    completed: bool
    objects: ObjectOrder
    resumed_from: int = 0
    checkpoints: Checkpointer | None = None

    @property
    def fps(self) -> float:
        """Frames per second."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def iter_job(
    model: XMemNetwork,
    job: ShotJob | JobRun,
    *,
    session: InferenceSession | None = None,
    cancel: threading.Event | None = None,
    on_key_features: KeyListener | None = None,
    prefetch_depth: int = 4,
    start_at: int = 0,
) -> Generator[FrameResult, None, None]:
    """Step the engine through the job's frames and yield each result as it is ready.

    Arguments:
        model: a loaded network.
        job: the shot (or the `JobRun` prepared from it).
        session: a session already holding the job's references (default: `open_session`).
        cancel: set it to stop before the next frame.
        on_key_features: receives every stepped frame's key features.
        prefetch_depth: frames decoded ahead on a background thread (0: each frame is read on the
            caller's thread when it is due: to time decoding with the session's stage timer, or for
            frames that arrive one by one, e.g. a live tracker).
        start_at: frames of the plan to skip: `session` holds the state after stepping them
            (a session restored from a checkpoint).
    Returns:
        A generator of `FrameResult`, frames in plan order.
    """
    run = prepare_job(job)
    session = session or open_session(model, run)
    ids = run.objects.ids
    session.on_key_features = on_key_features
    for frames in run.plan.passes:
        skip, start_at = min(start_at, len(frames)), max(0, start_at - len(frames))
        if skip == len(frames):
            continue
        if skip == 0:
            session.clear_memory()
        reads = (run.job.frames[i] for i in frames[skip:])
        images: Generator[np.ndarray, None, None] = (
            prefetch(reads, depth=prefetch_depth) if prefetch_depth > 0 else reads
        )
        try:
            for position, (index, image) in enumerate(zip(frames[skip:], images), start=skip):
                if cancel is not None and cancel.is_set():
                    return
                probs = session.step(index, image, end=position == len(frames) - 1)
                yield FrameResult(index, image, _expand_channels(probs, session.object_ids, ids))
        finally:
            images.close()


def run_job(
    model: XMemNetwork,
    job: ShotJob | JobRun,
    *,
    progress: ProgressCallback | None = None,
    on_result: ResultCallback | None = None,
    cancel: threading.Event | None = None,
    session: InferenceSession | None = None,
    on_key_features: KeyListener | None = None,
    checkpoint: CheckpointPolicy | None = None,
    resume: bool = False,
    force_memory: bool = False,
    on_checkpoint: ProgressCallback | None = None,
) -> JobReport:
    """Run a job to the end (or until `cancel` is set), writing its outputs.

    Before the first frame the job's memory estimate is checked (`ResourceError` when the machine
    cannot hold it) and the output folder's lock is taken (`LockedError` naming the run holding it;
    a chunk locks its frames only); see `xmempp.inference.guards`.

    Arguments:
        model: a loaded network.
        job: the shot (or its `JobRun`); its `outputs` (if any) are checked before the first frame.
        progress: called after each frame with (done, total).
        on_result: called with each `FrameResult` (e.g. to save it in a workspace or stream it).
        cancel: set it to stop after the current frame; files written so far stay, each complete
            (and with `checkpoint`, a checkpoint is saved to resume from).
        session, on_key_features: as for `iter_job`.
        checkpoint: save checkpoints under `job.outputs.folder/.xmempp/` by this policy (needs
            `outputs`): at the start, when the policy says, when cancelled, and a small "completed"
            record at the end.
        resume: continue from the checkpoint in the output folder when there is one (refused with
            an `InputError` naming what changed when the job's inputs or settings differ, unless
            `outputs.overwrite`, which starts again; a finished job is not run again); without one,
            start from the beginning. Implies checkpoints
            (`CheckpointPolicy()` when `checkpoint` is None).
        force_memory: run (with an `XMemppWarning`) even when the memory estimate does not fit.
        on_checkpoint: called with (done, total) after each checkpoint saved mid-run.
    Returns:
        A `JobReport`; `resumed_from` says how many frames the checkpoint had done already.
    """
    run = prepare_job(job)
    with guard_job(model, run.job, force_memory):
        return _run(
            model, run, progress, on_result, cancel, session, on_key_features, checkpoint, resume, on_checkpoint
        )


def _run(
    model: XMemNetwork,
    run: JobRun,
    progress: ProgressCallback | None,
    on_result: ResultCallback | None,
    cancel: threading.Event | None,
    session: InferenceSession | None,
    on_key_features: KeyListener | None,
    checkpoint: CheckpointPolicy | None,
    resume: bool,
    on_checkpoint: ProgressCallback | None,
) -> JobReport:
    """`run_job` once the job holds its output folder."""
    total = run.total
    checkpoints = RunCheckpoints.open(model, run, checkpoint, resume)
    if checkpoints is not None and checkpoints.finished:
        return JobReport(0, 0.0, True, run.objects, resumed_from=total)
    start = checkpoints.start if checkpoints is not None else 0
    started = time.perf_counter()
    if checkpoints is not None:
        session = checkpoints.session(model, run, session)
    outputs = run.job.outputs
    fps = fps_of(run.job.frames)
    # a resumed run replaces its own results; a chunk shares its folder with the shot's other chunks
    resuming = (checkpoints is not None and checkpoints.restored is not None) or written_range(run.job) is not None
    writer = open_writer(outputs, run.objects, fps, resuming=resuming) if outputs is not None else None
    stage = refine_stage_for(outputs, run.objects)
    done = 0
    with writer if writer is not None else contextlib.nullcontext():
        if checkpoints is not None and session is not None:
            checkpoints.begin(session)
            if writer is not None and outputs is not None and outputs.options.preview and start:
                for index in run.plan.order()[:start]:
                    writer.submit_written(run.stems[index], run.job.frames[index])
        if start and progress is not None:
            progress(start, total)
        for result in iter_job(
            model, run, session=session, cancel=cancel, on_key_features=on_key_features, start_at=start
        ):
            if writer is not None and outputs is not None:
                submit_result(writer, outputs, result, run.stems, run.job.frames, stage)
            if on_result is not None:
                on_result(result)
            done += 1
            if checkpoints is not None and session is not None:
                saves = checkpoints.checkpointer.saves
                checkpoints.after_frame(writer, session, start + done, total)
                if on_checkpoint is not None and checkpoints.checkpointer.saves > saves:
                    on_checkpoint(start + done, total)
            if progress is not None:
                progress(start + done, total)
        if checkpoints is not None and session is not None and start + done < total:
            checkpoints.save(writer, session, start + done)
            if on_checkpoint is not None:
                on_checkpoint(start + done, total)
    if checkpoints is not None and start + done == total:
        checkpoints.complete(total)
    return JobReport(
        done,
        time.perf_counter() - started,
        start + done == total,
        run.objects,
        resumed_from=start,
        checkpoints=checkpoints.checkpointer if checkpoints is not None else None,
    )


def propagate(
    model: XMemNetwork,
    frames: Frames,
    references: Mapping[int, np.ndarray],
    config: InferenceConfig | None = None,
    mode: Mode | str = Mode.XMEMPP,
) -> Iterator[tuple[int, torch.Tensor | np.ndarray]]:
    """Propagate reference masks through every frame, yielding results as they are ready.

    Arguments:
        model: a loaded XMemNetwork.
        frames: sequence of HxWx3 uint8 RGB frames, read by index within `len` (may decode lazily).
        references: frame index -> HxW uint8 index mask (0 = background).
        config: inference settings (XMem++ defaults when None).
        mode: "xmempp" (all references in permanent memory) or "xmem" (original mechanism).
    Returns:
        A generator of (frame_index, probs) with probs (1+K, H, W) float32 at the input
        resolution, K = every object in `references`: background first, then the objects in order
        of first appearance (reference frames ascending, ids ascending within a frame). Every
        frame has all 1+K channels. In "xmem" mode an object is known only from the frame where
        its first reference is met, so its channel is all zeros on the frames stepped before
        that (the background and known objects sum to 1 there).
    """
    job = ShotJob(frames, references, config or InferenceConfig(), mode)
    for result in iter_job(model, job):
        yield result.index, result.probs


def _expand_channels(probs: torch.Tensor, known: Sequence[int], all_ids: Sequence[int]) -> torch.Tensor:
    """Place the session's channels into the full object order, zero for objects not yet known."""
    if list(known) == list(all_ids):
        return probs
    full = torch.zeros(1 + len(all_ids), *probs.shape[1:], dtype=probs.dtype)
    full[0] = probs[0]
    for channel, object_id in enumerate(known, start=1):
        full[1 + list(all_ids).index(object_id)] = probs[channel]
    return full
