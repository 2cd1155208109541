"""GPU checks: run only where CUDA is available (skipped on CPU-only machines)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from golden import golden_json, load_npz
from xmempp import InferenceConfig, InferenceSession, load_model
from xmempp.model.cuda_graphs import use_cuda_graphs
from xmempp.model.device import to_host
from xmempp.model.fused import FusedConv2d, conv_act

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def probs(model, name: str) -> np.ndarray:
    clip = load_npz(name)
    config = InferenceConfig.from_mapping({**golden_json()[name]["config"], "size": -1})
    session = InferenceSession(model, config)
    for i, frame in enumerate(clip["annotated"]):
        session.add_reference(int(frame), clip["frames"][frame], clip["masks"][i])
    total = len(clip["frames"])
    return np.stack([session.step(t, clip["frames"][t], end=t == total - 1).numpy() for t in range(total)])


def decisive(reference: np.ndarray) -> np.ndarray:
    """Pixels whose top two probabilities differ by >= 0.01 (the golden fixtures' rule for argmax checks)."""
    top2 = np.sort(reference, axis=1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]) >= 0.01


@pytest.mark.parametrize("name", ["video_caps", "video_caps_evict"])
def test_autocast_agrees_with_fp32(stand_in_state, name):
    full = probs(load_model(stand_in_state, device="cuda", precision="fp32"), name)
    mixed = probs(load_model(stand_in_state, device="cuda"), name)  # auto: fp16 autocast
    # With the stand-in weights about 30 % of video_caps' pixels are near-ties between objects,
    # decided by rounding: argmax is compared where fp32 is decisive, probabilities everywhere.
    assert (full.argmax(1) == mixed.argmax(1))[decisive(full)].mean() >= 0.999
    assert np.abs(full - mixed).max() <= 0.02


def test_cuda_fp32_matches_reference(stand_in_state):
    model = load_model(stand_in_state, device="cuda", precision="fp32")
    clip = load_npz("video_caps")
    ours = probs(model, "video_caps").argmax(1)
    ref = clip["probs_xmempp"].astype(np.float32)
    assert (ours == ref.argmax(1))[decisive(ref)].mean() >= 0.999


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cuda_graphs_give_the_eager_results(stand_in_state, precision):
    eager = probs(load_model(stand_in_state, device="cuda", precision=precision), "video_caps_evict")
    graphed_model = use_cuda_graphs(load_model(stand_in_state, device="cuda", precision=precision))
    assert graphed_model.segment.graphs == {}
    graphed = probs(graphed_model, "video_caps_evict")
    assert graphed_model.segment.graphs and graphed_model.encode_key.graphs  # captured and replayed
    assert (eager.argmax(1) == graphed.argmax(1))[decisive(eager)].mean() >= 0.999
    assert np.abs(eager - graphed).max() <= 1e-3


@torch.inference_mode()
def test_cuda_autocast_convolutions_cast_each_weight_once_with_autocasts_numbers():
    torch.manual_seed(0)
    conv = FusedConv2d(64, 128, 3, padding=1).cuda().to(memory_format=torch.channels_last)
    x = torch.randn(2, 64, 60, 108, device="cuda").contiguous(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.float16):
        ours, theirs = conv_act(conv, x, relu=True), torch.relu(conv(x))
        kept = conv.cast_weights(torch.float16)[0]
        conv_act(conv, x)
    assert kept.dtype == torch.float16 and conv.cast_weights(torch.float16)[0] is kept
    assert torch.equal(ours, theirs)


def test_probabilities_come_back_in_reusable_page_locked_memory():
    probs = torch.rand(6, 1080, 1920, device="cuda")
    first = to_host(probs)
    assert first.is_pinned() and torch.equal(first, probs.cpu())
    address = first.data_ptr()
    del first
    assert to_host(probs).data_ptr() == address  # the freed block is reused, not mapped anew
