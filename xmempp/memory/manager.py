"""XMem++ memory: permanent, temporary (working) and long-term stores plus the hidden state.

Reading concatenates long-term, temporary and permanent keys (in that order),
computes one anisotropic L2 similarity and a top-k softmax per object group.
Permanent memory holds the user's references: never consolidated, never
evicted, never usage-counted. Temporary memory is consolidated into long-term
prototypes when it holds `max_mid_term_frames` frames; long-term memory evicts
its least used elements (LFU) to stay under `max_long_term_elements`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from xmempp.errors import ConfigError, MemoryStateError
from xmempp.inference.config import InferenceConfig
from xmempp.memory.similarity import TopKAffinity, anisotropic_similarity, query_major_similarity
from xmempp.memory.store import KeyValueStore


@dataclass(frozen=True)
class MemoryStats:
    """Sizes of the memories (elements are key positions at 1/16 resolution) and what they allocate.

    `*_capacity` counts the elements each store has allocated (filled plus spare room it grows
    into). `store_bytes` is what the three stores allocate, spare room included; `layout_bytes`
    the read layout cached for the next memory read (keys and values of all stores
    concatenated); `hidden_bytes` the hidden state; `device_bytes` their sum.
    """

    temporary_frames: int
    temporary_elements: int
    long_term_elements: int
    permanent_frames: int
    permanent_elements: int
    device_bytes: int
    temporary_capacity: int = 0
    long_term_capacity: int = 0
    permanent_capacity: int = 0
    store_bytes: int = 0
    layout_bytes: int = 0
    hidden_bytes: int = 0


class MemoryManager:
    """Owns the three stores, the object groups and the per-object hidden state."""

    def __init__(self, config: InferenceConfig, hidden_dim: int) -> None:
        self.config = config
        self.hidden_dim = hidden_dim
        self.permanent = KeyValueStore(count_usage=False)
        self.temporary = KeyValueStore(count_usage=config.enable_long_term)
        self.long_term = KeyValueStore(count_usage=config.enable_long_term_count_usage)
        self.groups: list[list[int]] = []
        self.hidden: torch.Tensor | None = None
        self.elements_per_frame = 0
        self._version = 0
        self._layout: _ReadLayout | None = None

    # ----------------------------------------------------------------- objects
    @property
    def num_objects(self) -> int:
        """Number of objects known to memory."""
        return sum(len(group) for group in self.groups)

    def ensure_objects(self, count: int, like: torch.Tensor) -> None:
        """Make `count` objects known: new ones form a new group with a zero hidden state.

        Arguments:
            count: total number of objects after the call.
            like: a key tensor (1, Ck, h, w) giving device and spatial size.
        """
        known = self.num_objects
        if count <= known:
            return
        self.groups.append(list(range(known, count)))
        if self.hidden_dim > 0:
            zeros = torch.zeros(
                1, count - known, self.hidden_dim, *like.shape[-2:], device=like.device, dtype=like.dtype
            )
            self.hidden = zeros if self.hidden is None else torch.cat([self.hidden, zeros], dim=1)

    def truncate_objects(self, count: int) -> None:
        """Forget every object from `count` on (whole groups; temporary and long-term memory must be empty)."""
        if self.temporary.size or self.long_term.size:
            raise MemoryStateError("objects can only be dropped while working memory is empty")
        self._changed()
        self.groups = [group for group in self.groups if group[-1] < count]
        if self.hidden is not None:
            self.hidden = self.hidden[:, :count].clone() if count else None

    def split_groups(self, values: torch.Tensor) -> list[torch.Tensor]:
        """Split per-object values (K, Cv, n) into per-group tensors."""
        return [values[group[0] : group[-1] + 1] for group in self.groups]

    # ----------------------------------------------------------------- reading
    def _stores(self) -> list[KeyValueStore]:
        stores = [self.temporary, self.permanent]
        if self.config.enable_long_term:
            stores.insert(0, self.long_term)
        return [store for store in stores if store.size > 0]

    def read(self, query_key: torch.Tensor, query_selection: torch.Tensor) -> torch.Tensor:
        """Read memory for one frame.

        Arguments:
            query_key: (1, Ck, h, w); query_selection: (1, Ck, h, w).
        Returns:
            readout (1, K, Cv, h, w) for every known object.
        """
        h, w = query_key.shape[-2:]
        layout = self._read_layout()
        similarity = query_major_similarity(
            layout.key, layout.shrinkage, query_key.flatten(2).float(), query_selection.flatten(2).float()
        )
        readouts = []
        for group_index, group in enumerate(self.groups):
            columns, values = layout.groups[group_index]
            if values is None:
                readouts.append(torch.zeros(len(group), self._value_dim(), h * w, device=query_key.device))
                continue
            group_similarity = similarity if columns is None else similarity.index_select(1, columns)
            affinity = TopKAffinity.from_similarity(group_similarity, self.config.top_k)
            if group_index == 0:
                self._count_usage(affinity.usage(), layout.stores)
            readouts.append(affinity.readout(values))
        readout = torch.cat(readouts, 0)
        return readout.view(1, readout.shape[0], readout.shape[1], h, w)

    def _read_layout(self) -> _ReadLayout:
        """Concatenated keys and per-group values of all stores, rebuilt only after memory changed."""
        if self._layout is None or self._layout.version != self._version:
            stores = self._stores()
            if not stores:
                raise MemoryStateError("memory is empty: add a reference mask before propagating")
            self._layout = _ReadLayout.build(stores, len(self.groups), self._version)
        return self._layout

    def _changed(self) -> None:
        self._version += 1

    def _value_dim(self) -> int:
        for store in (self.permanent, self.temporary, self.long_term):
            if store.values:
                return store.values[0].shape[1]
        raise MemoryStateError("memory holds no values yet: add a reference or step a frame first")

    def _count_usage(self, usage: torch.Tensor, stores: list[KeyValueStore]) -> None:
        """Split group 0's usage among the stores; only temporary and long-term count."""
        start = 0
        for store in stores:
            part = usage[start : start + store.size]
            start += store.size
            if store is not self.permanent:
                store.update_usage(part)

    # ----------------------------------------------------------------- writing
    def _write(
        self,
        store: KeyValueStore,
        key: torch.Tensor,
        shrinkage: torch.Tensor,
        selection: torch.Tensor | None,
        values: torch.Tensor,
        frame: int,
    ) -> None:
        self.elements_per_frame = key.shape[-2] * key.shape[-1]
        store.add(
            key.flatten(2),
            shrinkage.flatten(2),
            None if selection is None else selection.flatten(2),
            self.split_groups(values[0].flatten(2)),
            frame,
        )

    def add_permanent(self, key: torch.Tensor, shrinkage: torch.Tensor, values: torch.Tensor, frame: int) -> None:
        """Store a reference frame (values (1, K, Cv, h, w)) in permanent memory."""
        self._changed()
        self._write(self.permanent, key, shrinkage, None, values, frame)

    def remove_permanent(self, frame: int) -> int:
        """Remove one reference frame's elements; the others stay addressable."""
        self._changed()
        return self.permanent.remove_frame(frame)

    def replace_permanent(self, key: torch.Tensor, shrinkage: torch.Tensor, values: torch.Tensor, frame: int) -> None:
        """Overwrite one reference frame's permanent elements in place (values (1, K, Cv, h, w))."""
        self._changed()
        groups = [v if v.shape[0] else None for v in self.split_groups(values[0].flatten(2))]
        self.permanent.replace_frame(key.flatten(2), shrinkage.flatten(2), groups, frame)

    def remove_temporary(self, frame: int) -> int:
        """Remove one frame's elements from temporary memory (those consolidated already stay)."""
        self._changed()
        return self.temporary.remove_frame(frame)

    def add_temporary(
        self, key: torch.Tensor, shrinkage: torch.Tensor, selection: torch.Tensor, values: torch.Tensor, frame: int
    ) -> None:
        """Write a memory frame to temporary memory, consolidating into long-term memory when full."""
        self._changed()
        self._write(self.temporary, key, shrinkage, selection if self.config.enable_long_term else None, values, frame)
        if not self.config.enable_long_term:
            return
        if self.temporary.size >= self.config.max_mid_term_frames * self.elements_per_frame:
            limit = self.config.max_long_term_elements - self.config.num_prototypes
            if self.long_term.size >= limit:
                if not self.long_term.count_usage:
                    raise ConfigError(
                        f"long-term memory is full ({self.long_term.size} elements) but "
                        "enable_long_term_count_usage is false: eviction keeps the most used elements and "
                        "needs usage counts; set it to true or raise max_long_term_elements"
                    )
                self.long_term.evict_least_used(limit)
            self._consolidate()

    def _consolidate(self) -> None:
        """Turn all but the newest `min_mid_term_frames` temporary frames into long-term prototypes."""
        store = self.temporary
        keep_newest = self.config.min_mid_term_frames * self.elements_per_frame
        n_candidates = store.size - keep_newest
        if n_candidates <= 0:
            return
        cand_key = store.key[:, :, :n_candidates]
        cand_shrinkage = store.shrinkage[:, :, :n_candidates]
        cand_selection = store.selection[:, :, :n_candidates]
        usage = store.usage()[:, :, :n_candidates]
        k = min(self.config.num_prototypes, n_candidates)
        indices = torch.topk(usage, k=k, dim=-1, sorted=True).indices.flatten()
        proto_key = cand_key[:, :, indices]
        similarity = anisotropic_similarity(cand_key, cand_shrinkage, proto_key, cand_selection[:, :, indices])
        proto_values: list[torch.Tensor | None] = []
        proto_shrinkage: torch.Tensor | None = None
        for group_index, values in enumerate(store.values):
            in_group = values.shape[-1] - keep_newest
            valid = indices >= (n_candidates - in_group)
            if in_group <= 0 or not bool(valid.any()):
                proto_values.append(None)
                continue
            affinity = torch.softmax(similarity[:, -in_group:, valid], dim=1)
            proto_values.append(values[:, :, :in_group] @ affinity[0])
            if group_index == 0:
                proto_shrinkage = cand_shrinkage @ affinity
        keep = torch.ones(store.size, dtype=torch.bool, device=store.key.device)
        keep[:n_candidates] = False
        store.keep(keep)
        if proto_shrinkage is None:
            raise MemoryStateError(
                "no long-term prototypes for the first object group: temporary memory holds no values for it"
            )
        self.long_term.add(proto_key, proto_shrinkage, None, proto_values, frame=-1)

    # ----------------------------------------------------------------- control
    def clear_working(self) -> None:
        """Forget temporary and long-term memory and the hidden state; keep permanent memory."""
        self._changed()
        self.temporary.clear()
        self.long_term.clear()
        if self.hidden is not None:
            self.hidden = torch.zeros_like(self.hidden)

    def stats(self) -> MemoryStats:
        """Current memory sizes and allocations."""
        per_frame = max(self.elements_per_frame, 1)
        stores = (self.permanent, self.temporary, self.long_term)
        store_bytes = sum(store.nbytes for store in stores)
        layout_bytes = self._layout.nbytes if self._layout is not None else 0
        hidden_bytes = self.hidden.numel() * self.hidden.element_size() if self.hidden is not None else 0
        return MemoryStats(
            temporary_frames=self.temporary.size // per_frame,
            temporary_elements=self.temporary.size,
            long_term_elements=self.long_term.size,
            permanent_frames=int(torch.unique(self.permanent.frames).numel()),
            permanent_elements=self.permanent.size,
            device_bytes=store_bytes + layout_bytes + hidden_bytes,
            temporary_capacity=self.temporary.capacity,
            long_term_capacity=self.long_term.capacity,
            permanent_capacity=self.permanent.capacity,
            store_bytes=store_bytes,
            layout_bytes=layout_bytes,
            hidden_bytes=hidden_bytes,
        )

    # ----------------------------------------------------------------- checkpoints
    @property
    def version(self) -> int:
        """Counter that changes with every memory write or removal (for checkpoint policies)."""
        return self._version

    def state_dict(self) -> dict:
        """The whole memory: the three stores, the object groups and the hidden state (copies).

        Returns:
            A dict for `torch.save`; `load_state_dict` restores it exactly.
        """
        return {
            "permanent": self.permanent.state_dict(),
            "temporary": self.temporary.state_dict(),
            "long_term": self.long_term.state_dict(),
            "groups": [list(group) for group in self.groups],
            "hidden": None if self.hidden is None else self.hidden.clone(),
            "elements_per_frame": self.elements_per_frame,
        }

    def load_state_dict(self, state: dict, device: torch.device | None = None) -> None:
        """Replace the memory with a `state_dict`.

        Arguments:
            state: from `state_dict` (possibly via `torch.load`).
            device: where the tensors go (default: where they were saved from).
        """
        if device is not None:
            state = state_to_device(state, device)
        self.permanent.load_state_dict(state["permanent"])
        self.temporary.load_state_dict(state["temporary"])
        self.long_term.load_state_dict(state["long_term"])
        self.groups = [list(group) for group in state["groups"]]
        self.hidden = state["hidden"]
        self.elements_per_frame = int(state["elements_per_frame"])
        self._layout = None
        self._changed()


def state_to_device(state, device: torch.device | str):
    """A copy of a nested state (dicts, lists, tensors, plain values) with every tensor on `device`.

    Arguments:
        state: e.g. a `state_dict`.
        device: target device.
    Returns:
        The same structure; tensors already there are not copied.
    """
    if isinstance(state, torch.Tensor):
        return state.to(device)
    if isinstance(state, dict):
        return {key: state_to_device(value, device) for key, value in state.items()}
    if isinstance(state, list):
        return [state_to_device(value, device) for value in state]
    return state


@dataclass
class _ReadLayout:
    """What a memory read needs from the stores, concatenated once per memory change.

    `groups[g]` is (columns, values): the similarity columns of group g's elements
    (None when they are all of them) and its values in the same order (None when
    no store holds values of that group).
    """

    version: int
    stores: list[KeyValueStore]
    key: torch.Tensor
    shrinkage: torch.Tensor
    groups: list[tuple[torch.Tensor | None, torch.Tensor | None]]

    @classmethod
    def build(cls, stores: list[KeyValueStore], num_groups: int, version: int) -> _ReadLayout:
        key = torch.cat([s.key for s in stores], -1).float()
        shrinkage = torch.cat([s.shrinkage for s in stores], -1).float()
        total = key.shape[-1]
        groups: list[tuple[torch.Tensor | None, torch.Tensor | None]] = []
        for group in range(num_groups):
            spans, values, end = [], [], 0
            for store in stores:
                end += store.size
                size = store.group_size(group)
                if size:
                    spans.append(torch.arange(end - size, end, device=key.device))
                    values.append(store.values[group])
            if not values:
                groups.append((None, None))
                continue
            columns = torch.cat(spans)
            groups.append((None if columns.numel() == total else columns, torch.cat(values, -1)))
        return cls(version, stores, key, shrinkage, groups)

    @property
    def nbytes(self) -> int:
        """Bytes held by the layout's own tensors (not views of the stores)."""
        tensors = [self.key, self.shrinkage]
        tensors += [t for pair in self.groups for t in pair if t is not None]
        seen, total = set(), 0
        for t in tensors:
            ptr = t.untyped_storage().data_ptr()
            if ptr not in seen:
                seen.add(ptr)
                total += t.untyped_storage().nbytes()
        return total
