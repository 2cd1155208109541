"""PyAV, imported only where a video is read or written (it is an optional dependency)."""
from __future__ import annotations

from types import ModuleType

from xmempp.errors import XMemppError

__all__ = ["require_av"]


def require_av(purpose: str, error: type[XMemppError]) -> ModuleType:
    """The `av` module, or `error` saying that `purpose` needs PyAV.

    Arguments:
        purpose: what needs it ("reading video files").
        error: the XMemppError subclass to raise when PyAV is missing.
    Returns:
        The imported module.
    """
    try:
        import av  # noqa: PLC0415 - optional dependency
    except ImportError as exc:  # pragma: no cover - av is a declared dependency of the cli extra
        raise error(f"{purpose} needs PyAV (the `av` package); install it with the cli extra") from exc
    return av
