"""`AnnotationSession`: one interactive shot (frames, references, objects, results, review states, undo),
with events and no Qt; the GUI adapts it to Qt signals, the service wraps one per HTTP session, and a
workspace folder is its saved form."""
from __future__ import annotations

import threading
from collections import OrderedDict
from enum import Enum
from pathlib import Path
from typing import Callable, Hashable, Iterable, Mapping, Optional, Sequence, Union

import cv2
import numpy as np

from xmempp.errors import InputError, XMemppError
from xmempp.inference.config import InferenceConfig
from xmempp.inference.objects import ObjectOrder
from xmempp.inference.session import InferenceSession
from xmempp.io.review_state import FrameCheck, FrameRecord, FrameState, ReviewStates
from xmempp.io.workspace import Workspace
from xmempp.model.network import XMemNetwork

from .events import SessionEvents
from .history import UNDO_LIMIT, History, MaskPatch, PropagationStep, ReferenceChange, Step, StepGroup
from .memory import SessionMemory
from .objects import MAX_OBJECTS, ObjectTable, ShotObject, check_object_id, objects_from_ids
from .store import MemoryStore, SessionStore, WorkspaceStore

__all__ = ["AnnotationSession", "MaskOrigin"]

_MASK_CACHE = 48
_IMAGE_CACHE = 12

#: (records before, records after) of the frames one propagation wrote.
PropagationRecords = tuple[dict[int, FrameRecord], dict[int, FrameRecord]]


class MaskOrigin(str, Enum):
    """Where a frame's latest mask came from."""

    none = "none"  # no mask
    reference = "reference"  # the frame is a reference: the artist's mask
    edited = "edited"  # the artist edited it (not a reference)
    propagated = "propagated"  # a propagation wrote it
    unknown = "unknown"  # saved before the session knew (imported, or by another tool)


class AnnotationSession:
    """One shot being annotated.

    Frames are indices 0..N-1 of `frames`. A reference is a frame whose mask (HxW uint8 object ids, the
    frames' size) goes into the network's permanent memory; every mask has a version that changes with it.
    Changes are saved at once through `store` and announced on `events` (`SessionEvents`). Edits made with
    `edit_mask`, `save_reference`, `set_reference`, `delete_reference` and `finish_propagation` are
    undoable (`undo`, `redo`); the `write_mask` / `mark_reference` / `restore_mask_bytes` family changes
    state without recording a step (undo itself uses them).

    Arguments:
        frames: the shot's frames (a `FrameSource`, or any sequence of HxWx3 uint8 RGB frames).
        store: where the state is kept (`WorkspaceStore`, `MemoryStore`).
        objects_follow_references: objects are added when a reference brings a new id (the service's
            way); otherwise a reference with an unknown id is refused and the store must hold an object.
        undo_limit: steps of undo kept.
    Raises:
        `InputError` for a shot without frames, or without objects when they do not follow the references.
    """

    def __init__(self, frames: Sequence[np.ndarray], store: SessionStore, *, objects_follow_references: bool = False,
                 undo_limit: int = UNDO_LIMIT) -> None:
        self.frames = frames
        self.store = store
        self.events = SessionEvents()
        self.history = History(undo_limit)
        self.objects_follow_references = objects_follow_references
        n = len(frames)
        if n < 1:
            raise InputError("a session needs at least one frame; give it a shot with frames")
        self.objects = ObjectTable(store.load_objects())
        if not len(self.objects) and not objects_follow_references:
            raise InputError("a session needs at least one object; add one (object id 1..255) before annotating")
        self.problems: list[str] = []  # reported before anyone listened (the last ten)
        self.unsaved: set[str] = set()  # what the last write failed for (frame names, the store's info_name)
        self.events.problem.connect(self._remember_problem)
        self._lock = threading.RLock()  # guards the caches and what worker threads read
        self._references = sorted({int(f) for f in store.load_references() if 0 <= f < n})
        self._masked = {f for f in store.masked_frames() if 0 <= f < n}
        self._edited = {f for f in store.load_edited() if 0 <= f < n and f not in self._references}
        try:
            self.review = store.load_review(n)
        except XMemppError as exc:
            self.review = ReviewStates(n)
            self.events.problem.emit(str(exc))
        self._masks: OrderedDict[int, np.ndarray] = OrderedDict()
        self._images: OrderedDict[int, np.ndarray] = OrderedDict()
        self._versions: dict[int, int] = {}
        self._size: Optional[tuple[int, int]] = None
        self._propagation_before: dict[int, FrameRecord] = {}
        self._memory = SessionMemory()

    # ------------------------------------------------------------------ opening
    @classmethod
    def from_workspace(cls, workspace: Union[Workspace, str, Path], *, undo_limit: int = UNDO_LIMIT) \
            -> "AnnotationSession":
        """A session on a workspace folder (made by `xmempp import`, `create_workspace` or XMem++): edits are
        saved into it atomically as they are made, and reopening it gives the same state.

        Arguments:
            workspace: an opened `Workspace` or its folder.
            undo_limit: steps of undo kept.
        Returns:
            The session. Raises `InputError` when the folder is not a workspace.
        """
        ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
        return cls(ws, WorkspaceStore(ws), undo_limit=undo_limit)

    @classmethod
    def in_memory(cls, frames: Sequence[np.ndarray], objects: Optional[Iterable[Union[int, ShotObject]]] = None,
                  folder: Optional[Path] = None, palette: Optional[np.ndarray] = None,
                  undo_limit: int = UNDO_LIMIT) -> "AnnotationSession":
        """A session kept in memory; with `folder`, each reference mask is also saved there as an index PNG.

        Arguments:
            frames: the shot's frames.
            objects: object ids or `ShotObject`s; None: objects follow the references (ids as they come).
            folder: where reference PNGs go (`<frame:06d>.png`), or None.
            palette: (256, 3) palette of those PNGs (the DAVIS palette by default; `session.store.palette`).
            undo_limit: steps of undo kept.
        Returns:
            The session. Raises `InputError` for bad object ids or an empty `objects`.
        """
        table = None if objects is None else [o if isinstance(o, ShotObject) else objects_from_ids([o])[0]
                                              for o in objects]
        store = MemoryStore(table or (), folder, palette)
        return cls(frames, store, objects_follow_references=objects is None, undo_limit=undo_limit)

    # ------------------------------------------------------------------ frames
    def __len__(self) -> int:
        return len(self.frames)

    @property
    def names(self) -> list[str]:
        """Frame names in frame order (the frame source's, else zero-padded indices)."""
        names = getattr(self.frames, "names", None)
        return list(names) if names is not None else [f"{i:06d}" for i in range(len(self))]

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames (and of every mask)."""
        if self._size is None:
            h, w = self.image(0).shape[:2]
            self._size = (int(h), int(w))
        return self._size

    def image(self, frame: int) -> np.ndarray:
        """Frame `frame` as HxWx3 uint8 RGB, read-only (a small cache keeps recent frames)."""
        with self._lock:
            cached = self._images.get(frame)
            if cached is not None:
                self._images.move_to_end(frame)
                return cached
        image = np.asarray(self.frames[frame])
        image.flags.writeable = False
        with self._lock:
            self._images[frame] = image
            while len(self._images) > _IMAGE_CACHE:
                self._images.popitem(last=False)
        return image

    def check_frame(self, frame: int) -> int:
        """`frame` as an int; raises `InputError` for an index outside the shot."""
        n = len(self)
        if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)) or not 0 <= int(frame) < n:
            raise InputError(f"frame {frame!r} is outside the shot of {n} frames; use an index 0..{n - 1}")
        return int(frame)

    def _checked_ids(self, frame: int, ids: np.ndarray, what: str = "mask") -> np.ndarray:
        array = np.asarray(ids)
        h, w = self.size
        if array.ndim != 2 or array.shape != (h, w):
            shape = "x".join(map(str, array.shape[::-1])) if array.ndim == 2 else f"an array of shape {array.shape}"
            raise InputError(f"the {what} for frame {frame} is {shape}, the frames are {w}x{h}; a mask must match "
                             f"its frame (HxW object ids)")
        if array.dtype != np.uint8:
            if array.size and (not np.issubdtype(array.dtype, np.integer) or array.min() < 0
                               or array.max() > MAX_OBJECTS):
                raise InputError(f"the {what} for frame {frame} holds values outside 0..{MAX_OBJECTS}; a mask holds "
                                 f"object ids (0 = background) as uint8")
        return np.array(array, dtype=np.uint8, copy=True)

    # ------------------------------------------------------------------ masks (results)
    def has_mask(self, frame: int) -> bool:
        """True when frame `frame` has a saved mask."""
        return frame in self._masked

    @property
    def masked_frames(self) -> set[int]:
        """Frames that have a saved mask."""
        return set(self._masked)

    def version(self, frame: int) -> int:
        """A number that changes whenever frame `frame`'s mask (or its being a reference) changes."""
        return self._versions.get(frame, 0)

    def origin(self, frame: int) -> MaskOrigin:
        """Where frame `frame`'s mask came from."""
        if frame not in self._masked:
            return MaskOrigin.none
        if frame in self._references:
            return MaskOrigin.reference
        if frame in self._edited:
            return MaskOrigin.edited
        if self.review.propagated_at(frame) is not None:
            return MaskOrigin.propagated
        return MaskOrigin.unknown

    @property
    def edited_frames(self) -> list[int]:
        """Frames the artist edited that are not references, ascending (a propagation asks before overwriting)."""
        return sorted(self._edited)

    def mask(self, frame: int) -> np.ndarray:
        """Frame `frame`'s mask as HxW uint8 ids (zeros when it has none). Read-only: copy to edit."""
        with self._lock:
            cached = self._masks.get(frame)
            if cached is not None:
                self._masks.move_to_end(frame)
                return cached
            mask = self._load_mask(frame)
            mask.flags.writeable = False
            self._cache(frame, mask)
            return mask

    def _load_mask(self, frame: int) -> np.ndarray:
        h, w = self.size
        if frame not in self._masked:
            return np.zeros((h, w), np.uint8)
        try:
            ids = self.store.load_mask(frame)
        except (InputError, OSError) as exc:
            self.events.problem.emit(f"cannot read the mask of {self.names[frame]} ({exc}); it is shown empty and "
                                     f"the file is left as it is until you edit this frame")
            return np.zeros((h, w), np.uint8)
        if ids is None:
            return np.zeros((h, w), np.uint8)
        if ids.shape != (h, w):
            ids = cv2.resize(ids, (w, h), interpolation=cv2.INTER_NEAREST)
        return np.ascontiguousarray(ids, dtype=np.uint8)

    def _cache(self, frame: int, mask: np.ndarray) -> None:
        self._masks[frame] = mask
        self._masks.move_to_end(frame)
        while len(self._masks) > _MASK_CACHE:
            self._masks.popitem(last=False)

    def _bump(self, frame: int) -> None:
        self._versions[frame] = self._versions.get(frame, 0) + 1

    def _set_edited(self, frame: int, on: bool) -> None:
        if on == (frame in self._edited):
            return
        if on:
            self._edited.add(frame)
        else:
            self._edited.discard(frame)
        self._save(self.store.info_name, lambda: self.store.save_edited(sorted(self._edited)),
                   f"could not save the edited frames to {self.store.info_name}")

    def _save(self, key: str, write: Callable[[], None], failure: str) -> bool:
        try:
            write()
        except XMemppError as exc:
            self.unsaved.add(key)
            self.events.problem.emit(f"{failure}: {exc}")
            return False
        self.unsaved.discard(key)
        return True

    def write_mask(self, frame: int, ids: np.ndarray, edited: bool = True) -> bool:
        """Store and save frame `frame`'s mask (no undo step; see `edit_mask`).

        Arguments:
            frame: frame index.
            ids: HxW uint8 object ids.
            edited: the artist made this change (a propagation asks before overwriting edited frames).
        Returns:
            True when saved; False when it could not be written (a `problem` event; the mask stays in memory).
            Raises `InputError` for a frame outside the shot or a mask of the wrong size.
        """
        frame = self.check_frame(frame)
        mask = self._checked_ids(frame, ids)
        mask.flags.writeable = False
        with self._lock:
            self._cache(frame, mask)
            self._bump(frame)
        name = self.names[frame]
        ok = self._save(name, lambda: self.store.save_mask(frame, mask), f"could not save the mask of {name}")
        if ok:
            self._masked.add(frame)
        reference = frame in self._references
        if edited and not reference:
            self._set_edited(frame, True)
        self._review_edited(frame, reference)
        self.events.mask_changed.emit(frame)
        return ok

    def delete_mask(self, frame: int) -> None:
        """Remove frame `frame`'s mask (undo of an edit that created it; no undo step)."""
        frame = self.check_frame(frame)
        zeros = np.zeros(self.size, np.uint8)
        zeros.flags.writeable = False
        with self._lock:
            self._cache(frame, zeros)
            self._bump(frame)
        try:
            self.store.delete_mask(frame)
        except XMemppError as exc:
            self.events.problem.emit(str(exc))
        self._masked.discard(frame)
        self._set_edited(frame, False)
        self._review_edited(frame, frame in self._references)
        self.events.mask_changed.emit(frame)

    def edit_mask(self, frame: int, ids: np.ndarray, text: str = "Edit") -> bool:
        """Apply an artist's edit as one undo step and save it; pixels of locked objects are kept.

        Arguments:
            frame: frame index.
            ids: the complete new HxW mask.
            text: undo text, e.g. "Brush stroke · 0012".
        Returns:
            False when nothing changed. Raises `InputError` for a bad frame or mask.
        """
        frame = self.check_frame(frame)
        after = self._checked_ids(frame, ids)
        before = self.mask(frame)
        self.objects.protect(before, after)
        step = MaskPatch(frame, before, after, text, self.has_mask(frame))
        if step.empty:
            return False
        self.write_mask(frame, after)
        self.record(step)
        return True

    def clear_object(self, frame: int, object_id: int, text: Optional[str] = None) -> bool:
        """Remove one object from a frame (undoable). Returns False when it was not there."""
        mask = self.mask(frame).copy()
        mask[mask == object_id] = 0
        return self.edit_mask(frame, mask, text or f"Clear {self.objects.name(object_id)}")

    # ------------------------------------------------------------------ propagation results
    def propagated(self, frame: int, ids: Optional[np.ndarray] = None) -> None:
        """A propagation made frame `frame`'s mask: `ids`, or (None) what it already saved in the store itself
        (the GUI's worker writes the files). Its review state becomes fresh; `finish_propagation` ends the run.
        """
        frame = self.check_frame(frame)
        with self._lock:
            if ids is None:
                self._masks.pop(frame, None)
            else:
                mask = self._checked_ids(frame, ids)
                mask.flags.writeable = False
                self._cache(frame, mask)
            self._bump(frame)
        if ids is not None:
            name = self.names[frame]
            self._save(name, lambda: self.store.save_mask(frame, self._masks[frame]),
                       f"could not save the mask of {name}")
        self._masked.add(frame)
        if frame not in self._propagation_before:
            self._propagation_before[frame] = self.review.record(frame)
        self.review.propagated(frame)
        self.events.mask_changed.emit(frame)

    def finish_propagation(self, changes: Mapping[int, tuple[Optional[bytes], bytes]], text: str) \
            -> PropagationRecords:
        """End a propagation (finished or stopped): save the review states, record one undo step for the masks
        it wrote; overwritten frames are no longer 'edited'.

        Arguments:
            changes: frame -> (previous saved bytes or None, new saved bytes) of the frames it wrote
                (`mask_bytes` before and after).
            text: undo text ("Propagate forward · 12 frames").
        Returns:
            The review records of those frames before and after.
        """
        before, self._propagation_before = self._propagation_before, {}
        before = {f: r for f, r in before.items() if f in changes}
        after = self.review_records(before)
        self.save_review()
        self.events.review_changed.emit()
        if changes:
            for frame in sorted(set(changes) & self._edited):
                self._set_edited(frame, False)
            self.record(PropagationStep(changes, text, (before, after)))
        return before, after

    def mask_bytes(self, frame: int) -> Optional[bytes]:
        """Frame `frame`'s saved mask as the store keeps it (a PNG), or None."""
        return self.store.mask_bytes(frame) if frame in self._masked else None

    def restore_mask_bytes(self, frame: int, data: Optional[bytes]) -> None:
        """Put back a saved mask's exact bytes (None: no mask), undoing a propagation (no undo step)."""
        with self._lock:
            self._masks.pop(frame, None)
            self._bump(frame)
        try:
            self.store.restore_mask_bytes(frame, data)
            if data is None:
                self._masked.discard(frame)
            else:
                self._masked.add(frame)
        except (OSError, XMemppError) as exc:
            self.events.problem.emit(f"could not restore the mask of {self.names[frame]}: {exc}")
        self.events.mask_changed.emit(frame)

    # ------------------------------------------------------------------ references
    @property
    def references(self) -> list[int]:
        """Reference frames, ascending."""
        return list(self._references)

    def is_reference(self, frame: int) -> bool:
        """True when frame `frame` is a reference."""
        return frame in self._references

    def mark_reference(self, frame: int, on: bool) -> None:
        """Make frame `frame` a reference (its current mask) or no longer one, and save (no undo step)."""
        frame = self.check_frame(frame)
        # review states first: a crash in between leaves frames stale, never fresh
        changed = self.review.references_changed()
        if on:
            changed = self.review.forget(frame) or changed
        if changed:
            self.save_review()
            self.events.review_changed.emit()
        refs = set(self._references)
        refs = refs | {frame} if on else refs - {frame}
        with self._lock:
            self._references = sorted(refs)
            self._bump(frame)
        if on and frame not in self._masked:
            name = self.names[frame]
            if self._save(name, lambda: self.store.save_mask(frame, self.mask(frame)),
                          f"could not save the mask of {name}"):
                self._masked.add(frame)
        self._save(self.store.info_name, lambda: self.store.save_references(self._references),
                   f"could not save the references to {self.store.info_name}")
        if on:
            self._set_edited(frame, False)
        self.events.references_changed.emit()

    def save_reference(self, frame: int, text: Optional[str] = None) -> bool:
        """Make frame `frame`'s current mask a reference (undoable).

        Returns:
            False when it already is one (its version changes, so the network's memory re-encodes it).
            Raises `InputError` when the mask is empty.
        """
        frame = self.check_frame(frame)
        if not self.mask(frame).any():
            raise InputError(f"frame {self.names[frame]} has no mask yet: paint the object, then save it as a "
                             f"reference")
        if frame in self._references:
            with self._lock:
                self._bump(frame)
            return False
        self.mark_reference(frame, True)
        self.record(ReferenceChange(frame, True, text or f"Save reference {self.names[frame]}"))
        return True

    def delete_reference(self, frame: int, text: Optional[str] = None) -> bool:
        """Stop using frame `frame` as a reference (undoable; its mask stays). Returns False when it was none."""
        if frame not in self._references:
            return False
        self.mark_reference(frame, False)
        self.record(ReferenceChange(frame, False, text or f"Delete reference {self.names[frame]}"))
        return True

    def set_reference(self, frame: int, ids: np.ndarray, text: Optional[str] = None) -> bool:
        """Add or replace the reference of frame `frame` with the mask `ids` (one undo step).

        Arguments:
            frame: frame index.
            ids: HxW object ids at the frames' size.
            text: undo text.
        Returns:
            True when it replaced a reference. Raises `InputError` for a frame outside the shot, a mask of
            the wrong size, an object id the session does not have (unless objects follow the references),
            or references that would mark no object at all.
        """
        frame = self.check_frame(frame)
        mask = self._checked_ids(frame, ids, "reference mask")
        unknown = self.objects.unknown_ids(mask)
        if unknown and not self.objects_follow_references:
            raise InputError(f"the reference mask for frame {frame} holds object ids {unknown} the session does not "
                             f"have (its objects are {self.objects.ids}); add those objects first or repaint")
        if not mask.any() and not any(self.mask(f).any() for f in self._references if f != frame):
            raise InputError(f"the mask for frame {frame} marks no object (every pixel is 0) and no other reference "
                             "does; a session's references need at least one object")
        if unknown:
            for oid in unknown:
                self.objects.put(ShotObject(check_object_id(oid), original_id=oid))
            self._save_objects()
        replaced = frame in self._references
        steps: list[Step] = []
        before = self.mask(frame)
        patch = MaskPatch(frame, before, mask, "", self.has_mask(frame))
        self.write_mask(frame, mask, edited=False)
        if not patch.empty:
            steps.append(patch)
        if replaced:
            with self._lock:
                self._bump(frame)
            self.events.references_changed.emit()
        else:
            self.mark_reference(frame, True)
            steps.append(ReferenceChange(frame, True, ""))
        if steps:
            verb = "Replace" if replaced else "Set"
            self.record(StepGroup(steps, text or f"{verb} reference {self.names[frame]}"))
        return replaced

    def reference_masks(self) -> dict[int, np.ndarray]:
        """Frame -> read-only mask of every reference."""
        with self._lock:
            return {f: self.mask(f) for f in self._references}

    def reference_snapshot(self) -> dict[int, tuple[int, np.ndarray]]:
        """Frame -> (version, mask copy) of every reference: a consistent copy for a worker thread."""
        with self._lock:
            return {f: (self.version(f), self.mask(f).copy()) for f in self._references}

    def object_order(self) -> list[int]:
        """The object ids in the order the network holds them: first appearance in the references (frames
        ascending, ids ascending), as a fresh `InferenceSession` orders them."""
        return list(ObjectOrder.from_masks({f: m for f, m in self.reference_masks().items() if m.any()}).ids)

    # ------------------------------------------------------------------ objects
    @property
    def object_ids(self) -> list[int]:
        """Object ids, ascending."""
        return self.objects.ids

    def _save_objects(self) -> None:
        self._save(self.store.info_name, lambda: self.store.save_objects(list(self.objects)),
                   f"could not save the objects to {self.store.info_name}")
        self.events.objects_changed.emit()

    def add_object(self, name: str = "") -> int:
        """Add an object (the next free id) and save. Returns its id; raises `InputError` past 255 objects."""
        ids = self.objects.ids
        if len(ids) >= MAX_OBJECTS:
            raise InputError(f"a session holds at most {MAX_OBJECTS} objects; reuse or clear one")
        new = (max(ids) + 1) if ids and max(ids) < MAX_OBJECTS else next(i for i in range(1, 256) if i not in ids)
        originals = {o.original_id for o in self.objects}
        original = next(i for i in range(1, 256) if i not in originals)  # the first id the source masks left free
        self.objects.put(ShotObject(new, original_id=original))
        if name:
            self.objects.update(new, name=name)
        self._save_objects()
        return new

    def update_object(self, object_id: int, **changes) -> bool:
        """Change an object's `name`, `colour` (None: the palette's), `hidden` or `locked` and save.

        Returns:
            False when nothing changed. Raises `InputError` for an unknown object or a bad name.
        """
        if not self.objects.update(object_id, **changes):
            return False
        self._save_objects()
        return True

    # ------------------------------------------------------------------ review states
    def state(self, frame: int) -> FrameState:
        """Frame `frame`'s review state now."""
        return self.review.state(frame, reference=frame in self._references, has_mask=frame in self._masked)

    def states(self) -> list[FrameState]:
        """Every frame's review state, in frame order."""
        return [self.state(f) for f in range(len(self))]

    def _review_edited(self, frame: int, reference: bool) -> None:
        changed = self.review.edited(frame)
        if reference:
            changed = self.review.references_changed() or changed
        if changed:
            self.save_review()
            self.events.review_changed.emit()

    def approve(self, frame: int, on: bool = True) -> bool:
        """Approve frame `frame`'s mask (or take the approval back) and save. Returns whether it changed."""
        if not self.review.approve(self.check_frame(frame), on):
            return False
        self.save_review()
        self.events.review_changed.emit()
        return True

    def store_checks(self, checks: Mapping[int, Optional[FrameCheck]]) -> None:
        """Store the review's verdicts (None: forget one) and save."""
        for frame, check in checks.items():
            self.review.set_check(frame, check)
        if checks:
            self.save_review()
            self.events.review_changed.emit()

    def review_records(self, frames: Iterable[int]) -> dict[int, FrameRecord]:
        """The review records of `frames` now (undo keeps them)."""
        return {f: self.review.record(f) for f in frames}

    def restore_review(self, records: Mapping[int, FrameRecord]) -> None:
        """Put back review records (undo / redo of a propagation) and save."""
        for frame, record in records.items():
            self.review.restore(frame, record)
        self.save_review()
        self.events.review_changed.emit()

    def save_review(self) -> bool:
        """Save the review states now. Returns False (a `problem` event) when they cannot be written."""
        return self._save("review.json", lambda: self.store.save_review(self.review),
                          "could not save the review states")

    # ------------------------------------------------------------------ undo
    def record(self, step: Step) -> None:
        """Add an applied step to the history (announced by `step_recorded`)."""
        self.history.record(step)
        self.events.step_recorded.emit(step)
        self.events.history_changed.emit()

    def undo(self) -> Optional[Step]:
        """Take the last step back. Returns it, or None when there is nothing to undo."""
        step = self.history.take_undo()
        if step is not None:
            step.undo(self)
            self.events.history_changed.emit()
        return step

    def redo(self) -> Optional[Step]:
        """Apply the last undone step again. Returns it, or None when there is nothing to redo."""
        step = self.history.take_redo()
        if step is not None:
            step.redo(self)
            self.events.history_changed.emit()
        return step

    # ------------------------------------------------------------------ the network's memory
    def memory(self, model: XMemNetwork, config: Optional[InferenceConfig] = None, mode: str = "xmempp", *,
               references: Optional[Mapping[int, tuple[Hashable, np.ndarray]]] = None,
               image: Optional[Callable[[int], np.ndarray]] = None) -> InferenceSession:
        """The `InferenceSession` holding exactly this session's references (only changed ones are encoded
        again; results do not depend on the order of edits). Call it from the thread that runs the network.

        Arguments:
            model: the network.
            config: inference settings (default `InferenceConfig()`); another config or mode starts afresh.
            mode: "xmempp" or "xmem".
            references: a `reference_snapshot()` taken earlier (a worker's view of the references), or None
                for the references now.
            image: frame reader for the references to encode (default: the session's frames).
        Returns:
            The up-to-date `InferenceSession`.
        """
        wanted = self.reference_snapshot() if references is None else references
        return self._memory.sync(model, config or InferenceConfig(), mode, wanted,
                                 image or (lambda f: np.asarray(self.frames[f])))

    @property
    def current_memory(self) -> Optional[InferenceSession]:
        """The `InferenceSession` last returned by `memory`, or None."""
        return self._memory.session

    def drop_memory(self) -> None:
        """Forget the network's memory (settings changed); `memory` encodes the references again."""
        self._memory.drop()

    def clear_memory(self) -> None:
        """Drop temporary and long-term memory (references stay)."""
        self._memory.clear_memory()

    # ------------------------------------------------------------------ helpers
    def _remember_problem(self, message: str) -> None:
        self.problems = [*self.problems[-9:], message]

    def __repr__(self) -> str:
        return (f"AnnotationSession({len(self)} frames, {len(self.objects)} objects, "
                f"references {self._references})")
