"""Checkpoints of a running job, so that an interrupted run resumes with identical results.

A checkpoint holds the job's complete inference state (`InferenceSession.state_dict`), how many
frames of the frame plan are stepped *and written*, and a fingerprint of everything the results
depend on (frames, reference masks, settings, mode, frame plan, weights, device, writer options).
It lives in `<output folder>/.xmempp/checkpoint.pt`, one file replaced atomically each time
(`torch.save` to a temporary file, fsync, rename). When the job ends the state is dropped and only
the fingerprint and a "completed" flag stay, so resuming a finished run does nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xmempp.errors import ConfigError, OutputError, Remedy, RemedyKind
from xmempp.inference.job_spec import JobRun, ShotJob, prepare_job
from xmempp.inference.plan import Direction, Mode
from xmempp.io.atomic import atomic_open
from xmempp.io.frame_capabilities import files_of, video_path_of
from xmempp.io.frames import Frames
from xmempp.model.network import XMemNetwork

#: Hidden folder inside the output folder that holds the checkpoint.
CHECKPOINT_DIR = ".xmempp"
#: File name of the checkpoint in `CHECKPOINT_DIR`.
CHECKPOINT_FILE = "checkpoint.pt"
_FORMAT = 1
#: Resuming cannot continue from this folder: start the run again, replacing its results.
START_AGAIN = Remedy(RemedyKind.ENABLE, "overwrite", note="(start again)")

__all__ = [
    "CHECKPOINT_DIR",
    "CHECKPOINT_FILE",
    "Checkpoint",
    "CheckpointPolicy",
    "checkpoint_path",
    "fingerprint_changes",
    "job_fingerprint",
    "load_checkpoint",
    "save_checkpoint",
]


@dataclass(frozen=True)
class CheckpointPolicy:
    """When a running job saves its checkpoint (besides at the start, on cancellation and at the end).

    Attributes:
        every_writes: after every N-th memory change (memory writes, new passes); None: not by count.
        every_seconds: when this many seconds passed since the last checkpoint; None: not by time.
    Either or both may be set; a checkpoint is saved after a frame when one of them is due. With
    neither, checkpoints are saved only at the start, when cancelled and at the end.
    """

    every_writes: int | None = 1
    every_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.every_writes is not None and (isinstance(self.every_writes, bool) or self.every_writes < 1):
            raise ConfigError(f"checkpoint every_writes must be a positive integer or None, not {self.every_writes!r}")
        if self.every_seconds is not None and not (self.every_seconds > 0 and math.isfinite(self.every_seconds)):
            raise ConfigError(f"checkpoint every_seconds must be a positive number or None, not {self.every_seconds!r}")

    def due(self, writes: int, seconds: float) -> bool:
        """Whether to save now, after `writes` memory changes and `seconds` since the last checkpoint."""
        return (self.every_writes is not None and writes >= self.every_writes) or (
            self.every_seconds is not None and seconds >= self.every_seconds
        )


@dataclass
class Checkpoint:
    """What `save_checkpoint` stores.

    Attributes:
        fingerprint: `job_fingerprint` of the job that wrote it.
        done: frames of the frame plan stepped and with every file on disk.
        completed: the job ran to its end.
        session: `InferenceSession.state_dict()` after `done` frames (None once completed).
    """

    fingerprint: dict[str, Any]
    done: int
    completed: bool = False
    session: dict | None = None


def checkpoint_path(folder: os.PathLike | str, frames: tuple[int, int] | None = None) -> Path:
    """Where the checkpoint of the job writing to output folder `folder` lives (a chunk writing the
    frames (first, last) keeps its own, `checkpoint.<first>-<last>.pt`)."""
    if frames is None:
        return Path(folder) / CHECKPOINT_DIR / CHECKPOINT_FILE
    stem, suffix = os.path.splitext(CHECKPOINT_FILE)
    return Path(folder) / CHECKPOINT_DIR / f"{stem}.{frames[0]}-{frames[1]}{suffix}"


def save_checkpoint(path: os.PathLike | str, checkpoint: Checkpoint) -> int:
    """Write `checkpoint` to `path` atomically (temporary file, fsync, rename), replacing the old one.

    Arguments:
        path: usually `checkpoint_path(output folder)`.
        checkpoint: what to store.
    Returns:
        Bytes written. Raises `OutputError` when it cannot be written.
    """
    payload = {"format": _FORMAT, **dataclasses.asdict(checkpoint)}
    try:
        with atomic_open(path, "wb") as f:
            torch.save(payload, f)
            size = f.tell()
    except RuntimeError as exc:  # torch.save reports a failed write (no space left, I/O error) as RuntimeError
        detail = " ".join(str(exc).split())[:200]
        raise OutputError(
            f"cannot write the checkpoint {path} ({detail}); the disk is probably full: free space and resume the run"
        ) from exc
    return size


def load_checkpoint(path: os.PathLike | str) -> Checkpoint | None:
    """Read a checkpoint written by `save_checkpoint`.

    Arguments:
        path: the checkpoint file.
    Returns:
        The `Checkpoint`, or None when there is none. Raises `OutputError` when the file is
        unreadable or from another xmempp version.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise OutputError(f"checkpoint {path} is unreadable ({exc})", remedy=START_AGAIN) from exc
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise OutputError(f"checkpoint {path} was written by another xmempp version", remedy=START_AGAIN)
    return Checkpoint(payload["fingerprint"], int(payload["done"]), bool(payload["completed"]), payload["session"])


# ----------------------------------------------------------------------------- fingerprint
def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(repr((part.shape, part.dtype.str)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, torch.Tensor):
            h.update(repr((tuple(part.shape), str(part.dtype))).encode())
            h.update(part.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()


def _frames_fingerprint(frames: Frames) -> Any:
    """{file name: [size, mtime]} of frame files (so a change is named by file), a digest of the video
    file's name, size and mtime, else of the frames' content."""
    files = files_of(frames)
    if files is not None:
        return {Path(p).name: list(_stat(Path(p))) for p in files}
    path = video_path_of(frames)
    if path is not None:
        return _digest("video", Path(path).name, *_stat(Path(path)), len(frames))
    return _digest("arrays", *(np.asarray(frames[i]) for i in range(len(frames))))


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError as exc:
        raise OutputError(f"cannot read {path} to fingerprint the job: {exc.strerror or exc}") from exc
    return st.st_size, st.st_mtime_ns


#: Each loaded network's weights digest, computed once (kept only as long as the network lives).
_WEIGHT_DIGESTS: weakref.WeakKeyDictionary[XMemNetwork, str] = weakref.WeakKeyDictionary()


def weights_digest(model: XMemNetwork) -> str:
    """SHA-256 of the network's parameters and buffers (names, shapes, dtypes, bytes)."""
    cached = _WEIGHT_DIGESTS.get(model)
    if cached is not None:
        return cached
    state = model.state_dict()
    digest = _digest(*(part for name in sorted(state) for part in (name, state[name])))
    _WEIGHT_DIGESTS[model] = digest  # parameters of an inference network do not change
    return digest


def job_fingerprint(model: XMemNetwork, job: ShotJob | JobRun) -> dict[str, Any]:
    """Everything a job's results depend on, by part, so that a change can be named.

    Arguments:
        model: the network the job runs with.
        job: a `ShotJob` or its `JobRun`.
    Returns:
        {part: value}: "frames" (file names, sizes and mtimes, or content), "references"
        ({frame: content digest}), "settings" (the config fields), "mode", "frame plan",
        "weights", "device", "precision" (the network's number format), "threads" (torch's CPU
        threads on the CPU, None elsewhere: the CPU kernels' results depend on how work is split
        between threads), "outputs" (writer options, refine settings, palette, file stems).
    """
    run = prepare_job(job)
    job = run.job
    outputs = job.outputs
    device = next(model.parameters()).device.type
    writer = None
    if outputs is not None:
        options = dataclasses.asdict(outputs.options)
        for name in ("workers", "queue_size", "fsync", "preview_fps"):
            options.pop(name)
        options["preview"] = None if options["preview"] is None else str(options["preview"])
        writer = {
            **{k: repr(v) for k, v in sorted(options.items())},
            "refine": repr(outputs.refine),
            "palette": _digest(None if outputs.palette is None else np.asarray(outputs.palette)),
            "file names": _digest(list(run.stems)),
        }
    return {
        "frames": _frames_fingerprint(job.frames),
        "references": {str(run.stems[f]): _digest(np.asarray(m)) for f, m in sorted(job.references.items())},
        "settings": dataclasses.asdict(job.config),
        "mode": Mode(job.mode).value,
        "frame plan": [Direction(job.direction).value, job.start, job.count],
        "weights": weights_digest(model),
        "device": device,
        "precision": model.precision.value,
        "threads": torch.get_num_threads() if device == "cpu" else None,
        "outputs": writer,
    }


def fingerprint_changes(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints, in words (empty when they match).

    Arguments:
        saved: the fingerprint in the checkpoint.
        current: the fingerprint of the job about to run.
    Returns:
        One phrase per changed part, naming frames by file stem and options by name, e.g. "reference
        mask of frame sh010.1014 (edited)", "frame file sh010.1003.png (modified)", "setting mem_every
        (5 -> 10)", "output option alpha (False -> True)".
    """
    changes = []
    for part in current:
        old, new = saved.get(part), current[part]
        if old == new:
            continue
        if part == "references" and isinstance(old, dict):
            changes += [
                f"reference mask of frame {f} ({_what(old, new, f, 'edited')})"
                for f in sorted(set(old) | set(new), key=str)
                if old.get(f) != new.get(f)
            ]
        elif part == "settings" and isinstance(old, dict):
            changes += [
                f"setting {name} ({old.get(name)!r} -> {new.get(name)!r})"
                for name in new
                if old.get(name) != new.get(name)
            ]
        elif part in ("mode", "device", "precision", "threads", "frame plan"):
            changes.append(f"{part} ({old!r} -> {new!r})")
        elif part == "frames" and isinstance(old, dict) and isinstance(new, dict):
            named = [
                f"frame file {f} ({_what(old, new, f, 'modified')})"
                for f in sorted(set(old) | set(new))
                if old.get(f) != new.get(f)
            ]
            changes += named[:5] + ([f"and {len(named) - 5} more frame files"] if len(named) > 5 else [])
        elif part == "frames":
            changes.append("the frames (the video file, or the frames' content)")
        elif part == "outputs" and isinstance(old, dict) and isinstance(new, dict):
            changes += [
                f"output option {name} ({old.get(name)} -> {new.get(name)})"
                if name not in ("palette", "file names")
                else f"the output {name}"
                for name in sorted(set(old) | set(new))
                if old.get(name) != new.get(name)
            ]
        else:
            changes.append(f"the {part}")
    return changes


def _what(old: dict, new: dict, key: Any, changed: str) -> str:
    return "added" if key not in old else "removed" if key not in new else changed


class Checkpointer:
    """Saves a running job's checkpoints according to a `CheckpointPolicy` (used by `run_job`).

    Attributes:
        path: the checkpoint file.
        saves: checkpoints written; seconds: time spent writing them; last_bytes: size of the last one.
    """

    def __init__(self, path: Path, policy: CheckpointPolicy, fingerprint: dict[str, Any]) -> None:
        self.path = path
        self.policy = policy
        self.fingerprint = fingerprint
        self.saves = 0
        self.seconds = 0.0
        self.last_bytes = 0
        self._version: int | None = None
        self._writes = 0
        self._last = time.monotonic()

    def observe(self, memory_version: int) -> None:
        """Count a memory change when the memory's version moved since the last call."""
        if self._version is not None and memory_version != self._version:
            self._writes += 1
        self._version = memory_version

    def due(self) -> bool:
        """Whether the policy asks for a checkpoint now."""
        return self.policy.due(self._writes, time.monotonic() - self._last)

    def save(self, done: int, session_state: dict | None, completed: bool = False) -> None:
        """Write the checkpoint for `done` frames (the caller has flushed the writers first)."""
        started = time.perf_counter()
        self.last_bytes = save_checkpoint(self.path, Checkpoint(self.fingerprint, done, completed, session_state))
        self.seconds += time.perf_counter() - started
        self.saves += 1
        self._writes = 0
        self._last = time.monotonic()
