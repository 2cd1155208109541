"""The front door of the Python API: `xmempp.Predictor` gives what the lower-level calls give, with one
documented result type, and every name the docs use is importable from `xmempp`."""

from __future__ import annotations

import numpy as np
import pytest

import xmempp
from xmempp import Direction, InferenceConfig, Mode, Predictor, Propagated


@pytest.fixture(scope="module")
def clip():
    from xmempp.io.synthetic import MovingDiscs

    return MovingDiscs(6, height=48, width=80, objects=2, seed=5)


@pytest.fixture(scope="module")
def predictor(model):
    return Predictor(model, config=InferenceConfig(size=-1))


def test_propagate_yields_frame_object_ids_and_float32_probs_equal_to_propagate(predictor, clip):
    references = {0: clip.mask(0)}
    results = list(predictor.propagate(clip, references))
    expected = list(xmempp.propagate(predictor.model, clip, references, InferenceConfig(size=-1)))
    ids = tuple(int(i) for i in np.unique(clip.mask(0)) if i)
    assert [r.frame for r in results] == list(range(len(clip)))
    for result, (index, probs) in zip(results, expected):
        assert result.frame == index
        assert isinstance(result, Propagated) and result.object_ids == ids
        assert isinstance(result.probs, np.ndarray) and result.probs.dtype == np.float32
        assert result.probs.shape == (1 + len(ids), 48, 80)
        np.testing.assert_array_equal(result.probs, np.asarray(probs))
    frame, object_ids, probs = results[0]  # unpacks as documented
    assert frame == 0 and object_ids == ids
    assert set(np.unique(results[0].index_mask())) <= {0, *ids}


def test_direction_and_mode_take_the_enums_or_their_words(predictor, clip):
    references = {3: clip.mask(3)}
    forward = [r.frame for r in predictor.propagate(clip, references, direction=Direction.FORWARD, start=3)]
    backward = [r.frame for r in predictor.propagate(clip, references, direction="backward", start=3)]
    assert forward == [3, 4, 5] and backward == [3, 2, 1, 0]
    xmem = list(predictor.propagate(clip, references, mode="xmem", direction=Direction.FORWARD, start=3))
    assert len(xmem) == 3
    with pytest.raises(xmempp.ConfigError, match="unknown direction 'full'"):
        list(predictor.propagate(clip, references, direction="full"))
    with pytest.raises(xmempp.ConfigError, match="unknown mode 'xmem2'"):
        predictor.session(mode="xmem2")


def test_load_from_a_checkpoint_and_session(checkpoint_path, clip):
    predictor = Predictor.load(checkpoint_path, device="cpu", config=InferenceConfig(size=-1), mode=Mode.XMEM)
    assert predictor.mode is Mode.XMEM and "device=cpu" in repr(predictor)
    session = predictor.session(mode="xmempp")
    assert session.mode == "xmempp" and session.config.size == -1


def test_load_refuses_a_missing_file_with_the_weights_error(tmp_path):
    with pytest.raises(xmempp.WeightsError):
        Predictor.load(tmp_path / "nowhere.pth", device="cpu")


def test_everything_in_all_is_importable_from_the_package():
    for name in xmempp.__all__:
        assert getattr(xmempp, name) is not None, name
    for name in (
        "Predictor",
        "Propagated",
        "Mode",
        "Direction",
        "open_frames",
        "read_mask_folder",
        "ShotJob",
        "JobOutputs",
        "run_job",
        "WriterOptions",
    ):
        assert name in xmempp.__all__
