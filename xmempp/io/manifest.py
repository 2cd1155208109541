"""The record of files xmempp wrote into an output folder, so `--overwrite` replaces only those.

`OUT/.xmempp-written` lists one path per line (relative to the output folder, `/`-separated). A
path is appended and flushed *before* its file is renamed into place, so even an interrupted run
leaves every file it wrote on the list. Hidden, so folder scans and result checks skip it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from xmempp.errors import OutputError
from xmempp.io.atomic import atomic_write_bytes
from xmempp.types import PathLike

__all__ = ["MANIFEST_NAME", "Manifest", "remove_stale", "written_by_xmempp"]

MANIFEST_NAME = ".xmempp-written"


def _key(folder: Path, path: Path) -> str:
    return Path(os.path.relpath(Path(path).absolute(), Path(folder).absolute())).as_posix()


def written_by_xmempp(folder: PathLike) -> set[str]:
    """Paths (relative to `folder`) xmempp recorded as written there; empty when none.

    Arguments:
        folder: an output folder.
    Returns:
        The set of recorded relative paths.
    """
    try:
        text = (Path(folder) / MANIFEST_NAME).read_text(encoding="utf-8")
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise OutputError(f"cannot read {Path(folder) / MANIFEST_NAME}: {exc.strerror or exc}") from exc
    return {line for line in text.splitlines() if line}


class Manifest:
    """Appends the files a run writes to the output folder's record (thread-safe)."""

    def __init__(self, folder: PathLike) -> None:
        """Open the record of `folder` for appending.

        Arguments:
            folder: the output folder (must exist).
        Returns:
            None.
        """
        self.folder = Path(folder)
        self._known = written_by_xmempp(self.folder)
        self._lock = threading.Lock()

    def owns(self, path: PathLike) -> bool:
        """True when `path` was written by xmempp (recorded)."""
        return _key(self.folder, Path(path)) in self._known

    def add(self, path: PathLike) -> None:
        """Record `path` (call before renaming it into place).

        Arguments:
            path: a file inside (or beside) the output folder.
        Returns:
            None. Raises `OutputError` if the record cannot be written.
        """
        key = _key(self.folder, Path(path))
        with self._lock:
            if key in self._known:
                return
            try:
                with open(self.folder / MANIFEST_NAME, "a", encoding="utf-8") as f:
                    f.write(key + "\n")
            except OSError as exc:
                raise OutputError(
                    f"cannot record written files in {self.folder / MANIFEST_NAME}: {exc.strerror or exc}"
                ) from exc
            self._known.add(key)


def remove_stale(folder: PathLike, since: float) -> list[str]:
    """Delete the files an earlier run recorded in `folder` that the run started at `since` did not write.

    Only recorded files inside the folder are touched, and only those last modified before `since`
    (a file the new run wrote is newer); the record is rewritten without them.

    Arguments:
        folder: the output folder.
        since: the new run's start (`time.time()`), before its first file was written.
    Returns:
        The removed paths (relative, sorted). Raises `OutputError` when one cannot be removed.
    """
    folder = Path(folder)
    recorded = written_by_xmempp(folder)
    removed: list[str] = []
    for key in sorted(recorded):
        path = folder / key
        if key.startswith("../") or not path.is_file() or path.stat().st_mtime >= since:
            continue
        try:
            path.unlink()
        except OSError as exc:
            raise OutputError(f"cannot remove {path}, left from an earlier run: {exc.strerror or exc}") from exc
        removed.append(key)
        parent = path.parent
        while parent != folder and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    if removed:
        kept = sorted(recorded - set(removed))
        atomic_write_bytes(folder / MANIFEST_NAME, "".join(k + "\n" for k in kept).encode("utf-8"), fsync=False)
    return removed
