"""Background jobs (`Worker`s run by a `JobRunner`): propagation, frame suggestion, export.

Propagation and export run shots through the job API (`xmempp.inference.jobs`): a `ShotJob`
with a direction, a start and a frame count, `run_job` with the worker's cancel event, and an
`on_result` callback that saves each mask at once (and holds the job while it is paused). A
stopped propagation keeps every mask it finished, and all of them can be undone as one step.

Propagation directions are the core's `Direction`, the words of every front end: FORWARD (current
frame to the last), BACKWARD (current frame to the first), SHOT (the whole shot: the job API's "both"
from the first reference, to the last frame, then back to the first) and BOTH (forward, then backward,
from the current frame). "full", the GUI's old word, is read as SHOT. Each pass starts with empty
working memory; references sit in permanent memory. At a reference frame the session returns the stored
reference, and reference masks are never overwritten.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PyQt5.QtCore import pyqtSignal

from xmempp.errors import InputError
from xmempp.inference.config import InferenceConfig
from xmempp.inference.jobs import (
    FrameResult,
    JobOutputs,
    ShotJob,
    iter_job,
    plan_frames,
    prepare_job,
    run_job,
    write_results,
)
from xmempp.inference.objects import ObjectOrder
from xmempp.inference.plan import Direction
from xmempp.io.atomic import atomic_write_bytes, encode_png
from xmempp.io.roto_shapes import Shape, keyframe_mattes
from xmempp.io.workspace import Workspace
from xmempp.io.writers import WriterOptions, probs_to_ids
from xmempp.refine import RefineSettings

from .job_runner import Worker
from .model_cache import ModelCache
from .soft_paint_store import resized

__all__ = [
    "ExportRequest",
    "ExportWorker",
    "PropagationOutcome",
    "PropagationPlan",
    "PropagationWorker",
    "SavedMasks",
    "SuggestWorker",
    "plan_propagation",
]


class SavedMasks(Mapping):
    """The workspace's saved masks as a read-on-access mapping, so that the candidate selector can
    walk a long shot without holding every mask in memory: a frame still holding what a propagation
    saved gives that propagation's soft target (HxW float, as XMem++ feeds its selector), any other
    frame its HxW ids (a binary target)."""

    def __init__(self, workspace: Workspace, frames: Iterable[int], engine: ModelCache | None = None) -> None:
        self.workspace = workspace
        self.engine = engine
        self._frames = frozenset(int(f) for f in frames)

    def __getitem__(self, index: int) -> np.ndarray:
        if index not in self._frames:
            raise KeyError(index)
        if self.engine is not None:
            try:
                soft = self.engine.soft_target(index, self.workspace.mask_path(index).read_bytes())
            except OSError:
                soft = None
            if soft is not None:
                return soft
        mask = self.workspace.mask(index)
        if mask is None:
            raise KeyError(index)
        return mask

    def __contains__(self, index: object) -> bool:
        return index in self._frames

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._frames))

    def __len__(self) -> int:
        return len(self._frames)


# ---------------------------------------------------------------------------------------- propagation


@dataclass
class PropagationPlan:
    """The frames one propagation steps through.

    Attributes:
        passes: frame indices per pass, in stepping order (the first of each is the start frame).
        text: what it is called in the undo history ("Propagate forward").
    """

    passes: list[list[int]]
    text: str

    @property
    def total(self) -> int:
        """Frames stepped in all passes."""
        return sum(len(p) for p in self.passes)

    @property
    def span(self) -> tuple[int, int]:
        """(first, last) frame touched."""
        frames = [f for p in self.passes for f in p]
        return (min(frames), max(frames)) if frames else (0, 0)


def propagation_direction(direction: Direction | str) -> Direction:
    """`direction` as a `Direction`; the old GUI word "full" is read as `Direction.SHOT`.

    Raises `InputError` for any other word.
    """
    if direction == "full":
        return Direction.SHOT
    try:
        return Direction(direction)
    except ValueError:
        words = ", ".join(d.value for d in Direction)
        raise InputError(f"unknown propagation direction {direction!r} (use one of: {words})") from None


def plan_propagation(
    direction: Direction | str, current: int, count: int, references: list[int], limit: int | None = None
) -> PropagationPlan:
    """Which frames a propagation visits (the job API's `plan_frames`, for the GUI's starts).

    Arguments:
        direction: a `Direction` (or its value).
        current: the current frame (start of forward / backward / both).
        count: number of frames.
        references: reference frames, ascending (the whole shot starts at the first one).
        limit: step at most this many frames per pass (None: to the end).
    Returns:
        A `PropagationPlan`.
    """
    direction = propagation_direction(direction)
    job_direction, start = _job_direction(direction, current, references)
    plan = plan_frames(count, references, job_direction, start, None if limit is None else max(1, limit))
    return PropagationPlan([list(p) for p in plan.passes], f"Propagate {_TEXT[direction]}")


#: What the history and the progress say for each direction.
_TEXT = {
    Direction.FORWARD: "forward",
    Direction.BACKWARD: "backward",
    Direction.SHOT: "whole shot",
    Direction.BOTH: "both ways",
}


def _job_direction(direction: Direction, current: int, references: list[int]) -> tuple[str, int]:
    """The job API's direction and start frame for a propagation started at `current`: the whole shot runs
    both ways from the first reference (every frame is reached and each pass starts at a reference)."""
    if direction is Direction.SHOT:
        return Direction.BOTH.value, references[0] if references else current
    return direction.value, current


@dataclass
class PropagationOutcome:
    """What a propagation did.

    Attributes:
        changes: frame -> (previous mask PNG bytes or None, new PNG bytes), for undo.
        completed: it ran to the end (not stopped, no error).
        frames: frames stepped.
    """

    changes: dict[int, tuple[bytes | None, bytes]] = field(default_factory=dict)
    completed: bool = False
    frames: int = 0


class PropagationWorker(Worker):
    """Runs a propagation job and saves each predicted mask at once.

    Signals (besides `Worker`'s; `finished` carries the `PropagationOutcome`, also after a stop or error):
        frameDone(int): a frame's new mask has been saved (the UI reads it when it shows it).
        memoryStats(object): `MemoryStats` after each frame.
    """

    frameDone = pyqtSignal(int)
    memoryStats = pyqtSignal(object)

    def __init__(
        self,
        engine: ModelCache,
        workspace: Workspace,
        direction: Direction | str,
        start: int,
        limit: int | None,
        references: dict[int, tuple[int, np.ndarray]],
        config: InferenceConfig,
        mode: str,
        palette: np.ndarray,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.workspace = workspace
        self.references = references
        usable = {f: mask for f, (_version, mask) in references.items() if mask.any()}
        job_direction, job_start = _job_direction(propagation_direction(direction), start, sorted(usable))
        self.job = ShotJob(
            workspace,
            usable,
            config,
            mode,
            direction=job_direction,
            start=job_start,
            count=None if limit is None else max(1, limit),
        )
        self.palette = palette
        self.outcome = PropagationOutcome()
        self._paused = threading.Event()

    # control (any thread)
    def stop(self) -> None:
        """Stop after the current frame."""
        super().stop()
        self._paused.clear()

    def pause(self) -> None:
        """Pause before the next frame."""
        self._paused.set()

    def resume(self) -> None:
        """Continue after a pause."""
        self._paused.clear()

    @property
    def paused(self) -> bool:
        """True while paused."""
        return self._paused.is_set()

    def stopped_result(self) -> PropagationOutcome:
        return self.outcome

    def work(self) -> PropagationOutcome:
        if self.engine.model is None:
            self.status.emit("loading the model…")
        warning = self.engine.guard_memory(self.job)  # loads the model; refuses what the machine cannot hold
        session = self.engine.session_for(self.job.config, self.job.mode, self.references, self.workspace.image)
        self.status.emit(f"propagating… ({warning})" if warning else "propagating…")
        report = run_job(
            self.engine.ensure_model(),
            self.job,
            session=session,
            cancel=self.cancel,
            on_result=self._on_result,
            progress=self._progress,
            force_memory=self.engine.force_memory,
        )
        self.outcome.completed = report.completed and not self.cancel.is_set()
        return self.outcome

    def _progress(self, done: int, total: int) -> None:
        self.outcome.frames = done
        self.progress.emit(done, total)

    def _on_result(self, result: FrameResult) -> None:
        if result.index not in self.references:
            self._save(result.index, result.probs)
        self.memoryStats.emit(self.engine.memory_stats())
        if self._paused.is_set():  # hold the job before its next frame
            self.status.emit("paused — press Space to continue")
            while self._paused.is_set() and not self.cancel.is_set():
                self.cancel.wait(0.03)
            if not self.cancel.is_set():
                self.status.emit("propagating…")

    def _save(self, index: int, probs) -> None:
        ids = probs_to_ids(np.asarray(probs), list(self.job.objects.ids))
        path = self.workspace.mask_path(index)
        changes = self.outcome.changes
        old: bytes | None = None
        if index in changes:
            old = changes[index][0]
        elif path.exists():
            try:
                old = path.read_bytes()
            except OSError:
                old = None
        data = encode_png(ids, palette=self.palette)
        atomic_write_bytes(path, data)
        self.engine.record_soft_target(index, data, np.asarray(probs))
        changes[index] = (old, data)
        self.frameDone.emit(index)


# ---------------------------------------------------------------------------------------- suggestions


class SuggestWorker(Worker):
    """Runs the candidate selector on the workspace.

    Without a mask on every frame it first propagates the references (the whole shot, as
    `xmempp candidates` does) through the window's engine session, keeping each frame's soft target in
    memory (the workspace's masks are not touched) and reporting the memory as it fills.

    Signals (besides `Worker`'s; `finished` carries a `CandidateResult`, or None after a stop or an error):
        stageProgress(str, int, int): stage ("model", "features", "propagation", "selection"), done, total.
        memoryStats(object): `MemoryStats` after each propagated frame.
    """

    stageProgress = pyqtSignal(str, int, int)
    memoryStats = pyqtSignal(object)

    def __init__(
        self,
        engine: ModelCache,
        workspace: Workspace,
        references: dict[int, tuple[int, np.ndarray]],
        k: int,
        alpha: float,
        min_mask_percent: float,
        config: InferenceConfig,
        mode: str,
        predicted: Mapping[int, np.ndarray] | None = None,
    ) -> None:
        """Arguments:
        references: frame -> (mask version, HxW ids) of the non-empty references (`reference_snapshot`).
        predicted: a mask per frame to select with (`SavedMasks`), or None to propagate first.
        """
        super().__init__()
        self.engine = engine
        self.workspace = workspace
        self.references = references
        self.k = k
        self.alpha = alpha
        self.min_mask_percent = min_mask_percent
        self.config = config
        self.mode = mode
        self.predicted = predicted

    def _report(self, stage: str, done: int, total: int) -> None:
        self.check_stop()
        self.stageProgress.emit(stage, done, total)
        self.progress.emit(done, total)

    def work(self):
        from xmempp.candidate_selection import extract_candidate_features, suggest_candidates

        self._report("model", 0, 1)
        model = self.engine.ensure_model()
        self.status.emit("model loaded")
        frames = self.workspace
        key = (str(self.workspace.path), len(frames), self.config.size, str(self.engine.weights_file))
        features = self.engine.cached_features(key)
        if features is None:
            features = extract_candidate_features(model, frames, self.config, progress=self._report)
            self.engine.store_features(key, features)
        predicted = self.predicted if self.predicted is not None else self._propagate(model)
        masks = {f: mask for f, (_version, mask) in self.references.items()}

        def selecting(stage: str, done: int, total: int) -> None:
            self._report("selection", done if stage == "selection" else 0, total if stage == "selection" else 0)

        return suggest_candidates(
            model,
            frames,
            masks,
            k=self.k,
            alpha=self.alpha,
            predicted_masks=predicted,
            config=self.config,
            progress=selecting,
            min_mask_presence_percent=self.min_mask_percent,
            mode=self.mode,
            features=features,
        )

    def _propagate(self, model) -> dict[int, np.ndarray]:
        """Soft targets (max over objects, float16) of every frame from a propagation of the references."""
        usable = {f: mask for f, (_version, mask) in self.references.items()}
        job = ShotJob(self.workspace, usable, self.config, self.mode)
        warning = self.engine.guard_memory(job)
        if warning:
            self.status.emit(warning)
        session = self.engine.session_for(self.config, self.mode, self.references, self.workspace.image)
        targets: dict[int, np.ndarray] = {}
        total = len(self.workspace)
        self._report("propagation", 0, total)

        def keep(result: FrameResult) -> None:
            probs = np.asarray(result.probs)
            soft = probs[1:].max(0) if probs.shape[0] > 1 else np.zeros(probs.shape[1:], np.float32)
            targets[result.index] = soft.astype(np.float16)
            self.memoryStats.emit(self.engine.memory_stats())
            self._report("propagation", len(targets), total)

        run_job(model, job, session=session, cancel=self.cancel, on_result=keep, force_memory=self.engine.force_memory)
        self.check_stop()
        return targets  # float16: the selector reads each as float32


# ---------------------------------------------------------------------------------------- export


@dataclass
class ExportRequest:
    """What the export dialog asked for.

    Attributes:
        out_dir: output folder.
        options: which results to write (`WriterOptions`: masks, alpha + alpha_bits, binary,
            overlay, preview video, overlay opacity).
        source: "saved" (the workspace masks) or "propagate" (a fresh propagation: soft edges).
        upscale: write at the source resolution when the workspace was imported smaller.
        overwrite: replace earlier results in `out_dir`.
        refine: refinement of the results against the frames they are written with (the refine stage of
            `xmempp process`; off by default).
        frames: (first, last) frame written, both included, or None for every frame.
        objects: workspace ids (1..K) of the objects written, or None for all (a propagation still tracks all).
        keyframes: reference frame -> its spline shapes (`xmempp.io.roto_shapes`, workspace ids): their soft
            mattes are written as those keyframes' outputs.
        soft_keyframes: reference frame -> {workspace id: HxW matte at the workspace size}: the soft layers of
            frames painted with a soft brush (`xmempp.io.soft_paint`, spline mattes included), written as those
            keyframes' outputs instead of their shapes'.
    """

    out_dir: Path
    options: WriterOptions = field(default_factory=WriterOptions)
    source: str = "saved"
    upscale: bool = False
    overwrite: bool = False
    refine: RefineSettings = field(default_factory=RefineSettings)
    frames: tuple[int, int] | None = None
    objects: tuple[int, ...] | None = None
    keyframes: Mapping[int, Sequence[Shape]] = field(default_factory=dict)
    soft_keyframes: Mapping[int, Mapping[int, np.ndarray]] = field(default_factory=dict)


class ExportWorker(Worker):
    """Writes results through the job API (`run_job` / `write_results`), the writers of `xmempp process`.

    `finished` carries the number of frames written, or None after a stop or error.
    """

    def __init__(
        self,
        request: ExportRequest,
        engine: ModelCache,
        workspace: Workspace,
        object_ids: list[int],
        palette: np.ndarray,
        references: dict[int, np.ndarray],
        config: InferenceConfig,
        mode: str,
    ) -> None:
        super().__init__()
        self.request = request
        self.engine = engine
        self.workspace = workspace
        self.objects = ObjectOrder(tuple(object_ids))
        self.palette = palette
        self.references = references
        self.config = config
        self.mode = mode

    def work(self) -> int | None:
        r = self.request
        info = self.workspace.info
        size = info.source_size if r.upscale else None
        first, last = r.frames if r.frames is not None else (0, len(self.workspace) - 1)
        count = last - first + 1
        chosen = list(r.objects) if r.objects is not None else list(range(1, len(self.objects) + 1))
        written = ObjectOrder(tuple(self.objects.ids[k - 1] for k in chosen))
        out_size = size or self.workspace.size
        mattes = {
            f: {
                self.objects.ids[k - 1]: m
                for k, m in keyframe_mattes(shapes, out_size, out_size[0] / self.workspace.size[0]).items()
                if k in chosen
            }
            for f, shapes in r.keyframes.items()
            if first <= f <= last and shapes
        }
        for f, layer in r.soft_keyframes.items():
            if first <= f <= last:
                mattes[f] = {self.objects.ids[k - 1]: m for k, m in resized(layer, out_size).items() if k in chosen}
        outputs = JobOutputs(
            r.out_dir, r.options, self.palette, r.overwrite, size=size, refine=r.refine, keyframe_mattes=mattes
        )
        stems = info.source_names or self.workspace.names
        if r.source == "propagate":
            # workspace ids 1..K become the original ids, so the job's objects are what the files need
            refs = {f: self.objects.to_ids(m) for f, m in self.references.items() if m.any()}
            if not refs:
                raise InputError("there are no references to propagate: save at least one reference first")
            run = prepare_job(
                ShotJob(self.workspace, refs, self.config, self.mode, names=stems, start=first, count=count)
            )
            warning = self.engine.guard_memory(run.job)
            if warning:
                self.status.emit(warning)
            model = self.engine.ensure_model()
            results = _only(iter_job(model, run, cancel=self.cancel), run.objects, written)
            done = write_results(
                results,
                outputs,
                written,
                stems,
                fps=self.workspace.fps,
                total=count,
                progress=self.progress.emit,
                cancel=self.cancel,
            )
        else:
            done = write_results(
                self._saved_results(first, last, chosen),
                outputs,
                written,
                stems,
                fps=self.workspace.fps,
                total=count,
                progress=self.progress.emit,
                cancel=self.cancel,
            )
        self.check_stop()
        return done if done == count else None

    def _saved_results(self, first: int, last: int, chosen: list[int]) -> Iterator[FrameResult]:
        """The saved masks of frames first..last as one-hot probabilities (channel i = workspace id chosen[i - 1],
        other objects as background), with the frame where overlays or the refine stage need it."""
        options = self.request.options
        needs_frame = options.overlay or options.preview is not None or self.request.refine.enabled
        channels = np.array([0, *chosen], np.uint8)[:, None, None]
        for index in range(first, last + 1):
            image = self.workspace[index] if needs_frame else None
            ids = self.workspace.mask(index)
            if ids is None:
                ids = np.zeros(image.shape[:2] if image is not None else self.workspace.size, np.uint8)
            probs = (ids[None] == channels).astype(np.float32)
            probs[0] = 1.0 - probs[1:].sum(0)
            yield FrameResult(index, image, probs)


def _only(results: Iterable[FrameResult], objects: ObjectOrder, kept: ObjectOrder) -> Iterator[FrameResult]:
    """Results with the channels of the `kept` objects only (the others' share counts as background)."""
    if kept.ids == objects.ids:
        yield from results
        return
    index = [1 + objects.ids.index(oid) for oid in kept.ids]
    for result in results:
        probs = np.asarray(result.probs)[index]
        yield FrameResult(result.index, result.image, np.concatenate([1.0 - probs.sum(0, keepdims=True), probs]))
