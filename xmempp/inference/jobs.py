"""Shot jobs: the one propagation pipeline under every front end.

A `ShotJob` says what to run (frames, references, settings, which frames in which direction, where
results go); `iter_job` steps the engine through it and yields each frame's result; `run_job`
does the same and writes the results, reporting progress and honouring cancellation. The CLI, the
GUI, the tracking service and batch runs all call these; none owns a propagation loop or sets up
writers itself.
"""
from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Optional, Sequence

import cv2
import numpy as np
import torch

from xmempp.errors import ConfigError, InputError, OutputError
from xmempp.inference.checkpoint import (Checkpoint, Checkpointer, CheckpointPolicy, checkpoint_path,
                                         fingerprint_changes, job_fingerprint, load_checkpoint)
from xmempp.inference.config import InferenceConfig
from xmempp.inference.guards import guard_job, written_range
from xmempp.inference.objects import ObjectOrder
from xmempp.inference.session import InferenceSession, KeyListener
from xmempp.io.atomic import remove_leftovers
from xmempp.io.frames import Frames, prefetch
from xmempp.io.lock import folder_lock, others_running
from xmempp.io.sequences import frame_info
from xmempp.io.writers import ResultWriter, WriterOptions, check_output_dir
from xmempp.model.network import XMemNetwork

#: "shot": every frame, first to last, in one pass (what `xmempp process` and the golden fixtures do);
#: "forward" / "backward": from `start`, `count` frames; "both": forward from `start`, then backward.
DIRECTIONS = ("shot", "forward", "backward", "both")

#: Called with (frames done, frames total).
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class FramePlan:
    """The frames a job steps through: one or more passes, each in stepping order.

    Memory is cleared (references kept) at the start of every pass; a pass's last frame is
    never written to memory.
    """

    passes: tuple[tuple[int, ...], ...]

    @property
    def total(self) -> int:
        """Frames stepped in all passes."""
        return sum(len(p) for p in self.passes)


def plan_frames(total: int, references: Sequence[int], direction: str = "shot", start: Optional[int] = None,
                count: Optional[int] = None) -> FramePlan:
    """Which frames a job visits, in which order.

    Arguments:
        total: frames in the shot.
        references: frames that have a reference mask.
        direction: one of `DIRECTIONS`.
        start: first frame stepped (default: 0 for "shot"/"forward", the last frame for
            "backward", the first reference for "both").
        count: frames per pass including `start` (default: to the end of the shot).
    Returns:
        A `FramePlan` (empty when "forward"/"backward"/"both" would step only a reference frame).
        Raises `ConfigError` for an unknown direction and `InputError` for a start outside the shot
        or a count below 1.
    """
    if direction not in DIRECTIONS:
        raise ConfigError(f"unknown direction {direction!r}; use one of {', '.join(DIRECTIONS)}")
    if total < 1:
        raise InputError("the shot has no frames")
    if start is None:
        start = {"shot": 0, "forward": 0, "backward": total - 1}.get(direction, min(references, default=0))
    if not 0 <= start < total:
        raise InputError(f"start frame {start} is outside the shot of {total} frames (0..{total - 1})")
    if count is not None and count < 1:
        raise InputError(f"frame count must be at least 1, not {count}")
    limit = total if count is None else count
    forward = tuple(range(start, min(total, start + limit)))
    backward = tuple(range(start, max(-1, start - limit), -1))
    if direction == "shot":
        return FramePlan((forward,))
    candidates = {"forward": (forward,), "backward": (backward,), "both": (forward, backward)}[direction]
    # a pass of one reference frame only would re-output the user's mask: nothing to propagate
    return FramePlan(tuple(p for p in candidates if len(p) > 1 or p[0] not in references))


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
    """

    folder: Path
    options: WriterOptions = field(default_factory=WriterOptions)
    palette: Optional[np.ndarray] = None
    overwrite: bool = False
    size: Optional[tuple[int, int]] = None
    inputs: tuple[Path, ...] = ()
    force_unlock: bool = False


@dataclass
class ShotJob:
    """One shot to propagate.

    Attributes:
        frames: the shot's frames, HxWx3 uint8 RGB, read by index within `len` (a frame source).
        references: frame index -> HxW uint8 mask of original object ids (0 = background).
        config: inference settings.
        mode: "xmempp" (every reference in permanent memory) or "xmem" (the original mechanism).
        direction, start, count: which frames, see `plan_frames`.
        names: output file stem per frame (default: the source's `names`, else the index).
        outputs: where results are written by `run_job`, or None to write nothing.
    """

    frames: Frames
    references: Mapping[int, np.ndarray]
    config: InferenceConfig = field(default_factory=InferenceConfig)
    mode: str = "xmempp"
    direction: str = "shot"
    start: Optional[int] = None
    count: Optional[int] = None
    names: Optional[Sequence[str]] = None
    outputs: Optional[JobOutputs] = None

    @property
    def objects(self) -> ObjectOrder:
        """The shot's objects in channel order."""
        return ObjectOrder.from_masks(self.references)

    def plan(self) -> FramePlan:
        """The frames this job steps through."""
        return plan_frames(len(self.frames), sorted(self.references), self.direction, self.start, self.count)

    def stems(self) -> Sequence[str]:
        """Output file stem of every frame."""
        if self.names is not None:
            return self.names
        names = getattr(self.frames, "names", None)
        return names if names is not None else [f"{i:05d}" for i in range(len(self.frames))]

    def validate(self) -> None:
        """Raise `InputError` when the references cannot drive a propagation of these frames."""
        total = len(self.frames)
        if not self.references:
            raise InputError("no reference masks given: annotate at least one frame")
        outside = sorted(f for f in self.references if not 0 <= f < total)
        if outside:
            raise InputError(f"reference frame(s) {outside} outside the clip of {total} frames")
        if not len(self.objects):
            raise InputError("the reference masks contain no objects (every pixel is 0)")
        self.config.validate()
        check_usage_counting(self.config, total)


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
            "max_long_term_elements)")


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
    image: Optional[np.ndarray]
    probs: torch.Tensor | np.ndarray


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
    checkpoints: Optional[Checkpointer] = None

    @property
    def fps(self) -> float:
        """Frames per second."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def open_session(model: XMemNetwork, job: ShotJob) -> InferenceSession:
    """A session with the job's references added in ascending frame order (the canonical state)."""
    job.validate()
    session = InferenceSession(model, job.config, job.mode)
    for frame in sorted(job.references):
        session.add_reference(frame, job.frames[frame], job.references[frame])
    return session


def iter_job(model: XMemNetwork, job: ShotJob, *, session: Optional[InferenceSession] = None,
             cancel: Optional[threading.Event] = None, on_key_features: Optional[KeyListener] = None,
             prefetch_depth: int = 4, start_at: int = 0) -> Iterator[FrameResult]:
    """Step the engine through the job's frames and yield each result as it is ready.

    Arguments:
        model: a loaded network.
        job: the shot.
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
    plan = job.plan()
    session = session or open_session(model, job)
    objects = job.objects
    session.on_key_features = on_key_features
    for frames in plan.passes:
        skip, start_at = min(start_at, len(frames)), max(0, start_at - len(frames))
        if skip == len(frames):
            continue
        if skip == 0:
            session.clear_memory()
        reads = (job.frames[i] for i in frames[skip:])
        images = prefetch(reads, depth=prefetch_depth) if prefetch_depth > 0 else reads
        try:
            for position, (index, image) in enumerate(zip(frames[skip:], images), start=skip):
                if cancel is not None and cancel.is_set():
                    return
                probs = session.step(index, image, end=position == len(frames) - 1)
                yield FrameResult(index, image, _expand_channels(probs, session.object_ids, objects.ids))
        finally:
            images.close()


def run_job(model: XMemNetwork, job: ShotJob, *, progress: Optional[ProgressCallback] = None,
            on_result: Optional[Callable[[FrameResult], None]] = None, cancel: Optional[threading.Event] = None,
            session: Optional[InferenceSession] = None, on_key_features: Optional[KeyListener] = None,
            checkpoint: Optional[CheckpointPolicy] = None, resume: bool = False, force_memory: bool = False,
            on_checkpoint: Optional[ProgressCallback] = None) -> JobReport:
    """Run a job to the end (or until `cancel` is set), writing its outputs.

    Before the first frame the job's memory estimate is checked (`ResourceError` when the machine
    cannot hold it) and the output folder's lock is taken (`LockedError` naming the run holding it);
    see `xmempp.inference.guards`.

    Arguments:
        model: a loaded network.
        job: the shot; its `outputs` (if any) are checked before the first frame.
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
    job.validate()
    with guard_job(model, job, force_memory):
        return _run_job(model, job, progress, on_result, cancel, session, on_key_features, checkpoint, resume,
                        on_checkpoint)


def _run_job(model, job, progress, on_result, cancel, session, on_key_features, checkpoint, resume,
             on_checkpoint) -> JobReport:
    """`run_job` once the job holds its output folder."""
    total = job.plan().total
    stems = job.stems()
    checkpointer, restored = _prepare_checkpoints(model, job, checkpoint, resume)
    if restored is not None and restored.completed:
        return JobReport(0, 0.0, True, job.objects, resumed_from=total)
    start = 0 if restored is None else restored.done
    started = time.perf_counter()
    if checkpointer is not None:
        if session is None:
            session = InferenceSession(model, job.config, job.mode) if restored else open_session(model, job)
        if restored is not None:
            session.load_state_dict(restored.session)
    fps = getattr(job.frames, "fps", None)
    # a resumed run replaces its own results; a chunk shares the folder with the shot's other chunks
    shared = restored is not None or written_range(job) is not None
    writer = _open_writer(job.outputs, job.objects, fps, resuming=shared) if job.outputs else None
    done = 0
    with writer if writer is not None else contextlib.nullcontext():
        if checkpointer is not None:
            if restored is None:
                checkpointer.save(0, session.state_dict())
            if writer is not None and job.outputs.options.preview and start:
                _replay_preview(job, writer, start)
            checkpointer.observe(session.memory.version)
        if start and progress is not None:
            progress(start, total)
        for result in iter_job(model, job, session=session, cancel=cancel, on_key_features=on_key_features,
                               start_at=start):
            _submit(writer, job.outputs, result, stems, job.frames)
            if on_result is not None:
                on_result(result)
            done += 1
            if checkpointer is not None:
                checkpointer.observe(session.memory.version)
                if checkpointer.due() and start + done < total:
                    _save_checkpoint(checkpointer, writer, start + done, session)
                    if on_checkpoint is not None:
                        on_checkpoint(start + done, total)
            if progress is not None:
                progress(start + done, total)
        if checkpointer is not None and start + done < total:
            _save_checkpoint(checkpointer, writer, start + done, session)
            if on_checkpoint is not None:
                on_checkpoint(start + done, total)
    if checkpointer is not None and start + done == total:
        checkpointer.save(total, None, completed=True)
    return JobReport(done, time.perf_counter() - started, start + done == total, job.objects, resumed_from=start,
                     checkpoints=checkpointer)


def write_results(results: Iterable[FrameResult], outputs: Optional[JobOutputs], objects: ObjectOrder,
                  stems: Sequence[str], *, fps: Optional[float] = None, total: Optional[int] = None,
                  progress: Optional[ProgressCallback] = None,
                  on_result: Optional[Callable[[FrameResult], None]] = None, cancel: Optional[threading.Event] = None,
                  frames: Optional[Frames] = None) -> int:
    """Write a stream of frame results that a front end already holds (the GUI exporting saved masks).

    Uses the writer set-up of `run_job`.

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
        return _write_results(results, outputs, objects, stems, fps, total, progress, on_result, cancel, frames)


def _write_results(results, outputs, objects, stems, fps, total, progress, on_result, cancel, frames) -> int:
    """`write_results` once it holds the output folder."""
    writer = _open_writer(outputs, objects, fps) if outputs is not None else None
    done = 0
    with writer if writer is not None else contextlib.nullcontext():
        for result in results:
            if cancel is not None and cancel.is_set():
                break
            _submit(writer, outputs, result, stems, frames)
            if on_result is not None:
                on_result(result)
            done += 1
            if progress is not None:
                progress(done, total)
    return done


def _submit(writer: Optional[ResultWriter], outputs: Optional[JobOutputs], result: FrameResult,
            stems: Sequence[str], frames: Optional[Frames]) -> None:
    """Queue one result for writing: resized to `outputs.size` if set, named and numbered like its frame."""
    if writer is None:
        return
    probs, image = result.probs, result.image
    if outputs.size is not None and tuple(probs.shape[1:]) != tuple(outputs.size):
        probs, image = _resize(probs, image, outputs.size)
    info = frame_info(frames, result.index) if frames is not None else None
    writer.submit(stems[result.index], image, probs, info)


def propagate(model: XMemNetwork, frames: Frames, references: Mapping[int, np.ndarray],
              config: InferenceConfig | None = None, mode: str = "xmempp") -> Iterator[tuple[int, torch.Tensor]]:
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


def _open_writer(out: JobOutputs, objects: ObjectOrder, fps: Optional[float], resuming: bool = False) -> ResultWriter:
    """Check the output folder (a resumed run may replace its own results), clear a killed run's
    leftovers, and start the writer."""
    check_output_dir(out.folder, overwrite=out.overwrite or resuming, preview=out.options.preview, inputs=out.inputs)
    if not others_running(out.folder):  # a chunk running beside this one may have files in flight
        remove_leftovers(out.folder)
    if out.options.preview:
        preview = Path(out.options.preview)
        remove_leftovers(preview.parent, recursive=False, name=preview.name)
    options = dataclasses.replace(out.options, preview_fps=fps) if fps else out.options
    return ResultWriter(out.folder, out.palette, list(objects.ids), options)


def _resize(probs, image: Optional[np.ndarray], size: tuple[int, int]):
    """Probabilities (bilinear, per channel) and the frame resized to (height, width) `size`."""
    h, w = size
    probs = probs.numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
    big = np.stack([cv2.resize(np.ascontiguousarray(c, dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
                    for c in probs])
    if image is not None:
        image = cv2.resize(np.ascontiguousarray(image), (w, h), interpolation=cv2.INTER_LINEAR)
    return big, image


def _prepare_checkpoints(model: XMemNetwork, job: ShotJob, policy: Optional[CheckpointPolicy],
                         resume: bool) -> tuple[Optional[Checkpointer], Optional[Checkpoint]]:
    """The checkpointer of a run (None without checkpoints) and the checkpoint it resumes from (or None)."""
    if policy is None and not resume:
        return None, None
    if job.outputs is None:
        raise ConfigError("checkpoints and --resume need an output folder (the checkpoint is kept there)")
    path = checkpoint_path(job.outputs.folder, written_range(job))
    fingerprint = job_fingerprint(model, job)
    restored = load_checkpoint(path) if resume else None
    if restored is not None:
        changes = fingerprint_changes(restored.fingerprint, fingerprint)
        if changes and job.outputs.overwrite:
            return Checkpointer(path, policy or CheckpointPolicy(), fingerprint), None  # start again
        if changes:
            raise InputError(f"cannot resume the run in {job.outputs.folder}: since its checkpoint was saved, "
                             f"{'; '.join(changes)} changed; resume with the same inputs and settings, or start "
                             f"again with --overwrite")
        if not restored.completed and restored.session is None:
            raise OutputError(f"checkpoint {path} holds no state; start again with --overwrite")
    return Checkpointer(path, policy or CheckpointPolicy(), fingerprint), restored


def _save_checkpoint(checkpointer: Checkpointer, writer: Optional[ResultWriter], done: int,
                     session: InferenceSession) -> None:
    """Flush the writer (so the checkpoint never counts a file not yet on disk), then save."""
    if writer is not None:
        writer.flush()
    checkpointer.save(done, session.state_dict())


def _replay_preview(job: ShotJob, writer: ResultWriter, done: int) -> None:
    """Feed the preview video the overlays of the frames a resumed run had written already."""
    order = [index for frames in job.plan().passes for index in frames][:done]
    stems = job.stems()
    for index in order:
        writer.submit_written(stems[index], job.frames[index])


def _expand_channels(probs: torch.Tensor, known: Sequence[int], all_ids: Sequence[int]) -> torch.Tensor:
    """Place the session's channels into the full object order, zero for objects not yet known."""
    if list(known) == list(all_ids):
        return probs
    full = torch.zeros(1 + len(all_ids), *probs.shape[1:], dtype=probs.dtype)
    full[0] = probs[0]
    for channel, object_id in enumerate(known, start=1):
        full[1 + list(all_ids).index(object_id)] = probs[channel]
    return full
