"""Atomic file writes: a file either appears complete under its final name or not at all.

Every output xmempp writes goes through here: the bytes are written to a hidden temporary file in
the destination folder, flushed and fsynced, then moved over the final name with `os.replace`
(atomic on POSIX and Windows when source and destination share a file system). An interrupted or
failed write leaves no partial file behind. (The folder itself is not fsynced after the rename:
that would only make the rename survive a power cut, at twice the cost per file.)
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import cv2
import numpy as np
from PIL import Image

from xmempp.errors import ConfigError, InputError, OutputError
from xmempp.types import PathLike

__all__ = [
    "TEMP_PREFIX",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_image",
    "atomic_write_text",
    "atomic_write_with",
    "default_dir_mode",
    "default_file_mode",
    "encode_image",
    "encode_jpeg",
    "encode_png",
    "remove_leftovers",
]

#: Temporary files start with this prefix (hidden on POSIX) so that folder listings skip them.
TEMP_PREFIX = ".xmempp-tmp-"


_umask_lock = threading.Lock()
_umask: int | None = None


def _current_umask() -> int:
    """The process umask (read once; /proc avoids briefly changing it where available)."""
    global _umask
    with _umask_lock:
        if _umask is None:
            try:
                with open("/proc/self/status", encoding="ascii") as f:
                    for line in f:
                        if line.startswith("Umask:"):
                            _umask = int(line.split()[1], 8)
                            break
            except (OSError, ValueError):
                pass
            if _umask is None:
                _umask = os.umask(0o022)
                os.umask(_umask)
        return _umask


def default_file_mode() -> int:
    """Permission bits a newly created file gets (0o666 minus the umask).

    `tempfile` creates private (0o600) files; results renamed from them get these bits instead so
    that other users (a render farm, a reviewer) can read them as usual.
    """
    return 0o666 & ~_current_umask()


def default_dir_mode() -> int:
    """Permission bits a newly created folder gets (0o777 minus the umask)."""
    return 0o777 & ~_current_umask()


def _output_error(path: Path, exc: BaseException) -> OutputError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return OutputError(f"cannot write {path}: {reason}; check that the folder is writable and the disk has free space")


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "wb", fsync: bool = True) -> Iterator[IO]:
    """Open a temporary file that replaces `path` when the `with` block ends without an error.

    Arguments:
        path: final file name; its folder is created if missing.
        mode: "wb" (bytes) or "w" (UTF-8 text).
        fsync: flush the data to disk before the rename (durable across power loss).
    Returns:
        A context manager yielding the open temporary file. On an exception the temporary file is
        removed and the exception propagates; an OSError becomes an `OutputError` naming `path`.
    """
    if mode not in ("wb", "w"):
        raise ConfigError(f"atomic_open supports modes 'wb' and 'w', not {mode!r}")
    with _replacing(Path(path), ".tmp") as (fd, _tmp):
        text = mode == "w"
        with os.fdopen(fd, mode, encoding="utf-8" if text else None, newline="" if text else None) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())


def atomic_write_with(path: PathLike, write: Callable[[Path], None], fsync: bool = True) -> None:
    """Atomically create `path` with a library that writes to a file name itself (e.g. an EXR writer).

    Arguments:
        path: final file name; the temporary file beside it keeps its suffix, so libraries that
            choose the format by extension work.
        write: called with the temporary path; must write the whole file there.
        fsync: flush the file to disk before renaming it into place.
    Returns:
        None. Raises `OutputError` on failure, leaving no partial file.
    """
    path = Path(path)
    with _replacing(path, path.suffix) as (fd, tmp):
        os.close(fd)
        write(tmp)
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())


@contextlib.contextmanager
def _replacing(path: Path, suffix: str) -> Iterator[tuple[int, Path]]:
    """A temporary file beside `path` (its folder created if missing) that replaces `path` when the
    block ends without an error and is removed otherwise; an OSError becomes an `OutputError` naming
    `path`. Yields the open descriptor and the temporary path."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX + path.name + ".", suffix=suffix)
    except OSError as exc:
        raise _output_error(path, exc) from exc
    tmp = Path(tmp_name)
    try:
        yield fd, tmp
        with contextlib.suppress(OSError):
            os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise _output_error(path, exc) from exc
        raise


def atomic_write_bytes(path: PathLike, data: bytes, fsync: bool = True) -> None:
    """Write `data` to `path` atomically (temporary file in the same folder, fsync, rename).

    Arguments:
        path: destination file; an existing file is replaced only once the new one is complete.
        data: the complete file content.
        fsync: flush to disk before the rename.
    Returns:
        None. Raises `OutputError` naming `path` when it cannot be written.
    """
    with atomic_open(path, "wb", fsync=fsync) as f:
        f.write(data)


def atomic_write_text(path: PathLike, text: str, fsync: bool = True) -> None:
    """Write UTF-8 `text` to `path` atomically.

    Arguments:
        path: destination file.
        text: the complete content.
        fsync: flush to disk before the rename.
    Returns:
        None. Raises `OutputError` naming `path` when it cannot be written.
    """
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def encode_png(array: np.ndarray, palette: np.ndarray | None = None, compress_level: int = 3) -> bytes:
    """Encode an image array as PNG bytes without any colour conversion.

    Arguments:
        array: HxW uint8 (grayscale, or indices when `palette` is given), HxW uint16 (16-bit
            grayscale), or HxWx3 uint8 RGB.
        palette: optional (N,3) uint8 palette (N <= 256); the result is a palette ("P") PNG.
        compress_level: zlib level 0-9 (low is fast; PNG is lossless at every level).
    Returns:
        The PNG file content.
    """
    array = np.ascontiguousarray(array)
    if palette is not None:
        if array.dtype != np.uint8 or array.ndim != 2:
            raise InputError("a palette PNG needs an HxW uint8 index array")
        image = Image.frombytes("P", (array.shape[1], array.shape[0]), array.tobytes())
        pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
        image.putpalette(pal.tobytes(), rawmode="RGB")
        stream = io.BytesIO()
        image.save(stream, format="PNG", compress_level=compress_level)
        return stream.getvalue()
    if array.ndim == 3:
        if array.shape[2] != 3 or array.dtype != np.uint8:
            raise InputError("a colour PNG needs an HxWx3 uint8 RGB array")
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    elif array.ndim != 2 or array.dtype not in (np.uint8, np.uint16):
        raise InputError("a grayscale PNG needs an HxW uint8 or uint16 array")
    ok, buf = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, int(compress_level)])
    if not ok:
        raise OutputError(f"PNG encoding failed for a {array.dtype} array of shape {array.shape}")
    return buf.tobytes()


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """Encode an HxWx3 uint8 RGB (or HxW grayscale) array as JPEG bytes.

    Arguments:
        rgb: the image.
        quality: JPEG quality 1-100.
    Returns:
        The JPEG file content.
    """
    rgb = np.ascontiguousarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim not in (2, 3):
        raise InputError("JPEG encoding needs an HxW or HxWx3 uint8 array")
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise OutputError(f"JPEG encoding failed for an array of shape {rgb.shape}")
    return buf.tobytes()


def encode_image(suffix: str, array: np.ndarray, palette: np.ndarray | None = None, jpeg_quality: int = 90) -> bytes:
    """Encode `array` in the format named by a file suffix (".png", ".jpg"/".jpeg").

    Arguments:
        suffix: file suffix choosing the encoder.
        array: see `encode_png` / `encode_jpeg`.
        palette: palette for an index PNG.
        jpeg_quality: JPEG quality.
    Returns:
        The encoded file content.
    """
    suffix = suffix.lower()
    if suffix == ".png":
        return encode_png(array, palette=palette)
    if suffix in (".jpg", ".jpeg"):
        if palette is not None:
            raise OutputError("palette images must be saved as PNG, not JPEG")
        return encode_jpeg(array, quality=jpeg_quality)
    raise OutputError(f"unsupported image format {suffix!r}; use .png or .jpg")


def atomic_write_image(
    path: PathLike, array: np.ndarray, palette: np.ndarray | None = None, jpeg_quality: int = 90, fsync: bool = True
) -> None:
    """Encode an image by its file suffix and write it atomically.

    Arguments:
        path: destination ending in .png, .jpg or .jpeg.
        array: RGB uint8, grayscale uint8/uint16 (PNG only), or indices with `palette`.
        palette: (N,3) uint8 palette for an index PNG.
        jpeg_quality: JPEG quality.
        fsync: flush to disk before the rename.
    Returns:
        None. Raises `OutputError` naming `path` when it cannot be written.
    """
    path = Path(path)
    data = encode_image(path.suffix, array, palette=palette, jpeg_quality=jpeg_quality)
    atomic_write_bytes(path, data, fsync=fsync)


def remove_leftovers(folder: PathLike, recursive: bool = True, name: str | None = None) -> list[Path]:
    """Delete temporary files a killed run left behind (`TEMP_PREFIX...`); nothing else is touched.

    Arguments:
        folder: where to look (a missing folder holds nothing).
        recursive: look in sub-folders too.
        name: only the temporary files of this final file name (e.g. "preview.mp4"), for folders
            shared with other jobs.
    Returns:
        The paths removed.
    """
    pattern = TEMP_PREFIX + (f"{name}." if name else "") + "*"
    root = Path(folder)
    if not root.is_dir():
        return []
    removed = []
    for path in root.rglob(pattern) if recursive else root.glob(pattern):
        if path.is_file() and not path.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed
