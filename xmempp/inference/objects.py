"""Object order: which original object id each probability channel belongs to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from xmempp.errors import InputError


@dataclass(frozen=True)
class ObjectOrder:
    """Original object ids (1..255) in channel order: channel k+1 holds `ids[k]`, channel 0 is background.

    The order is that of first appearance: reference frames ascending, ids ascending within a
    frame. Every part of xmempp (engine, writers, workspace, front ends) uses this one type.
    """

    ids: tuple[int, ...] = ()

    @classmethod
    def from_masks(cls, masks: Mapping[int, np.ndarray]) -> ObjectOrder:
        """The order of first appearance over `masks` ({frame index: HxW id array}), frames ascending."""
        order = cls()
        for frame in sorted(masks):
            order = order.extended(np.asarray(masks[frame]))
        return order

    def extended(self, mask: np.ndarray) -> ObjectOrder:
        """This order followed by the ids of `mask` not yet in it, ascending."""
        present = np.flatnonzero(np.bincount(np.asarray(mask, dtype=np.uint8).ravel(), minlength=256))
        new = [int(v) for v in present if v != 0 and int(v) not in self.ids]
        return ObjectOrder(self.ids + tuple(new)) if new else self

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self):
        return iter(self.ids)

    def channel(self, object_id: int) -> int:
        """Probability channel (1..K) of an original id; raises `InputError` for an unknown id."""
        try:
            return self.ids.index(int(object_id)) + 1
        except ValueError:
            raise InputError(f"object {object_id} is not in this shot's objects {list(self.ids)}") from None

    def to_channels(self, ids: np.ndarray) -> np.ndarray:
        """Map an array of original ids to channels 0..K (ids not in the order become 0)."""
        lut = np.zeros(256, dtype=np.uint8)
        lut[list(self.ids)] = np.arange(1, len(self.ids) + 1, dtype=np.uint8)
        return lut[np.asarray(ids, dtype=np.uint8)]

    def to_ids(self, channels: np.ndarray) -> np.ndarray:
        """Map an array of channels 0..K back to the original ids."""
        lut = np.zeros(256, dtype=np.uint8)
        lut[1 : len(self.ids) + 1] = self.ids
        return lut[np.asarray(channels, dtype=np.uint8)]
