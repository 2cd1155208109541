"""Options of the refine stage, shared by `refine`, `process`, `batch` and `refine-bench`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from xmempp.refine import RefineSettings

__all__ = [
    "BandOption",
    "DetailOption",
    "FeatherOption",
    "ForegroundOption",
    "PremultipliedOption",
    "RefineMode",
    "RefineOption",
    "TemporalOption",
    "refine_settings",
]


class RefineMode(str, Enum):
    """How soft mattes are refined against the plate."""

    off = "off"
    guided = "guided"
    matting = "matting"


RefineOption = Annotated[
    RefineMode,
    typer.Option(
        "--refine",
        help="Refine soft mattes against the full-resolution plate: off, guided (fast guided filter) or "
        "matting (adds a trimap solver on the edge band; slow, for hero shots).",
    ),
]
BandOption = Annotated[
    float | None,
    typer.Option(
        "--refine-band",
        min=0,
        help="How far (plate pixels) the refined edge may reach beyond the network's uncertain "
        "zone; default scales with the plate (16 at 2K, only where the network's "
        "matte is soft over a wide area).",
    ),
]
FeatherOption = Annotated[
    float | None,
    typer.Option(
        "--refine-feather",
        min=0,
        help="Width (plate pixels) of the fade into the network's matte beyond the band; default 0 (a hard clamp).",
    ),
]
DetailOption = Annotated[
    float,
    typer.Option(
        "--refine-detail",
        min=1e-9,
        max=1.0,
        help="The guided filter's eps: smaller keeps finer strands (and more "
        "noise), larger stays closer to the network's matte.",
    ),
]
TemporalOption = Annotated[
    float,
    typer.Option(
        "--refine-temporal",
        min=0.0,
        max=0.99,
        help="Average the filter over frames with this weight of the past "
        "(0 = off; 0.5-0.8 calms grain flicker on locked-off shots).",
    ),
]

ForegroundOption = Annotated[
    bool,
    typer.Option(
        "--foreground",
        help="Also write each object's decontaminated foreground colour foreground/<id>/<stem>.png "
        "(16-bit, un-premultiplied) and rgba/<id>/<stem>.exr (half float; on an EXR plate in "
        "the plate's own linear colour space) from the plate and the output matte; the soft "
        "mattes alpha/<id>/ are written with it (process, batch: implies --alpha). Blur "
        "fusion on the matte's soft pixels, in torch.",
    ),
]
PremultipliedOption = Annotated[
    bool, typer.Option("--premultiplied/--straight", help="Colour of the RGBA EXR premultiplied by alpha, or straight.")
]


def refine_settings(
    mode: RefineMode, band: float | None, feather: float | None, detail: float, temporal: float
) -> RefineSettings:
    """The `RefineSettings` of the command-line options (validated)."""
    return RefineSettings(mode=mode.value, band=band, feather=feather, eps=detail, temporal=temporal)
