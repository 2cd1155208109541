"""Local colour model: the matte re-estimated per pixel from local foreground and background colours.

The guided filter explains the matte as one linear function of the colour over a wide window, so
background texture inside that window leaks into alpha. This stage takes the guided matte `alpha0` and
estimates, around each pixel,

* the background colour `B`: the mean plate colour weighted by `(1 - alpha0)^4`, over a small window
  (about 10 px at 2K), so it follows the background's own texture;
* the foreground colour `F`: the least-squares colour of `I = alpha0 F + (1 - alpha0) B` over a wide
  window (about 100 px at 2K), which unmixes partly covered pixels (thin strands never cover a pixel);

then solves `I = alpha F + (1 - alpha) B` for alpha with `alpha0` as a prior:
`alpha = (<I - B, F - B> + lam alpha0) / (|F - B|^2 + lam)`. Where the two colours are close the prior
wins. Where the model has no support (no clean background nearby, as inside a sheer panel, or no
foreground at all) the result fades back to `alpha0`. All of it is smooth, so it is computed on a grid
`step` plate pixels coarse and reduced to three fields that are applied at full resolution:
`alpha = w * alpha0 + g . I + c`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from xmempp.refine.guided import block_mean, box_mean, upsample_crop

__all__ = ["ColourCoefficients", "fit_colour_model", "apply_colour_model", "snap_tails", "colour_step", "context"]

#: Plate pixels per cell of the background grid at 2K, and the foreground grid's cells per background cell.
STEP_2K, FOREGROUND_CELLS = 2, 4
#: Window radii in cells of the background grid (about 10 px at 2K) and of the foreground grid (~100 px).
BACKGROUND_RADIUS, FOREGROUND_RADIUS = 2, 6
#: Weight of the guided matte as a prior against the colour evidence (squared colour distance units).
PRIOR = 0.01
#: `alpha0` below CLEAN counts as clean background; the model is trusted fully where the share of clean
#: background in the background window is at least BACKGROUND_SUPPORT and the mean squared `alpha0`
#: in the foreground window at least FOREGROUND_SUPPORT.
CLEAN, BACKGROUND_SUPPORT, FOREGROUND_SUPPORT = 0.15, 0.3, 0.005
#: Values within SNAP of 0 or 1 are taken to 0 or 1 (ramping back to the value at 2 SNAP): the noise floor.
SNAP = 0.06


def colour_step(height: int) -> int:
    """Plate pixels per cell of the background grid for a plate `height` lines high."""
    return max(1, int(round(STEP_2K * height / 1080)))


def context(step: int) -> int:
    """Plate pixels of context the model needs around the pixels it refines (the foreground window), a
    whole number of foreground cells."""
    return step * FOREGROUND_CELLS * (FOREGROUND_RADIUS + 1)


@dataclass
class ColourCoefficients:
    """`alpha = w * alpha0 + g . I + c` on a grid of `step` plate pixels, packed as Kx5xhxw (`g`, `c`, `w`);
    `origin` is the grid's first cell in cells of the whole plate."""

    fields: torch.Tensor
    step: int
    origin: tuple[int, int] = (0, 0)

    def blend(self, previous: "ColourCoefficients", keep: float) -> "ColourCoefficients":
        """Exponential average with the previous frame's coefficients where the two grids overlap (`keep` =
        weight of the past); elsewhere these coefficients as they are."""
        if previous.step != self.step or previous.fields.shape[:2] != self.fields.shape[:2]:
            return self
        (oy, ox), (py, px) = self.origin, previous.origin
        h, w = self.fields.shape[-2:]
        ph, pw = previous.fields.shape[-2:]
        y0, y1 = max(oy, py), min(oy + h, py + ph)
        x0, x1 = max(ox, px), min(ox + w, px + pw)
        out = self.fields.clone()
        if y0 < y1 and x0 < x1:
            mine = out[..., y0 - oy:y1 - oy, x0 - ox:x1 - ox]
            mine.lerp_(previous.fields[..., y0 - py:y1 - py, x0 - px:x1 - px], keep)
        return ColourCoefficients(out, self.step, self.origin)


def fit_colour_model(plate: torch.Tensor, alpha0: torch.Tensor, step: int,
                     origin: tuple[int, int] = (0, 0)) -> ColourCoefficients:
    """Fit the local colour model around a guided matte.

    Arguments:
        plate: 3xHxW plate (0..1), the region the mattes cover.
        alpha0: KxHxW guided mattes (0..1) on the same region.
        step: plate pixels per cell of the background grid (`colour_step`).
        origin: the region's first cell in cells of the whole plate (for temporal blending).
    Returns:
        The coefficients on that grid (cell i covers plate pixels [i*step, (i+1)*step)).
    """
    a = alpha0.unsqueeze(1)  # Kx1xHxW
    i = plate.unsqueeze(0)  # 1x3xHxW
    wb = (1 - a).square_().square_()
    clean = (1 - a / CLEAN).clamp_(min=0)
    near = box_mean(torch.cat([block_mean(i * wb, step), block_mean(wb, step), block_mean(clean, step)], 1),
                    BACKGROUND_RADIUS)
    back = near[:, :3] / near[:, 3:4].clamp(min=1e-6)
    support_b = (near[:, 4:5] / BACKGROUND_SUPPORT).clamp_(max=1)
    cells = torch.cat([block_mean(i * a, step), block_mean(a * (1 - a), step), block_mean(a * a, step)], 1)
    # foreground: least squares of I = a F + (1 - a) B over the wide window, with B from the fine grid
    unmixed = torch.cat([cells[:, :3] - cells[:, 3:4] * back, cells[:, 4:5]], dim=1)
    wide = box_mean(block_mean(unmixed, FOREGROUND_CELLS), FOREGROUND_RADIUS)
    h, w = back.shape[-2:]
    wide = upsample_crop(wide, FOREGROUND_CELLS, (0, h, 0, w))
    fore = (wide[:, :3] / wide[:, 3:4].clamp(min=1e-6)).clamp_(0, 1)
    support = torch.minimum(support_b, (wide[:, 3:4] / FOREGROUND_SUPPORT).clamp_(0, 1))
    d = fore - back
    q = (d * d).sum(dim=1, keepdim=True)
    gain = support / (q + PRIOR)
    return ColourCoefficients(torch.cat([d * gain, -(d * back).sum(dim=1, keepdim=True) * gain, 1 - q * gain], 1),
                              step, origin)


def apply_colour_model(coeffs: ColourCoefficients, plate: torch.Tensor, alpha0: torch.Tensor,
                       box: tuple[int, int, int, int]) -> torch.Tensor:
    """Evaluate the colour model inside `box` (plate pixels of the fitted region): KxHbxWb, clamped to 0..1.

    Arguments:
        coeffs: from `fit_colour_model` on `plate` and `alpha0`.
        plate: 3xHxW plate of the fitted region.
        alpha0: KxHxW guided mattes of the fitted region.
        box: (y0, y1, x0, x1) inside that region.
    """
    y0, y1, x0, x1 = box
    f = upsample_crop(coeffs.fields, coeffs.step, box)
    crop = plate[:, y0:y1, x0:x1]
    out = torch.addcmul(f[:, 3], f[:, 4], alpha0[:, y0:y1, x0:x1])
    return out.addcmul_(f[:, 0], crop[0]).addcmul_(f[:, 1], crop[1]).addcmul_(f[:, 2], crop[2]).clamp_(0, 1)


def snap_tails(alpha: torch.Tensor, snap: float = SNAP) -> torch.Tensor:
    """Take values within `snap` (< 0.25) of 0 or 1 to 0 or 1, ramping back to the identity at 2 `snap`."""
    if snap <= 0:
        return alpha
    low = ((alpha - snap) * 2).clamp_(min=0)
    high = 1 - ((1 - alpha - snap) * 2).clamp_(min=0)
    return torch.where(alpha < 2 * snap, low, torch.where(alpha > 1 - 2 * snap, high, alpha))
