"""Colour decontamination: the foreground colour behind a soft matte, so it composites without the old
background's fringe.

The default estimate is blur fusion (Forte & Pitie, "Approximate Fast Foreground Colour Estimation",
ICIP 2021), in torch so it runs on any device: the foreground and background colours are alpha-weighted
local means, first over a wide window (weights alpha^4 and (1 - alpha)^4) then, from those, over a narrow
one, and each pixel's foreground is corrected by its own compositing residual,
`F = F_blur + alpha (I - alpha F_blur - (1 - alpha) B_blur)`.
It is computed only on the box around the matte's soft pixels (plus the wide window's reach), the wide
means on a grid 4 px coarse at 2K; elsewhere the foreground is the plate itself (where alpha is 1 the
plate is the foreground; where it is 0 the colour does not matter). `method="ml"` keeps pymatting's
multi-level estimator (Germer et al., ICPR 2020; the `matting` extra), about 30x slower and, on
generated composites, no better once the matte's own error dominates.
"""

from __future__ import annotations

import numpy as np
import torch

from xmempp.errors import ConfigError, Remedy, RemedyKind
from xmempp.refine.guided import block_mean, box_mean, upsample_crop
from xmempp.refine.pymatting_loader import PYMATTING_LOCK, load_pymatting, missing_pymatting, pymatting_available

__all__ = ["FOREGROUND_METHODS", "SOFT", "check_foreground_available", "estimate_foreground", "rgba"]

#: Alpha strictly between SOFT and 1 - SOFT counts as a soft pixel.
SOFT = 1e-3
#: `blur`: blur fusion in torch (default); `ml`: pymatting's multi-level estimator.
FOREGROUND_METHODS = ("blur", "ml")
#: Blur fusion's window radii at 2K (the paper's 90 px and 6 px box kernels), scaled with the plate height,
#: and the grid (plate pixels per cell at 2K) the wide means are taken on.
WIDE_RADIUS, NARROW_RADIUS, WIDE_STEP = 45, 3, 4
#: The wide pass weighs the plate by alpha^4 for the foreground and (1 - alpha)^4 for the background (the
#: paper: alpha and 1 - alpha), so the nearly pure pixels set both colours: inside a sheer panel the plain
#: weights take the mixture for either (held-out fabric: worst gain 1.08x -> 1.21x).
WIDE_POWER = 4
#: Context around the soft pixels' box for the ml method, in pixels.
MARGIN = 16
_PURPOSE, _REMEDY = "foreground colour", Remedy(RemedyKind.DISABLE, "foreground")


def check_foreground_available(method: str = "blur") -> None:
    """Raise `ConfigError` (with a remedy) now, before a run starts, when `method` cannot run (an unknown
    method, or `ml` without pymatting)."""
    if method not in FOREGROUND_METHODS:
        raise ConfigError(f"foreground method must be one of {', '.join(FOREGROUND_METHODS)}, not {method!r}")
    if method == "ml" and not pymatting_available():
        raise missing_pymatting(_PURPOSE, _REMEDY)


def _soft_box(weight: torch.Tensor, margin: int) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) around the pixels where `weight` > 0, widened by `margin`; None when there are none."""
    rows, cols = torch.nonzero(weight.amax(dim=1) > 0), torch.nonzero(weight.amax(dim=0) > 0)
    if rows.numel() == 0:
        return None
    h, w = weight.shape
    return (
        max(0, int(rows.min()) - margin),
        min(h, int(rows.max()) + margin + 1),
        max(0, int(cols.min()) - margin),
        min(w, int(cols.max()) + margin + 1),
    )


def _fuse(
    image: torch.Tensor,
    fore: torch.Tensor,
    back: torch.Tensor,
    alpha: torch.Tensor,
    radius: int,
    step: int,
    power: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One blur-fusion pass: means of `fore` weighted by `alpha^power` and of `back` by `(1 - alpha)^power`
    over windows of `radius` plate pixels (taken on a grid `step` pixels coarse), and the foreground
    corrected by the compositing residual."""
    a = alpha.unsqueeze(0)
    wf, wb = a.pow(power), (1 - a).pow(power)
    stack = torch.cat([fore * wf, back * wb, wf, wb]).unsqueeze(0)
    h, w = alpha.shape
    if step > 1:
        means = box_mean(block_mean(stack, step), max(1, round(radius / step)))
        means = upsample_crop(means, step, (0, h, 0, w))[0]
    else:
        means = box_mean(stack, radius)[0]
    f_blur = means[0:3] / (means[6:7] + 1e-5)
    b_blur = means[3:6] / (means[7:8] + 1e-5)
    residual = image - a * f_blur - (1 - a) * b_blur
    return f_blur.addcmul_(a, residual), b_blur


def _blur_fusion(plate: torch.Tensor, alpha: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Blur fusion (two passes) inside the box around `weight`, blended into the plate by `weight`."""
    scale = plate.shape[-2] / 1080
    wide, narrow = max(2, round(WIDE_RADIUS * scale)), max(1, round(NARROW_RADIUS * scale))
    box = _soft_box(weight, wide + narrow)
    out = plate.clone()
    if box is None:
        return out
    y0, y1, x0, x1 = box
    # the matte at the 16 bits it is written with: the same file gives the same colour, whatever float
    # noise the run that made it carried
    image, matte = plate[:, y0:y1, x0:x1], alpha[y0:y1, x0:x1].clamp(0, 1).mul(65535).round_().div_(65535)
    top = max(1.0, float(image.max()))  # a linear plate keeps its highlights
    fore, back = _fuse(image, image, image, matte, wide, max(1, round(WIDE_STEP * scale)), WIDE_POWER)
    fore, _ = _fuse(image, fore.clamp_(0, top), back, matte, narrow, 1)
    out[:, y0:y1, x0:x1] = torch.lerp(image, fore.clamp_(0, top), weight[y0:y1, x0:x1].unsqueeze(0))
    return out


def _multi_level(plate: torch.Tensor, alpha: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """pymatting's multi-level estimate on the box around `weight`, blended into the plate by `weight`."""
    box = _soft_box(weight, MARGIN)
    if box is None:
        return plate.clone()
    y0, y1, x0, x1 = box
    image = plate[:, y0:y1, x0:x1].permute(1, 2, 0).double().cpu().numpy()
    matte = alpha[y0:y1, x0:x1].double().cpu().numpy()
    pymatting = load_pymatting(_PURPOSE, _REMEDY)
    with PYMATTING_LOCK:
        fg = pymatting.estimate_foreground_ml(np.ascontiguousarray(image), np.ascontiguousarray(matte))
    out = plate.clone()
    # within the plate's own range: 0..1 for a display frame, up to its highlights for a linear plate
    crop = torch.from_numpy(np.ascontiguousarray(fg)).to(plate).permute(2, 0, 1).clamp_(0, max(1.0, float(plate.max())))
    out[:, y0:y1, x0:x1] = torch.lerp(plate[:, y0:y1, x0:x1], crop, weight[y0:y1, x0:x1].unsqueeze(0))
    return out


def estimate_foreground(
    plate: torch.Tensor, alpha: torch.Tensor, band: torch.Tensor | None = None, method: str = "blur"
) -> torch.Tensor:
    """Estimate the un-premultiplied foreground colour of one object.

    Arguments:
        plate: 3xHxW plate (0..1 as displayed, or scene-linear and unclipped).
        alpha: HxW matte of the object (0..1).
        band: HxW weight where the estimate replaces the plate's colour (default: the soft pixels).
        method: one of `FOREGROUND_METHODS`.
    Returns:
        3xHxW foreground colour (on the plate's device).
    """
    check_foreground_available(method)
    alpha = alpha.to(plate)
    weight = band.to(plate) if band is not None else ((alpha > SOFT) & (alpha < 1 - SOFT)).to(plate.dtype)
    return _blur_fusion(plate, alpha, weight) if method == "blur" else _multi_level(plate, alpha, weight)


def rgba(foreground: torch.Tensor, alpha: torch.Tensor, premultiplied: bool = True) -> torch.Tensor:
    """4xHxW RGBA from a straight foreground colour and its alpha (colour times alpha when premultiplied)."""
    colour = foreground * alpha.unsqueeze(0) if premultiplied else foreground
    return torch.cat([colour, alpha.unsqueeze(0)])
