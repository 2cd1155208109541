"""The front door of the Python API: load the weights once, then propagate masks or open a session.

```python
from xmempp import Predictor

predictor = Predictor.load("saves/XMem.pth")
for result in predictor.propagate(frames, {0: first_mask}):
    frame, object_ids, probs = result
```
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from xmempp.errors import ConfigError
from xmempp.inference.config import InferenceConfig
from xmempp.inference.job_spec import ShotJob
from xmempp.inference.jobs import iter_job
from xmempp.inference.plan import MODES, Direction, Mode
from xmempp.inference.session import InferenceSession
from xmempp.model.device import to_host
from xmempp.model.loading import load_model
from xmempp.model.network import XMemNetwork
from xmempp.model.weights import resolve_weights

__all__ = ["Predictor", "Propagated"]


def _mode(value: Mode | str) -> Mode:
    try:
        return Mode(value)
    except ValueError:
        raise ConfigError(f"unknown mode {value!r}; use one of {', '.join(MODES)}") from None


class Propagated(NamedTuple):
    """One propagated frame: unpacks as `(frame, object_ids, probs)`.

    Attributes:
        frame: the frame's index in the sequence.
        object_ids: the objects' original ids, in channel order (channel `i + 1` is `object_ids[i]`).
        probs: float32 array (1 + K, H, W) at the frames' resolution, background first; on every frame
            the channels sum to 1.
    """

    frame: int
    object_ids: tuple[int, ...]
    probs: np.ndarray

    def index_mask(self) -> np.ndarray:
        """The HxW uint8 mask of original object ids (0 = background): the argmax over the channels."""
        lookup = np.array((0, *self.object_ids), dtype=np.uint8)
        return lookup[np.argmax(self.probs, axis=0)]


class Predictor:
    """A loaded XMem network with the settings its propagations use.

    Make one with `Predictor.load` (weights from a path, a state dict, or the official file in the weights
    folder, downloaded when missing), then call `propagate` for a whole shot or `session` for frame-by-frame
    control of memory. One predictor serves any number of shots, one at a time.
    """

    def __init__(
        self, model: XMemNetwork, *, config: InferenceConfig | None = None, mode: Mode | str = Mode.XMEMPP
    ) -> None:
        """Arguments: model: a network from `xmempp.load_model`; config: default inference settings (XMem++'s
        defaults when None); mode: default memory mechanism."""
        self.model = model
        self.config = config or InferenceConfig()
        self.config.validate()
        self.mode = _mode(mode)

    @classmethod
    def load(
        cls,
        weights: str | PathLike | Mapping[str, torch.Tensor] | None = None,
        *,
        device: str = "auto",
        precision: str = "auto",
        config: InferenceConfig | None = None,
        mode: Mode | str = Mode.XMEMPP,
    ) -> Predictor:
        """Load the weights and return a predictor.

        Arguments:
            weights: a checkpoint path (official XMem format), its state dict, or None for the official weights
                in the weights folder (downloaded and verified when missing, as the CLI does).
            device: "auto" (cuda, then mps, then cpu) or a torch device string.
            precision: "auto", "fp32", "bf16" or "fp16".
            config: default inference settings; mode: default memory mechanism (`Mode.XMEMPP` or `Mode.XMEM`).
        Raises:
            WeightsError: the weights are missing, corrupt or not XMem's; ConfigError: a device or precision this
            machine cannot run.
        """
        if isinstance(weights, Mapping):
            source: Path | Mapping[str, torch.Tensor] = weights
        else:
            source = resolve_weights(None if weights is None else Path(weights))
        return cls(load_model(source, device=device, precision=precision), config=config, mode=mode)

    def propagate(
        self,
        frames: Sequence[np.ndarray],
        references: Mapping[int, np.ndarray],
        *,
        direction: Direction | str = Direction.SHOT,
        start: int | None = None,
        count: int | None = None,
        config: InferenceConfig | None = None,
        mode: Mode | str | None = None,
    ) -> Iterator[Propagated]:
        """Propagate the reference masks, yielding each frame's result as it is ready.

        Arguments:
            frames: HxWx3 uint8 RGB frames, read by index (a list, or a lazy source such as `open_frames`).
            references: frame index -> HxW uint8 index mask (0 = background, other values = object ids).
            direction, start, count: which frames, in which order (`Direction.SHOT`: every frame, first to
                last; `FORWARD`/`BACKWARD`/`BOTH` from `start`, at most `count` frames per pass).
            config, mode: override the predictor's defaults for this call.
        Returns:
            A generator of `Propagated` (frame, object_ids, probs), in stepping order.
        """
        job = ShotJob(
            frames,
            references,
            config or self.config,
            _mode(mode or self.mode),
            direction=direction,
            start=start,
            count=count,
        )
        object_ids: tuple[int, ...] | None = None
        for result in iter_job(self.model, job):
            if object_ids is None:
                object_ids = tuple(job.objects.ids)
            probs = to_host(result.probs).numpy() if isinstance(result.probs, torch.Tensor) else result.probs
            yield Propagated(result.index, object_ids, np.asarray(probs, dtype=np.float32))

    def session(self, *, config: InferenceConfig | None = None, mode: Mode | str | None = None) -> InferenceSession:
        """A new `InferenceSession` on this predictor's network: add references, step frames, and control memory
        yourself (see `InferenceSession`)."""
        return InferenceSession(self.model, config or self.config, _mode(mode or self.mode).value)

    def __repr__(self) -> str:
        device = next(self.model.parameters()).device
        return f"Predictor(device={device}, mode={self.mode.value}, size={self.config.size})"
