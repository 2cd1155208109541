"""Bring a live session's references in line with what a front end holds (the GUI's painted
keyframes, the service's uploaded references), so that its results equal a job opened from scratch."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

import numpy as np

from xmempp.inference.config import InferenceConfig
from xmempp.inference.objects import ObjectOrder
from xmempp.inference.plan import Mode
from xmempp.inference.session import InferenceSession
from xmempp.model.network import XMemNetwork

__all__ = ["ReferenceSync"]


class ReferenceSync:
    """Keeps one session holding exactly a wanted set of references.

    Each reference comes with a version (anything comparable: an edit counter, a digest); only
    references that are new, changed or gone are encoded again. When the objects of the wanted
    references would be ordered differently from a fresh session's (an object removed, a first
    appearance moved), the session is rebuilt from scratch, so results never depend on edit history.
    """

    def __init__(self, model: XMemNetwork, config: InferenceConfig, mode: Mode | str) -> None:
        """Arguments: model: the network; config, mode: the session's settings."""
        self.model = model
        self.config = config
        self.mode = mode
        self.session: InferenceSession | None = None
        self._encoded: dict[int, Hashable] = {}

    def sync(
        self, wanted: Mapping[int, tuple[Hashable, np.ndarray]], image: Callable[[int], np.ndarray]
    ) -> InferenceSession:
        """The session holding exactly `wanted` (frame -> (version, HxW uint8 ids); empty masks skipped).

        Arguments:
            wanted: the references to hold.
            image: frame index -> HxWx3 uint8 RGB frame (read only for references to encode).
        Returns:
            The up-to-date `InferenceSession`.
        """
        wanted = {f: v for f, v in wanted.items() if np.any(v[1])}
        if self.session is None:
            self.session, self._encoded = InferenceSession(self.model, self.config, self.mode), {}
        session = self.session
        for frame in sorted(set(self._encoded) - set(wanted)):
            session.remove_reference(frame)
            del self._encoded[frame]
        for frame in sorted(wanted):
            version, mask = wanted[frame]
            if frame not in self._encoded:
                session.add_reference(frame, image(frame), mask)
            elif self._encoded[frame] != version:
                session.replace_reference(frame, image(frame), mask)
            self._encoded[frame] = version
        order = list(ObjectOrder.from_masks({f: m for f, (_, m) in wanted.items()}).ids)
        if session.object_ids != order:  # edits left another object order than a fresh session's
            session = self.session = InferenceSession(self.model, self.config, self.mode)
            for frame in sorted(wanted):
                session.add_reference(frame, image(frame), wanted[frame][1])
        return session
