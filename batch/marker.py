"""Batch markers in a shot's output folder: `.xmempp/started.json` when its run starts writing,
`.xmempp/done.json` when it reaches the last frame.

Both hold a fingerprint of everything that decides the shot's results (plate files, mask contents,
settings, weights). A rerun of the batch skips a shot whose done marker matches and reruns one whose
inputs or settings changed since; a started marker that matches says the results in the folder are
from an interrupted run of the same shot, which its next run may replace.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from xmempp.inference.checkpoint import CHECKPOINT_DIR
from xmempp.io.atomic import atomic_write_text

from .shotlist import ShotSpec

__all__ = ["MARKER_DIR", "clear_marker", "marker_path", "read_marker", "shot_fingerprint", "write_marker"]

#: Hidden folder of bookkeeping inside a shot's output folder (the job's checkpoint lives there too).
MARKER_DIR = CHECKPOINT_DIR


def marker_path(output: Path, kind: str = "done") -> Path:
    """Path of an output folder's "started" or "done" marker."""
    return Path(output) / MARKER_DIR / f"{kind}.json"


def shot_fingerprint(shot: ShotSpec, weights: Path) -> str:
    """SHA-256 over what decides a shot's results.

    Arguments:
        shot: the shot (plate files by name, size and modification time; mask files by content;
            inference settings, mode, precision, writer, refine and plate options; `overwrite` and the name do
            not count).
        weights: the checkpoint file (by path, size and modification time).
    Returns:
        A hex digest. Missing files count as missing, so the shot's own run reports them.
    """
    writer = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in dataclasses.asdict(shot.writer).items()
        if k not in ("workers", "queue_size", "fsync", "preview_fps")
    }
    identity = {
        "plate": _files(shot.plate, content=False),
        "masks": _files(shot.masks, content=True),
        "config": dataclasses.asdict(shot.config),
        "mode": shot.mode,
        "precision": shot.precision,
        "writer": writer,
        "refine": dataclasses.asdict(shot.refine),
        "plates": dataclasses.asdict(shot.plates),
        "output": str(shot.output),
        "weights": _stat(Path(weights).resolve()),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def read_marker(output: Path, kind: str = "done") -> dict[str, Any] | None:
    """An output folder's "started" or "done" marker, or None when absent or unreadable."""
    try:
        data = json.loads(marker_path(output, kind).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_marker(output: Path, kind: str, fingerprint: str, **details: Any) -> None:
    """Write a marker atomically, with the time and the machine that wrote it.

    Arguments:
        output: the shot's output folder.
        kind: "started" or "done".
        fingerprint: `shot_fingerprint` of the shot.
        details: more JSON-ready fields (e.g. frames and seconds of the run that finished it).
    Returns:
        None.
    """
    record = {
        "fingerprint": fingerprint,
        **details,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": os.uname().nodename,
        "pid": os.getpid(),
    }
    atomic_write_text(marker_path(output, kind), json.dumps(record, indent=2) + "\n")


def clear_marker(output: Path, kind: str = "done") -> None:
    """Remove an output folder's marker, if any."""
    marker_path(output, kind).unlink(missing_ok=True)


def _stat(path: Path) -> Any:
    try:
        info = path.stat()
    except OSError:
        return [str(path), "missing"]
    return [str(path), info.st_size, info.st_mtime_ns]


def _files(path: Path, content: bool) -> Any:
    if not path.is_dir():
        return _stat(path)
    entries: list[list[str | int]] = []
    for child in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
        if content:
            entries.append([child.name, hashlib.sha256(child.read_bytes()).hexdigest()])
        else:
            info = child.stat()
            entries.append([child.name, info.st_size, info.st_mtime_ns])
    return entries
