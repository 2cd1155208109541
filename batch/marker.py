"""Completion markers: `OUTPUT/.xmempp/done.json`, written when a shot's run reaches its last frame.

The marker holds a fingerprint of everything that decides the shot's results (plate files, mask
contents, settings, weights); a rerun of the batch skips a shot whose marker matches and reruns one
whose inputs or settings changed since.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Optional

from xmempp.io.atomic import atomic_write_text

from .shotlist import ShotSpec

__all__ = ["MARKER_DIR", "done_marker_path", "shot_fingerprint", "read_done", "write_done", "clear_done"]

#: Hidden folder of batch bookkeeping inside a shot's output folder.
MARKER_DIR = ".xmempp"


def done_marker_path(output: Path) -> Path:
    """Path of the completion marker of an output folder."""
    return Path(output) / MARKER_DIR / "done.json"


def shot_fingerprint(shot: ShotSpec, weights: Path) -> str:
    """SHA-256 over what decides a shot's results.

    Arguments:
        shot: the shot (plate files by name, size and modification time; mask files by content;
            inference settings, mode and writer options; `overwrite` and the name do not count).
        weights: the checkpoint file (by path, size and modification time).
    Returns:
        A hex digest. Missing files count as missing, so the shot's own run reports them.
    """
    writer = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(shot.writer).items()
              if k not in ("workers", "queue_size", "fsync", "preview_fps")}
    identity = {
        "plate": _files(shot.plate, content=False),
        "masks": _files(shot.masks, content=True),
        "config": dataclasses.asdict(shot.config),
        "mode": shot.mode,
        "writer": writer,
        "output": str(shot.output),
        "weights": _stat(Path(weights).resolve()),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def read_done(output: Path) -> Optional[dict[str, Any]]:
    """The completion marker of an output folder, or None when absent or unreadable."""
    try:
        data = json.loads(done_marker_path(output).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_done(output: Path, fingerprint: str, frames: int, seconds: float) -> None:
    """Write the completion marker atomically.

    Arguments:
        output: the shot's output folder.
        fingerprint: `shot_fingerprint` of the shot.
        frames, seconds: frames stepped and time taken by the run that finished it.
    Returns:
        None.
    """
    record = {"fingerprint": fingerprint, "frames": frames, "seconds": round(seconds, 3),
              "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": os.uname().nodename}
    atomic_write_text(done_marker_path(output), json.dumps(record, indent=2) + "\n")


def clear_done(output: Path) -> None:
    """Remove an output folder's completion marker, if any (before its shot runs again)."""
    done_marker_path(output).unlink(missing_ok=True)


def _stat(path: Path) -> Any:
    try:
        info = path.stat()
    except OSError:
        return [str(path), "missing"]
    return [str(path), info.st_size, info.st_mtime_ns]


def _files(path: Path, content: bool) -> Any:
    if not path.is_dir():
        return _stat(path)
    entries = []
    for child in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
        if content:
            entries.append([child.name, hashlib.sha256(child.read_bytes()).hexdigest()])
        else:
            info = child.stat()
            entries.append([child.name, info.st_size, info.st_mtime_ns])
    return entries
