"""The tests' own weights: an official-layout XMem state dict filled with seeded random values.

Engine, CLI, GUI, service and batch tests run on these, so a clone without `../shared` still tests
the whole engine; only the equivalence tests (against the reference's outputs) need the shared
stand-in weights. Each tensor is drawn from a generator seeded by a digest of its key and the seed,
so values do not depend on module creation order; convolution weights are scaled by their fan-in
so activations stay in range through the ResNet stages.
"""

from __future__ import annotations

import hashlib
import math

import torch

from xmempp.model.network import XMemNetwork


def _generator(key: str, seed: int) -> torch.Generator:
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))


def _tensor(key: str, like: torch.Tensor, seed: int) -> torch.Tensor:
    g = _generator(key, seed)
    shape = tuple(like.shape)
    if not like.is_floating_point():
        return torch.zeros(shape, dtype=like.dtype)
    if key.endswith("running_var"):
        return 0.8 + 0.4 * torch.rand(shape, generator=g)
    if key.endswith("running_mean"):
        return 0.05 * torch.randn(shape, generator=g)
    if len(shape) >= 2:
        return torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
    if key.endswith("weight"):
        return 1.0 + 0.05 * torch.randn(shape, generator=g)
    return 0.05 * torch.randn(shape, generator=g)


def random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """An official-format XMem state dict (every key and shape of XMem.pth) with seeded random values."""
    template = XMemNetwork().state_dict()
    return {key: _tensor(key, value, seed) for key, value in template.items()}
