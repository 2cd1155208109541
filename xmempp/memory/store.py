"""A key-value memory store with per-object-group values.

Keys are shared by all objects. Objects that first appear later form later
*groups*; a group's values cover only the newest elements of the store, so
group g's values always align with the last `group_size(g)` keys (the layout of
the published XMem code, which the numbers depend on).

Every tensor grows into preallocated capacity (`GrowingBuffer`), so a memory
write copies only the new elements instead of concatenating the whole store.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from xmempp.errors import MemoryStateError


class GrowingBuffer:
    """A tensor that grows along its last axis into spare capacity (amortised O(1) appends)."""

    def __init__(self, first: torch.Tensor) -> None:
        self.length = first.shape[-1]
        self._buffer = first.new_empty(*first.shape[:-1], max(2 * self.length, 16))
        self._buffer[..., : self.length] = first

    @property
    def data(self) -> torch.Tensor:
        """The filled part, a view of the buffer."""
        return self._buffer[..., : self.length]

    @property
    def capacity(self) -> int:
        """Elements allocated along the last axis, spare room included."""
        return self._buffer.shape[-1]

    @property
    def nbytes(self) -> int:
        """Bytes allocated, spare room included."""
        return self._buffer.numel() * self._buffer.element_size()

    def append(self, x: torch.Tensor) -> None:
        """Append `x` along the last axis, doubling the capacity when it is full."""
        end = self.length + x.shape[-1]
        if end > self._buffer.shape[-1]:
            grown = self._buffer.new_empty(*self._buffer.shape[:-1], max(2 * end, 16))
            grown[..., : self.length] = self.data
            self._buffer = grown
        self._buffer[..., self.length : end] = x
        self.length = end

    def keep(self, mask: torch.Tensor) -> None:
        """Keep the elements where `mask` (length,) is True, in order, compacting in place."""
        kept = self.data[..., mask]
        self.length = kept.shape[-1]
        self._buffer[..., : self.length] = kept

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """The filled part (a copy) and the capacity, enough to rebuild an identical buffer."""
        return {"data": self.data.clone(), "capacity": self._buffer.shape[-1]}

    @classmethod
    def from_state(cls, state: dict) -> GrowingBuffer:
        """A buffer equal to the one `state_dict` came from, capacity (and so strides) included."""
        data = state["data"]
        buffer = cls.__new__(cls)
        buffer.length = data.shape[-1]
        buffer._buffer = data.new_empty(*data.shape[:-1], int(state["capacity"]))
        buffer._buffer[..., : buffer.length] = data
        return buffer


def _data(buffer: GrowingBuffer | None) -> torch.Tensor | None:
    return None if buffer is None else buffer.data


def _append(buffer: GrowingBuffer | None, x: torch.Tensor) -> GrowingBuffer:
    if buffer is None:
        return GrowingBuffer(x)
    buffer.append(x)
    return buffer


class KeyValueStore:
    """Keys (1, Ck, N), shrinkage (1, 1, N), optional selection, per-group values (Kg, Cv, Ng).

    Each element also records the frame it came from (-1 for consolidated
    prototypes) so a frame's elements can be removed exactly.
    """

    def __init__(self, count_usage: bool) -> None:
        self.count_usage = count_usage
        self._empty()

    def _empty(self) -> None:
        """No elements (the buffers are made by the first `add`)."""
        self._key: GrowingBuffer | None = None
        self._shrinkage: GrowingBuffer | None = None
        self._selection: GrowingBuffer | None = None
        self._values: list[GrowingBuffer] = []
        self._frames: GrowingBuffer | None = None
        self._use_count: GrowingBuffer | None = None
        self._life_count: GrowingBuffer | None = None

    key = property(lambda self: _data(self._key), doc="Keys (1, Ck, N).")
    shrinkage = property(lambda self: _data(self._shrinkage), doc="Shrinkage (1, 1, N).")
    selection = property(lambda self: _data(self._selection), doc="Selection (1, Ck, N), or None.")
    use_count = property(lambda self: _data(self._use_count), doc="Summed usage (1, 1, N).")
    life_count = property(lambda self: _data(self._life_count), doc="Reads survived (1, 1, N).")

    @property
    def values(self) -> list[torch.Tensor]:
        """Per-group values (Kg, Cv, Ng), aligned with the last Ng keys."""
        return [buffer.data for buffer in self._values]

    @property
    def frames(self) -> torch.Tensor:
        """Frame index of every element (N,), -1 for prototypes."""
        return self._frames.data if self._frames is not None else torch.empty(0, dtype=torch.long)

    @property
    def size(self) -> int:
        """Number of key elements."""
        return 0 if self._key is None else self._key.length

    @property
    def num_groups(self) -> int:
        """Number of object groups that have values here."""
        return len(self._values)

    @property
    def capacity(self) -> int:
        """Key elements allocated (filled and spare)."""
        return 0 if self._key is None else self._key.capacity

    @property
    def nbytes(self) -> int:
        """Bytes allocated for keys, shrinkage, selection, values, usage and frame numbers, spare room included."""
        buffers = (
            self._key,
            self._shrinkage,
            self._selection,
            self._frames,
            self._use_count,
            self._life_count,
            *self._values,
        )
        return sum(buffer.nbytes for buffer in buffers if buffer is not None)

    def group_size(self, group: int) -> int:
        """Number of elements that carry values of `group` (the newest ones)."""
        return self._values[group].length if group < len(self._values) else 0

    def add(
        self,
        key: torch.Tensor,
        shrinkage: torch.Tensor,
        selection: torch.Tensor | None,
        group_values: Sequence[torch.Tensor | None],
        frame: int,
    ) -> None:
        """Append elements; `group_values[g]` is (Kg, Cv, n) or None when group g has no values for them."""
        n = key.shape[-1]
        self._key = _append(self._key, key)
        self._shrinkage = _append(self._shrinkage, shrinkage)
        if selection is not None:
            self._selection = _append(self._selection, selection)
        if self.count_usage:
            zeros = torch.zeros(1, 1, n, device=key.device, dtype=torch.float32)
            self._use_count = _append(self._use_count, zeros)
            self._life_count = _append(self._life_count, zeros + 1e-7)
        self._frames = _append(self._frames, torch.full((n,), frame, dtype=torch.long))
        for group, values in enumerate(group_values):
            if values is None:
                continue
            if group < len(self._values):
                self._values[group].append(values)
            else:
                self._values.append(GrowingBuffer(values))

    def replace_frame(
        self, key: torch.Tensor, shrinkage: torch.Tensor, group_values: Sequence[torch.Tensor | None], frame: int
    ) -> None:
        """Overwrite the elements of `frame` in place (same count and groups as when it was added)."""
        columns = torch.nonzero(self.frames == frame).flatten()
        if columns.numel() != key.shape[-1]:
            raise MemoryStateError(
                f"frame {frame} holds {columns.numel()} elements in memory, not {key.shape[-1]}: "
                "a replaced frame keeps its size and objects"
            )
        columns = columns.to(key.device)
        self.key[..., columns] = key
        self.shrinkage[..., columns] = shrinkage
        for group, values in enumerate(group_values):
            if values is not None:
                self._values[group].data[..., columns - (self.size - self._values[group].length)] = values

    def update_usage(self, usage: torch.Tensor) -> None:
        """Add one read's usage (N,) and age every element by one read."""
        if not self.count_usage or self._use_count is None:
            return
        self.use_count.add_(usage.view(1, 1, -1))
        self.life_count.add_(1)

    def usage(self) -> torch.Tensor:
        """Usage normalised by life, (1, 1, N)."""
        if self._use_count is None or self._life_count is None:
            raise MemoryStateError("this store does not count usage (count_usage=False or no elements yet)")
        return self.use_count / self.life_count

    def keep(self, mask: torch.Tensor) -> None:
        """Keep only the elements where `mask` (N,) is True, values of every group included."""
        n = self.size
        for buffer in (self._key, self._shrinkage, self._selection, self._use_count, self._life_count):
            if buffer is not None:
                buffer.keep(mask)
        if self._frames is not None:
            self._frames.keep(mask.cpu())
        for buffer in self._values:
            buffer.keep(mask[n - buffer.length :])
        if self.size == 0:
            self.clear()

    def evict_least_used(self, max_size: int) -> None:
        """Drop the least used elements (usage / life) so that at most `max_size` remain.

        As in XMem, every element whose usage ties with the last one evicted goes
        too. Works with any number of object groups; a store already within the
        limit is left alone.
        """
        excess = self.size - max_size
        if excess <= 0:
            return
        usage = self.usage().flatten()
        threshold = torch.topk(usage, k=excess, largest=False, sorted=True).values[-1]
        self.keep(usage > threshold)

    def remove_frame(self, frame: int) -> int:
        """Remove every element written for `frame`; returns how many were removed."""
        if self.size == 0:
            return 0
        mask = self.frames != frame
        if bool(mask.all()):
            return 0
        self.keep(mask.to(self.key.device))
        return int((~mask).sum())

    def clear(self) -> None:
        """Forget everything."""
        self._empty()

    # ------------------------------------------------------------ checkpoints
    _BUFFERS = ("_key", "_shrinkage", "_selection", "_frames", "_use_count", "_life_count")

    def state_dict(self) -> dict:
        """Every element of the store (keys, values of each group, frames, usage and life counters), copied.

        Returns:
            A dict of tensors and plain values for `torch.save`; `load_state_dict` restores the store
            exactly, buffer capacities included.
        """
        state = {
            name: None if getattr(self, name) is None else getattr(self, name).state_dict() for name in self._BUFFERS
        }
        state["values"] = [buffer.state_dict() for buffer in self._values]
        state["count_usage"] = self.count_usage
        return state

    def load_state_dict(self, state: dict) -> None:
        """Replace the store's content with a `state_dict` (tensors stay on the device they come on)."""
        self.count_usage = bool(state["count_usage"])
        for name in self._BUFFERS:
            setattr(self, name, None if state[name] is None else GrowingBuffer.from_state(state[name]))
        if self._frames is not None:  # frame numbers always live on the CPU
            self._frames = GrowingBuffer.from_state({**state["_frames"], "data": state["_frames"]["data"].cpu()})
        self._values = [GrowingBuffer.from_state(values) for values in state["values"]]
