"""The network and propagation reproduce the reference XMem / XMem++ numbers (../shared/golden)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from golden import golden_json, load_npz, manifest
from xmempp import InferenceConfig, propagate
from xmempp.model.network import KeyFeatures, XMemNetwork


def close(ours: torch.Tensor, ref: np.ndarray) -> bool:
    ours = ours.detach().numpy()
    return bool(np.all(np.abs(ours - ref) <= 1e-4 + 1e-4 * np.abs(ref)))


def test_state_dict_matches_official_layout():
    expected = {k: tuple(v["shape"]) for k, v in manifest().items()}
    ours = {k: tuple(v.shape) for k, v in XMemNetwork().state_dict().items()}
    assert ours == expected


def test_network_parts_match_reference(golden_model):
    io = load_npz("network_io")
    t = {k: torch.from_numpy(v) for k, v in io.items()}
    with torch.no_grad():
        features = golden_model.encode_key(t["frames"])
        for name in ("key", "shrinkage", "selection", "f16", "f8", "f4"):
            assert close(getattr(features, name), io[name]), name
        value, hidden = golden_model.encode_value(t["frames"], t["f16"], t["hidden"], t["mask"], deep_update=True)
        assert close(value, io["value"]) and close(hidden, io["value_hidden"])
        skip = KeyFeatures(None, None, None, t["f16"], t["f8"], t["f4"])
        hidden, logits, probs = golden_model.segment(skip, t["readout"], t["hidden"])
        assert close(hidden, io["seg_hidden"])
        assert close(logits, io["seg_logits"])
        assert close(probs, io["seg_prob"])


def run_fixture(model, name: str, mode: str) -> tuple[float, float]:
    """Propagate a golden clip; return (max abs error, worst per-frame decisive argmax agreement)."""
    clip = load_npz(name)
    config = InferenceConfig.from_mapping({**golden_json()[name]["config"], "size": -1})
    references = {int(f): clip["masks"][i] for i, f in enumerate(clip["annotated"])}
    expected = clip[f"probs_{mode}"].astype(np.float32)
    worst_error, worst_agreement = 0.0, 1.0
    count = 0
    for index, probs in propagate(model, list(clip["frames"]), references, config, mode=mode):
        ours, ref = probs.numpy(), expected[index]
        assert ours.shape == ref.shape
        worst_error = max(worst_error, float(np.abs(ours - ref).max()))
        top2 = np.sort(ref, axis=0)[-2:]
        decisive = (top2[1] - top2[0]) >= 0.01
        if decisive.any():
            agreement = float((ours.argmax(0) == ref.argmax(0))[decisive].mean())
            worst_agreement = min(worst_agreement, agreement)
        count += 1
    assert count == len(clip["frames"])
    return worst_error, worst_agreement


@pytest.mark.parametrize(
    "name,mode", [("video_caps", "xmempp"), ("video_caps", "xmem"), ("video_caps_evict", "xmempp")]
)
def test_propagation_matches_reference(golden_model, name, mode):
    error, agreement = run_fixture(golden_model, name, mode)
    assert error <= 5e-3
    assert agreement >= 0.999
