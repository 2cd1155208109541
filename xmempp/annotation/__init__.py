"""The Qt-free model of an interactive shot: `AnnotationSession`.

One session holds a shot's frames (any `FrameSource`), its references (frame -> HxW uint8 index mask, each
mask with a version), its objects (`ShotObject`: id 1..255, name, display colour, hidden, locked), the
latest mask of every frame and where it came from (`MaskOrigin`: reference, propagated, edited), the review
state of every frame (`xmempp.io.review_state`: fresh, stale, flagged, approved, with its rules) and an
undo history (`History` of `Step`s). Every change is validated here (`InputError` with a remedy), saved
at once through a store and announced on `session.events` (psygnal signals, as napari's evented models):

    session = AnnotationSession.from_workspace("workspace/shot_a")    # a workspace is the saved form
    session.events.mask_changed.connect(lambda frame: print("redraw", frame))
    session.set_reference(0, ids)                                    # add or replace; undoable
    session.delete_reference(12)
    session.undo()
    inference = session.memory(model, config, "xmempp")              # an InferenceSession holding them

Stores: `WorkspaceStore` (masks/, info.json, review.json, atomic writes) and `MemoryStore` (in memory,
reference PNGs optionally kept in a folder: `AnnotationSession.in_memory(frames, folder=...)`). The GUI's
`Project` adapts a session to Qt signals and undo stack; each service session wraps one with its queue.
`session.memory(...)` is the one way front ends keep the network's permanent memory in line with the
references (through `xmempp.inference.reference_sync.ReferenceSync`); no front end calls
`InferenceSession.add_reference` / `replace_reference` / `remove_reference` itself.
"""

from __future__ import annotations

from .events import SessionEvents
from .history import EditTarget, History, MaskPatch, PropagationStep, ReferenceChange, Step, StepGroup, changed_rect
from .memory import SessionMemory
from .objects import MAX_NAME_LENGTH, MAX_OBJECTS, ObjectTable, ShotObject
from .session import AnnotationSession, MaskOrigin
from .store import MemoryStore, SessionStore, WorkspaceStore

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_OBJECTS",
    "AnnotationSession",
    "EditTarget",
    "History",
    "MaskOrigin",
    "MaskPatch",
    "MemoryStore",
    "ObjectTable",
    "PropagationStep",
    "ReferenceChange",
    "SessionEvents",
    "SessionMemory",
    "SessionStore",
    "ShotObject",
    "Step",
    "StepGroup",
    "WorkspaceStore",
    "changed_rect",
]
