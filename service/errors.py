"""Service errors, the HTTP status each xmempp error becomes, and error details in the API's terms.

A detail names request fields (never a command-line flag) and no server path: paths inside the media
roots are shown relative to their root, files in the state folder by their name in the session.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path

from xmempp.errors import (
    ConfigError,
    InputError,
    MemoryStateError,
    OutputError,
    Remedy,
    RemedyKind,
    ResourceError,
    WeightsError,
    XMemppError,
)
from xmempp.inference.config import InferenceConfig

from .media import PathRefused


class NotFound(InputError):
    """A session, track, reference or result the request names does not exist."""


class LimitExceeded(XMemppError):
    """A limit on concurrent use (sessions open, polls of one client) is reached: retrying later can help.

    `retry_after_s` is the answer's Retry-After.
    """

    def __init__(self, message: str = "", *, retry_after_s: int = 30) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TooLarge(InputError):
    """The request asks for more than this server ever accepts (frames per session, frame size): a retry
    cannot help."""


class NotReady(MemoryStateError):
    """The session cannot do this yet (e.g. frames still being uploaded, no reference)."""


class Unauthorized(XMemppError):
    """Missing or wrong bearer token."""


class Forbidden(XMemppError):
    """The request's token is not allowed to do this (e.g. a token whose `max_sessions` is 0): a retry cannot help."""


_STATUS: tuple[tuple[type, int], ...] = (
    (Unauthorized, 401),
    (Forbidden, 403),
    (PathRefused, 403),
    (NotFound, 404),
    (TooLarge, 413),
    (LimitExceeded, 429),
    (MemoryStateError, 409),
    (ConfigError, 422),
    (InputError, 400),
    (ResourceError, 503),
    (OutputError, 500),
    (WeightsError, 500),
)

_CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(InferenceConfig))
#: An absolute server path that is not an API path (/v1/...).
_ABSOLUTE = re.compile(r"(?<![\w.:/])/(?!v1/)(?:[\w.\-+@ ]+/)+([\w.\-+@]+)")


def status_for(exc: XMemppError) -> int:
    """HTTP status for an xmempp error (400 when nothing more specific applies)."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 400


def service_remedy(remedy: Remedy) -> str:
    """One core remedy in the service's terms: the request field to send."""
    note = f" {remedy.note}" if remedy.note else ""
    setting = remedy.setting or ""

    def field(value: str) -> str:
        if setting in _CONFIG_FIELDS:
            return f'"config": {{"{setting}": {value}}} when opening the session'
        return f'"{setting}": {value} in the request'

    if remedy.kind is RemedyKind.SET and setting:
        if remedy.value is not None:
            return f"set {field(json.dumps(remedy.value, default=str))}{note}"
        if remedy.choices:
            return f"set {field('...')} to one of {', '.join(map(str, remedy.choices))}{note}"
        return f"set {field('...')}{note}"
    if remedy.kind in (RemedyKind.ENABLE, RemedyKind.DISABLE) and setting:
        return f"set {field('true' if remedy.kind is RemedyKind.ENABLE else 'false')}{note}"
    if remedy.kind is RemedyKind.DOWNLOAD_WEIGHTS:
        return "the server has no usable weights; its administrator must install them"
    return remedy.describe()


def service_message(exc: XMemppError, roots: Sequence[Path] = (), state_dir: Path | None = None) -> str:
    """The error's detail for a client: its message and remedies in request terms, without server paths."""
    message = exc.message or str(exc)
    if exc.remedies:
        message = f"{message}; " + ", or ".join(service_remedy(r) for r in exc.remedies)
    return scrub_paths(message, roots, state_dir)


def scrub_paths(text: str, roots: Sequence[Path] = (), state_dir: Path | None = None) -> str:
    """`text` with server paths removed: media-root paths made relative, state-folder paths shortened to
    the file's place in its session, any other absolute path cut to its last part."""
    if state_dir is not None:
        text = re.sub(re.escape(str(state_dir)) + r"/sessions/[\w\-]+/", "", text)
        text = text.replace(str(state_dir), "the server's state folder")
    for root in sorted(roots, key=lambda r: len(str(r)), reverse=True):
        text = text.replace(str(root) + "/", "").replace(str(root), ".")
    return _ABSOLUTE.sub(r"\1", text)
