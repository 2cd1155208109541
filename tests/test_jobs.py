"""The job API: frame plans, cancellation, result callbacks, passes in every direction, lazy sources."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from xmempp import ConfigError, InferenceConfig, InputError, propagate
from xmempp.inference.jobs import FrameResult, JobOutputs, ShotJob, iter_job, plan_frames, run_job, write_results
from xmempp.inference.objects import ObjectOrder
from xmempp.io.masks import read_mask
from xmempp.io.synthetic import MovingDiscs
from xmempp.io.writers import WriterOptions

CONFIG = InferenceConfig(size=-1)


# ----------------------------------------------------------------------------------- plans (no network)


def test_plan_shot_is_every_frame_once():
    assert plan_frames(5, [2]).passes == ((0, 1, 2, 3, 4),)
    assert plan_frames(1, [0]).passes == ((0,),)  # a one-frame shot still outputs its frame


def test_plan_forward_backward_and_both():
    assert plan_frames(6, [0], "forward", 3).passes == ((3, 4, 5),)
    assert plan_frames(6, [0], "backward", 3).passes == ((3, 2, 1, 0),)
    assert plan_frames(6, [0], "backward").passes == ((5, 4, 3, 2, 1, 0),)
    both = plan_frames(6, [2, 5], "both")
    assert both.passes == ((2, 3, 4, 5), (2, 1, 0)) and both.total == 7


def test_plan_count_limits_every_pass():
    assert plan_frames(10, [4], "both", 4, count=3).passes == ((4, 5, 6), (4, 3, 2))
    assert plan_frames(10, [0], "shot", count=4).passes == ((0, 1, 2, 3),)


def test_plan_drops_a_pass_that_is_only_a_reference():
    assert plan_frames(6, [5], "forward", 5).passes == ()
    assert plan_frames(6, [0], "both", 0).passes == ((0, 1, 2, 3, 4, 5),)


def test_plan_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="direction"):
        plan_frames(5, [0], "sideways")
    with pytest.raises(InputError, match="outside"):
        plan_frames(5, [0], "forward", 5)
    with pytest.raises(InputError, match="at least 1"):
        plan_frames(5, [0], "forward", 0, count=0)
    with pytest.raises(InputError, match="no frames"):
        plan_frames(0, [])


# ----------------------------------------------------------------------------------- running jobs


class EndlessIndexing:
    """A lazy source whose __getitem__ never raises IndexError (it wraps around), with a length."""

    def __init__(self, clip: MovingDiscs, length: int) -> None:
        self.clip, self.length, self.reads = clip, length, []

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> np.ndarray:
        self.reads.append(index)
        return self.clip[index % self.length]


def test_propagate_reads_by_index_within_len(model):
    clip = MovingDiscs(4, 48, 80)
    source = EndlessIndexing(clip, 4)
    results = list(propagate(model, source, {0: clip.mask(0)}, CONFIG))
    assert [i for i, _ in results] == [0, 1, 2, 3]
    assert max(source.reads) == 3


def test_on_result_and_progress_see_every_frame_in_order(model):
    clip = MovingDiscs(5, 48, 80, objects=2)
    job = ShotJob(clip, {0: clip.mask(0)}, CONFIG)
    seen, progress = [], []
    report = run_job(model, job, on_result=seen.append, progress=lambda d, t: progress.append((d, t)))
    assert [r.index for r in seen] == [0, 1, 2, 3, 4]
    assert progress == [(d, 5) for d in range(1, 6)]
    assert report.completed and report.frames == 5 and report.objects.ids == (1, 2)
    assert all(r.probs.shape == (3, 48, 80) for r in seen)


def test_cancel_stops_before_the_next_frame(model):
    clip = MovingDiscs(8, 48, 80)
    cancel = threading.Event()
    seen = []

    def on_result(result: FrameResult) -> None:
        seen.append(result.index)
        if len(seen) == 3:
            cancel.set()

    report = run_job(model, ShotJob(clip, {0: clip.mask(0)}, CONFIG), on_result=on_result, cancel=cancel)
    assert seen == [0, 1, 2] and report.frames == 3 and not report.completed


def test_backward_and_both_passes_step_in_plan_order(model):
    clip = MovingDiscs(6, 48, 80)
    backward = ShotJob(clip, {5: clip.mask(5)}, CONFIG, direction="backward")
    assert [r.index for r in iter_job(model, backward)] == [5, 4, 3, 2, 1, 0]
    both = ShotJob(clip, {2: clip.mask(2)}, CONFIG, direction="both")
    results = list(iter_job(model, both))
    assert [r.index for r in results] == [2, 3, 4, 5, 2, 1, 0]
    # the reference frame gives the user's mask back in both passes
    for r in results:
        if r.index == 2:
            assert np.array_equal(r.probs.argmax(0).numpy(), clip.mask(2))


def test_backward_pass_equals_forward_pass_on_the_reversed_clip(model):
    clip = MovingDiscs(5, 48, 80)

    class Reversed:
        def __len__(self) -> int:
            return len(clip)

        def __getitem__(self, index: int) -> np.ndarray:
            return clip[len(clip) - 1 - index]

    backward = {
        r.index: r.probs for r in iter_job(model, ShotJob(clip, {4: clip.mask(4)}, CONFIG, direction="backward"))
    }
    forward = dict(propagate(model, Reversed(), {0: clip.mask(4)}, CONFIG))
    for index in range(5):
        torch.testing.assert_close(backward[index], forward[4 - index])


def test_objects_met_later_get_zero_channels_in_xmem_mode(model):
    clip = MovingDiscs(4, 48, 80, objects=2)
    first = np.where(clip.mask(0) == 1, 1, 0).astype(np.uint8)
    job = ShotJob(clip, {0: first, 2: clip.mask(2)}, CONFIG, mode="xmem")
    results = {r.index: r.probs for r in iter_job(model, job)}
    assert job.objects.ids == (1, 2)
    assert float(results[1][2].abs().max()) == 0.0  # object 2 not yet met at frame 1
    assert np.array_equal(results[2].argmax(0).numpy(), clip.mask(2))


def test_write_results_resizes_and_names_outputs(tmp_path):
    probs = np.zeros((2, 4, 6), np.float32)
    probs[1, :, 3:] = 1.0
    probs[0, :, :3] = 1.0
    results = [FrameResult(0, None, probs)]
    outputs = JobOutputs(tmp_path / "out", WriterOptions(), None, size=(8, 12))
    assert write_results(results, outputs, ObjectOrder((7,)), ["shot_1001"]) == 1
    ids = read_mask(tmp_path / "out" / "masks" / "shot_1001.png").ids
    assert ids.shape == (8, 12) and set(np.unique(ids)) == {0, 7}
    assert (ids[:, 7:] == 7).all() and (ids[:, :5] == 0).all()
