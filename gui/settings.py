"""GUI settings kept in the workspace's info.json (key "xmempp_gui"), so reopening restores them.

Inference settings are stored under "config" with the `InferenceConfig` field names; unknown or
invalid values are dropped on load (with the default used instead) rather than refusing to open
the workspace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xmempp.errors import ConfigError
from xmempp.inference.config import InferenceConfig

from .matte_view import COMPARE_MODES, VIEW_MODES

__all__ = ["SIDE_TABS", "TOOLS", "GuiSettings"]

#: The side panel's tabs, in order.
SIDE_TABS = ("References", "Candidates", "Memory", "Review")
#: Tool names, in toolbar order.
TOOLS = ("brush", "eraser", "polygon", "lasso", "spline", "segment")


def _config_dict(config: InferenceConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_list(value: Any) -> list[int]:
    if not isinstance(value, list):
        return []
    return sorted({v for v in value if _is_int(v) and v >= 0})


@dataclass
class GuiSettings:
    """Everything the GUI remembers per workspace.

    Attributes:
        config: inference settings (memory sizes, processing size).
        mode: propagation mode, "xmempp" or "xmem".
        overlay_mode, opacity, show_mask: how masks are drawn.
        tool, brush_size, segment_mode: annotation tool state (brush_size None: never chosen, the frame size's
            default, `view_state.default_brush_size`).
        brush_softness: 0 (hard) .. 1: the share of the brush's radius that falls off to its rim.
        current_frame, current_object: where the user was.
        k, alpha, min_mask_percent: candidate-selection controls.
        suggestions: the last suggested frames, in pick order.
        edited: frames the user edited that are not references (propagation asks before
            overwriting them).
        size_chosen: the processing size was set by the user (else the workspace's own size is used).
        object_colours: display colour override per object id ("3": [r, g, b]).
        hidden, locked: object ids not drawn / not painted over.
        onion_skin: outline the previous and next frames' masks.
        compare: how the refined matte is compared with the raw one ("raw", "refined", "split").
        export: the export dialog's last choices (its own keys).
        force_memory: run jobs the memory guard would refuse (it only warns then).
        side_tab: the side panel's tab on show ("References", "Candidates", "Memory", "Review").
    """

    config: InferenceConfig = field(default_factory=InferenceConfig)
    mode: str = "xmempp"
    overlay_mode: str = "blend"
    opacity: float = 0.5
    show_mask: bool = True
    tool: str = "brush"
    brush_size: int | None = None
    brush_softness: float = 0.0
    segment_mode: str = "box"
    current_frame: int = 0
    current_object: int = 1
    k: int = 5
    alpha: float = 0.5
    min_mask_percent: float = 0.25
    suggestions: list[int] = field(default_factory=list)
    edited: list[int] = field(default_factory=list)
    size_chosen: bool = False
    object_colours: dict[str, list[int]] = field(default_factory=dict)
    hidden: list[int] = field(default_factory=list)
    locked: list[int] = field(default_factory=list)
    onion_skin: bool = False
    compare: str = "raw"
    export: dict[str, Any] = field(default_factory=dict)
    force_memory: bool = False
    side_tab: str = "References"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["config"] = _config_dict(self.config)
        return data

    @classmethod
    def from_json(cls, data: Any) -> GuiSettings:
        """Settings from info.json's "xmempp_gui" value; bad or missing entries take their defaults."""
        settings = cls()
        if not isinstance(data, Mapping):
            return settings
        config = data.get("config")
        if isinstance(config, Mapping):
            settings.config = _load_config(config)
        checks = {
            "mode": lambda v: v in ("xmempp", "xmem"),
            "overlay_mode": lambda v: v in VIEW_MODES,
            "opacity": lambda v: _is_number(v) and 0.0 <= v <= 1.0,
            "show_mask": lambda v: isinstance(v, bool),
            "tool": lambda v: v in TOOLS,
            "brush_size": lambda v: _is_int(v) and 1 <= v <= 500,
            "brush_softness": lambda v: _is_number(v) and 0.0 <= v <= 1.0,
            "segment_mode": lambda v: v in ("box", "strokes", "points"),
            "current_frame": lambda v: _is_int(v) and v >= 0,
            "current_object": lambda v: _is_int(v) and 1 <= v <= 255,
            "k": lambda v: _is_int(v) and 1 <= v <= 1000,
            "alpha": lambda v: _is_number(v) and 0.0 <= v <= 1.0,
            "min_mask_percent": lambda v: _is_number(v) and 0.0 <= v <= 100.0,
            "size_chosen": lambda v: isinstance(v, bool),
            "onion_skin": lambda v: isinstance(v, bool),
            "force_memory": lambda v: isinstance(v, bool),
            "compare": lambda v: v in COMPARE_MODES,
            "side_tab": lambda v: v in SIDE_TABS,
        }
        for name, ok in checks.items():
            value = data.get(name)
            if value is not None and isinstance(value, (str, int, float, bool)) and ok(value):
                setattr(settings, name, value)
        suggestions = data.get("suggestions")
        if isinstance(suggestions, list):
            settings.suggestions = [v for v in suggestions if _is_int(v) and v >= 0]
        settings.edited = _int_list(data.get("edited"))
        settings.hidden = _int_list(data.get("hidden"))
        settings.locked = _int_list(data.get("locked"))
        colours = data.get("object_colours")
        if isinstance(colours, Mapping):
            settings.object_colours = {
                str(k): [int(c) for c in v]
                for k, v in colours.items()
                if str(k).isdigit()
                and isinstance(v, list)
                and len(v) == 3
                and all(_is_int(c) and 0 <= c <= 255 for c in v)
            }
        export = data.get("export")
        if isinstance(export, Mapping):
            settings.export = dict(export)
        return settings


def _load_config(values: Mapping[str, Any]) -> InferenceConfig:
    """Build a config field by field so that one bad value does not lose the others."""
    known = {f.name for f in dataclasses.fields(InferenceConfig)}
    try:
        return InferenceConfig(**{k: v for k, v in values.items() if k in known})
    except (ConfigError, TypeError):
        pass
    config = InferenceConfig()
    for name, value in values.items():
        if name not in known:
            continue
        try:
            config = config.replace(**{name: value})
        except (ConfigError, TypeError):
            continue
    return config
