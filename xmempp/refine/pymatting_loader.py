"""The optional pymatting dependency (the `matting` extra), imported so it does not slow torch down.

pymatting runs its kernels on numba's OpenMP thread pool, a second OpenMP runtime beside torch's. Its
idle threads spin, and on a small CPU torch's threads then wait for cores: on a 2-core machine a 2K
refine at 2 threads took up to 1 s a frame after one foreground estimate (0.05-0.07 s before it), and
the process burnt several times the CPU time. That runtime's threads are made to sleep when idle
(`OMP_WAIT_POLICY=PASSIVE`, read when it starts, after torch's) unless the environment sets a policy.
"""
from __future__ import annotations

import os
from types import ModuleType

from xmempp.errors import ConfigError

__all__ = ["load_pymatting"]


def load_pymatting(purpose: str) -> ModuleType:
    """Import pymatting, or raise a `ConfigError` saying `purpose` needs it."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import pymatting  # noqa: PLC0415 - optional dependency (matting extra)
    except ImportError as exc:
        raise ConfigError(f"{purpose} needs pymatting: pip install 'xmempp[matting]'") from exc
    return pymatting
