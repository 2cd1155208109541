"""A key-value memory store with per-object-group values.

Keys are shared by all objects. Objects that first appear later form later
*groups*; a group's values cover only the newest elements of the store, so
group g's values always align with the last `group_size(g)` keys (the layout of
the published XMem code, which the numbers depend on).
"""
from __future__ import annotations

import torch


class KeyValueStore:
    """Keys (1, Ck, N), shrinkage (1, 1, N), optional selection, per-group values (Kg, Cv, Ng).

    Each element also records the frame it came from (-1 for consolidated
    prototypes) so a frame's elements can be removed exactly.
    """

    def __init__(self, count_usage: bool) -> None:
        self.count_usage = count_usage
        self.key: torch.Tensor | None = None
        self.shrinkage: torch.Tensor | None = None
        self.selection: torch.Tensor | None = None
        self.values: list[torch.Tensor] = []
        self.frames: torch.Tensor = torch.empty(0, dtype=torch.long)
        self.use_count: torch.Tensor | None = None
        self.life_count: torch.Tensor | None = None

    @property
    def size(self) -> int:
        """Number of key elements."""
        return 0 if self.key is None else self.key.shape[-1]

    @property
    def num_groups(self) -> int:
        """Number of object groups that have values here."""
        return len(self.values)

    def group_size(self, group: int) -> int:
        """Number of elements that carry values of `group` (the newest ones)."""
        return self.values[group].shape[-1] if group < len(self.values) else 0

    def add(self, key: torch.Tensor, shrinkage: torch.Tensor, selection: torch.Tensor | None,
            group_values: list[torch.Tensor | None], frame: int) -> None:
        """Append elements; `group_values[g]` is (Kg, Cv, n) or None when group g has no values for them."""
        n = key.shape[-1]
        self.key = key if self.key is None else torch.cat([self.key, key], -1)
        self.shrinkage = shrinkage if self.shrinkage is None else torch.cat([self.shrinkage, shrinkage], -1)
        if selection is not None:
            self.selection = selection if self.selection is None else torch.cat([self.selection, selection], -1)
        if self.count_usage:
            zeros = torch.zeros(1, 1, n, device=key.device, dtype=torch.float32)
            self.use_count = zeros if self.use_count is None else torch.cat([self.use_count, zeros], -1)
            life = zeros + 1e-7
            self.life_count = life if self.life_count is None else torch.cat([self.life_count, life], -1)
        self.frames = torch.cat([self.frames, torch.full((n,), frame, dtype=torch.long)])
        for group, values in enumerate(group_values):
            if values is None:
                continue
            if group < len(self.values):
                self.values[group] = torch.cat([self.values[group], values], -1)
            else:
                self.values.append(values)

    def update_usage(self, usage: torch.Tensor) -> None:
        """Add one read's usage (N,) and age every element by one read."""
        if not self.count_usage or self.use_count is None:
            return
        self.use_count += usage.view_as(self.use_count)
        self.life_count += 1

    def usage(self) -> torch.Tensor:
        """Usage normalised by life, (1, 1, N)."""
        assert self.use_count is not None and self.life_count is not None
        return self.use_count / self.life_count

    def keep(self, mask: torch.Tensor) -> None:
        """Keep only the elements where `mask` (N,) is True, values of every group included."""
        n = self.size
        self.key = self.key[:, :, mask]
        self.shrinkage = self.shrinkage[:, :, mask]
        if self.selection is not None:
            self.selection = self.selection[:, :, mask]
        if self.use_count is not None:
            self.use_count = self.use_count[:, :, mask]
            self.life_count = self.life_count[:, :, mask]
        self.frames = self.frames[mask.cpu()]
        self.values = [values[:, :, mask[n - values.shape[-1]:]] for values in self.values]
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
        mask = (self.frames != frame).to(self.key.device) if self.size else None
        if mask is None or bool(mask.all()):
            return 0
        removed = int((~mask).sum())
        self.keep(mask)
        return removed

    def clear(self) -> None:
        """Forget everything."""
        self.__init__(self.count_usage)
