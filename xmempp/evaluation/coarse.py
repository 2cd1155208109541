"""A coarse matte made the way the network makes it, for measuring refinement against today's output.

XMem's decoder predicts at a quarter of the processing size (480 lines by default); its output is
upsampled bilinearly to the processing size and again to the plate. `network_matte` imitates that
from an exact alpha: area-downscale to the processing size, then to a quarter of it, add the decoder's
own errors (a smooth displacement of about 1 px at that scale, so boundaries sit up to a pixel off, and
a slight blur), then upsample bilinearly twice.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["DisplacementField", "network_matte"]


class DisplacementField:
    """A smooth random displacement (in low-resolution pixels) that changes slowly from frame to frame."""

    def __init__(self, seed: int, amplitude: float = 1.0) -> None:
        self.seed, self.amplitude = seed, amplitude

    def field(self, h: int, w: int, frame: int) -> np.ndarray:
        """HxWx2 displacement for `frame`: a fixed part plus a per-frame part a third as large."""
        base = self._smooth(h, w, np.random.default_rng([self.seed, 0]))
        local = self._smooth(h, w, np.random.default_rng([self.seed, frame + 1]))
        return self.amplitude * (base + local / 3)

    @staticmethod
    def _smooth(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        grid = rng.uniform(-1, 1, (max(2, h // 6), max(2, w // 6), 2)).astype(np.float32)
        return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def _bilinear(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize as the network's upsampling does it (torch, align_corners=False)."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]
    return F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()


def network_matte(
    alpha: np.ndarray, processing: int = 480, field: DisplacementField | None = None, frame: int = 0, blur: float = 0.6
) -> np.ndarray:
    """The network-like coarse matte of an exact alpha, at the alpha's own resolution.

    Arguments:
        alpha: HxW exact alpha (0..1).
        processing: the processing size (short side), as `--size`.
        field: boundary errors (None: no displacement).
        frame: frame number (selects the per-frame part of the errors).
        blur: Gaussian sigma of the decoder's blur, in quarter-resolution pixels.
    Returns:
        HxW float32 coarse matte.
    """
    h, w = alpha.shape
    s = processing / min(h, w)
    ph, pw = max(4, int(round(h * s))), max(4, int(round(w * s)))
    qh, qw = max(2, ph // 4), max(2, pw // 4)
    small = cv2.resize(
        cv2.resize(alpha.astype(np.float32), (pw, ph), interpolation=cv2.INTER_AREA),
        (qw, qh),
        interpolation=cv2.INTER_AREA,
    )
    if field is not None:
        d = field.field(qh, qw, frame)
        yy, xx = np.mgrid[:qh, :qw].astype(np.float32)
        small = cv2.remap(small, xx + d[..., 0], yy + d[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if blur > 0:
        small = cv2.GaussianBlur(small, (0, 0), blur)
    return np.clip(_bilinear(_bilinear(small, ph, pw), h, w), 0, 1).astype(np.float32)
