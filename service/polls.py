"""Per-client limits on long polls and streams (they wait on the event loop, but each holds a socket)."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator

from .errors import LimitExceeded


class PollSlots:
    """Counts the long polls and streams each client address holds open.

    Arguments:
        per_client: most open at once per address; one more is refused with `LimitExceeded` (429).
    """

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        """Polls and streams open now, all clients together."""
        with self._lock:
            return sum(self._open.values())

    def check(self, client: str) -> None:
        """Raise `LimitExceeded` when `client` holds as many as it may."""
        with self._lock:
            self._check(client)

    def _check(self, client: str) -> None:
        if self._open[client] >= self.per_client:
            raise LimitExceeded(
                f"this client already holds {self._open[client]} long polls or streams, the most "
                "this server allows at once; wait for one to end",
                retry_after_s=1,
            )

    @contextlib.contextmanager
    def slot(self, client: str) -> Iterator[None]:
        """Hold one of `client`'s slots for the duration (released however the poll ends)."""
        with self._lock:
            self._check(client)
            self._open[client] += 1
        try:
            yield
        finally:
            with self._lock:
                self._open[client] -= 1
                if self._open[client] <= 0:
                    del self._open[client]
