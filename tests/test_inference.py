"""Session behaviour, resizing and errors of the inference API."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmempp import ConfigError, InferenceConfig, InferenceSession, InputError, MemoryStateError, propagate
from xmempp.inference.preprocess import Geometry
from xmempp.io.synthetic import MovingDiscs


def test_geometry_resizes_shorter_side_and_pads_to_16():
    g = Geometry.for_frame(480, 853, 240)
    assert g.resized == (240, 426)
    assert g.pad == (3, 3, 0, 0)
    assert Geometry.for_frame(96, 171, -1).pad == (2, 3, 0, 0)


def test_resized_propagation_returns_input_resolution(model):
    clip = MovingDiscs(4, 96, 160, objects=2)
    config = InferenceConfig(size=64)
    results = dict(propagate(model, clip, {0: clip.mask(0)}, config))
    assert results[3].shape == (3, 96, 160)
    assert torch.allclose(results[3].sum(0), torch.ones(96, 160), atol=1e-4)
    assert np.array_equal(results[0].argmax(0).numpy(), clip.mask(0))


def test_object_order_is_first_appearance(model):
    clip = MovingDiscs(6, 64, 112, objects=2)
    m0 = clip.mask(0)
    relabelled = np.select([m0 == 1, m0 == 2], [7, 3], 0).astype(np.uint8)
    session = InferenceSession(model, InferenceConfig(size=-1))
    session.add_reference(0, clip[0], relabelled)
    assert session.object_ids == [3, 7]
    out = session.step(0, clip[0]).argmax(0).numpy()
    assert np.array_equal(out == 1, relabelled == 3)


def test_errors_are_specific(model):
    clip = MovingDiscs(3, 64, 112)
    with pytest.raises(InputError, match="no reference"):
        next(propagate(model, clip, {}))
    with pytest.raises(InputError, match="outside the clip"):
        next(propagate(model, clip, {5: clip.mask(0)}))
    with pytest.raises(ConfigError, match="unknown mode"):
        InferenceSession(model, mode="sam")
    session = InferenceSession(model, InferenceConfig(size=-1))
    with pytest.raises(MemoryStateError, match="add a reference"):
        session.step(0, clip[0])
    session.add_reference(0, clip[0], clip.mask(0))
    with pytest.raises(InputError, match="differs from the session"):
        session.step(1, np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(InputError, match="must match its frame"):
        session.add_reference(1, clip[1], np.zeros((10, 10), np.uint8))
    assert session.references == [0]
    session.remove_reference(0)
    with pytest.raises(MemoryStateError, match="memory is empty"):
        session.step(1, clip[1])


@pytest.mark.parametrize(
    "values,match",
    [
        ({"mem_every": 0}, "mem_every"),
        ({"size": 8}, "size"),
        ({"min_mid_term_frames": 12}, "min_mid_term_frames"),
        ({"top_kk": 3}, "unknown config"),
    ],
)
def test_config_validation(values, match):
    with pytest.raises(ConfigError, match=match):
        InferenceConfig.from_mapping(values)


def test_encode_key_shapes(model):
    session = InferenceSession(model, InferenceConfig(size=-1))
    key, shrinkage, selection = session.encode_key(MovingDiscs(1, 64, 112)[0])
    assert key.shape == (1, 64, 4, 7) and shrinkage.shape == (1, 1, 4, 7) and selection.shape == key.shape
