"""The network's memory of a session: one `InferenceSession` kept holding exactly the session's references,
through the core's `ReferenceSync` (only changed references are encoded again; a rebuild when the object
order would differ from a fresh session's), so every front end gets results independent of edit order."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Hashable, Mapping

import numpy as np

from xmempp.inference.config import InferenceConfig
from xmempp.inference.reference_sync import ReferenceSync
from xmempp.inference.session import InferenceSession
from xmempp.model.network import XMemNetwork

__all__ = ["SessionMemory"]


class SessionMemory:
    """One `ReferenceSync` per (model, config, mode): a different model or setting starts a fresh memory.

    Thread-safe: a worker thread may sync while the owner reads `session`.
    """

    def __init__(self) -> None:
        self._sync: ReferenceSync | None = None
        self._key: tuple | None = None
        self._lock = threading.RLock()

    @property
    def session(self) -> InferenceSession | None:
        """The last synced `InferenceSession`, or None (none yet, or dropped)."""
        sync = self._sync
        return sync.session if sync is not None else None

    def sync(
        self,
        model: XMemNetwork,
        config: InferenceConfig,
        mode: str,
        references: Mapping[int, tuple[Hashable, np.ndarray]],
        image: Callable[[int], np.ndarray],
    ) -> InferenceSession:
        """The session holding exactly `references`.

        Arguments:
            model: the network.
            config, mode: inference settings.
            references: frame -> (version, HxW uint8 ids); empty masks are skipped.
            image: frame index -> HxWx3 uint8 RGB (read only for references to encode).
        Returns:
            The up-to-date `InferenceSession`.
        """
        key = (id(model), dataclasses.astuple(config), str(getattr(mode, "value", mode)))
        with self._lock:
            if self._sync is None or self._key != key:
                self._sync = ReferenceSync(model, dataclasses.replace(config), key[2])
                self._key = key
            return self._sync.sync(references, image)

    def drop(self) -> None:
        """Forget the memory (settings changed); the next `sync` encodes the references again."""
        with self._lock:
            self._sync, self._key = None, None

    def clear_memory(self) -> None:
        """Drop temporary and long-term memory of the current session (references stay)."""
        with self._lock:
            session = self.session
            if session is not None:
                session.clear_memory()
