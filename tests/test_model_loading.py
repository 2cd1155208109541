"""load_model: strict loading, dims from the weights, 4-channel padding, clear errors."""

from __future__ import annotations

import pytest
import torch

from xmempp import WeightsError, load_model
from xmempp.model.network import NetworkDims, XMemNetwork


def test_loads_checkpoint_file_strictly(checkpoint_path, state):
    model = load_model(checkpoint_path, device="cpu")
    assert not model.training
    assert model.dims == NetworkDims(64, 512, 64)
    assert torch.equal(model.state_dict()["decoder.pred.weight"], state["decoder.pred.weight"])


def test_dims_are_inferred_and_hidden_dim_zero_means_no_hidden_state():
    state = XMemNetwork(NetworkDims(key_dim=32, value_dim=256, hidden_dim=0)).state_dict()
    model = load_model(state, device="cpu")
    assert model.dims == NetworkDims(32, 256, 0)
    assert model.decoder.hidden_update is None and model.value_encoder.hidden_reinforce is None


def test_four_channel_value_encoder_is_padded_with_zeros(state):
    state = dict(state)
    state["value_encoder.conv1.weight"] = state["value_encoder.conv1.weight"][:, :4].clone()
    model = load_model(state, device="cpu")
    weight = model.state_dict()["value_encoder.conv1.weight"]
    assert weight.shape[1] == 5 and torch.count_nonzero(weight[:, 4]) == 0


def test_missing_and_unexpected_keys_are_named(state):
    state = dict(state)
    del state["decoder.pred.bias"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(WeightsError, match=r"missing key\(s\): decoder.pred.bias.*unexpected key\(s\): extra.weight"):
        load_model(state, device="cpu")


def test_file_errors(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "nope.pth", device="cpu")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        load_model(junk, device="cpu")
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(WeightsError, match="not an XMem checkpoint"):
        load_model(other, device="cpu")
