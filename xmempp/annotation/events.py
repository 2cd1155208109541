"""The events an `AnnotationSession` emits (psygnal signals, as napari's evented models use): front ends
connect to them (the GUI relays them to Qt signals; the service needs none)."""

from __future__ import annotations

from psygnal import Signal, SignalGroup

__all__ = ["SessionEvents"]


class SessionEvents(SignalGroup):
    """Signals of one session; connect with `session.events.mask_changed.connect(callback)`.

    Signals:
        mask_changed(int): a frame's mask changed (edit, undo, propagation, a reference set).
        references_changed(): a reference was added, replaced (`set_reference`) or removed.
        objects_changed(): an object was added, renamed, recoloured, hidden or locked.
        review_changed(): some frame's review state changed (saved already).
        history_changed(): a step was recorded, undone or redone.
        step_recorded(object): the `Step` just recorded (a front end with its own undo stack mirrors it).
        problem(str): something could not be saved or read; the session goes on with what it holds.
    """

    mask_changed = Signal(int)
    references_changed = Signal()
    objects_changed = Signal()
    review_changed = Signal()
    history_changed = Signal()
    step_recorded = Signal(object)
    problem = Signal(str)
