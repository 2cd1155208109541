"""Reading soft mattes that already exist: one matte per frame, or one sub-folder per object.

A matte folder holds either the mattes of one object (`<stem>.png|tif|tiff|exr`, id 1) or one
sub-folder per object named by its id, as `process --alpha` writes them (`alpha/<id>/<stem>.png`).
Files are 8- or 16-bit PNG/TIFF (gray, or the alpha of gray+alpha/RGBA; a colour image's first
channel), float TIFF, or EXR (channel `A`, else `Y`, else the first).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from xmempp.errors import InputError, Remedy, RemedyKind
from xmempp.io.images import is_hidden, natural_key

__all__ = ["MATTE_EXTENSIONS", "find_matte_folders", "read_soft_matte"]

MATTE_EXTENSIONS = frozenset({".png", ".tif", ".tiff", ".exr"})


def _read_exr(path: Path) -> np.ndarray:
    try:
        import OpenImageIO as oiio
    except ImportError as exc:
        raise InputError(f"reading the EXR matte {path} needs OpenImageIO: pip install 'xmempp[vfx]'") from exc
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise InputError(f"cannot read matte {path}: {oiio.geterror() or 'not an EXR'}")
    try:
        names = list(inp.spec().channelnames)
        pick = next(
            (names.index(n) for n in ("A", "Y") if n in names),
            next((i for i, n in enumerate(names) if n.endswith(".A")), 0),
        )
        data = inp.read_image(0, 0, pick, pick + 1, "float")
    finally:
        inp.close()
    if data is None:
        raise InputError(f"cannot decode matte {path}; re-export it")
    return np.asarray(data, dtype=np.float32).reshape(data.shape[0], data.shape[1])


def read_soft_matte(path: str | Path) -> np.ndarray:
    """Read one soft matte as HxW float32 in 0..1.

    Arguments:
        path: a PNG, TIFF or EXR file.
    Returns:
        The matte. Raises `InputError` when it cannot be read.
    """
    path = Path(path)
    if path.suffix.lower() == ".exr":
        return np.clip(_read_exr(path), 0, 1)
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise InputError(
            f"cannot read matte {path}: missing, not an image or corrupt", remedy=Remedy(RemedyKind.FIX_INPUT)
        )
    if data.ndim == 3:
        data = data[:, :, 3] if data.shape[2] == 4 else data[:, :, 1] if data.shape[2] == 2 else data[:, :, 0]
    if data.dtype == np.uint8:
        return data.astype(np.float32) / 255.0
    if data.dtype == np.uint16:
        return data.astype(np.float32) / 65535.0
    if data.dtype in (np.float32, np.float64):
        return np.clip(data.astype(np.float32), 0, 1)
    raise InputError(f"matte {path} has unsupported pixels ({data.dtype}); use 8/16-bit PNG/TIFF or EXR")


def _mattes_in(folder: Path) -> dict[str, Path]:
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and not is_hidden(p) and p.suffix.lower() in MATTE_EXTENSIONS),
        key=lambda p: natural_key(p.stem),
    )
    out: dict[str, Path] = {}
    for p in files:
        if p.stem in out:
            raise InputError(f"two mattes share the name {p.stem!r} in {folder}: {out[p.stem].name} and {p.name}")
        out[p.stem] = p
    return out


def find_matte_folders(folder: str | Path) -> dict[int, dict[str, Path]]:
    """The mattes of a folder per object id.

    Arguments:
        folder: one object's mattes, or one sub-folder per object named by its id (1..255).
    Returns:
        object id -> (frame stem -> matte file), ids ascending. Raises `InputError` when the folder is
        missing, mixes both layouts, has a sub-folder not named by an id, or holds no matte.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"matte folder not found: {folder}")
    subs = [p for p in folder.iterdir() if p.is_dir() and not is_hidden(p)]
    direct = _mattes_in(folder)
    if subs and direct:
        raise InputError(
            f"{folder} holds both mattes and sub-folders; give one object's mattes or one sub-folder "
            f"per object id (alpha/<id>/<stem>.png)"
        )
    if not subs:
        if not direct:
            raise InputError(f"no mattes (PNG, TIFF, EXR) in {folder}")
        return {1: direct}
    result: dict[int, dict[str, Path]] = {}
    for sub in subs:
        if not sub.name.isdigit() or not 1 <= int(sub.name) <= 255:
            raise InputError(f"matte sub-folder {sub} is not named by an object id (1..255)")
        mattes = _mattes_in(sub)
        if mattes:
            result[int(sub.name)] = mattes
    if not result:
        raise InputError(f"no mattes (PNG, TIFF, EXR) in the sub-folders of {folder}")
    return dict(sorted(result.items()))
