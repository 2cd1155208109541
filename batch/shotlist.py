"""Shot lists: which shots a batch runs, read from CSV or JSON and checked before anything runs.

A shot list names, per shot, `name`, `plate` (folder of frames or a video file), `masks` (annotation
folder) and `output` (results folder), and optionally settings that override the batch defaults:
any `InferenceConfig` field (`size`, `mem_every`, `top_k`, ...), `mode` (xmempp or xmem), `precision`
(auto, fp32, bf16 or fp16: the network's number format), the writer options (`alpha`, `alpha_bits`,
`binary`, `overlay`, `preview`, `overlay_opacity`, `jpeg_quality`, `matte_format`, `exr_layers`,
`compression`, `cryptomatte`, `foreground`, `premultiplied`), the refine settings (`refine`, `refine_band`,
`refine_feather`, `refine_detail`, `refine_temporal`: `RefineSettings`' mode, band, feather, eps and
temporal), the plate options (`frames`, `colorspace`, `display`, `view`, `layer`, `start_frame`,
`mask_threshold`), and `overwrite`. The names and types are those of `InferenceConfig`, `WriterOptions`,
`RefineSettings` and `PlateOptions`, the settings `xmempp process` takes (named as its options). A CSV
file has these as columns (an empty cell keeps the default); a JSON file holds a list of objects with
these keys. Relative paths are relative to the shot list's folder.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xmempp.errors import ConfigError, InputError
from xmempp.inference.config import InferenceConfig
from xmempp.inference.shot_folders import PlateOptions, check_plate_options
from xmempp.io.writers import WriterOptions
from xmempp.model.precision import PRECISIONS
from xmempp.refine.settings import RefineSettings

__all__ = [
    "MODES",
    "PLATE_SETTINGS",
    "REFINE_SETTINGS",
    "REQUIRED",
    "WRITER_SETTINGS",
    "BatchDefaults",
    "ShotSpec",
    "parse_shots",
    "read_shot_list",
]

#: Columns / keys every shot must have.
REQUIRED = ("name", "plate", "masks", "output")
#: Memory mechanisms a shot may ask for.
MODES = ("xmempp", "xmem")
#: Writer options a shot may set (every `WriterOptions` field but the writer's own machinery).
WRITER_SETTINGS = tuple(
    f.name
    for f in dataclasses.fields(WriterOptions)
    if f.name not in ("masks", "workers", "queue_size", "fsync", "preview_fps", "layers_name")
)
#: How a shot's frames and masks are read (every `PlateOptions` field).
PLATE_SETTINGS = tuple(f.name for f in dataclasses.fields(PlateOptions))
#: The refine settings a shot may set: column (the `xmempp process` option's name) -> `RefineSettings` field.
REFINE_SETTINGS = {
    "refine": "mode",
    "refine_band": "band",
    "refine_feather": "feather",
    "refine_detail": "eps",
    "refine_temporal": "temporal",
}


def _kinds(cls: type, names: Sequence[str]) -> dict[str, Any]:
    """The value type of each field: bool, int, float, str, or Path (Optional unwrapped)."""
    hints = typing.get_type_hints(cls)
    kinds = {}
    for name in names:
        hint = hints[name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = typing.get_origin(hint) in (typing.Union, types.UnionType)  # Optional[X] or X | None
        hint = args[0] if len(args) == 1 and optional else hint
        kinds[name] = hint if hint in (bool, int, float, str) else Path
    return kinds


_CONFIG_TYPES = typing.get_type_hints(InferenceConfig)
_WRITER_TYPES = _kinds(WriterOptions, WRITER_SETTINGS)
_PLATE_TYPES = _kinds(PlateOptions, PLATE_SETTINGS)
_REFINE_TYPES = _kinds(RefineSettings, tuple(REFINE_SETTINGS.values()))
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class BatchDefaults:
    """Settings of every shot that does not set its own.

    Attributes:
        config: inference settings.
        mode: "xmempp" or "xmem".
        writer: which results to write.
        overwrite: allow replacing results already in an output folder.
        plates: how frames and masks are read.
        force_unlock: take over output folders locked by another run.
        precision: the network's number format, one of `PRECISIONS` (checked against the worker's device
            when the shot runs).
        refine: refinement of the mattes against the plate (off by default).
        qc: review the results when the shot completes (qc.json, qc.html in its output folder).
    """

    config: InferenceConfig = field(default_factory=InferenceConfig)
    mode: str = "xmempp"
    writer: WriterOptions = field(default_factory=WriterOptions)
    overwrite: bool = False
    precision: str = "auto"
    plates: PlateOptions = field(default_factory=PlateOptions)
    force_unlock: bool = False
    refine: RefineSettings = field(default_factory=RefineSettings)
    qc: bool = False


@dataclass(frozen=True)
class ShotSpec:
    """One shot of a batch, with absolute paths and its complete settings.

    Attributes:
        name: unique name in the batch (shown in the table and the report).
        plate: folder of frames or a video file.
        masks: annotation folder.
        output: results folder (unique in the batch).
        config, mode, writer, overwrite, precision, plates, force_unlock, refine, qc: as in `BatchDefaults`.
        where: where the shot was defined, for messages (e.g. "shots.csv line 3").
    """

    name: str
    plate: Path
    masks: Path
    output: Path
    config: InferenceConfig = field(default_factory=InferenceConfig)
    mode: str = "xmempp"
    writer: WriterOptions = field(default_factory=WriterOptions)
    overwrite: bool = False
    where: str = ""
    precision: str = "auto"
    plates: PlateOptions = field(default_factory=PlateOptions)
    force_unlock: bool = False
    refine: RefineSettings = field(default_factory=RefineSettings)
    qc: bool = False


def read_shot_list(path: str | Path, defaults: BatchDefaults | None = None) -> list[ShotSpec]:
    """Read and check a CSV or JSON shot list.

    Arguments:
        path: a `.csv` or `.json` file.
        defaults: settings of shots that do not set their own (default: `BatchDefaults()`).
    Returns:
        The shots in file order. Raises `InputError` naming every bad row (unknown or missing
        columns, bad values, repeated names or output folders) before any shot runs.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"shot list not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = list(_csv_rows(path))
    elif suffix == ".json":
        rows = list(_json_rows(path))
    else:
        raise InputError(f"shot list {path} must be a .csv or .json file")
    if not rows:
        raise InputError(f"shot list {path} holds no shots")
    return parse_shots(rows, path.parent, defaults or BatchDefaults())


def parse_shots(rows: Sequence[tuple[str, Mapping[str, Any]]], base: Path, defaults: BatchDefaults) -> list[ShotSpec]:
    """Turn raw rows into checked shots.

    Arguments:
        rows: (where, {key: value}) per shot; values are strings (CSV) or JSON values.
        base: folder relative paths are resolved against.
        defaults: settings of shots that do not set their own.
    Returns:
        The shots. Raises `InputError` listing every problem, each with its row.
    """
    shots: list[ShotSpec] = []
    problems: list[str] = []
    for where, row in rows:
        label = f"{where} (shot {row.get('name')!r})" if row.get("name") else where
        try:
            shots.append(_parse_row(where, row, base, defaults))
        except (InputError, ConfigError) as exc:
            problems.append(f"{label}: {exc}")
    # names and output folders of every row, valid or not: a repeat is reported with the other problems
    problems += _repeats(rows, "name", lambda row: _text(row.get("name"))) + _repeats(
        rows, "output", lambda row: _output_of(row, base)
    )
    if problems:
        raise InputError("bad shot list: " + "; ".join(problems))
    return shots


def _csv_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            for row in reader:
                if None in row:
                    raise InputError(f"shot list {path} line {reader.line_num} has more cells than the header")
                cells = {k.strip(): v.strip() for k, v in row.items() if k is not None and v is not None}
                if any(cells.values()):
                    yield f"{path.name} line {reader.line_num}", {k: v for k, v in cells.items() if v != ""}
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read shot list {path}: {exc}") from None


def _json_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"shot list {path} is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise InputError(f"shot list {path} must hold a JSON list of shots (objects with name, plate, masks, output)")
    for number, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise InputError(f"shot list {path} entry {number} is not a JSON object")
        yield f"{path.name} entry {number}", {k: v for k, v in row.items() if v is not None}


def _parse_row(where: str, row: Mapping[str, Any], base: Path, defaults: BatchDefaults) -> ShotSpec:
    known = (
        set(REQUIRED)
        | set(_CONFIG_TYPES)
        | set(WRITER_SETTINGS)
        | set(PLATE_SETTINGS)
        | set(REFINE_SETTINGS)
        | {"mode", "overwrite", "precision", "qc"}
    )
    unknown = sorted(set(row) - known)
    if unknown:
        raise InputError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    missing = [key for key in REQUIRED if not str(row.get(key, "")).strip()]
    if missing:
        raise InputError(f"missing {', '.join(missing)}")
    config_changes = {k: _convert(k, row[k], _CONFIG_TYPES[k], base) for k in _CONFIG_TYPES if k in row}
    config = defaults.config.replace(**config_changes) if config_changes else defaults.config
    writer_changes = {k: _convert(k, row[k], _WRITER_TYPES[k], base) for k in WRITER_SETTINGS if k in row}
    if writer_changes.get("matte_format", "png") != "png" or writer_changes.get("foreground"):
        writer_changes.setdefault("alpha", True)  # as `xmempp process`: a matte format or foreground implies mattes
    try:
        writer = dataclasses.replace(defaults.writer, **writer_changes)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    plates = dataclasses.replace(
        defaults.plates, **{k: _convert(k, row[k], _PLATE_TYPES[k], base) for k in PLATE_SETTINGS if k in row}
    )
    check_plate_options(plates)
    refine_changes = {
        field: _convert(column, row[column], _REFINE_TYPES[field], base)
        for column, field in REFINE_SETTINGS.items()
        if column in row
    }
    refine = dataclasses.replace(defaults.refine, **refine_changes) if refine_changes else defaults.refine
    mode = str(row.get("mode", defaults.mode))
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    precision = str(row.get("precision", defaults.precision)).strip().lower()
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    overwrite = _convert("overwrite", row["overwrite"], bool, base) if "overwrite" in row else defaults.overwrite
    qc = _convert("qc", row["qc"], bool, base) if "qc" in row else defaults.qc
    return ShotSpec(
        str(row["name"]).strip(),
        _path(row["plate"], base),
        _path(row["masks"], base),
        _path(row["output"], base),
        config,
        mode,
        writer,
        overwrite,
        where,
        precision,
        plates,
        defaults.force_unlock,
        refine,
        qc,
    )


def _convert(key: str, value: Any, kind: Any, base: Path) -> Any:
    """A cell or JSON value as `kind` (bool, int, float or Path), or `InputError` naming `key`."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise InputError(f"{key} must be true or false, got {value!r}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise InputError(f"{key} must be a whole number, got {value!r}")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise InputError(f"{key} must be a number, got {value!r}")
    if kind is str:
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
        raise InputError(f"{key} must be a non-empty text, got {value!r}")
    return _path(value, base)


def _path(value: Any, base: Path) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"a path must be a non-empty string, got {value!r}")
    path = Path(value.strip()).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def _text(value: Any) -> str | None:
    """A cell as stripped text, or None when empty."""
    text = "" if value is None else str(value).strip()
    return text or None


def _output_of(row: Mapping[str, Any], base: Path) -> str | None:
    """A row's output folder as an absolute path, or None when it has none (reported by its own check)."""
    try:
        return str(_path(row["output"], base)) if "output" in row else None
    except InputError:
        return None


def _repeats(
    rows: Sequence[tuple[str, Mapping[str, Any]]], what: str, key: Callable[[Mapping[str, Any]], str | None]
) -> list[str]:
    seen: dict[str, int] = {}
    problems = []
    for index, (where, row) in enumerate(rows):
        value = key(row)
        if value is None:
            continue
        first = seen.setdefault(value, index)
        if first != index:
            problems.append(
                f"{where}: {what} {value!r} is already used by {rows[first][0]}; every shot needs its own {what}"
            )
    return problems
