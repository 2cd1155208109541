"""Colour decontamination: the foreground colour behind a soft matte, so it composites without the old
background's fringe.

pymatting's multi-level foreground estimation (Germer et al., "Fast Multi-Level Foreground Estimation",
ICPR 2020) on the box around the matte's soft pixels only; elsewhere the foreground is the plate itself
(where alpha is 1 the plate is the foreground; where it is 0 the colour does not matter). On generated
composites it cut the composite error over a new background more than blur fusion did (hair 3.5x vs
2.9x, fabric 2.7x vs 2.1x against the plate with today's matte). Needs the `matting` extra.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from xmempp.errors import Remedy, RemedyKind
from xmempp.refine.pymatting_loader import PYMATTING_LOCK, load_pymatting, missing_pymatting, pymatting_available

__all__ = ["estimate_foreground", "rgba", "check_foreground_available", "SOFT"]

#: Alpha strictly between SOFT and 1 - SOFT counts as a soft pixel.
SOFT = 1e-3
#: Context around the soft pixels' box, in pixels.
MARGIN = 16
_PURPOSE, _REMEDY = "foreground colour", Remedy(RemedyKind.DISABLE, "foreground")


def check_foreground_available() -> None:
    """Raise `ConfigError` (with a remedy) now, before a run starts, when pymatting is not installed."""
    if not pymatting_available():
        raise missing_pymatting(_PURPOSE, _REMEDY)


def estimate_foreground(plate: torch.Tensor, alpha: torch.Tensor, band: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Estimate the un-premultiplied foreground colour of one object.

    Arguments:
        plate: 3xHxW plate (0..1 as displayed, or scene-linear and unclipped).
        alpha: HxW matte of the object (0..1).
        band: HxW weight where the estimate replaces the plate's colour (default: the soft pixels).
    Returns:
        3xHxW foreground colour (on the plate's device).
    """
    weight = band if band is not None else ((alpha > SOFT) & (alpha < 1 - SOFT)).to(plate.dtype)
    cells = torch.nonzero(weight > 0)
    if cells.numel() == 0:
        return plate.clone()
    h, w = alpha.shape
    (y0, x0), (y1, x1) = cells.min(0).values.tolist(), cells.max(0).values.tolist()
    ys, xs = slice(max(0, y0 - MARGIN), min(h, y1 + MARGIN + 1)), slice(max(0, x0 - MARGIN), min(w, x1 + MARGIN + 1))
    image = plate[:, ys, xs].permute(1, 2, 0).double().cpu().numpy()
    matte = alpha[ys, xs].double().cpu().numpy()
    pymatting = load_pymatting(_PURPOSE, _REMEDY)
    with PYMATTING_LOCK:
        fg = pymatting.estimate_foreground_ml(np.ascontiguousarray(image), np.ascontiguousarray(matte))
    out = plate.clone()
    # within the plate's own range: 0..1 for a display frame, up to its highlights for a linear plate
    crop = torch.from_numpy(np.ascontiguousarray(fg)).to(plate).permute(2, 0, 1).clamp_(0, max(1.0, float(plate.max())))
    out[:, ys, xs] = torch.lerp(plate[:, ys, xs], crop, weight[ys, xs].unsqueeze(0))
    return out


def rgba(foreground: torch.Tensor, alpha: torch.Tensor, premultiplied: bool = True) -> torch.Tensor:
    """4xHxW RGBA from a straight foreground colour and its alpha (colour times alpha when premultiplied)."""
    colour = foreground * alpha.unsqueeze(0) if premultiplied else foreground
    return torch.cat([colour, alpha.unsqueeze(0)])
