"""Frame and mask conversion between user arrays and network tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from xmempp.errors import InputError

_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class Geometry:
    """How a source frame maps to the padded processing grid.

    source: (H, W) of the input; resized: (H, W) after resizing to the
    processing size; pad: (left, right, top, bottom) zero padding up to /16.
    """

    source: tuple[int, int]
    resized: tuple[int, int]
    pad: tuple[int, int, int, int]

    @classmethod
    def for_frame(cls, height: int, width: int, size: int) -> Geometry:
        """Geometry for a frame resized so its shorter side is `size` (-1 keeps it).

        The longer side is `int(size * long / short)`, as torchvision's `Resize(size)` computes it.
        """
        if size > 0 and min(height, width) != size:
            resized = (size, int(width * size / height)) if height < width else (int(height * size / width), size)
        else:
            resized = (height, width)
        pad_h = (16 - resized[0] % 16) % 16
        pad_w = (16 - resized[1] % 16) % 16
        return cls((height, width), resized, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """Crop the padding off a (..., H, W) tensor on the padded grid."""
        left, right, top, bottom = self.pad
        return x[..., top : x.shape[-2] - bottom, left : x.shape[-1] - right]

    def to_source(self, probs: torch.Tensor) -> torch.Tensor:
        """Crop and bilinearly resize (C, H, W) probabilities on the padded grid to the source size."""
        probs = self.unpad(probs)
        if tuple(probs.shape[-2:]) != self.source:
            probs = F.interpolate(probs.unsqueeze(0), size=self.source, mode="bilinear", align_corners=False)[0]
        return probs


def check_image(image: np.ndarray) -> None:
    """Raise InputError unless `image` is an HxWx3 uint8 RGB array."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise InputError(f"frames must be HxWx3 uint8 RGB arrays, got shape {shape} dtype {dtype}")


def image_to_tensor(
    image: np.ndarray, geometry: Geometry, device: torch.device, antialias: bool = False
) -> torch.Tensor:
    """Normalise an RGB uint8 image, resize it bilinearly and pad it, in the reference's order.

    As in XMem++ (torchvision 0.13 `Resize` on the normalised tensor): x/255, ImageNet
    normalisation, then a bilinear resize with `align_corners=False` and no antialiasing.

    Arguments:
        image: HxWx3 uint8 RGB frame.
        geometry: where the frame goes on the processing grid.
        device: device of the returned tensor.
        antialias: low-pass filter while downscaling (departs from the reference).
    Returns:
        (1, 3, H', W') float32 tensor, channels-last.
    """
    check_image(image)
    x = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1).unsqueeze(0).float() / 255
    x = (x - _MEAN.to(device)) / _STD.to(device)
    if geometry.resized != geometry.source:
        x = F.interpolate(x, size=geometry.resized, mode="bilinear", align_corners=False, antialias=antialias)
    return F.pad(x, geometry.pad).contiguous(memory_format=torch.channels_last)


def mask_to_onehot(mask: np.ndarray, object_ids: list[int], geometry: Geometry, device: torch.device) -> torch.Tensor:
    """One float channel per object id (nearest resize, padded); returns (K, H', W')."""
    if mask.shape != geometry.source:
        raise InputError(
            f"mask size {mask.shape[1]}x{mask.shape[0]} differs from its frame "
            f"{geometry.source[1]}x{geometry.source[0]}"
        )
    m = torch.from_numpy(np.ascontiguousarray(mask)).to(device)
    if geometry.resized != geometry.source:
        m = F.interpolate(m[None, None].float(), size=geometry.resized, mode="nearest")[0, 0].to(m.dtype)
    ids = torch.tensor(object_ids, device=device, dtype=m.dtype).view(-1, 1, 1)
    onehot = (m.unsqueeze(0) == ids).float()
    return F.pad(onehot, geometry.pad)
