"""Plate-resolution mattes: soft mattes refined against the full-resolution plate.

Public API (used by every front end that writes mattes):

* `RefineSettings` - mode (`off`, `guided`, `matting`), band, feather, eps (detail), temporal smoothing;
* `refine_frame(plate, probs, settings)` - one frame's (1+K)xHxW probabilities (background first) in,
  refined ones out, objects renormalised to sum at most 1;
* `Refiner(settings)` - the same for the frames of a shot in order (temporal smoothing);
* `estimate_foreground(plate, alpha, band)` - decontaminated foreground colour; `rgba` packs it.
"""

from __future__ import annotations

from xmempp.refine.foreground import estimate_foreground, rgba
from xmempp.refine.refiner import Refiner, plate_tensor, refine_frame, renormalise
from xmempp.refine.settings import REFINE_MODES, RefineSettings

__all__ = [
    "REFINE_MODES",
    "RefineSettings",
    "Refiner",
    "estimate_foreground",
    "plate_tensor",
    "refine_frame",
    "renormalise",
    "rgba",
]
