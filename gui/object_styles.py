"""How each object is shown and protected (no Qt): name, display colour, hidden, locked.

Names live in the workspace (`WorkspaceInfo.object_names`, also used by exports); colour, hidden and
locked are view state in the GUI's settings. Mask files keep the DAVIS palette either way (XMem++
reads them), so a recolour changes only what the canvas, thumbnails and object list draw.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from xmempp.errors import InputError
from xmempp.io.masks import davis_palette
from xmempp.io.workspace import Workspace

from .settings import GuiSettings

__all__ = ["ObjectStyles", "MAX_NAME_LENGTH"]

#: Longest object name kept (EXR channel and folder names stay readable).
MAX_NAME_LENGTH = 64


class ObjectStyles:
    """Names, colours, visibility and locks of a workspace's objects 1..K."""

    def __init__(self, workspace: Workspace, settings: GuiSettings) -> None:
        self.workspace = workspace
        self.settings = settings

    # ------------------------------------------------------------------ names
    def name(self, object_id: int) -> str:
        """The object's name ("object <original id>" when the artist gave none)."""
        names = self.workspace.object_names
        return names[object_id - 1] if 1 <= object_id <= len(names) else f"object {object_id}"

    def rename(self, object_id: int, name: str) -> bool:
        """Set an object's name in the workspace info (not yet written). Returns False when unchanged.

        Raises `InputError` for a name with path separators or control characters, or too long.
        """
        name = " ".join(str(name).split())
        if len(name) > MAX_NAME_LENGTH or any(c in name for c in "/\\") or not name.isprintable():
            raise InputError(f"object names are up to {MAX_NAME_LENGTH} printable characters without / or \\")
        k = self.workspace.num_objects
        names = list(self.workspace.info.object_names or [])
        names = (names + [""] * k)[:k]
        if names[object_id - 1] == name:
            return False
        names[object_id - 1] = name
        self.workspace.info.object_names = names if any(names) else None
        return True

    # ------------------------------------------------------------------ colours
    def colour(self, object_id: int) -> tuple[int, int, int]:
        """Display colour of object `object_id`."""
        override = self.settings.object_colours.get(str(object_id))
        if override is not None:
            r, g, b = override
        else:
            r, g, b = (int(c) for c in _DAVIS[object_id])
        return int(r), int(g), int(b)

    def recolour(self, object_id: int, rgb: Optional[tuple[int, int, int]]) -> None:
        """Show object `object_id` in `rgb` (None: its default colour)."""
        colours = dict(self.settings.object_colours)
        if rgb is None:
            colours.pop(str(object_id), None)
        else:
            colours[str(object_id)] = [int(max(0, min(255, c))) for c in rgb]
        self.settings.object_colours = colours

    def palette(self) -> np.ndarray:
        """(256, 3) uint8 display colours by workspace id."""
        palette = _DAVIS.copy()
        for key, rgb in self.settings.object_colours.items():
            palette[int(key)] = rgb
        return palette

    # ------------------------------------------------------------------ hidden and locked
    def is_hidden(self, object_id: int) -> bool:
        """The object is not drawn."""
        return object_id in self.settings.hidden

    def is_locked(self, object_id: int) -> bool:
        """Edits leave the object's pixels alone."""
        return object_id in self.settings.locked

    def set_hidden(self, object_id: int, hidden: bool) -> None:
        """Hide or show an object."""
        self.settings.hidden = _toggle(self.settings.hidden, object_id, hidden)

    def set_locked(self, object_id: int, locked: bool) -> None:
        """Lock or unlock an object."""
        self.settings.locked = _toggle(self.settings.locked, object_id, locked)

    def visible_ids(self, ids: np.ndarray) -> np.ndarray:
        """`ids` with hidden objects set to background (the array itself when none is hidden)."""
        if not self.settings.hidden:
            return ids
        table = np.arange(256, dtype=np.uint8)
        table[[h for h in self.settings.hidden if 0 < h < 256]] = 0
        return table[ids]

    def protect(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """`after` with every pixel of a locked object in `before` put back (in place; returned)."""
        if self.settings.locked:
            keep = np.isin(before, self.settings.locked)
            after[keep] = before[keep]
        return after


def _toggle(values: list[int], value: int, on: bool) -> list[int]:
    return sorted({*values, value}) if on else [v for v in values if v != value]


_DAVIS = davis_palette()
