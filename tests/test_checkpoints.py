"""Checkpoints and resume in-process: state round trips bit-exactly, a cancelled job resumes to the
same files as an uninterrupted one, and a changed input is refused by name."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from xmempp import InferenceConfig, InferenceSession, load_model
from xmempp.errors import ConfigError, InputError
from xmempp.inference.checkpoint import (
    CheckpointPolicy,
    checkpoint_path,
    fingerprint_changes,
    job_fingerprint,
    load_checkpoint,
)
from xmempp.inference.jobs import JobOutputs, ShotJob, open_session, run_job
from xmempp.io.synthetic import MovingDiscs
from xmempp.io.writers import WriterOptions
from xmempp.model.precision import native_cpu_bf16

#: Small memory limits so that a short clip goes through consolidation and long-term eviction.
SMALL_MEMORY = InferenceConfig(
    mem_every=2, max_mid_term_frames=3, min_mid_term_frames=1, num_prototypes=8, max_long_term_elements=40, size=-1
)


LENGTH = 14


def make_job(out: Path, frames=None, references=None, overwrite=False, **options) -> ShotJob:
    frames = frames if frames is not None else MovingDiscs(LENGTH, 64, 112, objects=2, seed=3)
    references = references if references is not None else {0: frames.mask(0), 9: frames.mask(9)}
    opts = WriterOptions(alpha=True, alpha_bits=16, binary=True, **options)
    return ShotJob(frames, references, SMALL_MEMORY, outputs=JobOutputs(out, opts, overwrite=overwrite))


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".xmempp" not in p.parts
    }


def assert_states_equal(a, b, where="state"):
    assert type(a) is type(b), where
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride(), where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_states_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_states_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def stepped_session(model, frames, steps: int) -> InferenceSession:
    job = ShotJob(frames, {0: frames.mask(0)}, SMALL_MEMORY)
    session = open_session(model, job)
    for index in range(steps):
        session.step(index, frames[index])
    return session


def test_session_state_round_trip_is_bit_exact(model, tmp_path):
    frames = MovingDiscs(11, 64, 112, objects=2, seed=1)
    session = stepped_session(model, frames, 8)
    stats = session.memory_stats()
    assert stats.long_term_elements > 0 and stats.temporary_elements > 0, "the clip must reach long-term memory"
    path = tmp_path / "state.pt"
    torch.save(session.state_dict(), path)
    restored = InferenceSession(model, SMALL_MEMORY)
    restored.load_state_dict(torch.load(path, weights_only=True))
    assert_states_equal(session.state_dict(), restored.state_dict())
    for store in ("temporary", "long_term", "permanent"):
        a, b = getattr(session.memory, store), getattr(restored.memory, store)
        for name in ("key", "shrinkage", "selection", "use_count", "life_count"):
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None)
            if x is not None:
                assert x.stride() == y.stride(), (store, name)
    for index in range(8, 11):
        assert torch.equal(session.step(index, frames[index]), restored.step(index, frames[index])), index


@pytest.fixture(scope="module")
def uninterrupted(model, tmp_path_factory):
    """One run from the start with a checkpoint after every memory write (`resume` finds none)."""
    out = tmp_path_factory.mktemp("uninterrupted") / "out"
    report = run_job(model, make_job(out), checkpoint=CheckpointPolicy(every_writes=1), resume=True)
    return out, report


def test_checkpoint_every_write_replaces_one_file(uninterrupted):
    out, report = uninterrupted
    assert report.completed and report.resumed_from == 0 and report.frames == LENGTH
    writes = (LENGTH - 1) // SMALL_MEMORY.mem_every
    assert report.checkpoints.saves >= writes + 2  # the start, every write, the completed record
    assert [p.name for p in (out / ".xmempp").iterdir()] == ["checkpoint.pt"]
    assert load_checkpoint(checkpoint_path(out)).completed


def test_cancelled_job_resumes_to_identical_files(model, uninterrupted, tmp_path):
    reference, _ = uninterrupted
    for stop_after in (1, 9):
        out = tmp_path / f"stopped_{stop_after}"
        cancel = threading.Event()

        def stop(result, stop_after=stop_after, cancel=cancel):
            if result.index == stop_after:
                cancel.set()

        first = run_job(model, make_job(out), cancel=cancel, on_result=stop, checkpoint=CheckpointPolicy(None, 3600))
        assert not first.completed and first.frames == stop_after + 1
        assert first.checkpoints.saves == 2  # the start and the cancellation
        saved = load_checkpoint(checkpoint_path(out))
        assert saved.done == stop_after + 1 and not saved.completed
        second = run_job(model, make_job(out), resume=True)
        assert second.completed and second.resumed_from == stop_after + 1
        assert second.frames == LENGTH - stop_after - 1
        assert files_of(out) == files_of(reference), stop_after
        again = run_job(model, make_job(out), resume=True)
        assert again.completed and again.frames == 0


def test_resume_refused_when_a_reference_changed(model, tmp_path):
    out = tmp_path / "out"
    frames = MovingDiscs(LENGTH, 64, 112, objects=2, seed=3)
    cancel = threading.Event()
    run_job(
        model,
        make_job(out, frames),
        cancel=cancel,
        on_result=lambda r: cancel.set() if r.index == 3 else None,
        checkpoint=CheckpointPolicy(),
    )
    edited = frames.mask(9).copy()
    edited[:4, :4] = 1
    with pytest.raises(InputError, match=r"reference mask of frame 00009 \(edited\)"):
        run_job(model, make_job(out, frames, {0: frames.mask(0), 9: edited}), resume=True)
    changed = make_job(out, frames)
    changed.config = SMALL_MEMORY.replace(mem_every=3)
    with pytest.raises(InputError, match=r"setting mem_every \(2 -> 3\)"):
        run_job(model, changed, resume=True)


def test_resume_refused_with_another_thread_count_or_precision(model, state, tmp_path):
    """CPU results depend on the torch thread count and the precision: a resume with either changed is refused."""
    out = tmp_path / "out"
    frames = MovingDiscs(LENGTH, 64, 112, objects=2, seed=3)
    threads = torch.get_num_threads()
    cancel = threading.Event()
    run_job(
        model,
        make_job(out, frames),
        cancel=cancel,
        on_result=lambda r: cancel.set() if r.index == 3 else None,
        checkpoint=CheckpointPolicy(),
    )
    other = 1 if threads > 1 else 2
    torch.set_num_threads(other)
    try:
        with pytest.raises(InputError, match=rf"threads \({threads} -> {other}\)"):
            run_job(model, make_job(out, frames), resume=True)
    finally:
        torch.set_num_threads(threads)
    if native_cpu_bf16():
        with pytest.raises(InputError, match=r"precision \('fp32' -> 'bf16'\)"):
            run_job(load_model(state, device="cpu", precision="bf16"), make_job(out, frames), resume=True)
    assert load_checkpoint(checkpoint_path(out)).done == 4  # refused runs leave the checkpoint as it was
    assert run_job(model, make_job(out, frames), resume=True).resumed_from == 4


def test_fingerprint_names_each_part(model, tmp_path):
    frames = MovingDiscs(6, 64, 112, seed=0)
    job = make_job(tmp_path, frames, {0: frames.mask(0)})
    base = job_fingerprint(model, job)
    assert fingerprint_changes(base, job_fingerprint(model, job)) == []
    other = make_job(tmp_path, MovingDiscs(6, 64, 112, seed=5), {0: frames.mask(0)})
    assert fingerprint_changes(base, job_fingerprint(model, other)) == [
        "the frames (the video file, or the frames' content)"
    ]
    xmem = make_job(tmp_path, frames, {0: frames.mask(0)})
    xmem.mode = "xmem"
    assert fingerprint_changes(base, job_fingerprint(model, xmem)) == ["mode ('xmempp' -> 'xmem')"]
    overlay = make_job(tmp_path, frames, {0: frames.mask(0)}, overlay=True)
    assert fingerprint_changes(base, job_fingerprint(model, overlay)) == ["output option overlay (False -> True)"]


def test_checkpoints_need_an_output_folder(model):
    frames = MovingDiscs(4, 64, 112)
    with pytest.raises(ConfigError, match="output folder"):
        run_job(model, ShotJob(frames, {0: frames.mask(0)}), checkpoint=CheckpointPolicy())


def test_policy_validates():
    with pytest.raises(ConfigError):
        CheckpointPolicy(every_writes=0)
    with pytest.raises(ConfigError):
        CheckpointPolicy(every_seconds=-1)
    assert CheckpointPolicy(None, 10).due(100, 9.9) is False
    assert CheckpointPolicy(2, None).due(2, 0) is True


def test_video_job_resumes_to_identical_files(model, tmp_path):
    """A video source is read by index: the resumed run decodes forward to its position."""
    from iohelpers import write_video
    from xmempp.io.sources import open_frames

    clip = MovingDiscs(10, 64, 112, objects=1, seed=2)
    path = write_video(tmp_path / "shot.mp4", [clip[i] for i in range(10)], gop=4)

    def video_job(out):
        frames = open_frames(path)
        return ShotJob(frames, {0: clip.mask(0)}, SMALL_MEMORY, outputs=JobOutputs(out, WriterOptions(alpha=True)))

    reference = tmp_path / "reference"
    assert run_job(model, video_job(reference)).completed
    out = tmp_path / "out"
    cancel = threading.Event()
    run_job(
        model,
        video_job(out),
        cancel=cancel,
        on_result=lambda r: cancel.set() if r.index == 5 else None,
        checkpoint=CheckpointPolicy(),
    )
    assert load_checkpoint(checkpoint_path(out)).done == 6
    resumed = run_job(model, video_job(out), resume=True)
    assert resumed.completed and resumed.resumed_from == 6
    assert files_of(out) == files_of(reference)
