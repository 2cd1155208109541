"""Server-side media paths: only what lies inside the allowed media roots is opened."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from xmempp.errors import InputError


class PathRefused(InputError):
    """A path names something outside every media root (or no roots are configured)."""


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
        raise PathRefused("this server has no media roots (start it with --media-root DIR); upload frames instead")
    if "\x00" in path:
        raise PathRefused("the path contains a NUL character")
    given = Path(path).expanduser()
    candidates = [given] if given.is_absolute() else [root / given for root in roots]
    for candidate in candidates:
        real = candidate.resolve()
        if any(real == root or real.is_relative_to(root) for root in roots):
            if not real.exists():
                raise InputError(f"{path} does not exist in the media roots")
            return real
    raise PathRefused(f"{path} is outside the media roots this server may read")
