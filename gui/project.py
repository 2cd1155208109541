"""The open workspace as the GUI edits it: masks, references, objects, settings, undo history.

Every change goes to disk at once and atomically (`Workspace.save_mask`, `Workspace.save_info`),
so closing the window, a crash or a power cut loses nothing that was on screen. View state that
changes constantly (current frame, zoom-independent view settings) is written shortly after it
settles and when the window closes.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np
from PyQt5.QtCore import QObject, QTimer, pyqtSignal
from PyQt5.QtWidgets import QUndoStack

from xmempp.io.atomic import TEMP_PREFIX, atomic_write_bytes
from xmempp.inference.config import InferenceConfig
from xmempp.errors import InputError, XMemppError
from xmempp.io.masks import davis_palette, read_mask
from xmempp.io.workspace import Workspace

from .engine import Engine
from .object_styles import ObjectStyles
from .review_tracker import ReviewTracker
from .settings import GuiSettings
from .undo import MaskPatchCommand, PropagationCommand, ReferenceCommand

__all__ = ["Project", "MAX_OBJECTS"]

#: Object ids are stored in 8-bit index PNGs.
MAX_OBJECTS = 255
_MASK_CACHE = 48
_IMAGE_CACHE = 12


class Project(QObject):
    """A workspace opened for editing.

    Signals:
        maskChanged(int): a frame's mask changed (edit, undo, propagation).
        referencesChanged(): a reference was saved or deleted.
        objectsChanged(): the number of objects changed.
        suggestionsChanged(): new suggested frames.
        settingsChanged(): inference or candidate settings changed.
        frameRequested(int): an undo/redo wants to show a frame.
        problem(str): something could not be saved or read (shown to the user).
        saved(str): a short note after a save (status bar).
    """

    maskChanged = pyqtSignal(int)
    referencesChanged = pyqtSignal()
    objectsChanged = pyqtSignal()
    suggestionsChanged = pyqtSignal()
    settingsChanged = pyqtSignal()
    frameRequested = pyqtSignal(int)
    problem = pyqtSignal(str)
    saved = pyqtSignal(str)

    def __init__(self, workspace: Workspace, engine: Optional[Engine] = None, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.engine = engine or Engine()
        self.settings = GuiSettings.from_json(workspace.info.gui_settings)
        if not self.settings.size_chosen:  # the workspace's own size: never upscale its frames unless asked
            self.settings.config = self.settings.config.replace(size=workspace.processing_size)
        self.palette = davis_palette()  # the mask files' palette (XMem++ reads it); display colours: `styles`
        self.styles = ObjectStyles(workspace, self.settings)
        self.engine.force_memory = self.settings.force_memory
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(100)
        self._masks: "OrderedDict[int, np.ndarray]" = OrderedDict()
        self._images: "OrderedDict[int, np.ndarray]" = OrderedDict()
        self._versions: dict[int, int] = {}
        self._size: Optional[tuple[int, int]] = None
        self._labels: Optional[list[str]] = None
        self.problems: list[str] = []  # reported before a window listened (shown when it opens)
        self.unsaved: set[str] = set()  # files whose last write failed (frame names, "info.json")
        self.problem.connect(self._remember_problem)
        self._has_mask = self._scan_masks()
        self.review = ReviewTracker(self)  # fresh / stale / flagged / approved per frame (review.json)
        n = len(workspace)
        self.settings.current_frame = min(self.settings.current_frame, n - 1)
        self.settings.current_object = min(self.settings.current_object, self.num_objects)
        self.settings.suggestions = [f for f in self.settings.suggestions if f < n]
        self.settings.edited = [f for f in self.settings.edited if f < n and f not in self.references]
        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(600)
        self._view_timer.timeout.connect(self.save_settings)

    @classmethod
    def open(cls, path: os.PathLike | str, model_path: Optional[Path] = None, device: str = "auto",
             parent: Optional[QObject] = None, precision: str = "auto") -> "Project":
        """Open a workspace folder for editing.

        Arguments:
            path: the workspace (`ROOT/NAME`, made by `xmempp import` or XMem++).
            model_path: explicit weights file, or None for the default one.
            device: device for the network ("auto", "cpu", "cuda", ...).
            precision: number format of the network ("auto", "fp32", "bf16", "fp16").
        Returns:
            A `Project`. Raises `InputError` when the folder is not a workspace.
        """
        return cls(Workspace.open(path), Engine(model_path, device, precision), parent)

    def _remember_problem(self, message: str) -> None:
        self.problems = [*self.problems[-9:], message]

    # ------------------------------------------------------------------ frames
    def __len__(self) -> int:
        return len(self.workspace)

    @property
    def names(self) -> list[str]:
        """Frame stems in frame order."""
        return self.workspace.names

    @property
    def labels(self) -> list[str]:
        """Frame names to show: the source frame names (a workspace may have renamed its files)."""
        if self._labels is None:
            self._labels = list(self.workspace.info.source_names or self.workspace.names)
        return self._labels

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames."""
        if self._size is None:
            self._size = tuple(self.image(0).shape[:2])  # type: ignore[assignment]
        return self._size  # type: ignore[return-value]

    def image(self, index: int) -> np.ndarray:
        """Frame `index` as HxWx3 uint8 RGB (a small cache keeps recent frames)."""
        cached = self._images.get(index)
        if cached is not None:
            self._images.move_to_end(index)
            return cached
        image = self.workspace.image(index)
        image.flags.writeable = False
        self._images[index] = image
        while len(self._images) > _IMAGE_CACHE:
            self._images.popitem(last=False)
        return image

    # ------------------------------------------------------------------ masks
    def _scan_masks(self) -> set[int]:
        try:
            stems = {p.stem for p in self.workspace.mask_dir.iterdir()
                     if p.suffix.lower() == ".png" and not p.name.startswith(".")}
        except OSError:
            stems = set()
        return {i for i, name in enumerate(self.workspace.names) if name in stems}

    def has_mask(self, index: int) -> bool:
        """True when frame `index` has a saved mask."""
        return index in self._has_mask

    @property
    def masked_frames(self) -> set[int]:
        """Frames that have a saved mask."""
        return set(self._has_mask)

    def version(self, index: int) -> int:
        """A number that changes whenever frame `index`'s mask changes (thumbnail and session caches)."""
        return self._versions.get(index, 0)

    def mask(self, index: int) -> np.ndarray:
        """Frame `index`'s mask as HxW uint8 ids (zeros when it has none). Read-only: copy to edit."""
        cached = self._masks.get(index)
        if cached is not None:
            self._masks.move_to_end(index)
            return cached
        mask = self._load_mask(index)
        mask.flags.writeable = False
        self._cache(index, mask)
        return mask

    def _load_mask(self, index: int) -> np.ndarray:
        h, w = self.size
        if index not in self._has_mask:
            return np.zeros((h, w), np.uint8)
        path = self.workspace.mask_path(index)
        try:
            ids = read_mask(path).ids
        except (InputError, OSError) as exc:
            self.problem.emit(f"cannot read the mask of {self.names[index]} ({exc}); it is shown empty and the "
                              f"file is left as it is until you edit this frame")
            return np.zeros((h, w), np.uint8)
        if ids.shape != (h, w):
            ids = cv2.resize(ids, (w, h), interpolation=cv2.INTER_NEAREST)
        return np.ascontiguousarray(ids, dtype=np.uint8)

    def _cache(self, index: int, mask: np.ndarray) -> None:
        self._masks[index] = mask
        self._masks.move_to_end(index)
        while len(self._masks) > _MASK_CACHE:
            self._masks.popitem(last=False)

    def _bump(self, index: int) -> None:
        self._versions[index] = self._versions.get(index, 0) + 1

    def write_mask(self, index: int, ids: np.ndarray, edited: bool = True) -> bool:
        """Store and save frame `index`'s mask (no undo record; see `edit_mask`).

        Arguments:
            index: frame index.
            ids: HxW uint8 ids.
            edited: the user made this change (propagation asks before overwriting edited frames).
        Returns:
            True when saved; False when the file could not be written (a `problem` is emitted and
            the mask stays in memory).
        """
        mask = np.array(ids, dtype=np.uint8, copy=True)
        mask.flags.writeable = False
        self._cache(index, mask)
        self._bump(index)
        ok = True
        try:
            self.workspace.save_mask(index, mask)
            self._has_mask.add(index)
            self.unsaved.discard(self.names[index])
        except XMemppError as exc:
            ok = False
            self.unsaved.add(self.names[index])
            self.problem.emit(f"could not save the mask of {self.names[index]}: {exc}")
        if edited and index not in self.references and index not in self.settings.edited:
            self.settings.edited = sorted({*self.settings.edited, index})
            self.save_settings()
        self.review.mask_edited(index, self.is_reference(index))
        self.maskChanged.emit(index)
        return ok

    def delete_mask(self, index: int) -> None:
        """Remove frame `index`'s mask file (undo of an edit that created it)."""
        self._cache(index, self._frozen_zeros())
        self._bump(index)
        try:
            self.workspace.mask_path(index).unlink(missing_ok=True)
        except OSError as exc:
            self.problem.emit(f"could not delete {self.workspace.mask_path(index)}: {exc.strerror or exc}")
        self._has_mask.discard(index)
        if index in self.settings.edited:
            self.settings.edited = [f for f in self.settings.edited if f != index]
            self.save_settings()
        self.review.mask_edited(index, self.is_reference(index))
        self.maskChanged.emit(index)

    def _frozen_zeros(self) -> np.ndarray:
        zeros = np.zeros(self.size, np.uint8)
        zeros.flags.writeable = False
        return zeros

    def accept_propagated(self, index: int) -> None:
        """A mask the propagation worker has saved: forget the cached one (it is read when needed)."""
        self._masks.pop(index, None)
        self._bump(index)
        self._has_mask.add(index)
        self.review.frame_propagated(index)
        self.maskChanged.emit(index)

    def finish_propagation(self, changes: dict[int, tuple[Optional[bytes], bytes]], text: str) -> None:
        """Record a finished (or stopped) propagation as one undo step; overwritten frames are no longer 'edited'."""
        records = self.review.finish_propagation(changes)
        if not changes:
            return
        if any(f in changes for f in self.settings.edited):
            self.settings.edited = [f for f in self.settings.edited if f not in changes]
            self.save_settings()
        self.undo_stack.push(PropagationCommand(self, changes, text, records))

    def restore_mask_bytes(self, index: int, data: Optional[bytes]) -> None:
        """Put back a mask file's exact bytes (None: no mask), for undoing a propagation."""
        path = self.workspace.mask_path(index)
        self._masks.pop(index, None)
        self._bump(index)
        try:
            if data is None:
                path.unlink(missing_ok=True)
                self._has_mask.discard(index)
            else:
                atomic_write_bytes(path, data)
                self._has_mask.add(index)
        except (OSError, XMemppError) as exc:
            self.problem.emit(f"could not restore the mask of {self.names[index]}: {exc}")
        self.maskChanged.emit(index)

    def edit_mask(self, index: int, ids: np.ndarray, text: str) -> bool:
        """Apply a user edit as one undo step and save it.

        Arguments:
            index: frame index.
            ids: the complete new HxW mask.
            text: undo text, e.g. "Brush stroke".
        Returns:
            False when nothing changed.
        """
        before = self.mask(index)
        after = self.styles.protect(before, np.array(ids, np.uint8, copy=True))
        command = MaskPatchCommand(self, index, before, after, f"{text} · {self.labels[index]}",
                                   self.has_mask(index))
        if command.empty:
            return False
        self.undo_stack.push(command)
        return True

    def clear_object(self, index: int, object_id: int) -> bool:
        """Remove one object from a frame (undoable)."""
        mask = self.mask(index).copy()
        mask[mask == object_id] = 0
        return self.edit_mask(index, mask, f"Clear {self.object_name(object_id)}")

    def goto_frame(self, index: int) -> None:
        """Ask the window to show frame `index` (used by undo/redo)."""
        self.frameRequested.emit(index)

    # ------------------------------------------------------------------ references
    @property
    def references(self) -> list[int]:
        """Reference frame indices, ascending."""
        return self.workspace.references

    def is_reference(self, index: int) -> bool:
        """True when frame `index` is a reference."""
        return index in self.workspace.references

    def mark_reference(self, index: int, on: bool) -> None:
        """Mark or unmark frame `index` as a reference and save info.json (no undo record)."""
        self.review.references_changed(index, on)  # saved first: a crash in between leaves frames stale, never fresh
        try:
            if on:
                if not self.has_mask(index):
                    self.workspace.save_mask(index, self.mask(index))
                    self._has_mask.add(index)
                self.workspace.add_reference(index)
                if index in self.settings.edited:
                    self.settings.edited = [f for f in self.settings.edited if f != index]
                    self.save_settings()
            else:
                self.workspace.remove_reference(index)
        except XMemppError as exc:
            self.unsaved.add("info.json")
            self.problem.emit(f"could not save the references to {self.workspace.path / 'info.json'}: {exc}")
        self._bump(index)
        self.referencesChanged.emit()

    def save_reference(self, index: int) -> str:
        """Save frame `index`'s mask as a reference (undoable).

        Returns:
            A message for the status bar. Raises `InputError` when the mask is empty.
        """
        if not self.mask(index).any():
            raise InputError(f"frame {self.labels[index]} has no mask yet: paint the object, then save it as a "
                             f"reference")
        if self.is_reference(index):
            self._bump(index)  # re-encode it at the next propagation
            return f"reference {self.labels[index]} is up to date (it is saved with every edit)"
        self.undo_stack.push(ReferenceCommand(self, index, add=True))
        return f"saved {self.labels[index]} as a reference"

    def delete_reference(self, index: int) -> None:
        """Stop using frame `index` as a reference (undoable; its mask stays)."""
        if self.is_reference(index):
            self.undo_stack.push(ReferenceCommand(self, index, add=False))

    def reference_snapshot(self) -> dict[int, tuple[int, np.ndarray]]:
        """Frame -> (version, mask copy) of every reference, for a worker thread."""
        return {f: (self.version(f), self.mask(f).copy()) for f in self.references}

    # ------------------------------------------------------------------ objects
    @property
    def num_objects(self) -> int:
        """Number of objects K (ids 1..K)."""
        return max(1, self.workspace.num_objects)

    @property
    def object_ids(self) -> list[int]:
        """Original object id of each workspace id 1..K (for export)."""
        return self.workspace.object_ids

    def object_colour(self, object_id: int) -> tuple[int, int, int]:
        """Display colour of workspace object `object_id`."""
        return self.styles.colour(object_id)

    @property
    def display_palette(self) -> np.ndarray:
        """(256, 3) display colours by workspace id (recoloured objects included)."""
        return self.styles.palette()

    def object_name(self, object_id: int) -> str:
        """The object's name."""
        return self.styles.name(object_id)

    def rename_object(self, object_id: int, name: str) -> None:
        """Name an object (saved in info.json, used by exports). Raises `InputError` for a bad name."""
        if self.styles.rename(object_id, name):
            self._save_info()
            self.objectsChanged.emit()

    def recolour_object(self, object_id: int, rgb: Optional[tuple[int, int, int]]) -> None:
        """Show an object in another colour (None: its default one); saved with the view settings."""
        self.styles.recolour(object_id, rgb)
        self.save_settings()
        self.objectsChanged.emit()

    def set_object_hidden(self, object_id: int, hidden: bool) -> None:
        """Hide or show an object on the canvas and the thumbnails."""
        self.styles.set_hidden(object_id, hidden)
        self.save_settings()
        self.objectsChanged.emit()

    def set_object_locked(self, object_id: int, locked: bool) -> None:
        """Lock an object: no edit changes its pixels."""
        self.styles.set_locked(object_id, locked)
        self.save_settings()
        self.objectsChanged.emit()

    def add_object(self) -> int:
        """Add object K+1 and save info.json. Returns its id (raises `InputError` past 255)."""
        k = self.num_objects
        if k >= MAX_OBJECTS:
            raise InputError(f"a workspace holds at most {MAX_OBJECTS} objects")
        info = self.workspace.info
        ids = info.object_ids
        if ids is not None and len(ids) == k:
            free = next(i for i in range(1, 256) if i not in ids)
            info.object_ids = [*ids, free]
            colours = info.object_colors
            if colours is not None and len(colours) == k:
                info.object_colors = [*colours, [int(c) for c in self.palette[free]]]
        info.num_objects = k + 1
        self._save_info()
        self.objectsChanged.emit()
        return k + 1

    def output_palette(self) -> np.ndarray:
        """Palette for exported index masks: the original colours when known, else DAVIS."""
        palette = davis_palette()
        colours = self.workspace.info.object_colors
        if colours is not None and len(colours) == self.num_objects:
            for original, colour in zip(self.object_ids, colours):
                palette[original] = colour
        return palette

    # ------------------------------------------------------------------ settings
    @property
    def config(self) -> InferenceConfig:
        """The inference settings."""
        return self.settings.config

    def update_config(self, **changes) -> InferenceConfig:
        """Change inference settings (validated), save them and drop the session.

        Returns:
            The new config. Raises `ConfigError` naming a bad value (nothing is changed then).
        """
        config = self.settings.config.replace(**changes)
        chosen = "size" in changes and not self.settings.size_chosen
        if chosen:
            self.settings.size_chosen = True
        if config != self.settings.config:
            self.settings.config = config
            self.engine.invalidate()
            self.save_settings()
            self.settingsChanged.emit()
        elif chosen:
            self.save_settings()
        return config

    def update_settings(self, **changes) -> None:
        """Change GUI settings (candidate controls, mode) and save them now."""
        changed = False
        for name, value in changes.items():
            if getattr(self.settings, name) != value:
                setattr(self.settings, name, value)
                changed = True
        if changed:
            if "mode" in changes:
                self.engine.invalidate()
            self.engine.force_memory = self.settings.force_memory
            self.save_settings()
            self.settingsChanged.emit()

    def update_view(self, **changes) -> None:
        """Change view state (frame, object, tool, overlay); saved shortly after it settles."""
        for name, value in changes.items():
            setattr(self.settings, name, value)
        self._view_timer.start()

    def set_suggestions(self, frames: list[int]) -> None:
        """Store the suggested frames (saved)."""
        self.settings.suggestions = [int(f) for f in frames]
        self.save_settings()
        self.suggestionsChanged.emit()

    def save_settings(self) -> bool:
        """Write the settings to info.json now. Returns False (and emits `problem`) on failure."""
        self._view_timer.stop()
        self.workspace.info.gui_settings = self.settings.to_json()
        return self._save_info()

    def _save_info(self) -> bool:
        try:
            self.workspace.save_info()
        except XMemppError as exc:
            self.unsaved.add("info.json")
            self.problem.emit(f"could not save {self.workspace.path / 'info.json'}: {exc}")
            return False
        self.unsaved.discard("info.json")
        return True

    def cleanup_temp_files(self) -> None:
        """Remove temporary files an interrupted atomic write may have left in masks/."""
        try:
            for path in self.workspace.mask_dir.glob(f"{TEMP_PREFIX}*"):
                path.unlink(missing_ok=True)
        except OSError:
            pass

    def frames_reader(self) -> Callable[[int], np.ndarray]:
        """A thread-safe frame reader for workers (decodes from disk, no shared cache)."""
        workspace = self.workspace
        return workspace.image
