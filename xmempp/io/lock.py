"""One run per output folder (or per frame range of it): a lock file taken atomically.

A run takes `<output folder>/.xmempp/lock.json` (a chunk of a shot, `lock.<first>-<last>.json`)
with `O_CREAT | O_EXCL`, so exactly one of two runs starting together gets it. The file holds the
holder's host, pid, start time and frame range. A lock left by a dead process on this host is
taken over; a live holder, an overlapping chunk, or a lock from another host (whose process cannot
be checked from here) refuses the run at once with an `OutputError` naming the holder, unless the
caller forces it (`force_unlock`). Chunks with disjoint frame ranges may run in one folder at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from xmempp.errors import OutputError, Remedy, RemedyKind

__all__ = [
    "LOCK_DIR",
    "FolderLock",
    "LockInfo",
    "LockedError",
    "check_unlocked",
    "folder_lock",
    "others_running",
    "take_lock",
]

#: Hidden folder inside the output folder holding locks (and checkpoints).
LOCK_DIR = ".xmempp"


class LockedError(OutputError):
    """The output folder (or the frames asked for) is held by another run."""


@dataclass(frozen=True)
class LockInfo:
    """Who holds a lock: host, pid, start time (Unix seconds) and frame range (None = every frame)."""

    host: str
    pid: int
    started: float
    frames: tuple[int, int] | None = None

    def describe(self) -> str:
        """ "pid 123 on host n1 since 2026-12-01 21:00:00 UTC (frames 1001-1010)"."""
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        scope = f" (frames {self.frames[0]}-{self.frames[1]})" if self.frames else ""
        return f"pid {self.pid} on host {self.host} since {since}{scope}"

    def alive(self) -> bool | None:
        """Whether the holder still runs: True/False on this host, None on another (unknown)."""
        if self.host != socket.gethostname():
            return None
        if self.pid == os.getpid():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _lock_name(frames: tuple[int, int] | None) -> str:
    return "lock.json" if frames is None else f"lock.{frames[0]}-{frames[1]}.json"


def _overlap(a: tuple[int, int] | None, b: tuple[int, int] | None) -> bool:
    return a is None or b is None or (a[0] <= b[1] and b[0] <= a[1])


def _read(path: Path) -> LockInfo | None:
    """The lock in `path`, None when it vanished; a lock being written (empty) counts as a live one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        data = {}
    frames = data.get("frames")
    return LockInfo(
        str(data.get("host", socket.gethostname())),
        int(data.get("pid", os.getpid())),
        float(data.get("started", time.time())),
        tuple(frames) if frames else None,
    )


def _holders(folder: Path, frames: tuple[int, int] | None, own: Path | None = None) -> list[tuple[Path, LockInfo]]:
    """Locks in `folder` whose frames overlap `frames` (except `own`)."""
    found: list[tuple[Path, LockInfo]] = []
    directory = folder / LOCK_DIR
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("lock*.json")):
        if own is not None and path == own:
            continue
        info = _read(path)
        if info is not None and _overlap(info.frames, frames):
            found.append((path, info))
    return found


def _refusal(folder: Path, info: LockInfo) -> LockedError:
    where = "another host, so xmempp cannot tell whether it still runs" if info.alive() is None else "a running process"
    return LockedError(
        f"output folder {folder} is in use by another xmempp run: {info.describe()} ({where}); "
        f"wait for it to finish or choose another folder",
        remedy=Remedy(RemedyKind.ENABLE, "force_unlock", note="if that run is gone (e.g. its host was lost)"),
    )


def check_unlocked(folder: os.PathLike | str, frames: tuple[int, int] | None = None, force: bool = False) -> None:
    """Refuse early (before any file is touched) when a live run holds the folder's frames.

    Arguments:
        folder: the output folder.
        frames: the frame range the run writes (None: every frame).
        force: do not refuse (the lock will be taken over).
    Returns:
        None. Raises `LockedError` naming the holder.
    """
    if force:
        return
    for _path, info in _holders(Path(folder), frames):
        if info.alive() is not False:
            raise _refusal(Path(folder), info)


def others_running(folder: os.PathLike | str) -> bool:
    """Whether a run other than this process (a chunk with other frames) may be writing into `folder` now."""
    me = (socket.gethostname(), os.getpid())
    return any(
        (info.host, info.pid) != me and info.alive() is not False for _path, info in _holders(Path(folder), None)
    )


class FolderLock:
    """A taken lock; `release()` removes it (only if it is still ours)."""

    def __init__(self, path: Path, info: LockInfo) -> None:
        self.path = path
        self.info = info

    def release(self) -> None:
        """Remove the lock file if it still holds this run."""
        current = _read(self.path)
        if current is not None and (current.host, current.pid, current.started) == (
            self.info.host,
            self.info.pid,
            self.info.started,
        ):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def take_lock(folder: os.PathLike | str, frames: tuple[int, int] | None = None, force: bool = False) -> FolderLock:
    """Take the lock of `folder` (for `frames`), atomically.

    Arguments:
        folder: the output folder (created with its `.xmempp` folder when missing).
        frames: the frame range the run writes (None: every frame).
        force: take over a lock held by anybody (the caller knows that run is gone).
    Returns:
        The `FolderLock`. Raises `LockedError` naming the holder, `OutputError` when the lock
        cannot be written.
    """
    folder = Path(folder)
    path = folder / LOCK_DIR / _lock_name(frames)
    info = LockInfo(socket.gethostname(), os.getpid(), time.time(), frames)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {path.parent}: {exc.strerror or exc}") from exc
    for _attempt in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _read(path)
            if holder is not None and holder.alive() is not False and not force:
                raise _refusal(folder, holder) from None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a dead holder's (or a forced) lock: take it over
            continue
        except OSError as exc:
            raise OutputError(f"cannot write the lock file {path}: {exc.strerror or exc}") from exc
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "host": info.host,
                    "pid": info.pid,
                    "started": info.started,
                    "frames": list(frames) if frames else None,
                },
                f,
            )
            f.flush()
            os.fsync(f.fileno())
        break
    else:
        raise _refusal(folder, _read(path) or info)
    lock = FolderLock(path, info)
    for other, holder in _holders(folder, frames, own=path):
        if force or holder.alive() is False:
            with contextlib.suppress(FileNotFoundError):
                other.unlink()
            continue
        lock.release()
        raise _refusal(folder, holder)
    return lock


@contextlib.contextmanager
def folder_lock(
    folder: os.PathLike | str, frames: tuple[int, int] | None = None, force: bool = False
) -> Iterator[FolderLock]:
    """`take_lock` as a context manager that releases the lock on exit."""
    lock = take_lock(folder, frames, force)
    try:
        yield lock
    finally:
        lock.release()
