"""The refine stage: coarse per-object probabilities in, plate-resolution mattes out.

`Refiner` holds what carries from frame to frame (the averaged coefficients for temporal smoothing);
`refine_frame` refines one frame on its own. Both take the pipeline's layout: (1+K)xHxW probabilities,
background first, and return the same layout with the objects renormalised so they never sum above 1
and the background the rest.
"""

from __future__ import annotations

import numpy as np
import torch

from xmempp.errors import InputError
from xmempp.refine.band import edge_band
from xmempp.refine.colour import (
    FOREGROUND_CELLS,
    SNAP,
    ColourCoefficients,
    apply_colour_model,
    colour_step,
    context,
    fit_colour_model,
)
from xmempp.refine.guided import GuidedCoefficients, apply_coefficients, block_mean, fit_coefficients
from xmempp.refine.settings import REFERENCE_HEIGHT, RefineSettings, ResolvedSettings

__all__ = ["Refiner", "plate_tensor", "refine_frame", "renormalise"]

Array = np.ndarray | torch.Tensor

#: Fewest fit-grid cells an object must span across its narrower side; a smaller object is fitted on a
#: finer grid of its own (a 15 px prop on a 426-line plate would be one cell of the 40-line grid, and
#: the filter would erase it).
MIN_OBJECT_CELLS = 8


def plate_tensor(plate: Array, device: torch.device | None = None) -> torch.Tensor:
    """A plate as a 3xHxW float32 tensor in 0..1.

    Arguments:
        plate: HxWx3 RGB (uint8, uint16, or float 0..1) array, or a 3xHxW float tensor.
        device: where the tensor goes (default: where it is, CPU for arrays).
    Returns:
        The tensor.
    """
    if isinstance(plate, torch.Tensor):
        t = plate.to(device=device, dtype=torch.float32) if device is not None else plate.float()
        if t.dim() != 3 or t.shape[0] != 3:
            raise InputError(f"a plate tensor must be 3xHxW, got shape {tuple(t.shape)}")
        return t
    arr = np.asarray(plate)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise InputError(f"a plate must be HxWx3 RGB, got shape {arr.shape}")
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(arr.dtype, 1.0)
    t = torch.from_numpy(np.ascontiguousarray(arr[:, :, :3])).to(device=device or "cpu")
    out = torch.empty((3, *t.shape[:2]), dtype=torch.float32, device=t.device)
    out.copy_(t.permute(2, 0, 1))  # planar: every later per-channel operation reads contiguous memory
    return out.div_(scale)


def renormalise(objects: torch.Tensor) -> torch.Tensor:
    """Scale per-pixel object mattes down where they sum above 1 (in place).

    Arguments:
        objects: KxHxW mattes in 0..1.
    Returns:
        `objects`, with every pixel's sum at most 1.
    """
    total = objects.sum(dim=0, keepdim=True)
    return objects.div_(total.clamp_(min=1.0))


class Refiner:
    """Refines the frames of one shot in order (temporal smoothing needs the previous frame).

    Arguments:
        settings: the `RefineSettings`.
        device: torch device to compute on (default: the probabilities' own, CPU for arrays).
    """

    def __init__(self, settings: RefineSettings, device: str | torch.device | None = None) -> None:
        self.settings = settings
        self.device = torch.device(device) if device is not None else None
        self._previous: GuidedCoefficients | None = None
        self._colour: ColourCoefficients | None = None

    def reset(self) -> None:
        """Forget the previous frames (a cut, or a new shot)."""
        self._previous = None
        self._colour = None

    def refine_objects(self, plate: torch.Tensor, objects: torch.Tensor) -> torch.Tensor:
        """Refine KxHxW object mattes against a 3xHxW plate (both float, same device).

        Returns:
            KxHxW refined mattes, renormalised.
        """
        if tuple(plate.shape[-2:]) != tuple(objects.shape[-2:]):
            raise InputError(f"plate is {tuple(plate.shape[-2:])} but mattes are {tuple(objects.shape[-2:])}")
        if not self.settings.enabled or objects.shape[0] == 0:
            return objects
        rs = self.settings.resolve(plate.shape[-2])
        h, w = plate.shape[-2:]
        factor = max(1, int(round(h / rs.fit_height)))
        band = edge_band(objects, rs.band, rs.feather, max(1, factor // 4), rs.low, rs.high, rs.adaptive)
        coeffs = self._fit(plate, objects, factor, rs)
        if band.box is None:
            self._colour = None
            return renormalise(objects.clone())
        y0, y1, x0, x1 = band.box
        weight = band.weight()
        guided = apply_coefficients(coeffs, plate, factor, band.box).clamp_(0, 1)
        for k, small in enumerate(object_factors(objects, factor, rs.radius / factor)):
            if small < factor:
                self._refit_small(plate, objects[k], small, rs.radius * small / factor, rs.eps, band.box, guided[k])
        # the colour model sees the guided matte with context around the band, on a lattice of whole cells
        step = colour_step(h)
        cell = step * FOREGROUND_CELLS
        margin = context(step)
        ey0, ex0 = max(0, y0 - margin) // cell * cell, max(0, x0 - margin) // cell * cell
        ey1, ex1 = min(h, y1 + margin), min(w, x1 + margin)
        region = plate[:, ey0:ey1, ex0:ex1]
        alpha0 = objects[:, ey0:ey1, ex0:ex1].clone()
        inner = (y0 - ey0, y1 - ey0, x0 - ex0, x1 - ex0)
        alpha0[:, inner[0] : inner[1], inner[2] : inner[3]] = torch.lerp(objects[:, y0:y1, x0:x1], guided, weight)
        colour = fit_colour_model(region, alpha0, step, (ey0 // step, ex0 // step), objects[:, ey0:ey1, ex0:ex1])
        if rs.temporal > 0 and self._colour is not None:
            colour = colour.blend(self._colour, rs.temporal)
        self._colour = colour if rs.temporal > 0 else None
        refined = apply_colour_model(colour, region, alpha0, inner, objects[:, y0:y1, x0:x1], SNAP)
        out = objects.clone()
        out[:, y0:y1, x0:x1] = torch.lerp(objects[:, y0:y1, x0:x1], refined, weight)
        if rs.mode == "matting":
            from xmempp.refine.matting import solve_band

            out[:, y0:y1, x0:x1] = solve_band(
                plate[:, y0:y1, x0:x1], out[:, y0:y1, x0:x1], weight, h / REFERENCE_HEIGHT
            )
        return renormalise(out.clamp_(0, 1))

    @staticmethod
    def _refit_small(
        plate: torch.Tensor,
        matte: torch.Tensor,
        factor: int,
        radius: float,
        eps: float,
        box: tuple[int, int, int, int],
        out: torch.Tensor,
    ) -> None:
        """Refit one small object's guided filter on a grid `factor` pixels fine, around the object only, and
        write it into `out` (its guided matte inside the band `box`)."""
        extent = _extent(matte > 0)
        if extent is None:
            return
        y0, y1, x0, x1 = box
        margin = int(radius) + 2 * factor
        h, w = matte.shape
        # the object's box with the filter's context, on the fine grid's lattice, inside the band box's reach
        cy0, cx0 = max(0, extent[0] - margin) // factor * factor, max(0, extent[2] - margin) // factor * factor
        cy1, cx1 = min(h, extent[1] + margin), min(w, extent[3] + margin)
        crop = plate[:, cy0:cy1, cx0:cx1]
        coeffs = _fit_grid(crop, matte[None, cy0:cy1, cx0:cx1], factor, radius, eps)
        iy0, iy1, ix0, ix1 = max(y0, cy0), min(y1, cy1), max(x0, cx0), min(x1, cx1)
        if iy0 >= iy1 or ix0 >= ix1:
            return
        fine = apply_coefficients(coeffs, crop, factor, (iy0 - cy0, iy1 - cy0, ix0 - cx0, ix1 - cx0))
        out[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = fine[0].clamp_(0, 1)

    def _fit(self, plate: torch.Tensor, objects: torch.Tensor, factor: int, rs: ResolvedSettings) -> GuidedCoefficients:
        """Coefficients fitted on the plate and mattes area-averaged over `factor` x `factor` blocks."""
        coeffs = _fit_grid(plate, objects, factor, rs.radius, rs.eps)
        prev = self._previous
        if rs.temporal > 0 and prev is not None and prev.a.shape == coeffs.a.shape:
            coeffs = coeffs.blend(prev, rs.temporal)
        self._previous = coeffs if rs.temporal > 0 else None
        return coeffs

    def __call__(self, plate: Array, probs: Array) -> Array:
        """Refine one frame's (1+K)xHxW probabilities (background first) against its plate.

        Arguments:
            plate: HxWx3 RGB array (uint8/uint16/float) or 3xHxW tensor, at the probabilities' size.
            probs: (1+K)xHxW probabilities, numpy or torch.
        Returns:
            The refined probabilities in the same layout and kind (numpy in, numpy out); the background
            channel is 1 minus the objects' sum.
        """
        if probs.ndim != 3 or probs.shape[0] < 1:
            raise InputError(f"probabilities must be (1+K)xHxW, got shape {tuple(probs.shape)}")
        if not self.settings.enabled or probs.shape[0] == 1:
            return probs
        t = probs if isinstance(probs, torch.Tensor) else torch.from_numpy(np.asarray(probs, dtype=np.float32))
        device = self.device or t.device
        objects = self.refine_objects(plate_tensor(plate, device), t[1:].to(device=device, dtype=torch.float32))
        out = torch.cat([(1 - objects.sum(dim=0, keepdim=True)).clamp_(0, 1), objects])
        return out.to(t.device) if isinstance(probs, torch.Tensor) else out.cpu().numpy()


def object_factors(objects: torch.Tensor, factor: int, radius_cells: float) -> list[int]:
    """The fit grid's pixels per cell for each of K objects: `factor`, or finer for an object whose narrower
    side (where its matte is above 0.5) spans fewer than `MIN_OBJECT_CELLS` cells of it (or that the
    filter's window of `radius_cells` would swallow)."""
    factors = []
    for matte in objects:
        extent = _extent(matte > 0.5)
        if extent is None:
            factors.append(factor)
            continue
        narrower = min(extent[1] - extent[0], extent[3] - extent[2])
        cells = max(MIN_OBJECT_CELLS, 2 * radius_cells)
        factors.append(max(1, min(factor, int(narrower / cells))))
    return factors


def _extent(mask: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of the pixels set in an HxW `mask` (ends exclusive), None when none is."""
    rows, cols = torch.nonzero(mask.any(dim=1)), torch.nonzero(mask.any(dim=0))
    if rows.numel() == 0:
        return None
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def _fit_grid(plate: torch.Tensor, mattes: torch.Tensor, factor: int, radius: float, eps: float) -> GuidedCoefficients:
    """Guided filter coefficients fitted on the plate and mattes area-averaged over `factor` x `factor`
    blocks, with a window of `radius` plate pixels (at least one cell)."""
    return fit_coefficients(
        block_mean(plate, factor), block_mean(mattes, factor), max(1, int(round(radius / factor))), eps
    )


def refine_frame(plate: Array, probs: Array, settings: RefineSettings) -> Array:
    """Refine one frame's probabilities against its plate, with no state from other frames.

    Arguments:
        plate: HxWx3 RGB array (uint8/uint16/float 0..1) or 3xHxW tensor at the probabilities' size.
        probs: (1+K)xHxW probabilities, background first (numpy or torch).
        settings: the `RefineSettings` (mode `off` returns `probs` unchanged).
    Returns:
        The refined probabilities, same layout and kind.
    """
    return Refiner(settings)(plate, probs)
