"""PyAV, imported only where a video is read or written (it is an optional dependency)."""

from __future__ import annotations

from types import ModuleType

from xmempp.errors import XMemppError

__all__ = ["av_reason", "require_av"]


def require_av(purpose: str, error: type[XMemppError]) -> ModuleType:
    """The `av` module, or `error` saying that `purpose` needs PyAV.

    Arguments:
        purpose: what needs it ("reading video files").
        error: the XMemppError subclass to raise when PyAV is missing.
    Returns:
        The imported module.
    """
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is a declared dependency of the cli extra
        raise error(f"{purpose} needs PyAV (the `av` package); install it with the cli extra") from exc
    return av


def av_reason(exc: BaseException) -> str:
    """What a PyAV/FFmpeg error says, in words: no raw `[Errno 1094995529]` (AVERROR_INVALIDDATA), no
    FFmpeg function name or repeated file name.

    Arguments:
        exc: an `av.error.FFmpegError` (or any exception).
    Returns:
        A short phrase such as "invalid data" or "unexpected end of file".
    """
    import av

    if isinstance(exc, av.error.InvalidDataError):
        return "invalid data"
    if isinstance(exc, av.error.EOFError):
        return "unexpected end of file"
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split()).rstrip(".").lower() or type(exc).__name__
