"""Background jobs (QObject workers on QThreads): propagation, frame suggestion, export.

The UI thread never runs the network. Workers report through signals (queued into the UI thread)
and can be paused (propagation) or stopped; a stopped propagation keeps every mask it finished, and
all of them can be undone as one step.

Propagation passes: "forward" (current frame to the last), "backward" (current frame to the first)
and "full" (first reference to the last frame, then first reference back to the first frame). Each
pass starts with empty working memory; references sit in permanent memory. At a reference frame
the session returns the stored reference, never the previous prediction, and reference masks are
never overwritten.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
from PyQt5.QtCore import QObject, Qt, QThread, pyqtSignal, pyqtSlot

from xmempp.io.atomic import atomic_write_bytes, encode_png
from xmempp.inference.config import InferenceConfig
from xmempp.errors import WeightsError, XMemppError
from xmempp.io.frames import prefetch
from xmempp.io.workspace import Workspace
from xmempp.io.writers import probs_to_ids

from .engine import Engine

__all__ = ["PropagationPlan", "plan_propagation", "PropagationOutcome", "PropagationWorker", "SuggestWorker",
           "ExportRequest", "ExportWorker", "WorkspaceFrames", "SavedMasks", "start_worker"]

logger = logging.getLogger(__name__)


class _Stopped(Exception):
    """Raised inside a worker's progress callback to abandon the job."""


class WorkspaceFrames(Sequence):
    """The workspace images as a lazily decoded sequence in the workspace's frame order."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def __len__(self) -> int:
        return len(self.workspace)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.workspace.image(index)


class SavedMasks(Mapping):
    """The workspace's saved masks as a read-on-access mapping, so that the candidate selector can
    walk a long shot without holding every mask in memory: a frame still holding what a propagation
    saved gives that propagation's soft target (HxW float, as XMem++ feeds its selector), any other
    frame its HxW ids (a binary target)."""

    def __init__(self, workspace: Workspace, frames: Iterable[int], engine: Optional[Engine] = None) -> None:
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


def start_worker(worker: QObject, parent: QObject) -> QThread:
    """Run `worker.run` on a new QThread; the thread ends when the worker emits `finished`.

    Arguments:
        worker: a QObject with a `run` slot and a `finished` signal.
        parent: owner of the thread (keeps it alive).
    Returns:
        The started QThread.
    """
    thread = QThread(parent)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.finished.connect(thread.quit, Qt.DirectConnection)  # thread-safe; the UI thread may be waiting
    thread.finished.connect(thread.deleteLater)
    thread.start()
    return thread


def _describe(exc: BaseException) -> tuple[str, bool]:
    if isinstance(exc, WeightsError):
        return str(exc), True
    if isinstance(exc, XMemppError):
        return str(exc), False
    logger.error("worker failed:\n%s", "".join(traceback.format_exception(exc)))
    return f"unexpected error: {type(exc).__name__}: {exc}", False


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


def plan_propagation(direction: str, current: int, count: int, references: Sequence[int],
                     limit: Optional[int] = None) -> PropagationPlan:
    """Which frames a propagation visits.

    Arguments:
        direction: "forward", "backward" or "full".
        current: the current frame (start of forward / backward).
        count: number of frames.
        references: reference frames, ascending (full starts at the first one).
        limit: step at most this many frames per pass (None: to the end).
    Returns:
        A `PropagationPlan`.
    """
    if direction == "forward":
        passes = [list(range(current, count))]
    elif direction == "backward":
        passes = [list(range(current, -1, -1))]
    elif direction == "full":
        start = references[0] if references else current
        passes = [list(range(start, count)), list(range(start, -1, -1))]
    else:
        raise ValueError(f"unknown direction {direction!r}")
    if limit is not None:
        passes = [p[: max(1, limit)] for p in passes]
    passes = [p for p in passes if len(p) > 1 or (len(p) == 1 and p[0] not in references)]
    return PropagationPlan(passes, f"Propagate {'whole shot' if direction == 'full' else direction}")


@dataclass
class PropagationOutcome:
    """What a propagation did.

    Attributes:
        changes: frame -> (previous mask PNG bytes or None, new PNG bytes), for undo.
        completed: it ran to the end (not stopped, no error).
        frames: frames stepped.
    """

    changes: dict[int, tuple[Optional[bytes], bytes]] = field(default_factory=dict)
    completed: bool = False
    frames: int = 0


class PropagationWorker(QObject):
    """Steps an `InferenceSession` through the plan and saves each predicted mask at once.

    Signals:
        frameDone(int): a frame's new mask has been saved (the UI reads it when it shows it).
        progress(int, int): frames done, frames total.
        memoryStats(object): `MemoryStats` after each frame.
        status(str): "loading the model…", "paused", ...
        failed(str, bool): an error message, and whether it is about the weights.
        finished(object): the `PropagationOutcome` (always emitted, also after a stop or error).
    """

    frameDone = pyqtSignal(int)
    progress = pyqtSignal(int, int)
    memoryStats = pyqtSignal(object)
    status = pyqtSignal(str)
    failed = pyqtSignal(str, bool)
    finished = pyqtSignal(object)

    def __init__(self, engine: Engine, workspace: Workspace, plan: PropagationPlan,
                 references: dict[int, tuple[int, np.ndarray]], config: InferenceConfig, mode: str,
                 palette: np.ndarray) -> None:
        super().__init__()
        self.engine = engine
        self.workspace = workspace
        self.plan = plan
        self.references = references
        self.config = config
        self.mode = mode
        self.palette = palette
        self._stop = threading.Event()
        self._paused = threading.Event()

    # control (any thread)
    def stop(self) -> None:
        """Stop after the current frame."""
        self._stop.set()
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

    def _wait_if_paused(self) -> None:
        if self._paused.is_set():
            self.status.emit("paused — press Space to continue")
            while self._paused.is_set() and not self._stop.is_set():
                time.sleep(0.03)
            if not self._stop.is_set():
                self.status.emit("propagating…")

    @pyqtSlot()
    def run(self) -> None:
        outcome = PropagationOutcome()
        try:
            if self.engine.model is None:
                self.status.emit("loading the model…")
            session = self.engine.session_for(self.config, self.mode, self.references, self.workspace.image)
            self.status.emit("propagating…")
            total = self.plan.total
            for frames in self.plan.passes:
                if self._stop.is_set():
                    break
                session.clear_memory()
                images = prefetch((self.workspace.image(i) for i in frames), depth=3)
                try:
                    for position, (index, image) in enumerate(zip(frames, images)):
                        self._wait_if_paused()
                        if self._stop.is_set():
                            break
                        probs = session.step(index, image, end=position == len(frames) - 1)
                        outcome.frames += 1
                        if index not in self.references:
                            self._save(index, probs, session.object_ids, outcome)
                        self.progress.emit(outcome.frames, total)
                        self.memoryStats.emit(session.memory_stats())
                finally:
                    images.close()
            outcome.completed = not self._stop.is_set()
        except BaseException as exc:  # noqa: BLE001 - reported to the UI thread
            message, weights = _describe(exc)
            self.failed.emit(message, weights)
        finally:
            self.finished.emit(outcome)

    def _save(self, index: int, probs, object_ids: list[int], outcome: PropagationOutcome) -> None:
        ids = probs_to_ids(np.asarray(probs), object_ids) if object_ids else np.zeros(probs.shape[1:], np.uint8)
        path = self.workspace.mask_path(index)
        old: Optional[bytes] = None
        if index in outcome.changes:
            old = outcome.changes[index][0]
        elif path.exists():
            try:
                old = path.read_bytes()
            except OSError:
                old = None
        data = encode_png(ids, palette=self.palette)
        atomic_write_bytes(path, data)
        self.engine.record_soft_target(index, data, np.asarray(probs))
        outcome.changes[index] = (old, data)
        self.frameDone.emit(index)


# ---------------------------------------------------------------------------------------- suggestions

class SuggestWorker(QObject):
    """Runs the candidate selector on the workspace.

    Signals:
        progress(str, int, int): stage, done, total.
        failed(str, bool): error message, and whether it is about the weights.
        finished(object): a `CandidateResult`, or None after a stop or an error.
    """

    progress = pyqtSignal(str, int, int)
    failed = pyqtSignal(str, bool)
    finished = pyqtSignal(object)

    def __init__(self, engine: Engine, workspace: Workspace, references: dict[int, np.ndarray], k: int, alpha: float,
                 min_mask_percent: float, config: InferenceConfig, mode: str,
                 predicted: Optional[Mapping[int, np.ndarray]] = None) -> None:
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
        self._stop = threading.Event()

    def stop(self) -> None:
        """Abandon the selection at the next progress report."""
        self._stop.set()

    def _report(self, stage: str, done: int, total: int) -> None:
        if self._stop.is_set():
            raise _Stopped()
        self.progress.emit(stage, done, total)

    @pyqtSlot()
    def run(self) -> None:
        from xmempp.candidate_selection import extract_candidate_features, suggest_candidates

        result = None
        try:
            self._report("model", 0, 0)
            model = self.engine.ensure_model()
            frames = WorkspaceFrames(self.workspace)
            predicted = self.predicted
            key = (str(self.workspace.path), len(frames), self.config.size, str(self.engine.weights_file))
            features = self.engine.cached_features(key)
            if features is None:
                features = extract_candidate_features(model, frames, self.config, progress=self._report)
                self.engine.store_features(key, features)
            if predicted is None:
                self._report("propagation", 0, len(frames))
            result = suggest_candidates(model, frames, self.references, self.k, alpha=self.alpha,
                                        predicted_masks=predicted, config=self.config, progress=self._report,
                                        min_mask_presence_percent=self.min_mask_percent, mode=self.mode,
                                        features=features)
        except _Stopped:
            result = None
        except BaseException as exc:  # noqa: BLE001 - reported to the UI thread
            message, weights = _describe(exc)
            self.failed.emit(message, weights)
            result = None
        finally:
            self.finished.emit(result)


# ---------------------------------------------------------------------------------------- export

@dataclass
class ExportRequest:
    """What the export dialog asked for.

    Attributes:
        out_dir: output folder.
        masks: index PNGs (original ids and colours).
        alpha: soft mattes per object; alpha_bits 8 or 16.
        binary: 0/255 mattes per object.
        overlay: overlay JPEGs.
        video: overlay video path, or None.
        source: "saved" (the workspace masks) or "propagate" (a fresh propagation: soft edges).
        upscale: write at the source resolution when the workspace was imported smaller.
        overwrite: replace earlier results in `out_dir`.
        opacity: overlay opacity.
    """

    out_dir: Path
    masks: bool = True
    alpha: bool = False
    alpha_bits: int = 8
    binary: bool = False
    overlay: bool = False
    video: Optional[Path] = None
    source: str = "saved"
    upscale: bool = False
    overwrite: bool = False
    opacity: float = 0.5


class ExportWorker(QObject):
    """Writes results with `xmempp.io.writers.ResultWriter`, the writers of `xmempp process`.

    Signals:
        progress(int, int): frames done, total.
        failed(str, bool): error message, and whether it is about the weights.
        finished(object): number of frames written, or None after a stop or error.
    """

    progress = pyqtSignal(int, int)
    failed = pyqtSignal(str, bool)
    finished = pyqtSignal(object)

    def __init__(self, request: ExportRequest, engine: Engine, workspace: Workspace, num_objects: int,
                 object_ids: list[int], palette: np.ndarray, references: dict[int, np.ndarray],
                 config: InferenceConfig, mode: str) -> None:
        super().__init__()
        self.request = request
        self.engine = engine
        self.workspace = workspace
        self.num_objects = num_objects
        self.object_ids = object_ids
        self.palette = palette
        self.references = references
        self.config = config
        self.mode = mode
        self._stop = threading.Event()

    def stop(self) -> None:
        """Stop after the current frame (files written so far stay, each complete)."""
        self._stop.set()

    def _stems(self) -> list[str]:
        names = self.workspace.info.get("source_names")
        if isinstance(names, list) and len(names) == len(self.workspace) and all(isinstance(n, str) for n in names):
            return names
        return list(self.workspace.names)

    def _target_size(self) -> Optional[tuple[int, int]]:
        size = self.workspace.info.get("source_size")
        if not self.request.upscale or not (isinstance(size, list) and len(size) == 2):
            return None
        return int(size[0]), int(size[1])

    @pyqtSlot()
    def run(self) -> None:
        from xmempp.inference.jobs import ShotJob, iter_job
        from xmempp.io.writers import ResultWriter, WriterOptions, check_output_dir

        written = None
        try:
            r = self.request
            out = check_output_dir(r.out_dir, overwrite=r.overwrite, preview=r.video)
            fps = float(self.workspace.info.get("fps") or 24.0)
            options = WriterOptions(masks=r.masks, alpha=r.alpha, alpha_bits=r.alpha_bits, binary=r.binary,
                                    overlay=r.overlay, preview=r.video, preview_fps=fps, overlay_opacity=r.opacity)
            stems = self._stems()
            frames = WorkspaceFrames(self.workspace)
            total = len(frames)
            target = self._target_size()
            needs_frame = r.overlay or r.video is not None
            if r.source == "propagate":
                refs = {f: m for f, m in self.references.items() if m.any()}
                if not refs:
                    raise XMemppError("there are no references to propagate: save at least one reference first")
                job = ShotJob(frames, refs, self.config, self.mode)
                channel_ids = [self.object_ids[w - 1] for w in job.objects]
                model = self.engine.ensure_model()
                results = ((r.index, r.image, r.probs.numpy()) for r in iter_job(model, job))
            else:
                channel_ids = list(self.object_ids)
                results = self._saved_results(frames, needs_frame)
            done = 0
            with ResultWriter(out, self.palette, channel_ids, options) as writer:
                for index, image, probs in results:
                    if self._stop.is_set():
                        raise _Stopped()
                    if target is not None and tuple(probs.shape[1:]) != target:
                        probs, image = _upscale(probs, image if needs_frame else None, target)
                    writer.submit(stems[index], image if needs_frame else None, probs)
                    done += 1
                    self.progress.emit(done, total)
            written = done
        except _Stopped:
            written = None
        except BaseException as exc:  # noqa: BLE001 - reported to the UI thread
            message, weights = _describe(exc)
            self.failed.emit(message, weights)
            written = None
        finally:
            self.finished.emit(written)

    def _saved_results(self, frames: WorkspaceFrames, needs_frame: bool):
        from xmempp.io.masks import read_mask

        k = self.num_objects
        for index in range(len(frames)):
            image = frames[index] if needs_frame else None
            path = self.workspace.mask_path(index)
            if path.exists():
                ids = read_mask(path).ids
            else:
                h, w = (image.shape[:2] if image is not None else self.workspace.size)
                ids = np.zeros((h, w), np.uint8)
            probs = np.zeros((k + 1, *ids.shape), np.float32)
            for channel in range(k + 1):
                probs[channel] = ids == channel
            yield index, image, probs


def _upscale(probs: np.ndarray, image: Optional[np.ndarray], size: tuple[int, int]):
    h, w = size
    channels = [cv2.resize(np.ascontiguousarray(c, dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
                for c in probs]
    big = np.stack(channels)
    if image is not None:
        image = cv2.resize(np.ascontiguousarray(image), (w, h), interpolation=cv2.INTER_LINEAR)
    return big, image
