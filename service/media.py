"""Server-side media paths: only what lies inside the allowed media roots is opened.

The check is made on every file a session reads, not only on the path a client named: a folder
inside a root may hold frame files that are symbolic links to elsewhere, and those are refused too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xmempp.errors import InputError
from xmempp.io.frames import FrameSource


class PathRefused(InputError):
    """A path names something outside every media root (or no roots are configured)."""


def inside(path: Path, roots: Sequence[Path]) -> bool:
    """True when the real location of `path` (links and ".." resolved) lies in one of `roots`."""
    real = path.resolve()
    return any(real == root or real.is_relative_to(root) for root in roots)


def resolve_media(path: str, roots: Sequence[Path]) -> Path:
    """The real location of a client-given path, if it lies inside one of `roots`.

    Relative paths are taken relative to each root in turn. Symbolic links and ".." are resolved
    before the check, so neither can lead outside a root.

    Arguments:
        path: the path from the request.
        roots: allowed folders (already resolved).
    Returns:
        The resolved, existing path. Raises `PathRefused` for a path outside the roots and
        `InputError` for one that does not exist.
    """
    if not roots:
        raise PathRefused(
            "this server has no media roots, so it opens no server-side shots; "
            'open the session with "frames": N and upload the frames instead'
        )
    if "\x00" in path:
        raise PathRefused("the path contains a NUL character")
    given = Path(path).expanduser()
    candidates = [given] if given.is_absolute() else [root / given for root in roots]
    for candidate in candidates:
        real = candidate.resolve()
        if inside(real, roots):
            if not real.exists():
                raise InputError(f"{path} does not exist in the media roots")
            return real
    raise PathRefused(f"{path} is outside the media roots this server may read")


def shown_path(path: Path, roots: Sequence[Path]) -> str:
    """`path` as a client may see it: relative to its media root (never the server's absolute path)."""
    for root in roots:
        if path == root:
            return "."
        if path.is_relative_to(root):
            return str(path.relative_to(root))
    return path.name


class ConfinedFrames(FrameSource):
    """A frame source whose every file is checked against the media roots when the session opens it
    and again before each read (a file replaced by a link to elsewhere later is refused then).

    Arguments:
        inner: the opened folder, plate sequence or video.
        roots: the allowed media roots.
    """

    def __init__(self, inner: FrameSource, roots: Sequence[Path]) -> None:
        self.inner, self.roots = inner, list(roots)
        self.path, self.names, self.is_video = inner.path, inner.names, inner.is_video
        self.fps, self.frame_numbers = inner.fps, inner.frame_numbers
        self.files: list[Path] | None = getattr(inner, "files", None)
        for index in range(len(self.files or ())):
            self._check(index)

    def _check(self, index: int) -> None:
        if self.files is None:
            return
        path = self.files[index]
        if not inside(path, self.roots):
            raise PathRefused(
                f"frame file {path.name} of {shown_path(self.inner.path, self.roots)} is a link to "
                "a file outside the media roots this server may read"
            )

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames."""
        return self.inner.size

    def _read(self, index: int) -> np.ndarray:
        self._check(index)
        return self.inner[index]

    def close(self) -> None:
        """Close the inner source."""
        self.inner.close()
