"""`--conv auto`'s choices per machine: a JSON file of what was measured, shared by every process.

`xmempp.model.winograd`'s `auto` times the direct path and the Winograd tile sizes once per input shape and
keeps the fastest. Timings vary from run to run, so two processes measuring for themselves could choose
differently and give masks a few pixels apart; a resumed run, a retried batch worker or a restarted server must
write the same bytes. So the first choice measured on a machine is recorded in `timings_path()` (keyed by the
CPU's model name and instruction set, the torch version, the thread count and the shape) and every later
process adopts it. Where two processes measure the same shape at once, the one that writes first wins and the
other adopts its choice (the file is read again under an exclusive lock on a sidecar ``.lock`` file, then
replaced atomically). Deleting the file measures again; an unreadable one is ignored and rewritten; where the
folder cannot be written, choices stay per process (one warning is logged).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from xmempp.model.weights import _user_cache

__all__ = ["TIMINGS_ENV", "Timing", "machine_key", "read_choice", "record_choice", "timings_path"]

#: Environment variable naming the file explicitly (else ``$XMEMPP_HOME`` or the user cache holds it).
TIMINGS_ENV = "XMEMPP_CONV_TIMINGS"

_FILE_NAME = "conv_timings.json"
_FORMAT = 1
_log = logging.getLogger(__name__)
_warned: set[Path] = set()


@dataclass(frozen=True)
class Timing:
    """What `auto` measured for one input shape: seconds per path (0 = direct, else the tile size m; the
    best of its timed runs) and the path it chose, the fastest of them."""

    seconds: dict[int, float]
    chosen: int


def timings_path() -> Path:
    """The file of recorded choices: ``$XMEMPP_CONV_TIMINGS``, else ``conv_timings.json`` in ``$XMEMPP_HOME``
    when set, else in the user cache (``$XDG_CACHE_HOME/xmempp`` or ``~/.cache/xmempp``). Absolute."""
    explicit = os.environ.get(TIMINGS_ENV)
    if explicit:
        return Path(explicit).expanduser().absolute()
    home = os.environ.get("XMEMPP_HOME")
    folder = Path(home).expanduser() if home else _user_cache()
    return folder.absolute() / _FILE_NAME


@functools.cache
def _cpu() -> str:
    """The CPU's model name and the instruction set torch's kernels use on it."""
    name = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            name = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    return f"{name}; {torch.backends.cpu.get_cpu_capability()}"


def machine_key(shape: tuple[int, ...], threads: int) -> str:
    """The file's key for one convolution shape (C, K, N, H, W) run with `threads` threads on this machine."""
    return f"{_cpu()}; torch {torch.__version__}; {threads} threads; " + "x".join(str(d) for d in shape)


def _parse(entry: object) -> Timing | None:
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("seconds"), dict)
        or not isinstance(entry.get("chosen"), int)
    ):
        return None
    try:
        seconds = {int(path): float(value) for path, value in entry["seconds"].items()}
    except (TypeError, ValueError):
        return None
    return Timing(seconds, entry["chosen"])


def _read(path: Path) -> dict[str, Timing]:
    """The file's valid entries ({} for a missing, unreadable or malformed file; bad entries skipped)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    entries = data.get("timings") if isinstance(data, dict) and data.get("format") == _FORMAT else None
    if not isinstance(entries, dict):
        return {}
    return {key: timing for key, entry in entries.items() if (timing := _parse(entry)) is not None}


def _write(path: Path, entries: dict[str, Timing]) -> None:
    """Replace the file atomically (a temporary file in its folder, then `os.replace`)."""
    data = {
        "format": _FORMAT,
        "timings": {
            key: {"seconds": {str(p): s for p, s in t.seconds.items()}, "chosen": t.chosen}
            for key, t in sorted(entries.items())
        },
    }
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def read_choice(key: str, allowed: tuple[int, ...]) -> Timing | None:
    """The recorded timing for `key` (None if none, or if its choice is not one of `allowed`)."""
    timing = _read(timings_path()).get(key)
    return timing if timing is not None and timing.chosen in allowed else None


def record_choice(key: str, timing: Timing, allowed: tuple[int, ...]) -> Timing:
    """Record `timing` for `key` unless another process did meanwhile, and return the one that holds: the file
    is read again under an exclusive lock and a choice found there is adopted. Where the file cannot be
    written, `timing` is returned unrecorded (one warning per file logged)."""
    import fcntl

    path = timings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            entries = _read(path)
            recorded = entries.get(key)
            if recorded is not None and recorded.chosen in allowed:
                return recorded
            entries[key] = timing
            _write(path, entries)
    except OSError as error:
        if path not in _warned:
            _warned.add(path)
            _log.warning(
                "cannot record --conv auto's choices in %s (%s): each process measures its own, so "
                "separate runs may differ by a few pixels; set %s to a writable file, or choose the "
                "direct or winograd convolution algorithm",
                path,
                error,
                TIMINGS_ENV,
            )
    return timing
