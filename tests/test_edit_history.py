"""Masks depend only on the references and the settings, never on the order of edits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmempp import ConfigError, InferenceConfig, InferenceSession
from xmempp.inference.jobs import ShotJob, iter_job, open_session
from xmempp.io.synthetic import MovingDiscs

# Tight memory: 6 elements per frame, consolidation every few frames and long-term eviction.
TIGHT = InferenceConfig(
    size=-1,
    mem_every=1,
    max_mid_term_frames=3,
    min_mid_term_frames=1,
    num_prototypes=4,
    max_long_term_elements=10,
    top_k=8,
)
FRAMES = 8


def random_mask(clip: MovingDiscs, frame: int, rng: np.random.Generator) -> np.ndarray:
    """The frame's discs with a random non-empty subset of objects kept (so objects first appear on
    later references) under random ids."""
    mask = clip.mask(frame)
    present = [v for v in range(1, clip.objects + 1) if (mask == v).any()]
    keep = rng.choice(present, size=rng.integers(1, len(present) + 1), replace=False)
    ids = np.zeros(clip.objects + 1, np.uint8)
    ids[keep] = [(3, 7, 5)[k - 1] for k in keep]
    return ids[mask]


def state(session: InferenceSession) -> list[torch.Tensor]:
    """Everything that defines permanent memory."""
    store = session.memory.permanent
    return [store.key, store.shrinkage, store.frames, *store.values]


def outputs(model, session: InferenceSession, job: ShotJob) -> list[tuple[int, torch.Tensor]]:
    return [(r.index, r.probs) for r in iter_job(model, job, session=session)]


def check_random_edits(model, mode: str, seed: int) -> None:
    """Random add / replace / remove (with passes in between) end in a fresh session's state and masks."""
    rng = np.random.default_rng(seed)
    clip = MovingDiscs(FRAMES, 32, 48, objects=3, seed=seed)
    session = InferenceSession(model, TIGHT, mode)
    refs: dict[int, np.ndarray] = {}
    for _ in range(7):
        op = rng.choice(["add", "add", "replace", "remove", "pass"] if refs else ["add"])
        if op == "add":
            frame = int(rng.choice([f for f in range(FRAMES) if f not in refs]))
            refs[frame] = random_mask(clip, frame, rng)
            session.add_reference(frame, clip[frame], refs[frame])
        elif op == "replace":
            frame = int(rng.choice(sorted(refs)))
            refs[frame] = random_mask(clip, frame, rng)
            session.replace_reference(frame, clip[frame], refs[frame])
        elif op == "remove":
            frame = int(rng.choice(sorted(refs)))
            del refs[frame]
            session.remove_reference(frame)
        else:  # a pass leaves working memory, hidden state and (xmem) objects met while stepping
            start = int(rng.integers(0, FRAMES))
            for _ in iter_job(
                model, ShotJob(clip, dict(refs), TIGHT, mode, "forward", start, count=4), session=session
            ):
                pass
    if not refs:
        refs[5] = random_mask(clip, 5, rng)
        session.add_reference(5, clip[5], refs[5])
    job = ShotJob(clip, refs, TIGHT, mode, "both", start=int(rng.integers(0, FRAMES)))
    fresh = open_session(model, job)
    for each in (session, fresh):  # the state every pass starts from (objects met while stepping go)
        each.clear_memory()
    assert session.references == fresh.references and session.object_ids == fresh.object_ids
    assert session.permanent_frames == fresh.permanent_frames
    for ours, theirs in zip(state(session), state(fresh)):
        assert torch.equal(ours, theirs)
    edited, canonical = outputs(model, session, job), outputs(model, fresh, job)
    assert len(edited) == len(canonical) == job.plan().total
    for (i, ours), (j, theirs) in zip(edited, canonical):
        assert i == j and torch.equal(ours, theirs), i


@pytest.mark.parametrize("mode", ["xmempp", "xmem"])
@pytest.mark.parametrize("seed", range(2))
def test_random_edit_sequences_equal_a_fresh_session(model, mode, seed):
    check_random_edits(model, mode, seed)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["xmempp", "xmem"])
@pytest.mark.parametrize("seed", range(2, 14))
def test_many_random_edit_sequences_equal_a_fresh_session(model, mode, seed):
    check_random_edits(model, mode, seed)


def caps_like(
    model, mode: str, frames: dict[int, list[int]], config: InferenceConfig = TIGHT
) -> tuple[InferenceSession, MovingDiscs]:
    clip = MovingDiscs(12, 32, 48, objects=2)
    session = InferenceSession(model, config, mode)
    for frame, objects in frames.items():
        session.add_reference(frame, clip[frame], np.where(np.isin(clip.mask(frame), objects), clip.mask(frame), 0))
    return session, clip


def test_resaving_a_reference_unchanged_changes_nothing(model):
    """The issue's case: references 0, 3, 9 with object 2 first on 9; re-saving 0 must not move it."""
    session, clip = caps_like(model, "xmempp", {0: [1], 3: [1], 9: [1, 2]})
    before = [t.clone() for t in state(session)]
    mask0 = np.where(clip.mask(0) == 1, 1, 0).astype(np.uint8)
    session.replace_reference(0, clip[0], mask0)
    assert session.permanent_frames == [0, 3, 9]
    for ours, theirs in zip(state(session), before):
        assert torch.equal(ours, theirs)


def test_reference_added_before_others_is_encoded_in_frame_order(model):
    session, _clip = caps_like(model, "xmempp", {9: [1, 2], 3: [1]})
    fresh, _ = caps_like(model, "xmempp", {3: [1], 9: [1, 2]})
    assert session.permanent_frames == [3, 9] and session.object_ids == fresh.object_ids == [1, 2]
    assert [len(g) for g in session.memory.groups] == [1, 1]
    for ours, theirs in zip(state(session), state(fresh)):
        assert torch.equal(ours, theirs)


def test_xmem_pass_from_a_later_reference_writes_it_to_memory(model):
    session, clip = caps_like(model, "xmem", {0: [1], 5: [1, 2]})
    job = ShotJob(clip, {0: None, 5: None}, TIGHT, "xmem", "forward", start=5, count=2)
    session.clear_memory()
    session.step(5, clip[5])
    assert 5 in session.memory.temporary.frames.tolist()
    assert session.object_ids == [1, 2]
    assert job.plan().passes == ((5, 6),)


def test_xmem_deleting_the_first_reference_makes_the_next_permanent(model):
    session, clip = caps_like(model, "xmem", {0: [1], 5: [1, 2]})
    assert session.permanent_frames == [0]
    session.remove_reference(0)
    assert session.permanent_frames == [5] and session.object_ids == [1, 2]
    session.clear_memory()
    probs = session.step(6, clip[6])
    fresh, _ = caps_like(model, "xmem", {5: [1, 2]})
    assert torch.equal(probs, fresh.step(6, clip[6]))


def test_xmem_removing_or_replacing_a_later_reference_drops_its_temporary_copy(model):
    session, clip = caps_like(model, "xmem", {0: [1], 4: [1, 2], 6: [1]}, InferenceConfig(size=-1, mem_every=100))
    for index in range(8):
        session.step(index, clip[index])
    frames = session.memory.temporary.frames.tolist()
    assert 4 in frames and 6 in frames
    session.remove_reference(4)
    assert 4 not in session.memory.temporary.frames.tolist()
    session.replace_reference(6, clip[6], clip.mask(6))
    assert 6 not in session.memory.temporary.frames.tolist()
    assert session.permanent_frames == [0]


def test_usage_counting_off(model):
    """Off: rejected where long-term memory can fill; where it cannot, results equal counting on."""
    config = TIGHT.replace(enable_long_term_count_usage=False)
    clip = MovingDiscs(FRAMES, 32, 48)
    refs = {0: clip.mask(0)}
    with pytest.raises(ConfigError, match="enable_long_term_count_usage"):
        next(iter_job(model, ShotJob(clip, refs, config)))
    session = InferenceSession(model, config)
    session.add_reference(0, clip[0], clip.mask(0))
    with pytest.raises(ConfigError, match="enable_long_term_count_usage"):
        for index in range(FRAMES):
            session.step(index, clip[index])
    roomy = config.replace(max_long_term_elements=1000)
    short = MovingDiscs(8, 32, 48)
    off = [r.probs for r in iter_job(model, ShotJob(short, refs, roomy))]
    on = [r.probs for r in iter_job(model, ShotJob(short, refs, roomy.replace(enable_long_term_count_usage=True)))]
    assert all(torch.equal(a, b) for a, b in zip(off, on))


def test_memory_stats_report_allocations(model):
    session, clip = caps_like(model, "xmempp", {0: [1, 2]})
    for index in range(6):
        session.step(index, clip[index])
    stats = session.memory_stats()
    assert stats.temporary_capacity >= stats.temporary_elements > 0
    assert stats.permanent_capacity >= stats.permanent_elements > 0
    assert stats.long_term_capacity >= stats.long_term_elements
    assert stats.layout_bytes > 0 and stats.hidden_bytes > 0
    filled = sum(t.numel() * t.element_size() for t in state(session)[:2])
    assert stats.store_bytes > filled
    assert stats.device_bytes == stats.store_bytes + stats.layout_bytes + stats.hidden_bytes
