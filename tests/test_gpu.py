"""GPU checks: run only where CUDA is available (skipped on CPU-only machines)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from golden import golden_json, load_npz
from xmempp import InferenceConfig, InferenceSession, load_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def run(model, name: str, autocast: bool) -> np.ndarray:
    clip = load_npz(name)
    config = InferenceConfig.from_mapping({**golden_json()[name]["config"], "size": -1})
    session = InferenceSession(model, config, autocast=autocast)
    for i, frame in enumerate(clip["annotated"]):
        session.add_reference(int(frame), clip["frames"][frame], clip["masks"][i])
    total = len(clip["frames"])
    return np.stack([session.step(t, clip["frames"][t], end=t == total - 1).argmax(0).numpy() for t in range(total)])


@pytest.mark.parametrize("name", ["video_caps", "video_caps_evict"])
def test_autocast_agrees_with_fp32(stand_in_state, name):
    model = load_model(stand_in_state, device="cuda")
    full, mixed = run(model, name, autocast=False), run(model, name, autocast=True)
    assert (full == mixed).mean() >= 0.995


def test_cuda_fp32_matches_reference(stand_in_state):
    model = load_model(stand_in_state, device="cuda")
    clip = load_npz("video_caps")
    ours = run(model, "video_caps", autocast=False)
    ref = clip["probs_xmempp"].astype(np.float32)
    top2 = np.sort(ref, axis=1)[:, -2:]
    decisive = (top2[:, 1] - top2[:, 0]) >= 0.01
    assert (ours == ref.argmax(1))[decisive].mean() >= 0.999
