"""Inference session: one shot's memory, stepped frame by frame, with explicit memory controls."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np
import torch

from xmempp.errors import ConfigError, InputError, MemoryStateError
from xmempp.inference.config import InferenceConfig
from xmempp.inference.plan import MODES, Mode
from xmempp.inference.preprocess import Geometry, image_to_tensor, mask_to_onehot
from xmempp.memory.manager import MemoryManager, MemoryStats, state_to_device
from xmempp.model.device import to_host
from xmempp.model.network import XMemNetwork, aggregate_objects
from xmempp.model.precision import autocast_for
from xmempp.timing import StageTimer

#: Called with (frame index, key, shrinkage, selection) each time `step` encodes a frame.
KeyListener = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None]


class InferenceSession:
    """Propagates masks frame by frame with XMem++ memory and explicit memory controls.

    In mode "xmempp" every reference goes into permanent memory. In mode "xmem"
    (the original mechanism) only the first reference (lowest frame) is permanent;
    later ones are met while stepping and written to temporary memory.

    Results depend only on the set of references and the settings, never on the
    order of edits: permanent memory always holds what a fresh session builds
    from the references in ascending frame order (objects in order of first
    appearance, each object group covering the permanent frames from its first
    appearance on). Edits that keep that layout are applied in place (appending a
    later reference, replacing a mask without changing where objects first
    appear, removing a reference that introduces no object); any other edit
    re-encodes permanent memory in ascending order, which also clears temporary
    and long-term memory and the hidden state.
    """

    def __init__(
        self,
        model: XMemNetwork,
        config: InferenceConfig | None = None,
        mode: Mode | str = Mode.XMEMPP,
        timer: StageTimer | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        self.model = model
        self.config = config or InferenceConfig()
        self.config.validate()
        self.mode = Mode(mode).value  # a plain string: it goes into checkpoints
        self.device = next(model.parameters()).device
        self.timer = timer
        self.on_key_features: KeyListener | None = None
        self._masks: dict[int, np.ndarray] = {}
        self._mask_objects: dict[int, list[int]] = {}
        self._inputs: dict[int, torch.Tensor] = {}
        self._geometry: Geometry | None = None
        self._reset_memory()

    def _reset_memory(self) -> None:
        """Empty memory: no permanent frames, no objects, counters at the start of a pass."""
        self.memory = MemoryManager(self.config, self.model.dims.hidden_dim)
        self._permanent: list[int] = []
        self._known_after: dict[int, int] = {}
        self._object_ids: list[int] = []
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
    def permanent_frames(self) -> list[int]:
        """Frame indices held in permanent memory, ascending."""
        return list(self._permanent)

    @property
    def object_ids(self) -> list[int]:
        """Original object ids known to memory, in the order of the output channels."""
        return list(self._object_ids)

    def memory_stats(self) -> MemoryStats:
        """Sizes of temporary, long-term and permanent memory, and what is allocated for them."""
        return self.memory.stats()

    # ------------------------------------------------------------ references
    @torch.inference_mode()
    def add_reference(self, frame: int, image: np.ndarray, mask: np.ndarray) -> None:
        """Add a user mask for `frame`.

        Arguments:
            frame: frame index.
            image: HxWx3 uint8 RGB frame.
            mask: HxW integer mask, 0 = background, other values = object ids.
        """
        if frame in self._masks:
            raise MemoryStateError(f"frame {frame} already has a reference; use replace_reference")
        self._store_reference(frame, image, mask)
        if frame not in self._canonical_permanent():
            return
        if not self._permanent or frame > self._permanent[-1]:
            self._encode_permanent(frame)
        else:
            self._rebuild()

    @torch.inference_mode()
    def replace_reference(self, frame: int, image: np.ndarray, mask: np.ndarray) -> None:
        """Replace the reference of `frame`.

        Only that frame's memory elements change when objects still first appear on the
        same frames; otherwise permanent memory is rebuilt in ascending frame order.
        """
        if frame not in self._masks:
            raise MemoryStateError(f"frame {frame} has no reference to replace")
        before = self._registration(self._permanent)
        self._store_reference(frame, image, mask)
        if frame not in self._permanent:
            self.memory.remove_temporary(frame)
        elif self._registration(self._permanent) == before:
            self._encode_permanent(frame, in_place=True)
        else:
            self._rebuild()

    @torch.inference_mode()
    def remove_reference(self, frame: int) -> None:
        """Remove the reference of `frame` and its memory elements (permanent or temporary)."""
        if frame not in self._masks:
            raise MemoryStateError(f"frame {frame} has no reference to remove")
        introduced = dict(self._registration(self._permanent)).get(frame, ())
        del self._masks[frame], self._mask_objects[frame], self._inputs[frame]
        if frame not in self._permanent:
            self.memory.remove_temporary(frame)
        elif self.mode == "xmempp" and not introduced:
            self.memory.remove_permanent(frame)
            self._permanent.remove(frame)
            del self._known_after[frame]
        else:
            self._rebuild()

    @torch.inference_mode()
    def clear_memory(self) -> None:
        """Drop temporary and long-term memory and the hidden state; references stay.

        Objects met only while stepping (non-permanent references in "xmem" mode)
        are forgotten too, so every pass starts from the same state.
        """
        self.memory.clear_working()
        known = self._known_after[self._permanent[-1]] if self._permanent else 0
        if len(self._object_ids) > known:
            del self._object_ids[known:]
            self.memory.truncate_objects(known)
        self._reset_counters()

    # ------------------------------------------------------------ stepping
    @torch.inference_mode()
    def encode_key(self, image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Key, shrinkage and selection (each (1, C, h, w), float32 on the CPU) for one frame."""
        x = self._to_tensor(image, self._frame_geometry(image))
        with autocast_for(self.device, self.model.precision):
            features = self.model.encode_key(x)
        return features.key.float().cpu(), features.shrinkage.float().cpu(), features.selection.float().cpu()

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
        with autocast_for(self.device, self.model.precision):
            with self._stage("key_encoder"):
                x = self._to_tensor(image, geometry)
                features = self.model.encode_key(x)
            if self.on_key_features is not None:
                self.on_key_features(frame, features.key, features.shrinkage, features.selection)
            if frame in self._masks:
                self._step_reference(frame, x, features, geometry, end)
                return self._reference_probs(frame)
            probs = self._step_propagate(frame, x, features, end)
        with self._stage("upsample"):
            return to_host(geometry.to_source(probs[0].float()))

    def _stage(self, name: str) -> AbstractContextManager:
        return self.timer.stage(name) if self.timer is not None else contextlib.nullcontext()

    def _reference_probs(self, frame: int) -> torch.Tensor:
        """The user's mask as probabilities at its own resolution (no resampling of the annotation)."""
        mask = self._masks[frame]
        source = Geometry(mask.shape, mask.shape, (0, 0, 0, 0))
        onehot = mask_to_onehot(mask, self._object_ids, source, torch.device("cpu"))
        return aggregate_objects(onehot.unsqueeze(0), dim=1)[1][0]

    def _step_reference(self, frame: int, x: torch.Tensor, features, geometry: Geometry, end: bool) -> None:
        mask = self._masks[frame]
        self._register_objects(self._mask_objects[frame], features.key)
        onehot = mask_to_onehot(mask, self._object_ids, geometry, self.device).unsqueeze(0)
        _, probs = aggregate_objects(onehot, dim=1)
        # As in XMem++: references already in permanent memory are not written again; in "xmem"
        # mode the others are written to temporary memory (on a pass's first frame too, as XMem does).
        write = frame not in self._permanent and not end
        deep = self._deep_update_due(is_memory_frame=True) and not end
        with self._stage("value_encoder"):
            value, hidden = self.model.encode_value(x, features.f16, self.memory.hidden, probs[:, 1:], deep_update=deep)
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
                value, hidden = self.model.encode_value(
                    x, features.f16, self.memory.hidden, probs[:, 1:], deep_update=deep
                )
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
    def _canonical_permanent(self) -> list[int]:
        """Frames that belong in permanent memory: every reference, or in "xmem" mode the first."""
        frames = sorted(self._masks)
        return frames if self.mode == "xmempp" else frames[:1]

    def _registration(self, frames: list[int]) -> list[tuple[int, tuple[int, ...]]]:
        """For each of `frames` in order, the object ids it introduces (ids ascending within a frame)."""
        seen: set[int] = set()
        layout = []
        for frame in frames:
            new = tuple(v for v in self._mask_objects[frame] if v not in seen)
            seen.update(new)
            layout.append((frame, new))
        return layout

    def _store_reference(self, frame: int, image: np.ndarray, mask: np.ndarray) -> None:
        """Check and keep a reference's mask, its object ids and its processed frame (for re-encoding)."""
        mask = np.asarray(mask)
        geometry = self._frame_geometry(image)
        if mask.shape != geometry.source:
            raise InputError(
                f"reference mask for frame {frame} has size {mask.shape[::-1]}, its frame "
                f"{geometry.source[::-1]}; a mask must match its frame"
            )
        self._inputs[frame] = self._to_tensor(image, geometry)
        self._masks[frame] = mask
        self._mask_objects[frame] = [int(v) for v in np.unique(mask).tolist() if v != 0]

    def _rebuild(self) -> None:
        """Re-encode permanent memory as a fresh session would: permanent frames in ascending order."""
        self._reset_memory()
        for frame in self._canonical_permanent():
            self._encode_permanent(frame)

    def _to_tensor(self, image: np.ndarray, geometry: Geometry) -> torch.Tensor:
        return image_to_tensor(image, geometry, self.device, antialias=self.config.antialias)

    @torch.inference_mode()
    def _encode_permanent(self, frame: int, in_place: bool = False) -> None:
        """Encode a reference into permanent memory (appended, or over its own elements when `in_place`)."""
        x = self._inputs[frame]
        geometry = self._geometry
        assert geometry is not None, "a reference is encoded only after the first frame set the geometry"
        with autocast_for(self.device, self.model.precision):
            features = self.model.encode_key(x)
            if in_place:
                objects = self._object_ids[: self._known_after[frame]]
            else:
                self._register_objects(self._mask_objects[frame], features.key)
                objects = self.object_ids
            onehot = mask_to_onehot(self._masks[frame], objects, geometry, self.device).unsqueeze(0)
            _, probs = aggregate_objects(onehot, dim=1)
            value, _ = self.model.encode_value(x, features.f16, None, probs[:, 1:], deep_update=False)
        if in_place:
            self.memory.replace_permanent(features.key, features.shrinkage, value, frame)
            return
        self.memory.add_permanent(features.key, features.shrinkage, value, frame)
        self._permanent.append(frame)
        self._known_after[frame] = len(self._object_ids)

    def _register_objects(self, objects: list[int], key: torch.Tensor) -> None:
        for value in objects:
            if value not in self._object_ids:
                self._object_ids.append(value)
        self.memory.ensure_objects(len(self._object_ids), key)

    def _frame_geometry(self, image: np.ndarray) -> Geometry:
        if not isinstance(image, np.ndarray) or image.ndim != 3:
            raise InputError(f"frames must be HxWx3 uint8 RGB arrays, got {getattr(image, 'shape', type(image))}")
        geometry = Geometry.for_frame(image.shape[0], image.shape[1], self.config.size)
        if self._geometry is None:
            self._geometry = geometry
        elif geometry != self._geometry:
            raise InputError(
                f"frame size {image.shape[1]}x{image.shape[0]} differs from the session's "
                f"{self._geometry.source[1]}x{self._geometry.source[0]}; all frames of a shot "
                "must have one size"
            )
        return geometry

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """The session's complete inference state, for checkpoints.

        Returns:
            A dict of CPU tensors and plain values (`torch.save`-able with `weights_only=True`):
            memory (every store, usage and life counters, object groups, hidden state), reference
            masks with their objects and processed frames, the permanent frames in memory order,
            object order, frame geometry and step counters.
            The network and the config are not included: the caller keeps them.
        """
        geometry = self._geometry
        return {
            "mode": self.mode,
            "memory": state_to_device(self.memory.state_dict(), "cpu"),
            "masks": {
                int(frame): torch.from_numpy(np.ascontiguousarray(mask)).clone() for frame, mask in self._masks.items()
            },
            "mask_objects": {int(frame): list(ids) for frame, ids in self._mask_objects.items()},
            "inputs": {int(frame): x.detach().cpu().clone() for frame, x in self._inputs.items()},
            "permanent": list(self._permanent),
            "known_after": {int(frame): int(n) for frame, n in self._known_after.items()},
            "object_ids": list(self._object_ids),
            "geometry": None
            if geometry is None
            else [list(geometry.source), list(geometry.resized), list(geometry.pad)],
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
        self._mask_objects = {int(frame): [int(i) for i in ids] for frame, ids in state["mask_objects"].items()}
        self._inputs = {int(frame): x.to(self.device) for frame, x in state["inputs"].items()}
        self._permanent = [int(f) for f in state["permanent"]]
        self._known_after = {int(frame): int(n) for frame, n in state["known_after"].items()}
        self._object_ids = [int(i) for i in state["object_ids"]]
        geometry = state["geometry"]
        self._geometry = None if geometry is None else Geometry(*(tuple(part) for part in geometry))
        self._step_index, self._last_memory_step, self._last_deep_update_step = (int(c) for c in state["counters"])
