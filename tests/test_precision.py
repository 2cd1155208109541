"""Precision: which number formats each device runs, the refusals, and bf16 on the CPU against fp32.

The bf16 agreement checks run where the CPU has native bf16 (AVX512-BF16 or AMX) and are skipped elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli.app import app
from golden import golden_json, load_npz
from xmempp import InferenceConfig, load_model, propagate
from xmempp.errors import ConfigError, Remedy, RemedyKind
from xmempp.model import precision as precision_module
from xmempp.model.fused import FusedConv2d
from xmempp.model.precision import Precision, native_cpu_bf16, resolve_precision

CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda"), torch.device("mps")
FP32 = Remedy(RemedyKind.SET, "precision", "fp32")
needs_bf16 = pytest.mark.skipif(not native_cpu_bf16(), reason="this CPU has no native bf16 (AVX512-BF16 / AMX)")


def test_auto_keeps_todays_formats_and_explicit_ones_pass_where_supported(monkeypatch):
    monkeypatch.setattr(precision_module, "native_cpu_bf16", lambda: True)
    assert resolve_precision("auto", CPU) is Precision.fp32
    assert resolve_precision("auto", MPS) is Precision.fp32
    assert resolve_precision("auto", CUDA) is Precision.fp16
    assert resolve_precision(" BF16 ", CPU) is Precision.bf16
    assert resolve_precision(Precision.bf16, CUDA) is Precision.bf16
    assert resolve_precision("fp32", CUDA) is Precision.fp32


@pytest.mark.parametrize(
    "name, device, words",
    [
        ("fp16", CPU, "fp16 is not supported on cpu"),
        ("bf16", MPS, "bf16 is not supported on mps"),
        ("bf16", CPU, "native bf16"),
    ],
)
def test_formats_a_device_cannot_run_natively_are_refused_with_fp32_as_the_remedy(monkeypatch, name, device, words):
    monkeypatch.setattr(precision_module, "native_cpu_bf16", lambda: False)
    with pytest.raises(ConfigError, match=words) as caught:
        resolve_precision(name, device)
    assert caught.value.remedy == FP32


def test_an_unknown_precision_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown precision") as caught:
        resolve_precision("int8", CPU)
    assert caught.value.remedy.choices == ("auto", "fp32", "bf16", "fp16")


def test_the_command_line_words_the_refusal_as_a_flag():
    result = CliRunner().invoke(app, ["bench", "--random-weights", "--device", "cpu", "--precision", "fp16"])
    assert result.exit_code != 0
    assert "use --precision fp32" in result.output and "Traceback" not in result.output


def test_fp32_networks_are_unchanged_by_the_precision_plumbing(stand_in_state):
    network = load_model(stand_in_state, device="cpu", precision="fp32")
    assert network.precision is Precision.fp32 and network.activation_dtype == torch.float32
    convs = [m for m in network.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(isinstance(m, FusedConv2d) and m.compute_dtype == torch.float32 for m in convs)
    assert list(network.state_dict()) == list(load_model(stand_in_state, device="cpu").state_dict())


def _decisive(reference: np.ndarray) -> np.ndarray:
    top2 = np.sort(reference, axis=1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]) >= 0.01


def _probs(model, name: str, mode: str) -> np.ndarray:
    clip = load_npz(name)
    config = InferenceConfig.from_mapping({**golden_json()[name]["config"], "size": -1})
    references = {int(f): clip["masks"][i] for i, f in enumerate(clip["annotated"])}
    return np.stack([p.numpy() for _, p in propagate(model, list(clip["frames"]), references, config, mode=mode)])


@pytest.fixture(scope="module")
def bf16_model(stand_in_state):
    return load_model(stand_in_state, device="cpu", precision="bf16")


@needs_bf16
def test_bf16_networks_run_their_convolutions_in_bf16_and_return_fp32(bf16_model):
    assert bf16_model.precision is Precision.bf16 and bf16_model.activation_dtype == torch.bfloat16

    def dtypes(module):
        return {m.compute_dtype for m in module.modules() if isinstance(m, FusedConv2d)}

    assert dtypes(bf16_model.value_encoder) == {torch.bfloat16}
    assert dtypes(bf16_model.decoder.up_16_8) == dtypes(bf16_model.decoder.up_8_4) == {torch.bfloat16}
    # what decides the memory read stays fp32: the keys and the readout's fusion with the key features
    assert dtypes(bf16_model.key_encoder) == dtypes(bf16_model.key_proj) == {torch.float32}
    assert dtypes(bf16_model.decoder.fuser) == {torch.float32}
    with torch.inference_mode():
        features = bf16_model.encode_key(torch.randn(1, 3, 64, 96))
    assert features.key.dtype == features.shrinkage.dtype == features.selection.dtype == torch.float32
    assert features.f16.dtype == torch.bfloat16  # skip features stay bf16 between the network parts
    assert all(p.dtype == torch.float32 for p in bf16_model.parameters())  # the weights themselves stay fp32


@needs_bf16
@pytest.mark.parametrize(
    "name,mode", [("video_caps", "xmempp"), ("video_caps", "xmem"), ("video_caps_evict", "xmempp")]
)
def test_bf16_agrees_with_fp32_on_the_golden_clips(golden_model, bf16_model, name, mode):
    """The agreement bar: argmax on >= 99.9 % of the pixels where fp32 is decisive, and probabilities close."""
    reference = load_npz(name)[f"probs_{mode}"].astype(np.float32)
    fp32, bf16 = _probs(golden_model, name, mode), _probs(bf16_model, name, mode)
    for base in (fp32, reference):
        decisive = _decisive(base)
        assert (bf16.argmax(1) == base.argmax(1))[decisive].mean() >= 0.999
        assert np.abs(bf16 - base).max() <= 0.03  # measured: at most 0.017
