"""Colour decontamination: the foreground colour behind a soft matte, so it composites without the old
background's fringe.

Blur-fusion foreground estimation (Forte & Pitie, "Approximate Fast Foreground Colour Estimation",
ICIP 2021), written in torch: two passes of local foreground/background means (a wide one, then a
narrow one), each corrected so that `alpha * F + (1 - alpha) * B` reproduces the plate. It is used on
the edge band only; elsewhere the foreground is the plate itself.
"""
from __future__ import annotations

from typing import Optional

import torch

from xmempp.refine.guided import box_mean

__all__ = ["estimate_foreground", "rgba"]

#: Radii of the two passes at 2K (1080 lines), scaled with the plate height.
RADII = (90, 6)


def _fusion(image: torch.Tensor, alpha: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor,
            radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    a = alpha.unsqueeze(0).unsqueeze(0)
    blurred_a = box_mean(a, radius)
    blurred_f = box_mean(fg.unsqueeze(0) * a, radius) / (blurred_a + 1e-5)
    blurred_b = box_mean(bg.unsqueeze(0) * (1 - a), radius) / ((1 - blurred_a) + 1e-5)
    f = blurred_f + a * (image.unsqueeze(0) - a * blurred_f - (1 - a) * blurred_b)
    return f[0].clamp_(0, 1), blurred_b[0]


def estimate_foreground(plate: torch.Tensor, alpha: torch.Tensor, band: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Estimate the un-premultiplied foreground colour of one object.

    Arguments:
        plate: 3xHxW plate (0..1).
        alpha: HxW matte of the object (0..1).
        band: HxW weight where the estimate replaces the plate's colour (None: everywhere).
    Returns:
        3xHxW foreground colour.
    """
    scale = plate.shape[-2] / 1080
    fg = bg = plate
    for r in RADII:
        fg, bg = _fusion(plate, alpha, fg, bg, max(1, int(round(r * scale))))
    if band is None:
        return fg
    return torch.lerp(plate, fg, band.unsqueeze(0))


def rgba(foreground: torch.Tensor, alpha: torch.Tensor, premultiplied: bool = True) -> torch.Tensor:
    """4xHxW RGBA from a straight foreground colour and its alpha (colour times alpha when premultiplied)."""
    colour = foreground * alpha.unsqueeze(0) if premultiplied else foreground
    return torch.cat([colour, alpha.unsqueeze(0)])
