"""The GUI's model cache: the network loaded lazily, soft targets and candidate features kept for reuse.

No Qt here. The model is loaded on first use (the first propagation or suggestion), in the worker
thread that needs it; a missing or unreadable weights file raises `WeightsError` with a message that
names the path and `xmempp weights download`, and annotation goes on without it.

The network's memory of the shot belongs to the project's `AnnotationSession` (`session.memory`: only
references whose version changed are encoded again); `session_for` asks it with the loaded model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xmempp.annotation import AnnotationSession
from xmempp.errors import MemoryStateError, WeightsError
from xmempp.inference.config import InferenceConfig
from xmempp.inference.session import InferenceSession
from xmempp.model.weights import DEFAULT_WEIGHTS, weights_path

if TYPE_CHECKING:  # pragma: no cover
    from xmempp.model.network import XMemNetwork

__all__ = ["ModelCache", "weights_message"]


def weights_message(path: Path, reason: str) -> str:
    """The text shown when propagation or suggestion needs weights it cannot load.

    Arguments:
        path: the weights file that was looked for.
        reason: what is wrong with it ("it does not exist", or the loader's message).
    Returns:
        A message naming the path and how to get the weights.
    """
    return (
        f"Propagation and frame suggestions need the XMem weights, but {reason}.\n\n"
        f"Weights file: {path}\n\n"
        f"Download the official weights with:\n    xmempp weights download\n"
        f"or start the GUI with --model PATH to use another checkpoint.\n\n"
        f"Annotation keeps working without weights, and everything you paint is saved."
    )


class ModelCache:
    """The network of one GUI window, loaded on first use, and what is kept to reuse its work.

    Attributes:
        model_path: an explicit checkpoint (--model), or None for the default weights file.
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        precision: "auto", "fp32", "bf16" or "fp16" (as `load_model`; checked when the network loads).
        model: the loaded network, or None until first needed.
        annotation: the `AnnotationSession` whose references the network's memory holds (set by the project).
        force_memory: run jobs the memory guard would refuse (it then only warns), as `--force`.
    """

    def __init__(self, model_path: Path | None = None, device: str = "auto", precision: str = "auto") -> None:
        self.model_path = Path(model_path).expanduser() if model_path is not None else None
        self.device = device
        self.precision = precision
        self.model: XMemNetwork | None = None
        self.annotation: AnnotationSession | None = None
        self._features = None
        self._features_key: tuple | None = None
        self._soft: dict[int, tuple[bytes, bytes]] = {}
        self.force_memory = False
        self.lock = threading.RLock()

    # ------------------------------------------------------------------ weights and model
    @property
    def weights_file(self) -> Path:
        """The weights file that will be loaded."""
        return self.model_path if self.model_path is not None else weights_path(DEFAULT_WEIGHTS)

    def check_weights(self) -> None:
        """Cheap check (no hashing, no loading) that the weights file exists.

        Returns:
            None. Raises `WeightsError` with the GUI message when the file is missing.
        """
        if self.model is not None:
            return
        path = self.weights_file
        if not path.is_file():
            reason = "that path is not a file" if path.exists() else "that file does not exist"
            raise WeightsError(weights_message(path, reason))

    def ensure_model(self):
        """Load the network on first use (call from a worker thread: it can take seconds).

        Returns:
            The loaded `XMemNetwork`. Raises `WeightsError` (GUI message) when the file is
            missing, unreadable, changed since download, or not an XMem checkpoint.
        """
        from xmempp.model.loading import load_model
        from xmempp.model.weights import resolve_weights

        with self.lock:
            if self.model is None:
                self.check_weights()
                path = self.weights_file
                try:
                    resolved = resolve_weights(self.model_path, download=False)
                    self.model = load_model(resolved, device=self.device, precision=self.precision)
                except WeightsError as exc:
                    raise WeightsError(weights_message(path, f"it cannot be used: {exc.message}")) from exc
            return self.model

    @property
    def status(self) -> str:
        """One line for the status bar."""
        if self.model is None:
            return f"model: not loaded ({self.weights_file.name})"
        device = next(self.model.parameters()).device
        return f"model: {self.weights_file.name} on {device}"

    def guard_memory(self, job) -> str | None:
        """The memory guard of `xmempp process`: refuse a job the machine cannot hold, before its first frame.

        Arguments:
            job: the `ShotJob` about to run (worker thread; the model is loaded).
        Returns:
            None when it fits; with `force_memory`, the warning to show. Raises `ResourceError` otherwise.
        """
        from xmempp.inference.memory_estimate import check_job_memory

        from .remedies import gui_message

        warning = check_job_memory(self.ensure_model(), job, force=self.force_memory)
        return gui_message(warning) if warning is not None else None

    # ------------------------------------------------------------------ session
    def _session(self) -> AnnotationSession:
        if self.annotation is None:
            raise MemoryStateError("the model cache has no annotation session; open a project first")
        return self.annotation

    @property
    def session(self) -> InferenceSession | None:
        """The network's memory of the shot (`InferenceSession`), or None until a job needed it."""
        return self.annotation.current_memory if self.annotation is not None else None

    def invalidate(self) -> None:
        """Forget the network's memory (settings changed); it is rebuilt, references re-encoded, when next needed."""
        if self.annotation is not None:
            self.annotation.drop_memory()

    def session_for(
        self,
        config: InferenceConfig,
        mode: str,
        references: Mapping[int, tuple[int, np.ndarray]],
        image: Callable[[int], np.ndarray],
    ) -> InferenceSession:
        """The network's memory for `config` holding exactly `references` (worker thread): the annotation
        session's `memory` (only changed references are encoded again; results never depend on edit history).

        Arguments:
            config: inference settings; a different config builds a fresh session.
            mode: "xmempp" or "xmem".
            references: frame index -> (mask version, HxW uint8 ids) (`reference_snapshot`); empty masks skipped.
            image: frame index -> HxWx3 uint8 RGB image (read only for references to encode).
        Returns:
            An `InferenceSession` whose references match `references`.
        """
        model = self.ensure_model()
        with self.lock:
            return self._session().memory(model, config, mode, references=references, image=image)

    def memory_stats(self):
        """The session's `MemoryStats`, or None without a session."""
        session = self.session
        return session.memory_stats() if session is not None else None

    def clear_memory(self) -> None:
        """Drop temporary and long-term memory (references stay)."""
        with self.lock:
            if self.annotation is not None:
                self.annotation.clear_memory()

    # ------------------------------------------------------------------ soft targets
    def record_soft_target(self, frame: int, saved: bytes, probs: np.ndarray) -> None:
        """Keep a propagated frame's soft target (max over objects) for the candidate selector.

        Arguments:
            frame: frame index.
            saved: the index-mask PNG saved for the frame from the same probabilities.
            probs: (1+K, H, W) probabilities, background first.
        """
        from xmempp.io.atomic import encode_png

        target = probs[1:].max(0) if probs.shape[0] > 1 else np.zeros(probs.shape[1:], np.float32)
        matte = np.round(np.clip(target, 0.0, 1.0) * 65535).astype(np.uint16)
        with self.lock:
            self._soft[frame] = (saved, encode_png(matte))

    def soft_target(self, frame: int, saved: bytes) -> np.ndarray | None:
        """The soft target recorded with the mask `saved`, or None (none recorded, or repainted since).

        Returns:
            HxW float32 in [0, 1], or None.
        """
        import cv2

        with self.lock:
            entry = self._soft.get(frame)
        if entry is None or entry[0] != saved:
            return None
        matte = cv2.imdecode(np.frombuffer(entry[1], np.uint8), cv2.IMREAD_UNCHANGED)
        return None if matte is None else matte.astype(np.float32) / 65535

    # ------------------------------------------------------------------ candidate features
    def cached_features(self, key: tuple):
        """Key-encoder features computed earlier for `key` (frame count, size), or None."""
        return self._features if self._features_key == key else None

    def store_features(self, key: tuple, features) -> None:
        """Keep candidate features for reuse by the next suggestion with the same `key`."""
        self._features, self._features_key = features, key
