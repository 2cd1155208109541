"""The optional pymatting dependency (the `matting` extra): whether it is there, importing it so it does
not slow torch down, and the lock every call into it holds.

pymatting runs its kernels on numba's OpenMP thread pool, a second OpenMP runtime beside torch's. Its
idle threads spin, and on a small CPU torch's threads then wait for cores: on a 2-core machine a 2K
refine at 2 threads took up to 1 s a frame after one foreground estimate (0.05-0.07 s before it), and
the process burnt several times the CPU time. That runtime's threads are made to sleep when idle
(`OMP_WAIT_POLICY=PASSIVE`, read when it starts, after torch's) unless the environment sets a policy.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from types import ModuleType

from xmempp.errors import ConfigError, Remedy

__all__ = ["PYMATTING_LOCK", "load_pymatting", "missing_pymatting", "pymatting_available"]

#: Held around every pymatting call: its numba kernels run in parallel themselves, and with numba's
#: workqueue threading layer two threads entering them at once (the result writer's threads) abort.
PYMATTING_LOCK = threading.Lock()


def pymatting_available() -> bool:
    """Whether pymatting (the `matting` extra: foreground colour, the `matting` refiner) is installed."""
    return importlib.util.find_spec("pymatting") is not None


def missing_pymatting(purpose: str, remedy: Remedy | None = None) -> ConfigError:
    """The error for `purpose` (say "foreground colour") when pymatting is not installed."""
    return ConfigError(
        f"{purpose} needs pymatting, which is not installed: pip install 'xmempp[matting]'", remedy=remedy
    )


def load_pymatting(purpose: str, remedy: Remedy | None = None) -> ModuleType:
    """Import pymatting, or raise `missing_pymatting(purpose, remedy)`."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import pymatting
    except ImportError as exc:
        raise missing_pymatting(purpose, remedy) from exc
    return pymatting
