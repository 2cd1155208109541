"""File > Load weights: use another XMem checkpoint without restarting the GUI.

The file goes through the core loader exactly as `--model PATH` does on the command line
(`resolve_weights`: the file exists and matches its recorded checksum; `load_model`: strict loading with
`weights_only`, an XMem state dict of consistent shapes, the precision the device runs), so a bad checkpoint
is refused with the same `WeightsError` and nothing changes. A good one replaces the network; the network's
memory and the candidate features computed by the old one are dropped (rebuilt when next needed)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

from xmempp.model.loading import load_model
from xmempp.model.weights import resolve_weights

__all__ = ["WeightsHolder", "load_weights"]


class WeightsHolder(Protocol):
    """The GUI's model cache, as far as changing its network goes."""

    model_path: Path | None
    model: Any
    device: str
    precision: str
    lock: threading.RLock

    def invalidate(self) -> None: ...
    def store_features(self, key: tuple, features: Any) -> None: ...


def load_weights(cache: WeightsHolder, path: Path) -> None:
    """Check and load the checkpoint `path` on `cache`'s device and precision; on success `cache` uses it.

    Arguments:
        cache: the window's model cache.
        path: an XMem checkpoint file.
    Returns:
        None. Raises `WeightsError` (or `ConfigError` for a precision the device cannot run) as the command
        line does, leaving `cache` as it was.
    """
    resolved = resolve_weights(Path(path).expanduser(), download=False)
    network = load_model(resolved, device=cache.device, precision=cache.precision)
    with cache.lock:
        cache.model_path = resolved
        cache.model = network
        cache.invalidate()  # the memory holds keys and values of the old network
        cache.store_features((), None)  # nor may its candidate features be reused: no suggestion has this key
