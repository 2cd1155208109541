"""Where XMem weights live, how they are downloaded, and how they are checked.

The official checkpoints are the XMem v1.0 release files. They are looked for in one folder:

1. ``$XMEMPP_HOME`` when it is set (the Docker images set it to ``/weights``);
2. ``saves/`` of a source checkout, only when the current working directory *is* that checkout
   (it has ``saves/README.md`` next to a ``pyproject.toml`` that names xmempp);
3. otherwise the user cache, ``$XDG_CACHE_HOME/xmempp`` or ``~/.cache/xmempp``.

Downloads stream to ``<file>.part`` and resume with an HTTP Range request, are checked structurally
(a state dict of tensors with the XMem key groups), renamed into place atomically, and their SHA-256
is recorded in ``<file>.sha256`` so later loads can tell when the file changed. Progress is reported
through a plain callback so this module needs neither rich nor Qt.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from xmempp.errors import Remedy, RemedyKind, WeightsError

__all__ = [
    "DEFAULT_WEIGHTS",
    "WEIGHT_URLS",
    "XMEM_KEY_GROUPS",
    "ProgressCallback",
    "check_recorded_sha256",
    "check_xmem_state_dict",
    "download_weights",
    "recorded_sha256",
    "resolve_weights",
    "sha256_file",
    "verify_weights",
    "weights_dir",
    "weights_path",
]

#: Official release files, by file name.
WEIGHT_URLS: dict[str, str] = {
    "XMem.pth": "https://github.com/hkchengrex/XMem/releases/download/v1.0/XMem.pth",
    "XMem-s012.pth": "https://github.com/hkchengrex/XMem/releases/download/v1.0/XMem-s012.pth",
}
DEFAULT_WEIGHTS = "XMem.pth"

#: Top-level key groups of an XMem state dict (each key starts with one of these).
XMEM_KEY_GROUPS: tuple[str, ...] = ("key_encoder.", "value_encoder.", "key_proj.", "decoder.")

#: ``progress(bytes_done, bytes_total_or_None)``; called as the download advances.
ProgressCallback = Callable[[int, int | None], None]

_CHUNK = 1 << 20
_TIMEOUT_S = 30.0
_NETWORK_ERRORS = (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, http.client.HTTPException)
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


# --------------------------------------------------------------------------------------------- where


def _is_checkout(folder: Path) -> bool:
    """True when `folder` is an xmempp source checkout (saves/README.md next to our pyproject.toml)."""
    pyproject = folder / "pyproject.toml"
    if not (folder / "saves" / "README.md").is_file() or not pyproject.is_file():
        return False
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return re.search(r'^\s*name\s*=\s*["\']xmempp["\']', text, flags=re.MULTILINE) is not None


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base).expanduser() if base else Path.home() / ".cache"
    return root / "xmempp"


def weights_dir() -> Path:
    """The folder where weights are looked for and downloaded to.

    Returns:
        ``$XMEMPP_HOME`` if set; else ``./saves`` when the current directory is an xmempp checkout;
        else the user cache (``$XDG_CACHE_HOME/xmempp`` or ``~/.cache/xmempp``). Absolute; not created.
    """
    home = os.environ.get("XMEMPP_HOME")
    if home:
        return Path(home).expanduser().absolute()
    cwd = Path.cwd()
    if _is_checkout(cwd):
        return cwd / "saves"
    return _user_cache().absolute()


def _check_name(name: str) -> str:
    if not name or Path(name).name != name or name in (".", ".."):
        raise WeightsError(f"weights name must be a plain file name such as {DEFAULT_WEIGHTS!r}, got {name!r}")
    return name


def weights_path(name: str = DEFAULT_WEIGHTS) -> Path:
    """Default location of the weights file `name` (it may not exist yet).

    Arguments:
        name: file name, e.g. ``"XMem.pth"`` or ``"XMem-s012.pth"``.
    Returns:
        ``weights_dir() / name``.
    """
    return weights_dir() / _check_name(name)


def _sha_record(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


# --------------------------------------------------------------------------------------------- checks


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file as lowercase hex, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def recorded_sha256(path: str | Path) -> str | None:
    """The SHA-256 recorded next to `path` (``<path>.sha256``, sha256sum format), or None."""
    record = _sha_record(Path(path))
    try:
        text = record.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise WeightsError(f"cannot read checksum record {record}: {exc}") from None
    match = re.match(r"^([0-9a-fA-F]{64})\b", text)
    if match is None:
        raise WeightsError(
            f"checksum record {record} is malformed",
            remedy=Remedy(RemedyKind.VERIFY_WEIGHTS, note="(after deleting the record)"),
        )
    return match.group(1).lower()


def _write_sha_record(path: Path, digest: str) -> None:
    record = _sha_record(path)
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(f"{digest}  {path.name}\n", encoding="ascii")
    os.replace(tmp, record)


def check_recorded_sha256(path: str | Path) -> str | None:
    """Compare a file with its recorded SHA-256, if one was recorded.

    Returns:
        The file's SHA-256 when a record exists and matches, None when nothing was recorded.
    Raises:
        WeightsError: the file differs from what was downloaded.
    """
    path = Path(path)
    expected = recorded_sha256(path)
    if expected is None:
        return None
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsError(
            f"{path}: file changed since download (SHA-256 {actual[:12]}..., recorded {expected[:12]}...)",
            remedy=Remedy(RemedyKind.DOWNLOAD_WEIGHTS, note="(after deleting the file)"),
        )
    return actual


def _group_of(key: str) -> str:
    return key.split(".", 1)[0] + "." if "." in key else key


def check_xmem_state_dict(state: Any, source: str | None = None) -> None:
    """Check that `state` looks like an official XMem state dict (key groups and tensor values).

    This is the structural check for downloads and `xmempp weights verify`; the engine's loader
    does the strict per-key, per-shape check.

    Arguments:
        state: what ``torch.load`` returned.
        source: file name used in the message, if any.
    Raises:
        WeightsError: naming the missing and unexpected key prefixes, or the non-tensor entries.
    """
    import torch

    what = f"{source} is not an XMem checkpoint" if source else "not an XMem checkpoint"
    if not isinstance(state, Mapping):
        raise WeightsError(f"{what}: it holds a {type(state).__name__}, not a state dict")
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    keys = [k for k in state if isinstance(k, str)]
    if len(keys) != len(state):
        raise WeightsError(f"{what}: it has non-string keys")
    present = {_group_of(k) for k in keys}
    missing = [g for g in XMEM_KEY_GROUPS if g not in present]
    unexpected = sorted(present - set(XMEM_KEY_GROUPS))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append("missing key groups " + ", ".join(missing))
        if unexpected:
            shown = ", ".join(unexpected[:8]) + (f" (+{len(unexpected) - 8} more)" if len(unexpected) > 8 else "")
            parts.append("unexpected key prefixes " + shown)
        hint = ""
        if "module." in unexpected:
            hint = " (keys start with 'module.': strip that prefix from a DataParallel checkpoint)"
        raise WeightsError(f"{what}: " + "; ".join(parts) + hint)
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise WeightsError(f"{what}: entries that are not tensors: " + ", ".join(not_tensors[:5]))


def _load_and_check(path: Path) -> None:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (UnpicklingError, RuntimeError, EOFError...) for a bad file
        # not torch's own text: it advises weights_only=False, which would run code from the file
        raise WeightsError(
            f"{path} is not a readable PyTorch checkpoint of plain tensors: it is damaged, or holds "
            f"other Python objects, which are never loaded ({type(exc).__name__})"
        ) from None
    check_xmem_state_dict(state, source=str(path))


def verify_weights(path: str | Path) -> str:
    """Check a weights file: SHA-256 against the recorded one (if any) and the XMem structure.

    Arguments:
        path: the .pth file.
    Returns:
        Its SHA-256 (lowercase hex).
    Raises:
        WeightsError: missing file, changed since download, unreadable, or not an XMem checkpoint.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}", remedy=Remedy(RemedyKind.DOWNLOAD_WEIGHTS, "model"))
    digest = check_recorded_sha256(path) or sha256_file(path)
    _load_and_check(path)
    return digest


# --------------------------------------------------------------------------------------------- download


def _unreachable(url: str, reason: object, dest: Path) -> WeightsError:
    text = str(getattr(reason, "reason", reason) or type(reason).__name__).replace("\n", " ")
    return WeightsError(
        f"could not reach {url} ({text}); download it by hand and put it at {dest} "
        f"(or set XMEMPP_HOME, or pass the file's path explicitly)"
    )


def _open(url: str, offset: int, timeout: float):
    from xmempp.version import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"xmempp/{__version__}"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(request, timeout=timeout)


def _interrupted(url: str, done: int, reason: object, dest: Path) -> WeightsError:
    text = str(reason).replace("\n", " ") or type(reason).__name__
    return WeightsError(
        f"download of {url} was interrupted after {done} bytes ({text}); run "
        f"`xmempp weights download` again to resume, or put the file at {dest} by hand"
    )


def _connect(url: str, part: Path, dest: Path, offset: int, timeout: float):
    """Open `url`, asking for the bytes from `offset` on. Returns (response, offset actually used)."""
    try:
        try:
            return _open(url, offset, timeout), offset
        except urllib.error.HTTPError as exc:
            if exc.code != 416 or not offset:
                raise
            # Range not satisfiable: the .part is complete already, or longer than the file.
            match = re.search(r"/(\d+)\s*$", exc.headers.get("Content-Range", "") or "")
            exc.close()
            if match and int(match.group(1)) == offset:
                return None, offset
            part.unlink()
            return _open(url, 0, timeout), 0
    except urllib.error.HTTPError as exc:
        raise WeightsError(
            f"could not download {url} (HTTP {exc.code} {exc.reason}); download it by hand and put it at {dest} "
            f"(or set XMEMPP_HOME, or pass the file's path explicitly)"
        ) from None
    except (*_NETWORK_ERRORS, OSError) as exc:
        raise _unreachable(url, exc, dest) from None


def _stream(url: str, part: Path, dest: Path, progress: ProgressCallback | None, timeout: float) -> None:
    """Download `url` into `part`, resuming from its current size when the server allows it."""
    offset = part.stat().st_size if part.exists() else 0
    response, offset = _connect(url, part, dest, offset, timeout)
    if response is None:  # nothing left to fetch
        if progress:
            progress(offset, offset)
        return
    with response:
        status = getattr(response, "status", None) or response.getcode()
        total: int | None = None
        if offset and status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", "") or "")
            if match is None or int(match.group(1)) != offset:
                raise WeightsError(
                    f"{url}: the server answered the resume request with a bad Content-Range",
                    remedy=Remedy(RemedyKind.DOWNLOAD_WEIGHTS, note=f"(after deleting {part})"),
                )
            total = int(match.group(3)) if match.group(3) != "*" else None
            mode = "ab"
        else:
            offset = 0  # a 200 answer to a Range request: the server ignored it, start over
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            mode = "wb"
        done = offset
        if progress:
            progress(done, total)
        try:
            handle = open(part, mode)  # noqa: SIM115 (closed by the `with` below, after the error check)
        except OSError as exc:
            raise WeightsError(f"cannot write {part}: {exc.strerror or exc}") from None
        with handle:
            while True:
                try:
                    block = response.read(_CHUNK)
                except (*_NETWORK_ERRORS, OSError) as exc:
                    raise _interrupted(url, done, exc, dest) from None
                if not block:
                    break
                try:
                    handle.write(block)
                except OSError as exc:
                    raise WeightsError(f"cannot write {part}: {exc.strerror or exc}") from None
                done += len(block)
                if progress:
                    progress(done, total)
            try:
                handle.flush()
                os.fsync(handle.fileno())  # the bytes are on disk before the rename makes them "the" file
            except OSError as exc:
                raise WeightsError(f"cannot write {part}: {exc.strerror or exc}") from None
    if total is not None and done != total:
        raise _interrupted(url, done, f"expected {total} bytes", dest)


def download_weights(
    name: str = DEFAULT_WEIGHTS,
    dest_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
    *,
    url: str | None = None,
    force: bool = False,
    timeout: float = _TIMEOUT_S,
) -> Path:
    """Download an official XMem checkpoint, resumably, and record its SHA-256.

    Arguments:
        name: release file name, a key of `WEIGHT_URLS` (any plain file name when `url` is given).
        dest_dir: target folder; `weights_dir()` when None. Created if needed.
        progress: ``progress(bytes_done, bytes_total_or_None)`` callback.
        url: download from this URL (a mirror) instead of the official release.
        force: download even when the file is already there.
        timeout: seconds to wait on the network before giving up.
    Returns:
        Path of the verified weights file (returned untouched when it already exists and not `force`).
    Raises:
        WeightsError: unknown name, network failure (the message says where to put the file by hand),
            truncated download, or a file that is not an XMem checkpoint.
    """
    _check_name(name)
    if url is None:
        if name not in WEIGHT_URLS:
            raise WeightsError(f"unknown weights {name!r}; choose one of " + ", ".join(WEIGHT_URLS))
        url = WEIGHT_URLS[name]
    folder = Path(dest_dir).expanduser().absolute() if dest_dir is not None else weights_dir()
    dest = folder / name
    if dest.is_file() and not force:
        return dest
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(
            f"cannot create weights folder {folder}: {exc.strerror or exc}; set XMEMPP_HOME to a writable folder"
        ) from None
    part = folder / (name + ".part")
    _stream(url, part, dest, progress, timeout)
    try:
        _load_and_check(part)
    except WeightsError as exc:
        part.unlink(missing_ok=True)
        raise WeightsError(f"downloaded file from {url} was rejected and deleted: {exc}") from None
    digest = sha256_file(part)
    os.replace(part, dest)
    _write_sha_record(dest, digest)
    return dest


# --------------------------------------------------------------------------------------------- resolve


def resolve_weights(
    explicit: str | Path | None = None,
    name: str = DEFAULT_WEIGHTS,
    download: bool = True,
    progress: ProgressCallback | None = None,
) -> Path:
    """The weights file a command should load.

    Arguments:
        explicit: a path given by the user (``--model``); it must exist.
        name: default file name when no path is given.
        download: fetch the official file when the default one is missing.
        progress: download progress callback.
    Returns:
        Path to an existing file whose recorded SHA-256 (if any) matches.
    Raises:
        WeightsError: explicit file missing, default file missing and `download` False, download failure,
            or the file changed since it was downloaded.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
    else:
        path = weights_path(name)
        if not path.is_file():
            if not download:
                url = WEIGHT_URLS.get(name)
                where = f"download it from {url} and put it at {path}" if url else f"put it at {path}"
                raise WeightsError(
                    f"no weights at {path}",
                    remedy=Remedy(RemedyKind.DOWNLOAD_WEIGHTS, "model", name, note=f"(or {where})"),
                )
            path = download_weights(name, path.parent, progress)
    check_recorded_sha256(path)
    return path
