"""Batch norms folded at load time and fused oneDNN convolutions give the unfused network's numbers."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from xmempp.errors import ConfigError
from xmempp.model.fused import (
    FusedConv2d,
    _one_output_same_size,
    conv_act,
    fold_batchnorms,
    fuse_convolutions,
    onednn_bf16_available,
    packed_weight_bytes,
    split_input_channels,
)
from xmempp.model.loading import load_model
from xmempp.model.modules import add_per_object
from xmempp.model.network import XMemNetwork

#: oneDNN's bf16 convolutions need AVX512 BW/VL/DQ or AVX-NE-CONVERT (an AVX2-only EPYC has neither).
NEEDS_ONEDNN_BF16 = pytest.mark.skipif(
    not onednn_bf16_available(), reason="this CPU has no oneDNN bf16 convolutions (AVX2 only)"
)


def _random_state() -> dict:
    torch.manual_seed(0)
    state = XMemNetwork().state_dict()
    for key, value in state.items():
        if key.endswith("running_var"):
            value.uniform_(0.5, 2.0)
        elif key.endswith("running_mean") or key.endswith("bn1.bias"):
            value.normal_()
    return state


def test_loaded_network_has_no_batch_norm_left():
    network = load_model(_random_state(), device="cpu")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in network.modules())


@torch.inference_mode()
def test_folded_network_encodes_like_the_unfolded_one():
    state = _random_state()
    plain = XMemNetwork().eval()
    plain.load_state_dict(state)
    folded = load_model(state, device="cpu")
    image = torch.randn(1, 3, 64, 96)
    ours, ref = folded.encode_key(image), plain.encode_key(image)
    for name in ("key", "shrinkage", "selection", "f16", "f8", "f4"):
        a, b = getattr(ours, name), getattr(ref, name)
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item()), name
    masks = torch.rand(1, 2, 64, 96)
    value, _ = folded.encode_value(image, ours.f16, None, masks, deep_update=False)
    value_ref, _ = plain.encode_value(image, ref.f16, None, masks, deep_update=False)
    assert torch.allclose(value, value_ref, rtol=1e-4, atol=1e-4 * value_ref.abs().max().item())


@pytest.mark.parametrize("add, relu", [(False, False), (False, True), (True, False), (True, True)])
def test_fused_conv_matches_separate_operations(add, relu):
    torch.manual_seed(1)
    conv = nn.Conv2d(16, 8, 3, padding=1)
    x = torch.randn(2, 16, 9, 11)
    other = torch.randn(2, 8, 9, 11) if add else None
    expected = conv(x) + (other if add else 0)
    expected = torch.relu(expected) if relu else expected
    with torch.inference_mode():
        got = conv_act(conv, x, add=other, relu=relu)
    assert torch.allclose(got, expected.detach(), atol=1e-5)


@pytest.mark.parametrize(
    "kernel, bias, add, relu",
    [(3, True, False, False), (7, True, False, True), (1, False, True, False), (5, False, True, True)],
)
def test_one_output_convolution_matches_the_plain_one(kernel, bias, add, relu):
    """Convolutions to one channel (the mask prediction, the shrinkage term) take the matrix-product path."""
    torch.manual_seed(2)
    conv = nn.Conv2d(64, 1, kernel, padding=kernel // 2, bias=bias)
    x = torch.randn(3, 64, 13, 17).contiguous(memory_format=torch.channels_last)
    other = torch.randn(3, 1, 13, 17) if add else None
    expected = conv(x) + (other if add else 0)
    expected = torch.relu(expected) if relu else expected
    with torch.inference_mode():
        got = conv_act(conv, x, add=other, relu=relu)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected.detach(), atol=1e-5)
    assert _one_output_same_size(conv)
    # too few input channels for the kernel: the plain oneDNN path
    assert not _one_output_same_size(nn.Conv2d(2, 1, 7, padding=3))


@pytest.mark.parametrize("relu", [False, True])
@torch.inference_mode()
def test_a_given_up_residual_receives_the_result_and_nothing_else_changes(relu):
    torch.manual_seed(3)
    conv = nn.Conv2d(16, 8, 3, padding=1)
    x = torch.randn(2, 16, 9, 11).contiguous(memory_format=torch.channels_last)
    other = torch.randn(2, 8, 9, 11).contiguous(memory_format=torch.channels_last)
    x_before, expected = x.clone(), conv_act(conv, x, add=other.clone(), relu=relu)
    got = conv_act(conv, x, add=other, relu=relu, reuse_add=True)
    assert torch.equal(got, expected)
    assert torch.equal(x, x_before)
    if torch.backends.mkldnn.is_available():
        assert got.data_ptr() == other.data_ptr()  # written in place: no new output
    # a residual that shares memory with the input is never overwritten
    square = nn.Conv2d(8, 8, 1)
    y = torch.randn(1, 8, 5, 5).contiguous(memory_format=torch.channels_last)
    y_before = y.clone()
    assert torch.allclose(conv_act(square, y, add=y, reuse_add=True), square(y_before) + y_before, atol=1e-5)
    assert torch.equal(y, y_before)


@torch.inference_mode()
def test_residual_stages_leave_their_input_alone_and_match_plain_blocks():
    """Blocks after the first write their sum over the previous block's output; the stage's own input,
    which a caller may still hold (ResNet-18's layer1 starts without a downsampling shortcut), is kept."""
    network = load_model(_random_state(), device="cpu")
    for stage in (network.value_encoder.layer1, network.key_encoder.res2):
        x = torch.randn(1, stage[0].conv1.in_channels, 16, 24).contiguous(memory_format=torch.channels_last)
        x_before = x.clone()
        expected = x.clone()
        for block in stage:
            expected = block(expected.clone())  # nothing owned: the plain residual sum
        assert torch.equal(stage(x), expected)
        assert torch.equal(x, x_before)


def test_fused_convolutions_are_counted_like_plain_ones():
    conv = nn.Conv2d(16, 8, 3, padding=1)
    x, other = torch.randn(1, 16, 9, 11), torch.randn(1, 8, 9, 11)
    with torch.inference_mode(), FlopCounterMode(display=False) as fused:
        conv_act(conv, x, relu=True)
        conv_act(conv, x, add=other)
        conv_act(conv, x, add=other.clone(), reuse_add=True)
    with FlopCounterMode(display=False) as plain:
        conv(x)
    assert fused.get_total_flops() == 3 * plain.get_total_flops() == 3 * 2 * 16 * 8 * 9 * 9 * 11


def test_under_autocast_the_cast_weights_are_kept_and_give_autocasts_numbers():
    torch.manual_seed(0)
    conv = FusedConv2d(8, 16, 3, padding=1).eval()
    x = torch.randn(1, 8, 12, 20, dtype=torch.bfloat16)  # not its compute dtype: the plain (non-oneDNN) path
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = conv(x)
        first = conv_act(conv, x)
        weight = conv.cast_weights(torch.bfloat16)[0]
        second = conv_act(conv, x)
    assert weight.dtype == torch.bfloat16 and conv.cast_weights(torch.bfloat16)[0] is weight  # cast once, reused
    assert torch.equal(first, expected) and torch.equal(second, expected)
    with torch.no_grad():
        conv.weight.mul_(2)  # a changed weight is cast again
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(conv_act(conv, x), conv(x))
    assert conv.cast_weights(torch.bfloat16)[0] is not weight
    with torch.inference_mode():
        assert conv_act(conv, x.float()).dtype == torch.float32  # autocast off: the module's own weights


def test_folding_needs_eval_mode():
    with pytest.raises(ValueError, match="eval"):
        fold_batchnorms(XMemNetwork().train())


def test_packed_weights_give_the_plain_weights_numbers_and_follow_new_weights():
    torch.manual_seed(2)
    conv = nn.Conv2d(16, 8, 3, padding=1)
    x = torch.randn(1, 16, 9, 11)
    with torch.inference_mode():
        plain = conv_act(conv, x, relu=True)
        holder = nn.Sequential(conv)
        assert fuse_convolutions(holder) == 1
        fused = holder[0]
        assert isinstance(fused, FusedConv2d) and fused.weight is conv.weight  # parameters shared, not copied
        assert list(holder.state_dict()) == ["0.weight", "0.bias"]  # the packed copies are no part of it
        assert torch.equal(conv_act(fused, x, relu=True), plain)
        assert packed_weight_bytes(holder) == (conv.weight.numel() * 4 if torch.backends.mkldnn.is_available() else 0)
    with torch.no_grad():
        conv.weight.mul_(2)  # weights changed in place: the packed copy must not be used any more
    with torch.inference_mode():
        assert torch.allclose(conv_act(fused, x), conv(x), atol=1e-5)


def test_a_convolution_split_by_input_channels_adds_up_to_it_and_follows_new_weights():
    torch.manual_seed(3)
    conv = FusedConv2d(12, 8, 3, padding=1)
    x = torch.randn(1, 12, 9, 11)
    with torch.inference_mode():
        first, second = split_input_channels(conv, 5)
        assert (first.in_channels, second.in_channels) == (5, 7) and second.bias is None
        assert torch.allclose(conv_act(first, x[:, :5]) + conv_act(second, x[:, 5:]), conv(x), atol=1e-5)
        assert split_input_channels(conv, 5)[0] is first  # kept, not rebuilt per call
    with torch.no_grad():
        conv.weight.mul_(2)
    with torch.inference_mode():
        first, second = split_input_channels(conv, 5)
        assert torch.allclose(conv_act(first, x[:, :5]) + conv_act(second, x[:, 5:]), conv(x), atol=1e-5)


def test_packed_weights_are_kept_for_the_latest_input_shapes_only():
    conv = FusedConv2d(4, 4, 3, padding=1)
    with torch.inference_mode():
        for width in range(5, 11):
            x = torch.randn(1, 4, 6, width)
            assert torch.allclose(conv_act(conv, x), conv(x), atol=1e-5)
    if torch.backends.mkldnn.is_available():
        assert [shape[-1] for shape in conv._by_shape] == [7, 8, 9, 10]


@pytest.mark.parametrize("update_hidden", [True, False])
@torch.inference_mode()
def test_decoder_gives_each_object_what_it_gives_that_object_alone(update_hidden):
    """Several objects (on the CPU: the 1/4-scale part one object at a time) decode like one object each,
    in frame-major order, hidden state included."""
    network = load_model(_random_state(), device="cpu")
    torch.manual_seed(3)
    frames, objects = 2, 3
    f = network.encode_key(torch.randn(frames, 3, 64, 96))
    readout = torch.randn(frames * objects, network.dims.value_dim, 4, 6).contiguous(memory_format=torch.channels_last)
    hidden = torch.randn(frames * objects, network.dims.hidden_dim, 4, 6).contiguous(memory_format=torch.channels_last)
    together = network.decoder(f.f16, f.f8, f.f4, hidden, readout, update_hidden)
    for index in range(frames * objects):
        b, one = index // objects, slice(index, index + 1)
        alone = network.decoder(
            f.f16[b : b + 1], f.f8[b : b + 1], f.f4[b : b + 1], hidden[one], readout[one], update_hidden
        )
        for got, expected in zip(together, alone):
            assert torch.allclose(got[one], expected, atol=1e-4 * expected.abs().max().item())


@pytest.mark.parametrize("objects", [1, 3])
def test_per_object_sums_keep_the_channels_last_layout_pytorch_recognises(objects):
    g = torch.randn(2 * objects, 16, 12, 20).contiguous(memory_format=torch.channels_last)
    shared = torch.randn(2, 16, 12, 20).contiguous(memory_format=torch.channels_last)
    one = add_per_object(g[:objects], shared[:1])  # one frame, as the per-object 1/4-scale decoder calls it
    assert torch.equal(one, g[:objects] + shared[:1])
    assert one.stride() == torch.empty(one.shape, memory_format=torch.channels_last).stride()
    # what the layout decides: pooling and upsampling keep channels-last (a generic path returns NCHW)
    assert F.avg_pool2d(one, 4).is_contiguous(memory_format=torch.channels_last)
    both = add_per_object(g, shared)
    assert torch.equal(both, g + shared.repeat_interleave(objects, 0))


#: The private oneDNN operators `xmempp.model.fused` calls, with the schemas it was written against. A PyTorch
#: upgrade that renames or changes them fails here by name, instead of silently falling back to slow paths.
PRIVATE_OPS = {
    "_convolution_pointwise.default": "mkldnn::_convolution_pointwise(Tensor X, Tensor W, Tensor? B, int[] padding, "
    "int[] stride, int[] dilation, int groups, str attr, Scalar?[] scalars, str? algorithm) -> Tensor Y",
    "_convolution_pointwise.binary": "mkldnn::_convolution_pointwise.binary(Tensor X, Tensor other, Tensor W, "
    "Tensor? B, int[] padding, int[] stride, int[] dilation, int groups, str binary_attr, Scalar? alpha, "
    "str? unary_attr, Scalar?[] unary_scalars, str? unary_algorithm) -> Tensor Y",
    "_convolution_pointwise_.binary": "mkldnn::_convolution_pointwise_.binary(Tensor(a!) other, Tensor X, Tensor W, "
    "Tensor? B, int[] padding, int[] stride, int[] dilation, int groups, str binary_attr, Scalar? alpha, "
    "str? unary_attr, Scalar?[] unary_scalars, str? unary_algorithm) -> Tensor(a!) Y",
    "_reorder_convolution_weight.default": "mkldnn::_reorder_convolution_weight(Tensor self, int[2] padding=0, "
    "int[2] stride=1, int[2] dilation=1, int groups=1, int[]? input_size=None) -> Tensor Y",
}


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="PyTorch built without oneDNN")
@pytest.mark.parametrize("name", sorted(PRIVATE_OPS))
def test_the_private_onednn_operators_keep_their_schemas(name):
    packet, overload = name.split(".")
    op = getattr(getattr(torch.ops.mkldnn, packet, None), overload, None)
    assert op is not None, f"torch.ops.mkldnn.{name} is gone: xmempp/model/fused.py needs updating"
    assert str(op._schema) == PRIVATE_OPS[name], f"torch.ops.mkldnn.{name} changed: update xmempp/model/fused.py"


def test_the_private_cpu_feature_probes_exist():
    """`xmempp.model.precision.native_cpu_bf16` uses these private torch.cpu probes."""
    assert isinstance(torch.cpu._is_avx512_bf16_supported(), bool)
    assert isinstance(torch.cpu._is_amx_tile_supported(), bool)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="PyTorch built without oneDNN")
@pytest.mark.parametrize("dtype", [torch.float32, pytest.param(torch.bfloat16, marks=NEEDS_ONEDNN_BF16)])
@pytest.mark.parametrize("add, reuse_add, relu", [(False, False, True), (True, False, False), (True, True, True)])
@torch.inference_mode()
def test_fused_convolutions_compute_what_the_plain_ones_do_in_their_dtype(dtype, add, reuse_add, relu):
    """Each oneDNN path (plain, binary add, in-place add) in fp32 and bf16 (emulated where the CPU lacks it)."""
    torch.manual_seed(4)
    conv = FusedConv2d(32, 16, 3, padding=1, compute_dtype=dtype).eval()
    x = torch.randn(1, 32, 10, 14).to(dtype)
    other = torch.randn(1, 16, 10, 14).to(dtype) if add else None
    expected = F.conv2d(x.float(), conv.weight, conv.bias, padding=1) + (other.float() if add else 0)
    expected = torch.relu(expected) if relu else expected
    got = conv_act(conv, x, add=None if other is None else other.clone(), relu=relu, reuse_add=reuse_add)
    assert got.dtype == dtype and conv._by_shape  # the oneDNN path, with its packed weight
    tolerance = 1e-4 if dtype == torch.float32 else 0.05 * expected.abs().max().item()
    assert (got.float() - expected).abs().max().item() <= tolerance


def test_a_fused_convolution_needs_a_compute_dtype_onednn_runs():
    with pytest.raises(ValueError, match="computes in"):
        FusedConv2d(4, 4, 3, compute_dtype=torch.float16)


def test_bf16_convolutions_are_refused_with_a_remedy_where_onednn_cannot_run_them(monkeypatch):
    """An AVX2-only CPU (oneDNN's bf16 reorder needs AVX512 BW/VL/DQ): a clear error naming fp32, not
    oneDNN's RuntimeError at the first frame."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    with pytest.raises(ConfigError, match="AVX512") as refused:
        FusedConv2d(4, 4, 3, compute_dtype=torch.bfloat16)
    assert refused.value.remedy.describe() == "set precision to fp32"
