"""Memory stores and the five reference faults that xmempp fixes."""

from __future__ import annotations

import numpy as np
import torch

from golden import load_npz
from xmempp import InferenceConfig, InferenceSession, propagate
from xmempp.io.synthetic import MovingDiscs
from xmempp.memory.similarity import TopKAffinity
from xmempp.memory.store import KeyValueStore


def store_with_two_groups() -> KeyValueStore:
    """Six elements; group 0 spans all of them, group 1 (a later object) the last four.

    Every value equals its element's position so alignment can be checked."""
    store = KeyValueStore(count_usage=True)
    for frame, n_groups in ((0, 1), (1, 2), (2, 2)):
        key = torch.full((1, 4, 2), float(frame))
        positions = torch.arange(frame * 2, frame * 2 + 2, dtype=torch.float32).view(1, 1, 2)
        values = [positions.expand(1, 3, 2).clone() for _ in range(n_groups)]
        store.add(key, torch.ones(1, 1, 2), None, values, frame)
    store.update_usage(torch.tensor([5.0, 0.1, 4.0, 0.2, 3.0, 6.0]))
    return store


def test_eviction_works_with_several_object_groups():
    store = store_with_two_groups()
    store.evict_least_used(4)
    assert store.size == 4
    assert store.frames.tolist() == [0, 1, 2, 2]
    assert store.values[0][0, 0].tolist() == [0, 2, 4, 5]
    assert store.values[1][0, 0].tolist() == [2, 4, 5]  # still aligned with the last keys


def test_eviction_exactly_at_the_limit_is_a_no_op():
    store = store_with_two_groups()
    store.evict_least_used(store.size)
    assert store.size == 6


def test_topk_with_fewer_elements_than_k():
    affinity = TopKAffinity.from_similarity(torch.randn(7, 5), top_k=30)
    assert affinity.indices.shape == (7, 5)
    assert torch.allclose(affinity.weights.sum(1), torch.ones(7))
    assert torch.allclose(affinity.usage().sum(), torch.tensor(7.0))


def test_sparse_readout_equals_dense_softmax_readout():
    similarity, values = torch.randn(50, 200), torch.randn(2, 16, 200)
    affinity = TopKAffinity.from_similarity(similarity, top_k=10)
    top = torch.topk(similarity, 10, dim=1)
    dense = torch.zeros_like(similarity).scatter_(1, top.indices, torch.softmax(top.values, dim=1))
    assert torch.allclose(affinity.readout(values), values @ dense.t(), atol=1e-5)
    assert torch.allclose(affinity.usage(), dense.sum(0), atol=1e-5)


def test_small_frames_with_memory_below_top_k(model):
    clip = MovingDiscs(12, 64, 112)
    config = InferenceConfig(size=-1, mem_every=2, top_k=30)
    results = list(propagate(model, clip, {0: clip.mask(0)}, config))
    assert len(results) == 12 and results[-1][1].shape == (2, 64, 112)


def test_long_term_memory_disabled(model):
    clip = MovingDiscs(30, 64, 112)
    config = InferenceConfig(size=-1, mem_every=2, enable_long_term=False, max_mid_term_frames=3, min_mid_term_frames=1)
    session = InferenceSession(model, config)
    session.add_reference(0, clip[0], clip.mask(0))
    for index in range(len(clip)):
        probs = session.step(index, clip[index])
    assert torch.isfinite(probs).all()
    stats = session.memory_stats()
    assert stats.long_term_elements == 0 and stats.temporary_frames == 14  # never consolidated


def test_eviction_with_an_object_that_appears_later(golden_model):
    """xmem mode: object 2 joins at frame 8 and long-term memory must evict with two groups."""
    clip = MovingDiscs(60, 64, 112, objects=2)
    first = np.where(clip.mask(0) == 2, 0, clip.mask(0)).astype(np.uint8)
    config = InferenceConfig(
        size=-1, mem_every=1, max_mid_term_frames=3, min_mid_term_frames=1, num_prototypes=8, max_long_term_elements=20
    )
    session = InferenceSession(golden_model, config, mode="xmem")
    session.add_reference(0, clip[0], first)
    session.add_reference(8, clip[8], clip.mask(8))
    for index in range(len(clip)):
        probs = session.step(index, clip[index])
        assert probs.shape[0] == (2 if index < 8 else 3)
    assert session.memory.long_term.num_groups == 2
    assert session.memory_stats().long_term_elements <= 20


def caps_session(model, references: list[int]) -> tuple[InferenceSession, dict]:
    clip = load_npz("video_caps")
    config = InferenceConfig(
        size=-1, mem_every=3, max_mid_term_frames=5, min_mid_term_frames=2, num_prototypes=8, max_long_term_elements=40
    )
    session = InferenceSession(model, config)
    for i, frame in enumerate(clip["annotated"]):
        if int(frame) in references:
            session.add_reference(int(frame), clip["frames"][frame], clip["masks"][i])
    return session, clip


def run(session, clip, frames) -> list[torch.Tensor]:
    return [session.step(i, clip["frames"][i]) for i in frames]


def test_remove_reference_touches_only_that_frame(model):
    edited, clip = caps_session(model, [0, 14, 33])
    before = edited.memory.permanent.key.clone()
    edited.remove_reference(14)
    fresh, _ = caps_session(model, [0, 33])
    assert edited.references == [0, 33]
    hw = before.shape[-1] // 3
    assert torch.equal(edited.memory.permanent.key, torch.cat([before[..., :hw], before[..., 2 * hw :]], -1))
    for ours, theirs in zip(run(edited, clip, range(1, 6)), run(fresh, clip, range(1, 6))):
        assert torch.allclose(ours, theirs, atol=1e-6)


def test_replace_reference_changes_only_that_frame(model):
    edited, clip = caps_session(model, [0, 14, 33])
    others = edited.memory.permanent.key[..., edited.memory.permanent.frames != 14].clone()
    new_mask = np.zeros_like(clip["masks"][1])
    new_mask[20:60, 40:120] = 1
    edited.replace_reference(14, clip["frames"][14], new_mask)
    assert torch.equal(edited.memory.permanent.key[..., edited.memory.permanent.frames != 14], others)
    assert int((edited.memory.permanent.frames == 14).sum()) == others.shape[-1] // 2
    out = edited.step(14, clip["frames"][14])
    assert np.array_equal(out.argmax(0).numpy() > 0, new_mask > 0)


def test_clear_memory_keeps_references(model):
    session, clip = caps_session(model, [0, 14])
    run(session, clip, range(0, 8))
    assert session.memory_stats().temporary_elements > 0
    session.clear_memory()
    stats = session.memory_stats()
    assert stats.temporary_elements == 0 and stats.long_term_elements == 0 and stats.permanent_frames == 2
    assert session.step(3, clip["frames"][3]).shape[0] == 2
