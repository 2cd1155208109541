"""The objects: which one the tools paint, adding one, and the share of the frame each covers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from xmempp.errors import InputError

from .objects import ObjectsPanel
from .status_line import Messages
from .view_state import ViewState

__all__ = ["MaskCanvas", "ObjectController", "ObjectList"]


class ObjectList(Protocol):
    """What the object controller reads and changes of the project."""

    @property
    def num_objects(self) -> int: ...
    def add_object(self) -> int: ...


class MaskCanvas(Protocol):
    """The canvas's mask of the frame on screen (with the stroke being painted)."""

    @property
    def work_mask(self) -> np.ndarray: ...
    def refresh(self) -> None: ...


class ObjectController:
    """`view.object_id` is the object the tools paint; the object list follows it."""

    def __init__(
        self,
        view: ViewState,
        project: ObjectList,
        canvas: MaskCanvas,
        panel: ObjectsPanel,
        messages: Messages,
        problem: Callable[[str], None],
        reset_shape: Callable[[], None],
    ) -> None:
        """`problem` reports a refused edit; `reset_shape` drops a shape half drawn for another object."""
        self.view, self.project, self.canvas, self.panel = view, project, canvas, panel
        self.messages, self.problem, self.reset_shape = messages, problem, reset_shape
        panel.objectSelected.connect(self.select)
        panel.addRequested.connect(self.add)
        panel.problem.connect(problem)
        if not 1 <= view.object_id <= project.num_objects:
            view.update(object_id=1)
        view.subscribe(self._follow)
        self._follow(view.values())

    def _follow(self, changes: Mapping[str, Any]) -> None:
        if "object_id" in changes:
            self.panel.set_current(changes["object_id"])
        if "frame" in changes:
            self.update_areas()

    def select(self, object_id: int) -> None:
        """Make `object_id` (1..K) the object tools paint."""
        if not 1 <= object_id <= self.project.num_objects:
            self.messages.show(f"there is no object {object_id}; add objects in the object list", 4000)
            return
        if object_id != self.view.object_id:
            self.reset_shape()
        self.view.update(object_id=object_id)

    def add(self) -> None:
        """Add an object and select it."""
        try:
            new = self.project.add_object()
        except InputError as exc:
            self.problem(str(exc))
            return
        self.select(new)

    def objects_changed(self) -> None:
        """Objects were added, renamed, recoloured, hidden or locked: redraw the list and the frame."""
        self.panel.rebuild()
        self.panel.set_current(self.view.object_id)
        self.canvas.refresh()
        self.update_areas()

    def update_areas(self) -> None:
        """The share of the frame each object covers, in the object list."""
        mask = self.canvas.work_mask
        counts = np.bincount(mask.ravel(), minlength=self.project.num_objects + 1)
        total = float(mask.size)
        self.panel.set_areas({k: 100.0 * counts[k] / total for k in range(1, len(counts)) if counts[k]})
