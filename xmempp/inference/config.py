"""Inference settings with the XMem++ names and defaults."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xmempp.errors import ConfigError

#: Largest processing size (shorter side, pixels) a config may ask for.
MAX_SIZE = 16384


@dataclass
class InferenceConfig:
    """Settings of one propagation; field names are the XMem++ config keys.

    `size` is the shorter side frames are resized to before processing
    (-1 keeps the native resolution; at most `MAX_SIZE`). `deep_update_every=-1` runs the deep
    hidden-state update together with every memory write.

    `antialias` (not an XMem++ key, default False) low-pass filters frames while
    downscaling them to `size`. The reference resizes without it, so True gives
    other masks than the reference on any frame larger than the processing size
    (smoother, less aliased input on fine detail such as hair); it changes nothing
    when frames are not downscaled. Masks are always resized nearest.
    """

    mem_every: int = 10
    deep_update_every: int = -1
    top_k: int = 30
    enable_long_term: bool = True
    enable_long_term_count_usage: bool = True
    max_mid_term_frames: int = 10
    min_mid_term_frames: int = 5
    num_prototypes: int = 128
    max_long_term_elements: int = 10000
    size: int = 480
    antialias: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the first setting that is out of range."""
        positive = (
            "mem_every",
            "top_k",
            "max_mid_term_frames",
            "min_mid_term_frames",
            "num_prototypes",
            "max_long_term_elements",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("enable_long_term", "enable_long_term_count_usage", "antialias"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if (
            not isinstance(self.deep_update_every, int)
            or isinstance(self.deep_update_every, bool)
            or self.deep_update_every == 0
            or self.deep_update_every < -1
        ):
            raise ConfigError(
                f"deep_update_every must be -1 (with every memory write) or a positive integer, "
                f"got {self.deep_update_every!r}"
            )
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or (self.size != -1 and not 16 <= self.size <= MAX_SIZE)
        ):
            raise ConfigError(f"size must be -1 (native resolution) or 16..{MAX_SIZE} pixels, got {self.size!r}")
        if self.min_mid_term_frames >= self.max_mid_term_frames:
            raise ConfigError(
                f"min_mid_term_frames ({self.min_mid_term_frames}) must be smaller than "
                f"max_mid_term_frames ({self.max_mid_term_frames})"
            )
        if self.enable_long_term and self.max_long_term_elements <= self.num_prototypes:
            raise ConfigError(
                f"max_long_term_elements ({self.max_long_term_elements}) must exceed "
                f"num_prototypes ({self.num_prototypes})"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> InferenceConfig:
        """Build a config from a mapping, rejecting unknown keys by name.

        Keys the network derives from its weights (key_dim, value_dim,
        hidden_dim) are accepted and ignored, so XMem++ config files load.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        derived = {"key_dim", "value_dim", "hidden_dim"}
        unknown = sorted(set(values) - known - derived)
        if unknown:
            raise ConfigError(f"unknown config setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def from_json(cls, path: str | Path) -> InferenceConfig:
        """Read a JSON object of config fields from `path`."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {path} is not UTF-8 text ({exc.reason}); save it as a JSON file") from None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, or nesting too deep to parse
            raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a JSON object of settings")
        return cls.from_mapping(data)

    def replace(self, **changes: Any) -> InferenceConfig:
        """Return a validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)
