"""Winograd convolutions (xmempp.model.winograd): agreement with the direct path per layer, the `auto` choice,
and the golden fixtures with Winograd forced everywhere it applies."""

from __future__ import annotations

import functools
import itertools
import json
import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from golden import golden_json, load_npz
from xmempp import InferenceConfig, load_model, propagate
from xmempp.errors import ConfigError
from xmempp.model import conv_timings, fused, winograd
from xmempp.model.fused import FusedConv2d, conv_act
from xmempp.model.network import KeyFeatures
from xmempp.model.winograd import (
    ConvAlgorithm,
    Timing,
    applies,
    choose_tile,
    direct_convolutions,
    measure,
    resolve_conv_algorithm,
    winograd_conv,
)

#: Largest difference from the fp64 convolution, relative to its largest value, per tile size (measured: stand-in
#: weights F(2x2) <= 2e-7 and F(4x4) <= 4e-6; trained-like BN-folded weights alike; oneDNN's direct path 2e-6).
_TOLERANCE = {2: 2e-6, 4: 3e-5}


def _conv(c: int, k: int, bias: bool = True, seed: int = 0) -> FusedConv2d:
    torch.manual_seed(seed)
    return FusedConv2d(c, k, 3, padding=1, bias=bias).eval().requires_grad_(False).to(memory_format=torch.channels_last)


def _relative(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours.double() - ref).abs().max() / ref.abs().max())


@pytest.mark.parametrize("m", winograd.TILES)
@pytest.mark.parametrize("n,c,k,h,w", [(1, 8, 16, 8, 12), (3, 16, 8, 7, 9), (2, 5, 6, 1, 2), (1, 32, 24, 13, 30)])
def test_winograd_matches_fp64_with_residual_relu_and_batches(m, n, c, k, h, w):
    conv = _conv(c, k)
    x = torch.randn(n, c, h, w).contiguous(memory_format=torch.channels_last)
    add = torch.randn(n, k, h, w).contiguous(memory_format=torch.channels_last)
    ref = F.conv2d(x.double(), conv.weight.double(), conv.bias.double(), padding=1)
    with torch.inference_mode():
        assert _relative(winograd_conv(conv, x, m), ref) < _TOLERANCE[m]
        for reuse in (False, True):
            given = add.clone()
            out = winograd_conv(conv, x, m, given, relu=True, reuse_add=reuse)
            assert out.shape == (n, k, h, w) and out.is_contiguous(memory_format=torch.channels_last)
            assert _relative(out, F.relu(ref + add.double())) < _TOLERANCE[m]
            if not reuse:
                assert torch.equal(given, add)  # the residual is not written unless given up
                kept = out
            else:
                assert torch.equal(out, kept)  # the same bits whether the residual is written into or not


def test_input_is_never_modified_and_nchw_input_is_read():
    conv = _conv(6, 6)
    x = torch.randn(2, 6, 9, 11)  # NCHW
    kept = x.clone()
    with torch.inference_mode():
        out = winograd_conv(conv, x, 4, add=x, reuse_add=True)  # the residual is the input: never written into
    assert torch.equal(x, kept)
    ref = F.conv2d(x.double(), conv.weight.double(), conv.bias.double(), padding=1) + x.double()
    assert _relative(out, ref) < _TOLERANCE[4]


def _trained_like(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Batch-norm statistics and scales like a trained network's (small variances, gains near 1, offsets),
    which folding turns into convolution weights up to ~10x larger with per-channel scales."""
    generator = torch.Generator().manual_seed(1)
    out = dict(state)
    for key, value in state.items():
        if key.endswith("running_var"):
            out[key] = torch.rand(value.shape, generator=generator) * 0.2 + 0.01
        elif key.endswith("running_mean"):
            out[key] = torch.randn(value.shape, generator=generator) * 0.3
        elif key.endswith(".weight") and key.replace(".weight", ".running_var") in state:
            out[key] = torch.rand(value.shape, generator=generator) + 0.5
        elif key.endswith(".bias") and key.replace(".bias", ".running_var") in state:
            out[key] = torch.randn(value.shape, generator=generator) * 0.2
    return out


def _layer_inputs(network, frames: torch.Tensor, monkeypatch) -> dict[str, tuple[FusedConv2d, torch.Tensor]]:
    """Every Winograd-eligible convolution of the key encoder and the decoder (two objects) with its real input
    on `frames` (recorded where `conv_act` asks for the algorithm; run directly)."""
    names = {id(conv): name for name, conv in network.named_modules() if isinstance(conv, FusedConv2d)}
    seen: dict[str, tuple[FusedConv2d, torch.Tensor]] = {}

    def record(conv, x, direct, clock=None):
        name = names.get(id(conv), f"split input of {tuple(conv.weight.shape)}")
        if applies(conv) and name not in seen:
            seen[name] = (conv, x.clone())
        return 0

    monkeypatch.setattr(fused, "choose_tile", record)
    network.set_conv_algorithm("auto")
    with torch.inference_mode():
        features = network.encode_key(frames)
        size = features.f16.shape[-2:]
        readout = torch.randn(frames.shape[0], 2, network.dims.value_dim, *size)
        hidden = torch.randn(frames.shape[0], 2, network.dims.hidden_dim, *size)
        network.segment(KeyFeatures(None, None, None, features.f16, features.f8, features.f4), readout, hidden)
    return seen


@pytest.mark.parametrize("weights", ["stand-in", "trained-like"])
def test_every_layer_agrees_with_the_direct_path(stand_in_state, weights, monkeypatch):
    state = stand_in_state if weights == "stand-in" else _trained_like(stand_in_state)
    network = load_model(state, device="cpu", conv="direct")
    frames = torch.from_numpy(load_npz("network_io")["frames"])
    layers = _layer_inputs(network, frames, monkeypatch)
    assert len(layers) >= 20  # key encoder's bottleneck 3x3s and the decoder's convolutions
    with torch.inference_mode():
        for name, (conv, x) in layers.items():
            ref = F.conv2d(
                x.double(), conv.weight.double(), conv.bias.double() if conv.bias is not None else None, padding=1
            )
            direct = conv_act(conv, x)
            assert _relative(direct, ref) < 2e-5, name
            for m in winograd.TILES:
                assert _relative(winograd_conv(conv, x, m), ref) < _TOLERANCE[m], (name, m)


def _clock(direct: float, f2: float, f4: float):
    """A clock by which each timed run of the direct path, F(2x2) and F(4x4) takes the given seconds."""
    order = iter(itertools.cycle([0, direct, 0, f2, 0, f4]))
    ticks = [0.0]

    def clock():
        ticks[0] += next(order)
        return ticks[0]

    return clock


@pytest.fixture
def timings_file(tmp_path, monkeypatch):
    """An empty file of recorded choices and an empty in-process table."""
    path = tmp_path / "cache" / "conv_timings.json"
    monkeypatch.setenv(conv_timings.TIMINGS_ENV, str(path))
    monkeypatch.setattr(winograd, "_TABLE", {})
    return path


def _auto_conv(c: int = 8) -> tuple[FusedConv2d, torch.Tensor]:
    conv = _conv(c, c)
    conv.algorithm = ConvAlgorithm.auto
    return conv, torch.randn(1, c, 16, 16).contiguous(memory_format=torch.channels_last)


def test_auto_keeps_the_fastest_it_measured(timings_file):
    conv, x = _auto_conv()
    clock = _clock(3, 1, 2)  # F(2x2) fastest
    with torch.inference_mode():
        direct = lambda: conv_act(conv, x)  # noqa: E731
        assert choose_tile(conv, x, direct, clock=clock) == 2
        timing = next(iter(winograd.timing_table().values()))
        assert timing.seconds == {0: 3, 2: 1, 4: 2} and timing.chosen == 2
        # the table answers the same shape without measuring again; F(4x4)'s unused filter is dropped
        assert choose_tile(conv, x, lambda: pytest.fail("measured again"), clock=clock) == 2
        assert "winograd4" not in conv._derived and "winograd2" in conv._derived
        with direct_convolutions():
            assert choose_tile(conv, x, direct) == 0


def test_auto_measures_until_the_quickest_runs_repeat(timings_file):
    """A busy machine: F(4x4)'s first runs wait for descheduled threads (5 s, 3 s), its later ones take 0.5 s; the
    direct path takes 1 s every time. Two rounds would choose the direct path; `auto` runs on until each path's two
    quickest runs agree, and keeps F(4x4)."""
    durations = iter([1, 9, 5, 1, 9, 3] + [1, 9, 0.5] * 6)  # per round: direct, F(2x2), F(4x4)
    state = {"now": 0.0, "calls": 0}

    def clock():  # called at the start and at the end of each timed run
        state["calls"] += 1
        if state["calls"] % 2 == 0:
            state["now"] += next(durations)
        return state["now"]

    conv, x = _auto_conv()
    with torch.inference_mode():
        timing = measure(conv, x, lambda: conv_act(conv, x), clock)
    assert timing.chosen == 4 and timing.seconds == {0: 1, 2: 9, 4: 0.5}


def test_a_second_process_reuses_the_recorded_choice(timings_file, monkeypatch):
    conv, x = _auto_conv()
    with torch.inference_mode():
        assert choose_tile(conv, x, lambda: conv_act(conv, x), clock=_clock(3, 2, 1)) == 4
    recorded = json.loads(timings_file.read_text())["timings"]
    ((key, entry),) = recorded.items()
    assert entry["chosen"] == 4 and f"{torch.get_num_threads()} threads; 8x8x1x16x16" in key
    assert torch.__version__ in key and torch.backends.cpu.get_cpu_capability() in key
    monkeypatch.setattr(winograd, "_TABLE", {})  # a new process: nothing measured in it yet
    fresh, _ = _auto_conv()
    with torch.inference_mode():
        assert choose_tile(fresh, x, lambda: pytest.fail("measured again"), clock=_clock(1, 2, 3)) == 4
    assert next(iter(winograd.timing_table().values())).chosen == 4
    # without the variable the file lives in XMEMPP_HOME; deleting it measures again
    monkeypatch.delenv(conv_timings.TIMINGS_ENV)
    monkeypatch.setenv("XMEMPP_HOME", str(timings_file.parent))
    assert conv_timings.timings_path() == timings_file
    timings_file.unlink()
    monkeypatch.setattr(winograd, "_TABLE", {})
    with torch.inference_mode():
        assert choose_tile(fresh, x, lambda: conv_act(fresh, x), clock=_clock(1, 2, 3)) == 0
    assert next(iter(json.loads(timings_file.read_text())["timings"].values()))["chosen"] == 0


def test_a_choice_recorded_meanwhile_by_another_process_is_adopted(timings_file, monkeypatch):
    conv, x = _auto_conv()
    real_measure = winograd.measure

    def measure_while_another_records(conv, x, direct, clock):
        ours = real_measure(conv, x, direct, clock)
        key = conv_timings.machine_key((8, 8, 1, 16, 16), torch.get_num_threads())
        theirs = Timing({0: 1.0, 2: 2.0, 4: 3.0}, 0)
        assert conv_timings.record_choice(key, theirs, (0, 2, 4)) == theirs  # the other process writes first
        return ours

    monkeypatch.setattr(winograd, "measure", measure_while_another_records)
    with torch.inference_mode():
        assert choose_tile(conv, x, lambda: conv_act(conv, x), clock=_clock(3, 1, 2)) == 0  # theirs, not F(2x2)
    assert [e["chosen"] for e in json.loads(timings_file.read_text())["timings"].values()] == [0]
    assert next(iter(winograd.timing_table().values())).chosen == 0


def test_an_unwritable_folder_keeps_choices_per_process_with_one_warning(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv(conv_timings.TIMINGS_ENV, str(blocker / "conv_timings.json"))
    monkeypatch.setattr(winograd, "_TABLE", {})
    with caplog.at_level(logging.WARNING, logger=conv_timings.__name__), torch.inference_mode():
        for c in (8, 6):
            conv, x = _auto_conv(c)
            assert choose_tile(conv, x, functools.partial(conv_act, conv, x), clock=_clock(3, 1, 2)) == 2
            assert choose_tile(conv, x, lambda: pytest.fail("measured again")) == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cannot record" in warnings[0].getMessage()
    assert len(winograd.timing_table()) == 2


def test_a_corrupt_file_is_ignored_and_rewritten(timings_file):
    timings_file.parent.mkdir(parents=True)
    timings_file.write_text("{not json")
    conv, x = _auto_conv()
    with torch.inference_mode():
        assert choose_tile(conv, x, lambda: conv_act(conv, x), clock=_clock(3, 1, 2)) == 2
    assert [e["chosen"] for e in json.loads(timings_file.read_text())["timings"].values()] == [2]


def test_auto_never_picks_a_path_that_measured_slower():
    """Real timings: the choice is the fastest of what was measured."""
    conv = _conv(64, 64)
    x = torch.randn(1, 64, 24, 40).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        timing = measure(conv, x, lambda: conv_act(conv, x))
    assert set(timing.seconds) == {0, *winograd.TILES}
    assert timing.seconds[timing.chosen] == min(timing.seconds.values())


@pytest.mark.slow  # measures every shape of a propagation
def test_auto_table_holds_only_fastest_choices_after_propagation(golden_model, timings_file):
    clip = load_npz("video_caps")
    frames = list(clip["frames"][:3])
    references = {0: clip["masks"][0]}
    golden_model.set_conv_algorithm("auto")
    try:
        list(propagate(golden_model, frames, references, InferenceConfig(size=-1)))
    finally:
        golden_model.set_conv_algorithm("auto")
    table = winograd.timing_table()
    assert table
    for key, timing in table.items():
        assert isinstance(timing, Timing)
        assert timing.seconds[timing.chosen] == min(timing.seconds.values()), key


def test_algorithm_names_and_where_winograd_applies():
    assert resolve_conv_algorithm(" Winograd ") is ConvAlgorithm.winograd
    with pytest.raises(ConfigError, match="unknown convolution algorithm"):
        resolve_conv_algorithm("fft")
    with pytest.raises(ConfigError):
        load_model({}, device="cpu", conv="fft")
    assert applies(_conv(4, 4))
    assert not applies(FusedConv2d(4, 4, 3, stride=2, padding=1))
    assert not applies(FusedConv2d(4, 4, 1))
    assert not applies(FusedConv2d(4, 1, 3, padding=1))


def test_forced_winograd_and_the_direct_override():
    conv = _conv(8, 8)
    conv.algorithm = ConvAlgorithm.winograd
    x = torch.randn(1, 8, 8, 8).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert choose_tile(conv, x, lambda: x) == 4
        assert conv_act(conv, x).shape == (1, 8, 8, 8)
        with direct_convolutions():
            assert choose_tile(conv, x, lambda: x) == 0


def _close(ours: torch.Tensor, ref: np.ndarray) -> bool:
    return bool(np.all(np.abs(ours.detach().numpy() - ref) <= 1e-4 + 1e-4 * np.abs(ref)))


def test_golden_network_parts_with_winograd_forced(stand_in_state):
    network = load_model(stand_in_state, device="cpu", conv="winograd")
    io = load_npz("network_io")
    t = {k: torch.from_numpy(v) for k, v in io.items()}
    with torch.inference_mode():
        features = network.encode_key(t["frames"])
        for name in ("key", "shrinkage", "selection", "f16", "f8", "f4"):
            assert _close(getattr(features, name), io[name]), name
        value, hidden = network.encode_value(t["frames"], t["f16"], t["hidden"], t["mask"], deep_update=True)
        assert _close(value, io["value"]) and _close(hidden, io["value_hidden"])
        skip = KeyFeatures(None, None, None, t["f16"], t["f8"], t["f4"])
        hidden, _logits, probs = network.segment(skip, t["readout"], t["hidden"])
        assert _close(hidden, io["seg_hidden"]) and _close(probs, io["seg_prob"])


@pytest.mark.slow  # three golden clips propagated with Winograd everywhere: minutes on a busy machine
@pytest.mark.parametrize(
    "name,mode", [("video_caps", "xmempp"), ("video_caps", "xmem"), ("video_caps_evict", "xmempp")]
)
def test_golden_clips_with_winograd_forced(stand_in_state, name, mode):
    network = load_model(stand_in_state, device="cpu", conv="winograd")
    clip = load_npz(name)
    config = InferenceConfig.from_mapping({**golden_json()[name]["config"], "size": -1})
    references = {int(f): clip["masks"][i] for i, f in enumerate(clip["annotated"])}
    expected = clip[f"probs_{mode}"].astype(np.float32)
    worst = 0.0
    for index, probs in propagate(network, list(clip["frames"]), references, config, mode=mode):
        ref = expected[index]
        worst = max(worst, float(np.abs(probs.numpy() - ref).max()))
        top2 = np.sort(ref, axis=0)[-2:]
        decisive = (top2[1] - top2[0]) >= 0.01
        if decisive.any():
            assert (probs.numpy().argmax(0) == ref.argmax(0))[decisive].mean() >= 0.999
    assert worst <= 5e-3
