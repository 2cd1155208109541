"""Service errors and the HTTP status each xmempp error becomes (always a 4xx for a client's mistake)."""
from __future__ import annotations

from xmempp.errors import ConfigError, InputError, MemoryStateError, OutputError, WeightsError, XMemppError

from .media import PathRefused


class NotFound(InputError):
    """A session, track, reference or result the request names does not exist."""


class LimitExceeded(XMemppError):
    """A server limit (sessions, frames, body size) would be exceeded."""


class NotReady(MemoryStateError):
    """The session cannot do this yet (e.g. frames still being uploaded, no reference)."""


_STATUS: tuple[tuple[type, int], ...] = (
    (PathRefused, 403),
    (NotFound, 404),
    (LimitExceeded, 429),
    (MemoryStateError, 409),
    (ConfigError, 422),
    (InputError, 400),
    (OutputError, 500),
    (WeightsError, 500),
)


def status_for(exc: XMemppError) -> int:
    """HTTP status for an xmempp error (400 when nothing more specific applies)."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 400
