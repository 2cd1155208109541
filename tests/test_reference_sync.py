"""ReferenceSync: a live session edited reference by reference gives what a fresh job gives."""

from __future__ import annotations

import numpy as np
import torch

from xmempp.inference.config import InferenceConfig
from xmempp.inference.reference_sync import ReferenceSync
from xmempp.inference.session import InferenceSession
from xmempp.io.synthetic import MovingDiscs


def _run(session: InferenceSession, clip, frames) -> list[torch.Tensor]:
    session.clear_memory()
    return [session.step(i, clip[i], end=i == frames[-1]).clone() for i in frames]


def _fresh(model, config, clip, refs, frames):
    session = InferenceSession(model, config, "xmempp")
    for f in sorted(refs):
        session.add_reference(f, clip[f], refs[f])
    return _run(session, clip, frames)


def test_edits_in_place_and_rebuilds_give_the_fresh_session_results(model):
    clip = MovingDiscs(8, 48, 80, objects=2, seed=3)
    config = InferenceConfig(size=-1)
    sync = ReferenceSync(model, config, "xmempp")
    only_second = clip.mask(5).copy()
    only_second[only_second == 1] = 0
    histories = [
        {0: (1, clip.mask(0))},
        {0: (1, clip.mask(0)), 5: (1, only_second)},
        {0: (2, clip.mask(1)), 5: (1, only_second)},  # replaced in place
        {5: (1, only_second)},  # object 1 disappears: the order changes, the session is rebuilt
        {5: (1, only_second), 3: (1, np.zeros((48, 80), np.uint8))},  # empty masks are skipped
    ]
    frames = list(range(8))
    for wanted in histories:
        session = sync.sync(wanted, lambda i: clip[i])
        refs = {f: m for f, (_, m) in wanted.items() if m.any()}
        assert session.object_ids == [int(v) for v in _order(refs)]
        got, expected = _run(session, clip, frames), _fresh(model, config, clip, refs, frames)
        for a, b in zip(got, expected):
            assert torch.equal(a, b)


def _order(refs):
    from xmempp.inference.objects import ObjectOrder

    return ObjectOrder.from_masks(refs).ids
