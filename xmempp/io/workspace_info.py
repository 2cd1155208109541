"""The schema of a workspace's info.json, read and written in this one place.

XMem++ writes only `references` and `num_objects`; xmempp adds the frame order, where the frames
came from, the original object ids and colours, and the GUI's settings. Reading is lenient (a
field of the wrong type counts as absent, so an XMem++ workspace or a hand-edited file opens);
fields this version does not know are kept and written back unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from xmempp.errors import InputError
from xmempp.io.atomic import atomic_write_text

__all__ = ["WORKSPACE_VERSION", "WorkspaceInfo"]

#: Version of the xmempp fields in info.json.
WORKSPACE_VERSION = 1

#: JSON key of each field whose key differs from the field name.
_KEYS = {"version": "xmempp_workspace_version", "gui_settings": "xmempp_gui"}


@dataclass
class WorkspaceInfo:
    """info.json of a workspace.

    Attributes:
        references: annotated (reference) frame indices, ascending.
        num_objects: K, the number of objects (mask ids 1..K).
        frames: image stems in frame order (None: the sorted images/ folder, as XMem++ lists it).
        source_names: the source's frame stems (the images may have been renamed), or None.
        object_ids: original object id of each workspace id 1..K, or None (ids kept as they are).
        object_colors: original RGB colour of each object, or None.
        object_names: the artist's name of each object 1..K ("" where unnamed), or None.
        source: the frames' source path, or None.
        source_size: (height, width) of the source frames, or None.
        size: (height, width) of the workspace images, or None.
        processing_size: the processing size (shorter side) the workspace was imported for, or None.
        image_extension: ".jpg" or ".png", or None.
        fps: frame rate of a video source, or None.
        version: `WORKSPACE_VERSION` of the xmempp fields, or None (an XMem++ workspace).
        gui_settings: the GUI's view and inference settings (owned by the GUI), or None.
        extra: fields this version does not know, written back unchanged.
    """

    references: list[int] = field(default_factory=list)
    num_objects: int = 1
    frames: list[str] | None = None
    source_names: list[str] | None = None
    object_ids: list[int] | None = None
    object_colors: list[list[int]] | None = None
    object_names: list[str] | None = None
    source: str | None = None
    source_size: tuple[int, int] | None = None
    size: tuple[int, int] | None = None
    processing_size: int | None = None
    image_extension: str | None = None
    fps: float | None = None
    version: int | None = None
    gui_settings: dict | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkspaceInfo:
        """Parse a decoded info.json; a field of the wrong type is treated as absent.

        Arguments:
            data: the JSON object.
        Returns:
            The info.
        """
        known = {_KEYS.get(f.name, f.name) for f in dataclasses.fields(cls)} - {"extra"}
        refs = data.get("references")
        num = data.get("num_objects")
        return cls(
            references=sorted({int(i) for i in refs if _is_int(i)}) if isinstance(refs, list) else [],
            num_objects=int(num) if _is_int(num, 1, 255) else 1,
            frames=_str_list(data.get("frames")),
            source_names=_str_list(data.get("source_names")),
            object_ids=[int(i) for i in data["object_ids"]] if _int_list(data.get("object_ids"), 1, 255) else None,
            object_colors=_colours(data.get("object_colors")),
            object_names=_str_list(data.get("object_names")),
            source=data.get("source") if isinstance(data.get("source"), str) else None,
            source_size=_pair(data.get("source_size")),
            size=_pair(data.get("size")),
            processing_size=int(data["processing_size"]) if _is_int(data.get("processing_size"), 16) else None,
            image_extension=data.get("image_extension") if isinstance(data.get("image_extension"), str) else None,
            fps=float(data["fps"]) if isinstance(data.get("fps"), (int, float)) and data["fps"] > 0 else None,
            version=int(data["xmempp_workspace_version"]) if _is_int(data.get("xmempp_workspace_version")) else None,
            gui_settings=data.get("xmempp_gui") if isinstance(data.get("xmempp_gui"), dict) else None,
            extra={k: v for k, v in data.items() if k not in known},
        )

    @classmethod
    def read(cls, path: Path) -> WorkspaceInfo:
        """Read info.json (an absent file gives the defaults).

        Arguments:
            path: the info.json file.
        Returns:
            The info. Raises `InputError` for a file that is not a JSON object.
        """
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nesting too deep to parse
            raise InputError(f"cannot read {path}: {exc}; fix or delete it") from exc
        if not isinstance(data, dict):
            raise InputError(f"{path} is not a JSON object; fix or delete it")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: XMem++'s fields first, absent (None) fields left out, unknown ones kept."""
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name != "extra" and value is not None:
                data[_KEYS.get(f.name, f.name)] = list(value) if isinstance(value, tuple) else value
        data.update(self.extra)
        return data

    def write(self, path: Path) -> None:
        """Write info.json atomically.

        Arguments:
            path: the info.json file.
        Returns:
            None (`OutputError` when it cannot be written).
        """
        atomic_write_text(path, json.dumps(self.to_dict(), indent=4) + "\n")


def _is_int(value: Any, low: int = 0, high: int = 2**31 - 1) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _str_list(value: Any) -> list[str] | None:
    return list(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def _int_list(value: Any, low: int = 0, high: int = 2**31 - 1) -> bool:
    return isinstance(value, list) and all(_is_int(v, low, high) for v in value)


def _pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list) and len(value) == 2 and all(_is_int(v, 1) for v in value):
        return int(value[0]), int(value[1])
    return None


def _colours(value: Any) -> list[list[int]] | None:
    if isinstance(value, list) and all(isinstance(c, list) and len(c) == 3 and _int_list(c, 0, 255) for c in value):
        return [[int(x) for x in c] for c in value]
    return None
