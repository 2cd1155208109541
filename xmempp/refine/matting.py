"""The `matting` refiner: a closed-form trimap solver (pymatting) on the band, tile by tile.

The trimap comes from the guided result: definite foreground and background where it is (nearly) 0 or
1, unknown elsewhere in the band. A tile is solved only when its context holds both definite
foreground and definite background; a tile that lacks either (a sheer panel, a strand crossing open
sky) keeps the guided matte, because the solver collapses to 0 or 1 there. Tiles are solved with a
margin of context and only their centre is kept.
"""

from __future__ import annotations

import numpy as np
import torch

from xmempp.refine.pymatting_loader import PYMATTING_LOCK, load_pymatting
from xmempp.refine.settings import MATTING_PURPOSE, MATTING_REMEDY

__all__ = ["DEFINITE", "TILE", "solve_band"]

#: Tile size and context margin at 2K (scaled with the plate height).
TILE, MARGIN = 192, 32
#: Values at or beyond which the guided matte counts as definite (and its share of a tile it needs).
DEFINITE, MIN_SHARE = 0.02, 0.02


def _tiles(n: int, tile: int) -> list[int]:
    return list(range(0, max(n, 1), tile))


def solve_band(plate: torch.Tensor, mattes: torch.Tensor, weight: torch.Tensor, scale: float) -> torch.Tensor:
    """Replace the band of each matte with the trimap solver's alpha where a tile allows it.

    Arguments:
        plate: 3xHxW plate (0..1).
        mattes: KxHxW guided mattes.
        weight: KxHxW band weights.
        scale: the plate height / 1080 (scales the tiles).
    Returns:
        KxHxW mattes (a new tensor).
    """
    pm = load_pymatting(MATTING_PURPOSE, MATTING_REMEDY)
    h, w = plate.shape[-2:]
    scale = max(scale, 0.25)
    tile, margin = max(32, int(TILE * scale)), max(8, int(MARGIN * scale))
    image = plate.permute(1, 2, 0).double().cpu().numpy()
    out = mattes.clone()
    for k in range(mattes.shape[0]):
        alpha = mattes[k].double().cpu().numpy()
        band = weight[k].cpu().numpy() > 0
        trimap = np.where(alpha >= 1 - DEFINITE, 1.0, np.where(alpha <= DEFINITE, 0.0, 0.5))
        trimap[~band & (alpha >= 0.5)] = 1.0
        trimap[~band & (alpha < 0.5)] = 0.0
        solved = alpha.copy()
        for y in _tiles(h, tile):
            for x in _tiles(w, tile):
                core = (slice(y, min(h, y + tile)), slice(x, min(w, x + tile)))
                if not (trimap[core] == 0.5).any():
                    continue
                ys = slice(max(0, y - margin), min(h, y + tile + margin))
                xs = slice(max(0, x - margin), min(w, x + tile + margin))
                tri = trimap[ys, xs]
                if (tri == 1).mean() < MIN_SHARE or (tri == 0).mean() < MIN_SHARE:
                    continue  # no definite foreground or background to propagate from: keep the guided matte
                with PYMATTING_LOCK:
                    result = pm.estimate_alpha_cf(image[ys, xs], tri)
                solved[core] = result[
                    core[0].start - ys.start : core[0].stop - ys.start,
                    core[1].start - xs.start : core[1].stop - xs.start,
                ]
        out[k] = torch.lerp(mattes[k], torch.from_numpy(solved).to(mattes), weight[k])
    return out
