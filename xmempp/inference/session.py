"""Inference session: one shot's memory, stepped frame by frame, with explicit memory controls."""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager

import numpy as np
import torch

from xmempp.inference.config import InferenceConfig
from xmempp.model.device import autocast_for
from xmempp.errors import ConfigError, InputError, MemoryStateError
from xmempp.memory.manager import MemoryManager, MemoryStats, state_to_device
from xmempp.model.network import XMemNetwork, aggregate_objects
from xmempp.inference.preprocess import Geometry, image_to_tensor, mask_to_onehot
from xmempp.timing import StageTimer

MODES = ("xmempp", "xmem")

#: Called with (frame index, key, shrinkage, selection) each time `step` encodes a frame.
KeyListener = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None]


class InferenceSession:
    """Propagates masks frame by frame with XMem++ memory and explicit memory controls.

    In mode "xmempp" every reference goes into permanent memory when added. In
    mode "xmem" (the original mechanism) only the first reference is permanent;
    later ones are met while stepping and written to temporary memory.
    """

    def __init__(self, model: XMemNetwork, config: InferenceConfig | None = None, mode: str = "xmempp",
                 autocast: bool = True, timer: StageTimer | None = None) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        self.model = model
        self.config = config or InferenceConfig()
        self.config.validate()
        self.mode = mode
        self.device = next(model.parameters()).device
        self.autocast = autocast
        self.timer = timer
        self.on_key_features: KeyListener | None = None
        self.memory = MemoryManager(self.config, model.dims.hidden_dim)
        self._masks: dict[int, np.ndarray] = {}
        self._permanent: set[int] = set()
        self._object_ids: list[int] = []
        self._geometry: Geometry | None = None
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._step_index = -1
        self._last_memory_step = 0
        self._last_deep_update_step = -self.config.deep_update_every if self.config.deep_update_every > 0 else 0

    # ------------------------------------------------------------ properties
    @property
    def references(self) -> list[int]:
        """Frame indices that have a user reference mask, ascending."""
        return sorted(self._masks)

    @property
    def object_ids(self) -> list[int]:
        """Original object ids known to memory, in the order of the output channels."""
        return list(self._object_ids)

    def memory_stats(self) -> MemoryStats:
        """Sizes of temporary, long-term and permanent memory."""
        return self.memory.stats()

    # ------------------------------------------------------------ references
    @torch.inference_mode()
    def add_reference(self, frame: int, image: np.ndarray, mask: np.ndarray, permanent: bool | None = None) -> None:
        """Add a user mask for `frame`.

        Arguments:
            frame: frame index.
            image: HxWx3 uint8 RGB frame.
            mask: HxW integer mask, 0 = background, other values = object ids.
            permanent: store in permanent memory now; default True in "xmempp" mode,
                and in "xmem" mode only for the first reference.
        """
        if frame in self._masks:
            raise MemoryStateError(f"frame {frame} already has a reference; use replace_reference")
        mask = np.asarray(mask)
        geometry = self._frame_geometry(image)
        if mask.shape != geometry.source:
            raise InputError(f"reference mask for frame {frame} has size {mask.shape[::-1]}, its frame "
                             f"{geometry.source[::-1]}; a mask must match its frame")
        if permanent is None:
            permanent = self.mode == "xmempp" or not self._permanent
        if permanent:
            self._encode_permanent(frame, image, mask)
        self._masks[frame] = mask

    @torch.inference_mode()
    def replace_reference(self, frame: int, image: np.ndarray, mask: np.ndarray) -> None:
        """Replace the reference of `frame`; only that frame's memory elements change."""
        if frame not in self._masks:
            raise MemoryStateError(f"frame {frame} has no reference to replace")
        was_permanent = frame in self._permanent
        self.remove_reference(frame)
        self.add_reference(frame, image, mask, permanent=was_permanent or None)

    @torch.inference_mode()
    def remove_reference(self, frame: int) -> None:
        """Remove the reference of `frame` and its permanent-memory elements."""
        if frame not in self._masks:
            raise MemoryStateError(f"frame {frame} has no reference to remove")
        del self._masks[frame]
        if frame in self._permanent:
            self._permanent.discard(frame)
            self.memory.remove_permanent(frame)

    @torch.inference_mode()
    def clear_memory(self) -> None:
        """Drop temporary and long-term memory and the hidden state; references stay."""
        self.memory.clear_working()
        self._reset_counters()

    # ------------------------------------------------------------ stepping
    @torch.inference_mode()
    def encode_key(self, image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Key, shrinkage and selection (each (1, C, h, w), float32 on the CPU) for one frame."""
        x = image_to_tensor(image, self._frame_geometry(image), self.device)
        with autocast_for(self.device, self.autocast):
            features = self.model.encode_key(x)
        return tuple(t.float().cpu() for t in (features.key, features.shrinkage, features.selection))

    @torch.inference_mode()
    def step(self, frame: int, image: np.ndarray, end: bool = False) -> torch.Tensor:
        """Segment one frame and update memory.

        Arguments:
            frame: frame index (a reference frame returns its stored mask).
            image: HxWx3 uint8 RGB frame.
            end: True for the last frame of a pass (it is never written to memory).
        Returns:
            (1+K, H, W) float32 probabilities on the CPU at the input resolution,
            background first, objects in `object_ids` order.
        """
        geometry = self._frame_geometry(image)
        self._step_index += 1
        with autocast_for(self.device, self.autocast):
            with self._stage("key_encoder"):
                x = image_to_tensor(image, geometry, self.device)
                features = self.model.encode_key(x)
            if self.on_key_features is not None:
                self.on_key_features(frame, features.key, features.shrinkage, features.selection)
            if frame in self._masks:
                self._step_reference(frame, x, features, geometry, end)
                return self._reference_probs(frame)
            probs = self._step_propagate(frame, x, features, end)
        with self._stage("upsample"):
            return geometry.to_source(probs[0].float()).cpu()

    def _stage(self, name: str) -> ContextManager:
        return self.timer.stage(name) if self.timer is not None else contextlib.nullcontext()

    def _reference_probs(self, frame: int) -> torch.Tensor:
        """The user's mask as probabilities at its own resolution (no resampling of the annotation)."""
        mask = self._masks[frame]
        source = Geometry(mask.shape, mask.shape, (0, 0, 0, 0))
        onehot = mask_to_onehot(mask, self._object_ids, source, torch.device("cpu"))
        return aggregate_objects(onehot.unsqueeze(0), dim=1)[1][0]

    def _step_reference(self, frame: int, x: torch.Tensor, features, geometry: Geometry, end: bool) -> None:
        mask = self._masks[frame]
        self._register_objects(mask, features.key)
        onehot = mask_to_onehot(mask, self._object_ids, geometry, self.device).unsqueeze(0)
        _, probs = aggregate_objects(onehot, dim=1)
        # As in XMem++: references already in permanent memory are not written again;
        # in "xmem" mode the others are written to temporary memory, except on a pass's first frame.
        write = frame not in self._permanent and self._step_index != 0 and not end
        deep = self._deep_update_due(is_memory_frame=True) and not end
        with self._stage("value_encoder"):
            value, hidden = self.model.encode_value(x, features.f16, self.memory.hidden, probs[:, 1:],
                                                    deep_update=deep)
        if write:
            self.memory.add_temporary(features.key, features.shrinkage, features.selection, value, frame)
        if not end:
            self._last_memory_step = self._step_index
        if deep:
            self.memory.hidden = hidden
            self._last_deep_update_step = self._step_index

    def _step_propagate(self, frame: int, x: torch.Tensor, features, end: bool) -> torch.Tensor:
        if self.memory.num_objects == 0:
            raise MemoryStateError("memory is empty: add a reference mask before propagating")
        memory_frame = self._step_index - self._last_memory_step >= self.config.mem_every and not end
        deep = self._deep_update_due(memory_frame) and not end
        normal_update = (self.config.deep_update_every != -1 or not deep) and not end
        with self._stage("memory_read"):
            readout = self.memory.read(features.key, features.selection)
        with self._stage("decoder"):
            hidden, _, probs = self.model.segment(features, readout, self.memory.hidden, update_hidden=normal_update)
        if normal_update:
            self.memory.hidden = hidden
        if memory_frame:
            with self._stage("value_encoder"):
                value, hidden = self.model.encode_value(x, features.f16, self.memory.hidden, probs[:, 1:],
                                                        deep_update=deep)
                self.memory.add_temporary(features.key, features.shrinkage, features.selection, value, frame)
            self._last_memory_step = self._step_index
            if deep:
                self.memory.hidden = hidden
                self._last_deep_update_step = self._step_index
        return probs

    def _deep_update_due(self, is_memory_frame: bool) -> bool:
        if self.config.deep_update_every == -1:
            return is_memory_frame
        return self._step_index - self._last_deep_update_step >= self.config.deep_update_every

    # ------------------------------------------------------------ helpers
    @torch.inference_mode()
    def _encode_permanent(self, frame: int, image: np.ndarray, mask: np.ndarray) -> None:
        geometry = self._frame_geometry(image)
        x = image_to_tensor(image, geometry, self.device)
        with autocast_for(self.device, self.autocast):
            features = self.model.encode_key(x)
            self._register_objects(mask, features.key)
            onehot = mask_to_onehot(mask, self._object_ids, geometry, self.device).unsqueeze(0)
            _, probs = aggregate_objects(onehot, dim=1)
            value, _ = self.model.encode_value(x, features.f16, None, probs[:, 1:], deep_update=False)
        self.memory.add_permanent(features.key, features.shrinkage, value, frame)
        self._permanent.add(frame)

    def _register_objects(self, mask: np.ndarray, key: torch.Tensor) -> None:
        for value in np.unique(mask).tolist():
            if value != 0 and value not in self._object_ids:
                self._object_ids.append(int(value))
        self.memory.ensure_objects(len(self._object_ids), key)

    def _frame_geometry(self, image: np.ndarray) -> Geometry:
        if not isinstance(image, np.ndarray) or image.ndim != 3:
            raise InputError(f"frames must be HxWx3 uint8 RGB arrays, got {getattr(image, 'shape', type(image))}")
        geometry = Geometry.for_frame(image.shape[0], image.shape[1], self.config.size)
        if self._geometry is None:
            self._geometry = geometry
        elif geometry != self._geometry:
            raise InputError(f"frame size {image.shape[1]}x{image.shape[0]} differs from the session's "
                             f"{self._geometry.source[1]}x{self._geometry.source[0]}; all frames of a shot "
                             "must have one size")
        return geometry

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """The session's complete inference state, for checkpoints.

        Returns:
            A dict of CPU tensors and plain values (`torch.save`-able with `weights_only=True`):
            memory (every store, usage and life counters, object groups, hidden state), reference
            masks, which references are permanent, object order, frame geometry and step counters.
            The network and the config are not included: the caller keeps them.
        """
        geometry = self._geometry
        return {
            "mode": self.mode,
            "memory": state_to_device(self.memory.state_dict(), "cpu"),
            "masks": {int(frame): torch.from_numpy(np.ascontiguousarray(mask)).clone()
                      for frame, mask in self._masks.items()},
            "permanent": sorted(self._permanent),
            "object_ids": list(self._object_ids),
            "geometry": None if geometry is None else [list(geometry.source), list(geometry.resized),
                                                       list(geometry.pad)],
            "counters": [self._step_index, self._last_memory_step, self._last_deep_update_step],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a `state_dict` taken from a session with the same network, config and mode.

        Arguments:
            state: from `state_dict` (possibly via `torch.load`); tensors go to the session's device.
        Returns:
            None. Raises `MemoryStateError` when the state was taken in another mode.
        """
        if state["mode"] != self.mode:
            raise MemoryStateError(f"this state was saved in mode {state['mode']!r}, the session runs {self.mode!r}")
        self.memory.load_state_dict(state["memory"], self.device)
        self._masks = {int(frame): mask.numpy() for frame, mask in state["masks"].items()}
        self._permanent = set(state["permanent"])
        self._object_ids = [int(i) for i in state["object_ids"]]
        geometry = state["geometry"]
        self._geometry = None if geometry is None else Geometry(*(tuple(part) for part in geometry))
        self._step_index, self._last_memory_step, self._last_deep_update_step = (int(c) for c in state["counters"])

