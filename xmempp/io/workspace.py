"""The GUI workspace: a project folder compatible with XMem++'s `workspace/<name>/` layout.

    ROOT/NAME/images/<stem>.jpg|png   the frames (optionally resized: shorter side = size)
    ROOT/NAME/masks/<stem>.png        DAVIS-palette index PNGs, objects numbered 1..K
    ROOT/NAME/info.json               {"references": [...], "num_objects": K, ...}
    ROOT/NAME/review.json             xmempp's review states of the masks (optional; `xmempp.io.review_state`)

XMem++ reads `references` (annotated frame indices) and `num_objects` from info.json and lists
`images/` in sorted order; xmempp adds the frame order, the original object ids and colours, and
where the frames came from (the schema: `xmempp.io.workspace_info.WorkspaceInfo`). An opened
`Workspace` is a frame source in that one frame order. Frame stems are kept unless their sorted
order differs from the frame order, in which case frames are renamed `frame_000000`... (the
original stems are kept in `source_names`).

`create_workspace` builds the folder under a hidden temporary name and renames it into place, so
an interrupted import leaves no half-made workspace.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from xmempp.errors import InputError, OutputError, Remedy, RemedyKind
from xmempp.inference.config import InferenceConfig
from xmempp.inference.objects import ObjectOrder
from xmempp.io.atomic import TEMP_PREFIX, atomic_write_image, default_dir_mode
from xmempp.io.frame_capabilities import files_of
from xmempp.io.frames import FrameSource, prefetch
from xmempp.io.images import decode_image_file
from xmempp.io.masks import LabeledMask, davis_palette, read_mask
from xmempp.io.review_state import REVIEW_FILE, ReviewStates
from xmempp.io.workspace_info import WORKSPACE_VERSION, WorkspaceInfo
from xmempp.types import PathLike

__all__ = [
    "WORKSPACE_VERSION",
    "Workspace",
    "WorkspaceInfo",
    "check_workspace_target",
    "create_workspace",
    "workspace_size",
]

_JPEG = frozenset({".jpg", ".jpeg"})

#: The processing size of a workspace not imported at a size of its own (never more than its frames).
DEFAULT_PROCESSING_SIZE = InferenceConfig().size


def workspace_size(height: int, width: int, size: int | None) -> tuple[int, int]:
    """Size of workspace images: shorter side scaled to `size`, as XMem++ computes it.

    Arguments:
        height: source height.
        width: source width.
        size: target shorter side; None or <= 0 keeps the source size.
    Returns:
        (height, width) of the workspace images.
    """
    if not size or size <= 0:
        return height, width
    short = min(height, width)
    return max(1, height * size // short), max(1, width * size // short)


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or name != os.path.basename(name) or "/" in name or "\\" in name:
        raise InputError(f"invalid workspace name {name!r}: use a plain folder name such as 'shot_a'")
    if name.startswith("."):
        raise InputError(f"invalid workspace name {name!r}: it must not start with '.'")


def check_workspace_target(root: PathLike, name: str) -> Path:
    """Check that a new workspace `root/name` can be created without touching an existing one.

    Arguments:
        root: the workspace root folder.
        name: the project name (a plain folder name).
    Returns:
        The workspace path. Raises `InputError` for an invalid name, `OutputError` when the
        folder already exists and is not empty.
    """
    _check_name(name)
    dest = Path(root) / name
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise OutputError(
            f"workspace {dest} already exists",
            remedy=Remedy(RemedyKind.SET, "name", note="(another one, or delete that folder first)"),
        )
    return dest


def create_workspace(
    root: PathLike,
    name: str,
    frames: FrameSource,
    masks: Mapping[int, LabeledMask | np.ndarray] | None = None,
    size: int | None = None,
    *,
    image_format: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Create a GUI workspace `root/name` from frames and optional annotation masks.

    Arguments:
        root: the workspace root folder (created if missing).
        name: the project name (a plain folder name).
        frames: the source frames (`open_frames`).
        masks: {frame index: LabeledMask or HxW uint8 ids} at the frames' resolution, or None.
            Objects are renumbered 1..K in order of first appearance; the original ids and colours
            are kept in info.json.
        size: shorter side of the workspace images in pixels; None or <= 0 keeps the source size.
        image_format: "jpg" or "png"; by default JPEG for JPEG frames and videos, PNG otherwise.
        progress: called as progress(done, total) after each frame.
    Returns:
        The workspace folder. Raises `OutputError` if it already exists (non-empty) or cannot be
        written, `InputError` for unreadable frames or masks of the wrong size.
    """
    dest = check_workspace_target(root, name)
    root = dest.parent
    masks = dict(masks or {})
    n = len(frames)
    for index in masks:
        if not 0 <= index < n:
            raise InputError(f"mask for frame {index} but there are only {n} frames")
    src_h, src_w = frames.size
    out_h, out_w = workspace_size(src_h, src_w, size)
    ext = _image_extension(frames, image_format)
    source_names = list(frames.names)
    names = source_names
    if [f"{s}{ext}" for s in names] != sorted(f"{s}{ext}" for s in names):
        names = [f"frame_{i:06d}" for i in range(n)]  # XMem++ lists images in sorted order
    objects = ObjectOrder.from_masks({i: _ids(m) for i, m in masks.items()})
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f"{TEMP_PREFIX}{name}."))
    except OSError as exc:
        raise OutputError(f"cannot create workspace in {root}: {exc.strerror or exc}") from exc
    try:
        (tmp / "images").mkdir()
        (tmp / "masks").mkdir()
        for i, rgb in enumerate(prefetch(frames)):
            if rgb.shape[:2] != (out_h, out_w):
                interp = cv2.INTER_AREA if out_h < src_h else cv2.INTER_LINEAR
                rgb = cv2.resize(rgb, (out_w, out_h), interpolation=interp)
            atomic_write_image(tmp / "images" / f"{names[i]}{ext}", rgb, jpeg_quality=95, fsync=False)
            if progress is not None:
                progress(i + 1, n)
        palette = davis_palette()
        for index in sorted(masks):
            mask = masks[index]
            ids = _ids(mask)
            if ids.shape != (src_h, src_w):
                culprit = mask.path if isinstance(mask, LabeledMask) and mask.path else f"for frame {index}"
                raise InputError(
                    f"mask {culprit} is {ids.shape[1]}x{ids.shape[0]} but the frames are "
                    f"{src_w}x{src_h}; masks must have the resolution of their frames"
                )
            small = objects.to_channels(ids)
            if small.shape != (out_h, out_w):
                small = cv2.resize(small, (out_w, out_h), interpolation=cv2.INTER_NEAREST)
            atomic_write_image(tmp / "masks" / f"{names[index]}.png", small, palette=palette, fsync=False)
        WorkspaceInfo(
            references=sorted(masks),
            num_objects=max(1, len(objects)),
            frames=names,
            source_names=source_names,
            object_ids=list(objects.ids),
            object_colors=_object_colors(masks, objects),
            source=str(Path(frames.path).resolve()),
            source_size=(src_h, src_w),
            size=(out_h, out_w),
            processing_size=min(out_h, out_w) if size else None,
            image_extension=ext,
            fps=frames.fps,
            version=WORKSPACE_VERSION,
        ).write(tmp / "info.json")
        for folder in (tmp, tmp / "images", tmp / "masks"):
            os.chmod(folder, default_dir_mode())  # mkdtemp makes a private folder
        if dest.is_dir():
            dest.rmdir()  # an empty folder (checked above)
        os.replace(tmp, dest)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot create workspace {dest}: {exc.strerror or exc}") from exc
        raise
    return dest


def _image_extension(frames: FrameSource, image_format: str | None) -> str:
    if image_format is not None:
        fmt = image_format.lower().lstrip(".")
        if fmt not in ("jpg", "jpeg", "png"):
            raise InputError(f"unsupported workspace image format {image_format!r}; use jpg or png")
        return ".png" if fmt == "png" else ".jpg"
    if frames.is_video:
        return ".jpg"
    files = files_of(frames)
    if files and all(Path(f).suffix.lower() in _JPEG for f in files):
        return ".jpg"
    return ".png"


def _ids(mask: LabeledMask | np.ndarray) -> np.ndarray:
    return mask.ids if isinstance(mask, LabeledMask) else np.asarray(mask, dtype=np.uint8)


def _object_colors(masks: Mapping[int, Any], objects: ObjectOrder) -> list[list[int]] | None:
    """Original colour of each object (from the first mask with a palette), or None."""
    for index in sorted(masks):
        mask = masks[index]
        if isinstance(mask, LabeledMask) and mask.palette is not None:
            return [[int(c) for c in mask.palette[oid]] for oid in objects.ids]
    return None


class Workspace(FrameSource):
    """An opened workspace (created by xmempp or by XMem++); it is itself the frame source of its images.

    Attributes:
        path: the workspace folder.
        names: frame stems in frame order (the order of `info.frames`, else XMem++'s sorted order);
            frame `i` everywhere (indexing, masks, references) is `names[i]`.
        info: the typed info.json (`WorkspaceInfo`).
    """

    def __init__(self, path: Path, names: list[str], files: dict[str, Path], info: WorkspaceInfo) -> None:
        self.path = path
        self.names = names
        self._files = files
        self.info = info

    @classmethod
    def open(cls, path: PathLike) -> Workspace:
        """Open a workspace folder.

        Arguments:
            path: `ROOT/NAME`, holding `images/` (and usually `masks/`, `info.json`).
        Returns:
            A `Workspace`. Raises `InputError` if it has no images or a broken info.json.
        """
        path = Path(path)
        if not path.is_dir():
            raise InputError(f"workspace not found: {path}")
        image_dir = path / "images"
        if not image_dir.is_dir():
            raise InputError(
                f"{path} is not a workspace: it has no images/ folder", remedy=Remedy(RemedyKind.CREATE_WORKSPACE)
            )
        info = WorkspaceInfo.read(path / "info.json")
        files = {p.stem: p for p in image_dir.iterdir() if p.is_file() and not p.name.startswith(".")}
        if not files:
            raise InputError(f"workspace {path} has no images in {image_dir}")
        names = info.frames
        if not (names is not None and len(names) == len(files) and all(n in files for n in names)):
            names = [p.stem for p in sorted(files.values(), key=lambda p: p.name)]  # XMem++ order
        if info.source_names is not None and len(info.source_names) != len(names):
            info.source_names = None
        return cls(path, list(names), files, info)

    @property
    def image_dir(self) -> Path:
        """The images/ folder."""
        return self.path / "images"

    @property
    def mask_dir(self) -> Path:
        """The masks/ folder."""
        return self.path / "masks"

    @property
    def references(self) -> list[int]:
        """Annotated (reference) frame indices, ascending (indices past the last frame are ignored)."""
        return [i for i in self.info.references if i < len(self.names)]

    @property
    def num_objects(self) -> int:
        """Number of objects K (ids 1..K)."""
        return self.info.num_objects

    @property
    def object_ids(self) -> list[int]:
        """Original object id of each workspace id 1..K (1..K when unknown)."""
        ids = self.info.object_ids
        if ids is not None and len(ids) == self.num_objects:
            return list(ids)
        return list(range(1, self.num_objects + 1))

    @property
    def fps(self) -> float | None:  # type: ignore[override]
        """Frame rate of the video the frames came from, or None."""
        return self.info.fps

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the workspace images."""
        if self.info.size is not None:
            return self.info.size
        return tuple(self._read(0).shape[:2])

    @property
    def processing_size(self) -> int:
        """The processing size (shorter side) jobs on this workspace use unless asked otherwise: the size it
        was imported at, else the default processing size capped at the frames' shorter side (a workspace
        is never upscaled past its frames)."""
        if self.info.processing_size is not None:
            return self.info.processing_size
        return min(DEFAULT_PROCESSING_SIZE, min(self.size))

    @property
    def object_names(self) -> list[str]:
        """The name of each object 1..K: the artist's name, else "object <original id>"."""
        names = self.info.object_names or []
        return [names[k] if k < len(names) and names[k] else f"object {oid}" for k, oid in enumerate(self.object_ids)]

    def image_path(self, index: int) -> Path:
        """Path of frame `index`'s image."""
        return self._files[self.names[index]]

    def mask_path(self, index: int) -> Path:
        """Path where frame `index`'s mask is (or would be) stored."""
        return self.mask_dir / f"{self.names[index]}.png"

    def image(self, index: int) -> np.ndarray:
        """Frame `index` as HxWx3 uint8 RGB (the same as `workspace[index]`)."""
        return self[index]

    def _read(self, index: int) -> np.ndarray:
        return decode_image_file(self.image_path(index), "workspace image")

    def mask(self, index: int) -> np.ndarray | None:
        """Frame `index`'s mask as HxW uint8 ids 1..K, or None if it has none."""
        path = self.mask_path(index)
        if not path.exists():
            return None
        return read_mask(path).ids

    def save_mask(self, index: int, ids: np.ndarray) -> Path:
        """Write frame `index`'s mask atomically as a DAVIS-palette PNG.

        Arguments:
            index: frame index.
            ids: HxW uint8 ids (0 = background, 1..K objects).
        Returns:
            The mask path.
        """
        path = self.mask_path(index)
        atomic_write_image(path, np.asarray(ids, dtype=np.uint8), palette=davis_palette())
        return path

    def add_reference(self, index: int) -> None:
        """Mark frame `index` as a reference and save info.json."""
        self.info.references = sorted({*self.info.references, int(index)})
        self.save_info()

    def remove_reference(self, index: int) -> None:
        """Unmark frame `index` as a reference and save info.json."""
        self.info.references = [i for i in self.info.references if i != int(index)]
        self.save_info()

    def save_info(self) -> None:
        """Write info.json atomically (keeps fields this version does not know)."""
        self.info.write(self.path / "info.json")

    @property
    def review_path(self) -> Path:
        """review.json: the masks' review states (fresh, stale, flagged, approved)."""
        return self.path / REVIEW_FILE

    def read_review_states(self) -> ReviewStates:
        """The masks' review states (none for a workspace without review.json, e.g. an older one).

        Returns:
            A `ReviewStates` for this workspace's frames. Raises `InputError` for an unreadable review.json.
        """
        return ReviewStates.read(self.review_path, self.names)

    def save_review_states(self, states: ReviewStates) -> None:
        """Write review.json atomically (`OutputError` when it cannot be written)."""
        states.write(self.review_path, self.names)

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r}, {len(self)} frames, {self.num_objects} objects)"
