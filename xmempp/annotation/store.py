"""Where a session's state is kept: a workspace folder (the GUI's saved form) or memory (with an optional
folder of reference PNGs, as the service keeps them).

A store only reads and writes; the session decides what changes and when. Every write is atomic
(`xmempp.io.atomic`), and a store raises `XMemppError` when it cannot write (the session reports it and
keeps the state in memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from xmempp.errors import InputError, OutputError
from xmempp.io.atomic import atomic_write_bytes, atomic_write_image, encode_png
from xmempp.io.masks import davis_palette, read_mask
from xmempp.io.review_state import ReviewStates
from xmempp.io.workspace import Workspace

from .objects import ShotObject, check_object_id

__all__ = ["MemoryStore", "SessionStore", "WorkspaceStore"]


class SessionStore(Protocol):
    """What a session needs of the place its state is kept (frames are indices 0..N-1).

    Attributes:
        info_name: the name of the file (or folder) the references, objects and edited frames are saved
            in, for "could not save ..." messages.
    """

    info_name: str

    def masked_frames(self) -> set[int]:
        """Frames that have a saved mask."""
        ...

    def load_mask(self, frame: int) -> np.ndarray | None:
        """Frame `frame`'s saved mask (HxW uint8 ids), or None. Raises `InputError` / `OSError` when unreadable."""
        ...

    def save_mask(self, frame: int, ids: np.ndarray) -> None:
        """Save frame `frame`'s mask."""
        ...

    def delete_mask(self, frame: int) -> None:
        """Remove frame `frame`'s saved mask (none is fine)."""
        ...

    def mask_bytes(self, frame: int) -> bytes | None:
        """Frame `frame`'s saved mask as stored bytes (a PNG), or None: what undo of a propagation puts back."""
        ...

    def restore_mask_bytes(self, frame: int, data: bytes | None) -> None:
        """Put back bytes from `mask_bytes` (None: no mask)."""
        ...

    def load_references(self) -> list[int]:
        """Reference frames."""
        ...

    def save_references(self, frames: Sequence[int]) -> None:
        """Save the reference frames (ascending); their masks are saved with `save_mask`."""
        ...

    def load_objects(self) -> list[ShotObject]:
        """The objects."""
        ...

    def save_objects(self, objects: Sequence[ShotObject]) -> None:
        """Save the objects."""
        ...

    def load_edited(self) -> list[int]:
        """Frames the artist edited that are not references."""
        ...

    def save_edited(self, frames: Sequence[int]) -> None:
        """Save the edited frames."""
        ...

    def load_review(self, count: int) -> ReviewStates:
        """The review states (raises `InputError` for an unreadable saved form)."""
        ...

    def save_review(self, states: ReviewStates) -> None:
        """Save the review states."""
        ...


def _decode_png(data: bytes) -> np.ndarray:
    ids = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if ids is None or ids.ndim != 2:
        raise InputError("the mask bytes to restore are not a single-channel PNG")
    return np.ascontiguousarray(ids, dtype=np.uint8)


class MemoryStore:
    """State in memory; with `folder`, each reference's mask is also kept there as `<frame:06d>.png` (an
    index PNG in `palette`, the DAVIS palette by default), written atomically and removed with the reference.

    Arguments:
        objects: the objects to start with.
        folder: where reference PNGs go (created when needed), or None.
        palette: (256, 3) uint8 palette of those PNGs; may be changed later (`store.palette = ...`).
    """

    info_name = "references"

    def __init__(
        self, objects: Sequence[ShotObject] = (), folder: Path | None = None, palette: np.ndarray | None = None
    ) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.palette = palette
        self._masks: dict[int, np.ndarray] = {}
        self._references: list[int] = []
        self._objects = list(objects)
        self._edited: list[int] = []
        self._review: ReviewStates | None = None

    def reference_path(self, frame: int) -> Path | None:
        """Where the reference PNG of `frame` is kept, or None without a folder."""
        return self.folder / f"{frame:06d}.png" if self.folder is not None else None

    def _write_reference(self, frame: int) -> None:
        path = self.reference_path(frame)
        if path is not None and frame in self._masks:
            palette = self.palette if self.palette is not None else davis_palette()
            atomic_write_image(path, self._masks[frame], palette, fsync=False)

    def masked_frames(self) -> set[int]:
        return set(self._masks)

    def load_mask(self, frame: int) -> np.ndarray | None:
        return self._masks.get(frame)

    def save_mask(self, frame: int, ids: np.ndarray) -> None:
        self._masks[frame] = ids
        if frame in self._references:
            self._write_reference(frame)

    def delete_mask(self, frame: int) -> None:
        self._masks.pop(frame, None)
        path = self.reference_path(frame)
        if path is not None:
            path.unlink(missing_ok=True)

    def mask_bytes(self, frame: int) -> bytes | None:
        mask = self._masks.get(frame)
        return encode_png(mask) if mask is not None else None

    def restore_mask_bytes(self, frame: int, data: bytes | None) -> None:
        if data is None:
            self.delete_mask(frame)
        else:
            self.save_mask(frame, _decode_png(data))

    def load_references(self) -> list[int]:
        return list(self._references)

    def save_references(self, frames: Sequence[int]) -> None:
        old, self._references = set(self._references), sorted(frames)
        for frame in sorted(old - set(frames)):
            path = self.reference_path(frame)
            if path is not None:
                path.unlink(missing_ok=True)
        for frame in sorted(set(frames) - old):
            self._write_reference(frame)

    def load_objects(self) -> list[ShotObject]:
        return list(self._objects)

    def save_objects(self, objects: Sequence[ShotObject]) -> None:
        self._objects = list(objects)

    def load_edited(self) -> list[int]:
        return list(self._edited)

    def save_edited(self, frames: Sequence[int]) -> None:
        self._edited = sorted(frames)

    def load_review(self, count: int) -> ReviewStates:
        return self._review if self._review is not None else ReviewStates(count)

    def save_review(self, states: ReviewStates) -> None:
        self._review = states


#: Keys of the workspace's GUI settings (info.json's "xmempp_gui") that hold session state: the saved form
#: xmempp 0.1 and 0.2 wrote, kept so that older and newer versions read each other's workspaces.
EDITED_KEY, COLOURS_KEY, HIDDEN_KEY, LOCKED_KEY = "edited", "object_colours", "hidden", "locked"


class WorkspaceStore:
    """State in a workspace folder (`xmempp.io.workspace`): masks in masks/, references, objects and edited
    frames in info.json, review states in review.json. Object ids are the workspace ids 1..K.

    Arguments:
        workspace: the opened workspace.
    """

    info_name = "info.json"

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def _gui(self) -> dict[str, Any]:
        return dict(self.workspace.info.gui_settings or {})

    def _save_gui(self, **values: Any) -> None:
        self.workspace.info.gui_settings = {**self._gui(), **values}
        self.workspace.save_info()

    def masked_frames(self) -> set[int]:
        try:
            stems = {
                p.stem
                for p in self.workspace.mask_dir.iterdir()
                if p.suffix.lower() == ".png" and not p.name.startswith(".")
            }
        except OSError:
            stems = set()
        return {i for i, name in enumerate(self.workspace.names) if name in stems}

    def load_mask(self, frame: int) -> np.ndarray | None:
        path = self.workspace.mask_path(frame)
        return read_mask(path).ids if path.exists() else None

    def save_mask(self, frame: int, ids: np.ndarray) -> None:
        self.workspace.save_mask(frame, ids)

    def delete_mask(self, frame: int) -> None:
        path = self.workspace.mask_path(frame)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise OutputError(f"could not delete {path}: {exc.strerror or exc}") from exc

    def mask_bytes(self, frame: int) -> bytes | None:
        path = self.workspace.mask_path(frame)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def restore_mask_bytes(self, frame: int, data: bytes | None) -> None:
        path = self.workspace.mask_path(frame)
        if data is None:
            self.delete_mask(frame)
        else:
            atomic_write_bytes(path, data)

    def load_references(self) -> list[int]:
        return self.workspace.references

    def save_references(self, frames: Sequence[int]) -> None:
        self.workspace.info.references = sorted(int(f) for f in frames)
        self.workspace.save_info()

    def load_objects(self) -> list[ShotObject]:
        ws, gui = self.workspace, self._gui()
        names = ws.info.object_names or []
        saved = gui.get(COLOURS_KEY)
        colours: dict[str, Any] = saved if isinstance(saved, dict) else {}
        hidden, locked = _ints(gui.get(HIDDEN_KEY)), _ints(gui.get(LOCKED_KEY))
        objects = []
        for k, original in enumerate(ws.object_ids, start=1):
            colour = colours.get(str(k))
            rgb = tuple(int(c) for c in colour) if isinstance(colour, list) and len(colour) == 3 else None
            name = names[k - 1] if k <= len(names) else ""
            objects.append(ShotObject(k, name, int(original), rgb, k in hidden, k in locked))  # type: ignore[arg-type]
        return objects

    def save_objects(self, objects: Sequence[ShotObject]) -> None:
        info = self.workspace.info
        k = len(objects)
        if info.object_ids is not None:
            info.object_ids = [o.original_id if o.original_id is not None else o.id for o in objects]
            if info.object_colors is not None and len(info.object_colors) < k:
                davis = davis_palette()
                info.object_colors = [
                    *info.object_colors,
                    *([int(c) for c in davis[check_object_id(o)]] for o in info.object_ids[len(info.object_colors) :]),
                ]
        info.num_objects = max(1, k)
        names = [o.name for o in objects]
        info.object_names = names if any(names) else None
        self._save_gui(
            **{
                COLOURS_KEY: {str(o.id): list(o.colour) for o in objects if o.colour is not None},
                HIDDEN_KEY: [o.id for o in objects if o.hidden],
                LOCKED_KEY: [o.id for o in objects if o.locked],
            }
        )

    def load_edited(self) -> list[int]:
        return _ints(self._gui().get(EDITED_KEY))

    def save_edited(self, frames: Sequence[int]) -> None:
        self._save_gui(**{EDITED_KEY: sorted(int(f) for f in frames)})

    def load_review(self, count: int) -> ReviewStates:
        return self.workspace.read_review_states()

    def save_review(self, states: ReviewStates) -> None:
        self.workspace.save_review_states(states)


def _ints(value: Any) -> list[int]:
    if not isinstance(value, list):
        return []
    return sorted({int(v) for v in value if isinstance(v, int) and not isinstance(v, bool) and v >= 0})
