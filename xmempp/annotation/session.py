"""`AnnotationSession`: one interactive shot (frames, references, objects, results, review states, undo),
with events and no Qt; the GUI adapts it to Qt signals, the service wraps one per HTTP session, and a
workspace folder is its saved form."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from xmempp.errors import InputError, XMemppError
from xmempp.inference.config import InferenceConfig
from xmempp.inference.objects import ObjectOrder
from xmempp.inference.session import InferenceSession
from xmempp.io.review_state import FrameRecord, ReviewStates
from xmempp.io.workspace import Workspace
from xmempp.model.network import XMemNetwork

from .events import SessionEvents
from .history import UNDO_LIMIT, History, MaskPatch, ReferenceChange, Step, StepGroup
from .memory import SessionMemory
from .objects import MAX_OBJECTS, ObjectTable, ShotObject, check_object_id, objects_from_ids
from .results import MaskOrigin, Results
from .store import MemoryStore, SessionStore, WorkspaceStore

__all__ = ["AnnotationSession", "MaskOrigin"]


class AnnotationSession(Results):
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

    def __init__(
        self,
        frames: Sequence[np.ndarray],
        store: SessionStore,
        *,
        objects_follow_references: bool = False,
        undo_limit: int = UNDO_LIMIT,
    ) -> None:
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
        self._size: tuple[int, int] | None = None
        self._propagation_before: dict[int, FrameRecord] = {}
        self._memory = SessionMemory()

    # ------------------------------------------------------------------ opening
    @classmethod
    def from_workspace(cls, workspace: Workspace | str | Path, *, undo_limit: int = UNDO_LIMIT) -> AnnotationSession:
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
    def in_memory(
        cls,
        frames: Sequence[np.ndarray],
        objects: Iterable[int | ShotObject] | None = None,
        folder: Path | None = None,
        palette: np.ndarray | None = None,
        undo_limit: int = UNDO_LIMIT,
    ) -> AnnotationSession:
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
        table = (
            None if objects is None else [o if isinstance(o, ShotObject) else objects_from_ids([o])[0] for o in objects]
        )
        store = MemoryStore(table or (), folder, palette)
        return cls(frames, store, objects_follow_references=objects is None, undo_limit=undo_limit)

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
            if self._save(
                name, lambda: self.store.save_mask(frame, self.mask(frame)), f"could not save the mask of {name}"
            ):
                self._masked.add(frame)
        self._save(
            self.store.info_name,
            lambda: self.store.save_references(self._references),
            f"could not save the references to {self.store.info_name}",
        )
        if on:
            self._set_edited(frame, False)
        self.events.references_changed.emit()

    def save_reference(self, frame: int, text: str | None = None) -> bool:
        """Make frame `frame`'s current mask a reference (undoable).

        Returns:
            False when it already is one (its version changes, so the network's memory re-encodes it).
            Raises `InputError` when the mask is empty.
        """
        frame = self.check_frame(frame)
        if not self.mask(frame).any():
            raise InputError(
                f"frame {self.names[frame]} has no mask yet: paint the object, then save it as a reference"
            )
        if frame in self._references:
            with self._lock:
                self._bump(frame)
            return False
        self.mark_reference(frame, True)
        self.record(ReferenceChange(frame, True, text or f"Save reference {self.names[frame]}"))
        return True

    def delete_reference(self, frame: int, text: str | None = None) -> bool:
        """Stop using frame `frame` as a reference (undoable; its mask stays). Returns False when it was none."""
        if frame not in self._references:
            return False
        self.mark_reference(frame, False)
        self.record(ReferenceChange(frame, False, text or f"Delete reference {self.names[frame]}"))
        return True

    def set_reference(self, frame: int, ids: np.ndarray, text: str | None = None) -> bool:
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
            raise InputError(
                f"the reference mask for frame {frame} holds object ids {unknown} the session does not "
                f"have (its objects are {self.objects.ids}); add those objects first or repaint"
            )
        if not mask.any() and not any(self.mask(f).any() for f in self._references if f != frame):
            raise InputError(
                f"the mask for frame {frame} marks no object (every pixel is 0) and no other reference "
                "does; a session's references need at least one object"
            )
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
        self._save(
            self.store.info_name,
            lambda: self.store.save_objects(list(self.objects)),
            f"could not save the objects to {self.store.info_name}",
        )
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

    # ------------------------------------------------------------------ undo
    def undo(self) -> Step | None:
        """Take the last step back. Returns it, or None when there is nothing to undo."""
        step = self.history.take_undo()
        if step is not None:
            step.undo(self)
            self.events.history_changed.emit()
        return step

    def redo(self) -> Step | None:
        """Apply the last undone step again. Returns it, or None when there is nothing to redo."""
        step = self.history.take_redo()
        if step is not None:
            step.redo(self)
            self.events.history_changed.emit()
        return step

    # ------------------------------------------------------------------ the network's memory
    def memory(
        self,
        model: XMemNetwork,
        config: InferenceConfig | None = None,
        mode: str = "xmempp",
        *,
        references: Mapping[int, tuple[Hashable, np.ndarray]] | None = None,
        image: Callable[[int], np.ndarray] | None = None,
    ) -> InferenceSession:
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
        return self._memory.sync(
            model, config or InferenceConfig(), mode, wanted, image or (lambda f: np.asarray(self.frames[f]))
        )

    @property
    def current_memory(self) -> InferenceSession | None:
        """The `InferenceSession` last returned by `memory`, or None."""
        return self._memory.session

    def drop_memory(self) -> None:
        """Forget the network's memory (settings changed); `memory` encodes the references again."""
        self._memory.drop()

    def clear_memory(self) -> None:
        """Drop temporary and long-term memory (references stay)."""
        self._memory.clear_memory()

    # ------------------------------------------------------------------ helpers
    def __repr__(self) -> str:
        return f"AnnotationSession({len(self)} frames, {len(self.objects)} objects, references {self._references})"
