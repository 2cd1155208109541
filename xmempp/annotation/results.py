"""The latest mask of every frame of a session and where it came from: reads (cached), the artist's edits,
propagation results and their undo (a part of `AnnotationSession`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum

import cv2
import numpy as np

from xmempp.errors import InputError, XMemppError
from xmempp.io.review_state import FrameRecord

from .history import MaskPatch, PropagationStep, Step, StepGroup
from .review import ReviewRules

__all__ = ["MaskOrigin", "PropagationRecords", "Results"]

_MASK_CACHE = 48

#: (records before, records after) of the frames one propagation wrote.
PropagationRecords = tuple[dict[int, FrameRecord], dict[int, FrameRecord]]


class MaskOrigin(str, Enum):
    """Where a frame's latest mask came from."""

    none = "none"  # no mask
    reference = "reference"  # the frame is a reference: the artist's mask
    edited = "edited"  # the artist edited it (not a reference)
    propagated = "propagated"  # a propagation wrote it
    unknown = "unknown"  # saved before the session knew (imported, or by another tool)


class Results(ReviewRules):
    """The masks part of `AnnotationSession`."""

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
            self.events.problem.emit(
                f"cannot read the mask of {self.names[frame]} ({exc}); it is shown empty and "
                f"the file is left as it is until you edit this frame"
            )
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
        self._save(
            self.store.info_name,
            lambda: self.store.save_edited(sorted(self._edited)),
            f"could not save the edited frames to {self.store.info_name}",
        )

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

    def edit_mask(self, frame: int, ids: np.ndarray, text: str = "Edit", *, also: Sequence[Step] = ()) -> bool:
        """Apply an artist's edit as one undo step and save it; pixels of locked objects are kept.

        Arguments:
            frame: frame index.
            ids: the complete new HxW mask.
            text: undo text, e.g. "Brush stroke · 0012".
            also: steps the caller already applied with this edit (e.g. the frame's spline shapes), undone and
                redone with the mask as one step.
        Returns:
            False when nothing changed. Raises `InputError` for a bad frame or mask.
        """
        frame = self.check_frame(frame)
        after = self._checked_ids(frame, ids)
        before = self.mask(frame)
        self.objects.protect(before, after)
        patch = MaskPatch(frame, before, after, text, self.has_mask(frame))
        steps: list[Step] = ([] if patch.empty else [patch]) + list(also)
        if not steps:
            return False
        if not patch.empty:
            self.write_mask(frame, after)
        self.record(steps[0] if len(steps) == 1 else StepGroup(steps, text))
        return True

    def clear_object(self, frame: int, object_id: int, text: str | None = None) -> bool:
        """Remove one object from a frame (undoable). Returns False when it was not there."""
        mask = self.mask(frame).copy()
        mask[mask == object_id] = 0
        return self.edit_mask(frame, mask, text or f"Clear {self.objects.name(object_id)}")

    # ------------------------------------------------------------------ propagation results
    def propagated(self, frame: int, ids: np.ndarray | None = None) -> None:
        """A propagation made frame `frame`'s mask: `ids`, or (None) what it already saved in the store itself
        (the GUI's worker writes the files). Its review state becomes fresh; `finish_propagation` ends the run.
        """
        frame = self.check_frame(frame)
        mask = None if ids is None else self._checked_ids(frame, ids)
        with self._lock:
            if mask is None:
                self._masks.pop(frame, None)
            else:
                mask.flags.writeable = False
                self._cache(frame, mask)
            self._bump(frame)
        if mask is not None:
            name, saved = self.names[frame], mask
            self._save(name, lambda: self.store.save_mask(frame, saved), f"could not save the mask of {name}")
        self._masked.add(frame)
        if frame not in self._propagation_before:
            self._propagation_before[frame] = self.review.record(frame)
        self.review.propagated(frame)
        self.events.mask_changed.emit(frame)

    def finish_propagation(self, changes: Mapping[int, tuple[bytes | None, bytes]], text: str) -> PropagationRecords:
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

    def mask_bytes(self, frame: int) -> bytes | None:
        """Frame `frame`'s saved mask as the store keeps it (a PNG), or None."""
        return self.store.mask_bytes(frame) if frame in self._masked else None

    def restore_mask_bytes(self, frame: int, data: bytes | None) -> None:
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
