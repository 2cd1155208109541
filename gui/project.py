"""The open workspace as the GUI edits it: the core's `AnnotationSession` adapted to Qt, plus the GUI's settings.

The session (`xmempp.annotation`) holds the masks, references, objects, review states and undo history
and saves every change at once and atomically into the workspace, so closing the window, a crash or a
power cut loses nothing that was on screen. The project relays the session's events to Qt signals,
mirrors its undo steps on a `QUndoStack` (the Edit menu and the History view), and keeps the GUI's own
settings; view state that changes constantly (current frame, view settings) is written shortly after it
settles and when the window closes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QObject, QTimer, pyqtSignal
from PyQt5.QtWidgets import QUndoStack

from xmempp.annotation import MAX_OBJECTS, AnnotationSession, ObjectTable, Step
from xmempp.errors import XMemppError
from xmempp.inference.config import InferenceConfig
from xmempp.io.atomic import TEMP_PREFIX
from xmempp.io.masks import davis_palette
from xmempp.io.workspace import Workspace

from .model_cache import ModelCache
from .review_tracker import ReviewTracker
from .settings import GuiSettings
from .undo import SessionCommand

__all__ = ["MAX_OBJECTS", "Project"]

#: Undo steps kept (the session's history and the Qt undo stack mirror each other).
UNDO_LIMIT = 100


class Project(QObject):
    """A workspace opened for editing.

    Attributes:
        workspace: the workspace folder.
        session: the `AnnotationSession` on it (every mask, reference and object edit goes through it).
        model_cache: the network and what is kept to reuse its work (`ModelCache`).
        settings: the GUI's settings of this workspace.
        styles: the objects' names, colours, hidden and locked flags (the session's `ObjectTable`).

    Signals:
        maskChanged(int): a frame's mask changed (edit, undo, propagation).
        referencesChanged(): a reference was saved or deleted.
        objectsChanged(): an object was added, renamed, recoloured, hidden or locked.
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

    def __init__(self, workspace: Workspace, engine: ModelCache | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.session = AnnotationSession.from_workspace(workspace, undo_limit=UNDO_LIMIT)
        self.model_cache = engine or ModelCache()
        self.model_cache.annotation = self.session
        self.settings = GuiSettings.from_json(workspace.info.gui_settings)
        if not self.settings.size_chosen:  # the workspace's own size: never upscale its frames unless asked
            self.settings.config = self.settings.config.replace(size=workspace.processing_size)
        self.palette = davis_palette()  # the mask files' palette (XMem++ reads it); display colours: `styles`
        self.model_cache.force_memory = self.settings.force_memory
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(UNDO_LIMIT)
        self._labels: list[str] | None = None
        self.problems: list[str] = list(self.session.problems)  # reported before a window listened
        self._unsaved_settings = False
        self.problem.connect(self._remember_problem)
        self.review = ReviewTracker(self.session, self.labels, self)  # fresh / stale / flagged / approved per frame
        events = self.session.events
        events.mask_changed.connect(self._mask_changed)
        events.references_changed.connect(self._references_changed)
        events.objects_changed.connect(self._objects_changed)
        events.step_recorded.connect(self._step_recorded)
        events.problem.connect(self._problem)
        self._copy_session_state()
        n = len(workspace)
        self.settings.current_frame = min(self.settings.current_frame, n - 1)
        self.settings.current_object = min(self.settings.current_object, self.num_objects)
        self.settings.suggestions = [f for f in self.settings.suggestions if f < n]
        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(600)
        self._view_timer.timeout.connect(self._save_view)

    @classmethod
    def open(
        cls,
        path: os.PathLike | str,
        model_path: Path | None = None,
        device: str = "auto",
        parent: QObject | None = None,
        precision: str = "auto",
    ) -> Project:
        """Open a workspace folder for editing.

        Arguments:
            path: the workspace (`ROOT/NAME`, made by `xmempp import` or XMem++).
            model_path: explicit weights file, or None for the default one.
            device: device for the network ("auto", "cpu", "cuda", ...).
            precision: number format of the network ("auto", "fp32", "bf16", "fp16").
        Returns:
            A `Project`. Raises `InputError` when the folder is not a workspace.
        """
        return cls(Workspace.open(path), ModelCache(model_path, device, precision), parent)

    @property
    def engine(self) -> ModelCache:
        """The model cache under its old name (`model_cache`), for the window code not yet moved over."""
        return self.model_cache

    # ------------------------------------------------------------------ the session's events
    def _remember_problem(self, message: str) -> None:
        self.problems = [*self.problems[-9:], message]

    def _problem(self, message: str) -> None:
        self.problem.emit(message)

    def _copy_session_state(self) -> None:
        """The session's edited frames and object flags into the settings (their saved form is shared)."""
        s, objects = self.settings, self.session.objects
        s.edited = self.session.edited_frames
        s.hidden, s.locked = objects.hidden_ids, objects.locked_ids
        s.object_colours = {str(o.id): list(o.colour) for o in objects if o.colour is not None}

    def _mask_changed(self, index: int) -> None:
        self._copy_session_state()
        self.maskChanged.emit(index)

    def _references_changed(self) -> None:
        self._copy_session_state()
        self.referencesChanged.emit()

    def _objects_changed(self) -> None:
        self._copy_session_state()
        self.objectsChanged.emit()

    def _step_recorded(self, step: Step) -> None:
        self.undo_stack.push(SessionCommand(self.session, step, self.goto_frame))

    @property
    def unsaved(self) -> set[str]:
        """Files whose last write failed (frame names, "info.json", "review.json")."""
        return set(self.session.unsaved) | ({"info.json"} if self._unsaved_settings else set())

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
        return self.session.size

    def image(self, index: int) -> np.ndarray:
        """Frame `index` as HxWx3 uint8 RGB (a small cache keeps recent frames)."""
        return self.session.image(index)

    # ------------------------------------------------------------------ masks
    def has_mask(self, index: int) -> bool:
        """True when frame `index` has a saved mask."""
        return self.session.has_mask(index)

    @property
    def masked_frames(self) -> set[int]:
        """Frames that have a saved mask."""
        return self.session.masked_frames

    def version(self, index: int) -> int:
        """A number that changes whenever frame `index`'s mask changes (thumbnail and session caches)."""
        return self.session.version(index)

    def mask(self, index: int) -> np.ndarray:
        """Frame `index`'s mask as HxW uint8 ids (zeros when it has none). Read-only: copy to edit."""
        return self.session.mask(index)

    def write_mask(self, index: int, ids: np.ndarray, edited: bool = True) -> bool:
        """Store and save frame `index`'s mask (no undo record; see `edit_mask`).

        Returns:
            True when saved; False when the file could not be written (a `problem` is emitted and
            the mask stays in memory).
        """
        return self.session.write_mask(index, ids, edited)

    def delete_mask(self, index: int) -> None:
        """Remove frame `index`'s mask file (undo of an edit that created it)."""
        self.session.delete_mask(index)

    def accept_propagated(self, index: int) -> None:
        """A mask the propagation worker has saved: the session reads it when needed; its state is fresh."""
        self.session.propagated(index)

    def finish_propagation(self, changes: dict[int, tuple[bytes | None, bytes]], text: str) -> None:
        """Record a finished (or stopped) propagation as one undo step; overwritten frames are no longer 'edited'."""
        self.session.finish_propagation(changes, text)
        if changes:
            self.review.propagated.emit(dict(changes))

    def restore_mask_bytes(self, index: int, data: bytes | None) -> None:
        """Put back a mask file's exact bytes (None: no mask), for undoing a propagation."""
        self.session.restore_mask_bytes(index, data)

    def edit_mask(self, index: int, ids: np.ndarray, text: str, also: Sequence[Step] = ()) -> bool:
        """Apply a user edit as one undo step and save it (locked objects keep their pixels).

        Arguments:
            index: frame index.
            ids: the complete new HxW mask.
            text: undo text, e.g. "Brush stroke".
            also: steps already applied with it (the frame's spline shapes), undone and redone with the mask.
        Returns:
            False when nothing changed.
        """
        return self.session.edit_mask(index, ids, f"{text} · {self.labels[index]}", also=also)

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
        return self.session.references

    def is_reference(self, index: int) -> bool:
        """True when frame `index` is a reference."""
        return self.session.is_reference(index)

    def mark_reference(self, index: int, on: bool) -> None:
        """Mark or unmark frame `index` as a reference and save info.json (no undo record)."""
        self.session.mark_reference(index, on)

    def save_reference(self, index: int) -> str:
        """Save frame `index`'s mask as a reference (undoable).

        Returns:
            A message for the status bar. Raises `InputError` when the mask is empty.
        """
        label = self.labels[index]
        if not self.session.save_reference(index, f"Save reference {label}"):
            return f"reference {label} is up to date (it is saved with every edit)"
        return f"saved {label} as a reference"

    def delete_reference(self, index: int) -> None:
        """Stop using frame `index` as a reference (undoable; its mask stays)."""
        self.session.delete_reference(index, f"Delete reference {self.labels[index]}")

    def reference_snapshot(self) -> dict[int, tuple[int, np.ndarray]]:
        """Frame -> (version, mask copy) of every reference, for a worker thread."""
        return self.session.reference_snapshot()

    # ------------------------------------------------------------------ objects
    @property
    def styles(self) -> ObjectTable:
        """The objects' names, colours, hidden and locked flags (what canvas and thumbnails draw with)."""
        return self.session.objects

    @property
    def num_objects(self) -> int:
        """Number of objects K (ids 1..K)."""
        return max(1, len(self.session.objects))

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
        self.session.update_object(object_id, name=name)

    def recolour_object(self, object_id: int, rgb: tuple[int, int, int] | None) -> None:
        """Show an object in another colour (None: its default one); saved with the workspace."""
        self.session.update_object(object_id, colour=rgb)

    def set_object_hidden(self, object_id: int, hidden: bool) -> None:
        """Hide or show an object on the canvas and the thumbnails."""
        self.session.update_object(object_id, hidden=hidden)

    def set_object_locked(self, object_id: int, locked: bool) -> None:
        """Lock an object: no edit changes its pixels."""
        self.session.update_object(object_id, locked=locked)

    def add_object(self) -> int:
        """Add object K+1 and save info.json. Returns its id (raises `InputError` past 255)."""
        return self.session.add_object()

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
            self.model_cache.invalidate()
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
                self.model_cache.invalidate()
            self.model_cache.force_memory = self.settings.force_memory
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

    def _save_view(self) -> None:
        """The view settled: keep it (a failure is reported by `save_settings`)."""
        self.save_settings()

    def save_settings(self) -> bool:
        """Write the settings to info.json now. Returns False (and emits `problem`) on failure."""
        self._view_timer.stop()
        self._copy_session_state()
        self.workspace.info.gui_settings = self.settings.to_json()
        try:
            self.workspace.save_info()
        except XMemppError as exc:
            self._unsaved_settings = True
            self.problem.emit(f"could not save {self.workspace.path / 'info.json'}: {exc}")
            return False
        self._unsaved_settings = False
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
