"""The objects of a shot: ids, names, display colours, hidden and locked flags, and their rules.

Object ids are the values in index masks (1..255; 0 is the background). A name is the artist's (exports
use it); the colour is a display override (mask files keep their palette); a hidden object is not drawn,
and a locked one keeps its pixels through every edit (`ObjectTable.protect`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from xmempp.errors import InputError
from xmempp.io.masks import davis_palette

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_OBJECTS",
    "ObjectTable",
    "ShotObject",
    "check_object_id",
    "clean_name",
    "objects_from_ids",
]

#: Object ids are stored in 8-bit index masks.
MAX_OBJECTS = 255
#: Longest object name kept (EXR channel and folder names stay readable).
MAX_NAME_LENGTH = 64

_DAVIS = davis_palette()
_DAVIS.flags.writeable = False


def check_object_id(object_id: int) -> int:
    """`object_id` as an int; raises `InputError` unless it is 1..255."""
    if (
        isinstance(object_id, bool)
        or not isinstance(object_id, (int, np.integer))
        or not 1 <= int(object_id) <= MAX_OBJECTS
    ):
        raise InputError(
            f"object id {object_id!r} is not usable: object ids are whole numbers 1..{MAX_OBJECTS} "
            f"(0 is the background)"
        )
    return int(object_id)


def clean_name(name: str) -> str:
    """`name` with runs of white space made single; raises `InputError` for a name with path separators or
    control characters, or one longer than `MAX_NAME_LENGTH`."""
    name = " ".join(str(name).split())
    if len(name) > MAX_NAME_LENGTH or any(c in name for c in "/\\") or not name.isprintable():
        raise InputError(
            f"object names are up to {MAX_NAME_LENGTH} printable characters without / or \\; "
            f"choose another name than {name[:80]!r}"
        )
    return name


@dataclass(frozen=True)
class ShotObject:
    """One object of a shot.

    Attributes:
        id: its value in the session's masks (1..255).
        name: the artist's name ("" when unnamed).
        original_id: its id in the masks it was imported from (the default name and exports use it).
        colour: display colour override (RGB), or None for the palette's colour.
        hidden: not drawn.
        locked: edits leave its pixels alone.
    """

    id: int
    name: str = ""
    original_id: int | None = None
    colour: tuple[int, int, int] | None = None
    hidden: bool = False
    locked: bool = False

    @property
    def label(self) -> str:
        """The name to show: the artist's, else "object <original id>"."""
        return self.name or f"object {self.original_id if self.original_id is not None else self.id}"


class ObjectTable:
    """The objects of a session in id order, with the queries front ends draw and edit with (no events:
    the session announces changes).

    Arguments:
        objects: the objects (ids unique, 1..255).
    """

    def __init__(self, objects: Iterable[ShotObject] = ()) -> None:
        self._objects: dict[int, ShotObject] = {}
        for obj in objects:
            oid = check_object_id(obj.id)
            if oid in self._objects:
                raise InputError(f"object id {oid} is given twice; every object needs its own id")
            self._objects[oid] = obj
        self._objects = dict(sorted(self._objects.items()))

    def __len__(self) -> int:
        return len(self._objects)

    def __iter__(self) -> Iterator[ShotObject]:
        return iter(list(self._objects.values()))

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._objects

    @property
    def ids(self) -> list[int]:
        """Object ids, ascending."""
        return list(self._objects)

    def get(self, object_id: int) -> ShotObject:
        """The object `object_id`; raises `InputError` when the session has none such."""
        obj = self._objects.get(object_id)
        if obj is None:
            raise InputError(f"the session has no object {object_id}; its objects are {self.ids or 'none yet'}")
        return obj

    # ------------------------------------------------------------------ changes (each returns whether anything changed)
    def put(self, obj: ShotObject) -> bool:
        """Add or change an object."""
        check_object_id(obj.id)
        if self._objects.get(obj.id) == obj:
            return False
        self._objects[obj.id] = obj
        self._objects = dict(sorted(self._objects.items()))
        return True

    def update(self, object_id: int, **changes) -> bool:
        """Change fields of object `object_id` (`name` is checked by `clean_name`)."""
        if "name" in changes:
            changes["name"] = clean_name(changes["name"])
        if "colour" in changes and changes["colour"] is not None:
            changes["colour"] = tuple(int(max(0, min(255, c))) for c in changes["colour"])
        return self.put(replace(self.get(object_id), **changes))

    # ------------------------------------------------------------------ what front ends draw and protect
    def name(self, object_id: int) -> str:
        """The object's name to show ("object <id>" for an id the table does not hold)."""
        obj = self._objects.get(object_id)
        return obj.label if obj is not None else f"object {object_id}"

    def colour(self, object_id: int) -> tuple[int, int, int]:
        """Display colour of `object_id`."""
        obj = self._objects.get(object_id)
        if obj is not None and obj.colour is not None:
            return obj.colour
        r, g, b = (int(c) for c in _DAVIS[object_id])
        return r, g, b

    def palette(self) -> np.ndarray:
        """(256, 3) uint8 display colours by object id."""
        palette = _DAVIS.copy()
        for obj in self._objects.values():
            if obj.colour is not None:
                palette[obj.id] = obj.colour
        return palette

    def is_hidden(self, object_id: int) -> bool:
        """The object is not drawn."""
        obj = self._objects.get(object_id)
        return obj is not None and obj.hidden

    def is_locked(self, object_id: int) -> bool:
        """Edits leave the object's pixels alone."""
        obj = self._objects.get(object_id)
        return obj is not None and obj.locked

    @property
    def hidden_ids(self) -> list[int]:
        """Ids of hidden objects."""
        return [o.id for o in self._objects.values() if o.hidden]

    @property
    def locked_ids(self) -> list[int]:
        """Ids of locked objects."""
        return [o.id for o in self._objects.values() if o.locked]

    def visible_ids(self, ids: np.ndarray) -> np.ndarray:
        """`ids` with hidden objects set to background (the array itself when none is hidden)."""
        hidden = self.hidden_ids
        if not hidden:
            return ids
        table = np.arange(256, dtype=np.uint8)
        table[hidden] = 0
        return table[ids]

    def protect(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """`after` with every pixel of a locked object in `before` put back (in place; returned)."""
        locked = self.locked_ids
        if locked:
            keep = np.isin(before, locked)
            after[keep] = before[keep]
        return after

    def unknown_ids(self, ids: np.ndarray) -> list[int]:
        """The object ids in mask `ids` that the table does not hold, ascending."""
        return [int(v) for v in np.unique(ids) if v and int(v) not in self._objects]


def objects_from_ids(ids: Sequence[int]) -> list[ShotObject]:
    """Unnamed objects with the given ids (their own original ids)."""
    return [ShotObject(check_object_id(i), original_id=int(i)) for i in ids]
