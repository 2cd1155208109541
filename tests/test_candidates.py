"""Annotation-candidate selection: golden equivalence, published semantics, edge cases, pipeline."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from xmempp.candidate_selection import (
    CandidateResult,
    FewerCandidatesWarning,
    mask_presence_percent,
    select_candidates,
    select_next_candidates,
    suggest_candidates,
    suggest_frames,
)
from xmempp.errors import ConfigError, InputError

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "golden"


def _golden():
    npz, spec = GOLDEN / "candidates_chair.npz", GOLDEN / "golden.json"
    if not npz.exists() or not spec.exists():
        pytest.skip(f"golden fixtures absent: {GOLDEN} (expected ../shared/golden beside the checkout)")
    import json

    with np.load(npz) as data:
        arrays = {key: data[key] for key in data.files}
    return arrays, json.loads(spec.read_text())["candidates_chair"]


def _golden_call(arrays, params, keys=None, **extra):
    return select_next_candidates(
        arrays["keys"] if keys is None else keys,
        arrays["shrinkages"],
        arrays["selections"],
        arrays["masks"],
        params["k"],
        previously_chosen=params["previously_chosen"],
        alpha=params["alpha"],
        min_mask_presence_percent=params["min_mask_presence_percent"],
        epsilon=params["epsilon"],
        **extra,
    )


# ------------------------------------------------------------------ golden


def test_golden_chair_exact():
    arrays, params = _golden()
    assert _golden_call(arrays, params) == params["chosen"]


def test_golden_chair_float16_keys_same_answer():
    arrays, params = _golden()
    keys16 = torch.from_numpy(arrays["keys"]).to(torch.float16)
    assert _golden_call(arrays, params, keys=keys16) == params["chosen"]


@pytest.mark.parametrize("cache", [0, 1 << 30], ids=["recompute", "cached"])
def test_golden_chair_small_chunks_same_answer(cache):
    arrays, params = _golden()
    result = select_candidates(
        arrays["keys"],
        arrays["shrinkages"],
        arrays["selections"],
        arrays["masks"],
        k=params["k"],
        previously_chosen=params["previously_chosen"],
        alpha=params["alpha"],
        min_mask_presence_percent=params["min_mask_presence_percent"],
        epsilon=params["epsilon"],
        max_chunk_bytes=20 << 20,
        max_cache_bytes=cache,
    )
    assert list(result.chosen) == params["chosen"]
    assert result.complete and result.reason is None


def test_options_by_position_still_work_with_a_deprecation_warning():
    arrays, params = _golden()
    with pytest.warns(DeprecationWarning, match=r"k, previously_chosen, alpha.*by keyword"):
        result = select_candidates(
            arrays["keys"],
            arrays["shrinkages"],
            arrays["selections"],
            arrays["masks"],
            params["k"],
            params["previously_chosen"],
            params["alpha"],
        )
    assert list(result.chosen) == list(
        select_candidates(
            arrays["keys"],
            arrays["shrinkages"],
            arrays["selections"],
            arrays["masks"],
            k=params["k"],
            previously_chosen=params["previously_chosen"],
            alpha=params["alpha"],
        ).chosen
    )
    with pytest.raises(TypeError, match="both by position and by keyword"):
        select_candidates(arrays["keys"], arrays["shrinkages"], arrays["selections"], arrays["masks"], 2, k=2)
    # frames whose mask is empty are reported as invalid and never chosen
    empty = [i for i in range(len(arrays["masks"])) if arrays["masks"][i].max() <= params["epsilon"]]
    assert empty and set(empty) <= set(result.invalid)


# ------------------------------------------------- reference semantics, brute force


def _nearest(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """Nearest-neighbour resize (integer down-scaling factors only)."""
    H, W = mask.shape[-2:]
    rows = (np.arange(h) * H) // h
    cols = (np.arange(w) * W) // w
    return mask[..., rows[:, None], cols[None, :]]


def _similarity(mem_key, mem_shrink, query_key, query_select):
    """S(mem -> query)[i, j] = -sum_c sel_q[c, j] (k_m[c, i] - k_q[c, j])^2 * s_m[i] / sqrt(C), float64."""
    channels = mem_key.shape[0]
    diff = mem_key[:, :, None] - query_key[:, None, :]
    distance = (query_select[:, None, :] * diff**2).sum(0)
    return -distance * mem_shrink[0][:, None] / math.sqrt(channels)


def brute_force_select(
    keys,
    shrinkages,
    selections,
    masks,
    k,
    previously_chosen=(0,),
    alpha=0.5,
    min_mask_presence_percent=0.25,
    epsilon=0.5,
    with_scores=False,
):
    """The published selector, all pairs every round, written from its description.

    Frames with too little mask are invalid (dissimilarity 0) unless already chosen;
    keys are weighted by 1 - alpha + alpha * mask (mask at key resolution, nearest);
    dissimilarity(c, j) = mean ReLU(S(c->j) - S(j->c)); each round takes the frame with
    the largest minimum dissimilarity to the chosen ones (first index on ties). Stops
    where the published code would pick an already chosen or invalid frame.
    """
    keys = np.asarray(keys, np.float64)
    shrinkages = np.asarray(shrinkages, np.float64)
    selections = np.asarray(selections, np.float64)
    masks = np.asarray(masks, np.float64)
    if masks.ndim == 3:
        masks = masks[:, None]
    T, C, h, w = keys.shape
    merged = masks.max(axis=1)
    valid = [
        (merged[i] > epsilon).mean() * 100 >= min_mask_presence_percent or i in previously_chosen for i in range(T)
    ]
    weights = _nearest(merged, h, w)
    flat = [(keys[i] * (1 - alpha + alpha * weights[i])).reshape(C, -1) for i in range(T)]
    shr = [shrinkages[i].reshape(1, -1) for i in range(T)]
    sel = [selections[i].reshape(C, -1) for i in range(T)]

    def dissimilarity(c, j):
        forward = _similarity(flat[c], shr[c], flat[j], sel[j])
        backward = _similarity(flat[j], shr[j], flat[c], sel[c])
        return np.maximum(forward - backward, 0).mean()

    chosen = list(previously_chosen)
    picked, picked_scores = [], []
    for _ in range(k):
        scores = [min(dissimilarity(c, j) for c in chosen) if valid[j] else 0.0 for j in range(T)]
        best = int(np.argmax(scores))  # first maximum
        if best in chosen or not valid[best]:
            break
        chosen.append(best)
        picked.append(best)
        picked_scores.append(scores[best])
    return (picked, picked_scores) if with_scores else picked


def _random_inputs(seed, frames=14, channels=8, h=5, w=6, scale=4, objects=2):
    rng = np.random.default_rng(seed)
    keys = rng.normal(size=(frames, channels, h, w)).astype(np.float32)
    # slow drift plus noise, so that frames differ by different amounts
    keys += np.cumsum(rng.normal(scale=0.6, size=(frames, channels, 1, 1)), axis=0).astype(np.float32)
    shrinkages = (1 + rng.random((frames, 1, h, w)) * 2).astype(np.float32)
    selections = rng.random((frames, channels, h, w)).astype(np.float32)
    masks = np.zeros((frames, objects, h * scale, w * scale), np.float32)
    for i in range(frames):
        for o in range(objects):
            coverage = rng.choice([0.0, 0.002, 0.05, 0.3, 0.7])
            masks[i, o] = (rng.random((h * scale, w * scale)) < coverage) * rng.uniform(0.3, 1.0)
    # duplicated frames make exact ties; the lowest index must win
    for a, b in ((2, 3), (8, 9)):
        keys[b], shrinkages[b], selections[b], masks[b] = keys[a], shrinkages[a], selections[a], masks[a]
    return keys, shrinkages, selections, masks


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_matches_brute_force_reference(seed, alpha):
    keys, shrinkages, selections, masks = _random_inputs(seed)
    previous = (0,) if seed % 2 == 0 else (5, 1)
    params = dict(previously_chosen=previous, alpha=alpha, min_mask_presence_percent=1.0, epsilon=0.5)
    expected = brute_force_select(keys, shrinkages, selections, masks, 6, **params)
    assert expected, "the random inputs should leave frames to choose"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewerCandidatesWarning)
        got = select_next_candidates(keys, shrinkages, selections, masks, len(expected), **params)
    assert got == expected


def test_scores_are_the_mean_cycle_dissimilarity():
    keys, shrinkages, selections, masks = _random_inputs(21)
    expected, expected_scores = brute_force_select(keys, shrinkages, selections, masks, 4, with_scores=True)
    result = select_candidates(keys, shrinkages, selections, masks, k=4)
    assert list(result.chosen) == expected
    np.testing.assert_allclose(result.dissimilarities, expected_scores, rtol=1e-5)


@pytest.mark.parametrize("seed", [11, 12])
def test_matches_brute_force_with_key_resolution_masks_and_other_thresholds(seed):
    keys, shrinkages, selections, masks = _random_inputs(seed, frames=12, scale=1, objects=1)
    params = dict(previously_chosen=(3,), alpha=0.7, min_mask_presence_percent=3.0, epsilon=0.2)
    expected = brute_force_select(keys, shrinkages, selections, masks, 5, **params)
    assert expected
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewerCandidatesWarning)
        assert select_next_candidates(keys, shrinkages, selections, masks, len(expected), **params) == expected


def test_float64_and_tensor_inputs_agree():
    keys, shrinkages, selections, masks = _random_inputs(3)
    first = select_next_candidates(keys, shrinkages, selections, masks, 4)
    tensors = [torch.from_numpy(a) for a in (keys, shrinkages, selections, masks)]
    assert select_next_candidates(*tensors, 4) == first
    assert select_next_candidates(*tensors, 4) == first  # deterministic
    per_frame = [m for m in masks]  # a sequence of (K, H, W) masks works too
    assert select_next_candidates(keys, shrinkages, selections, per_frame, 4) == first


# -------------------------------------------------------------- edge cases


def _distinct_inputs(frames=8, h=4, w=4, channels=4, seed=0):
    rng = np.random.default_rng(seed)
    keys = rng.normal(size=(frames, channels, h, w)).astype(np.float32)
    shrinkages = np.ones((frames, 1, h, w), np.float32)
    selections = np.full((frames, channels, h, w), 0.5, np.float32)
    masks = np.ones((frames, 1, h, w), np.float32)
    return keys, shrinkages, selections, masks


def test_invalid_frames_are_never_returned():
    keys, shrinkages, selections, masks = _distinct_inputs()
    keys[4] *= 25  # by far the most different frame ...
    masks[4] = 0  # ... but its mask is empty
    masks[6, 0] = 0
    masks[6, 0, 0, 0] = 1.0  # 1 of 16 pixels = 6.25 %: invalid at a 10 % minimum
    result = select_candidates(keys, shrinkages, selections, masks, k=3, min_mask_presence_percent=10.0)
    assert 4 not in result.chosen and 6 not in result.chosen
    assert result.invalid == (4, 6)
    # the same frame is chosen first once its mask is valid
    masks[4] = 1
    assert select_next_candidates(keys, shrinkages, selections, masks, 1)[0] == 4


def test_presence_is_a_percentage_not_a_fraction():
    mask = np.zeros((40, 100), np.float32)
    mask.flat[:12] = 1.0  # 12 / 4000 pixels = 0.3 %
    assert mask_presence_percent(mask) == pytest.approx(0.3)
    keys, shrinkages, selections, _ = _distinct_inputs(frames=3, h=40, w=100, channels=2)
    masks = np.ones((3, 1, 40, 100), np.float32)
    masks[1] = mask
    masks[2, 0] = 0
    masks[2, 0].flat[:8] = 1.0  # 0.2 %
    result = select_candidates(keys, shrinkages, selections, masks, k=2, min_mask_presence_percent=0.25)
    assert result.invalid == (2,) and result.chosen == (1,)


def test_k_larger_than_valid_frames_returns_fewer_with_warning():
    keys, shrinkages, selections, masks = _distinct_inputs(frames=6)
    masks[2] = 0
    with pytest.warns(FewerCandidatesWarning, match="only 4 of the 10 requested"):
        chosen = select_next_candidates(keys, shrinkages, selections, masks, 10)
    assert sorted(chosen) == [1, 3, 4, 5]
    result = select_candidates(keys, shrinkages, selections, masks, k=10)
    assert isinstance(result, CandidateResult)
    assert not result.complete and result.reason and result.chosen == tuple(chosen)
    assert result.eligible_count == 4 and result.invalid == (2,)


def test_previously_chosen_are_never_returned():
    keys, shrinkages, selections, masks = _distinct_inputs(frames=9)
    keys[3] *= 30  # most different, but already annotated
    masks[7] = 0  # an already-chosen frame may have an empty mask: it still counts as chosen
    previous = [3, 7, 0, 3]
    with pytest.warns(FewerCandidatesWarning):
        chosen = select_next_candidates(keys, shrinkages, selections, masks, 9, previously_chosen=previous)
    assert sorted(chosen) == [1, 2, 4, 5, 6, 8]
    assert len(set(chosen)) == len(chosen)
    result = select_candidates(keys, shrinkages, selections, masks, k=2, previously_chosen=previous)
    assert result.previously_chosen == (3, 7, 0) and result.invalid == ()


def test_duplicate_of_chosen_frame_is_least_wanted():
    keys, shrinkages, selections, masks = _distinct_inputs(frames=5)
    keys[2] = keys[0]
    chosen = select_next_candidates(keys, shrinkages, selections, masks, 4)
    assert chosen[-1] == 2


def test_all_remaining_duplicates_of_chosen_tie_at_zero_lowest_index_first():
    keys, shrinkages, selections, masks = _distinct_inputs(frames=5, seed=4)
    for twin in (0, 1):  # frames 0 and 1 repeat the annotated frame 3
        keys[twin], shrinkages[twin], selections[twin] = keys[3], shrinkages[3], selections[3]
    result = select_candidates(keys, shrinkages, selections, masks, k=3, previously_chosen=(3,))
    expected = brute_force_select(keys, shrinkages, selections, masks, 3, previously_chosen=(3,))
    # the reference's third round: every score is 0, the first index (frame 0) wins
    assert list(result.chosen) == expected and sorted(expected[:2]) == [2, 4] and expected[2] == 0
    assert result.dissimilarities[2] == 0.0


def test_k_zero_and_progress():
    keys, shrinkages, selections, masks = _distinct_inputs(frames=5)
    assert select_next_candidates(keys, shrinkages, selections, masks, 0) == []
    calls = []
    select_next_candidates(
        keys, shrinkages, selections, masks, 2, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(1, 2), (2, 2)]


@pytest.mark.parametrize(
    "change, error",
    [
        (dict(alpha=1.5), ConfigError),
        (dict(k=-1), ConfigError),
        (dict(min_mask_presence_percent=-1), ConfigError),
        (dict(previously_chosen=()), ConfigError),
        (dict(previously_chosen=(8,)), InputError),
        (dict(shrinkages=np.ones((5, 1, 3, 4), np.float32)), InputError),
        (dict(selections=np.ones((5, 3, 4, 4), np.float32)), InputError),
        (dict(masks=np.ones((4, 1, 4, 4), np.float32)), InputError),
        (dict(masks=np.full((5, 1, 4, 4), 255, np.uint8)), InputError),
        (dict(keys=np.full((5, 4, 4, 4), np.nan, np.float32)), InputError),
    ],
)
def test_bad_arguments_raise_clear_errors(change, error):
    keys, shrinkages, selections, masks = _distinct_inputs(frames=5)
    args = dict(keys=keys, shrinkages=shrinkages, selections=selections, masks=masks, k=2)
    args.update(change)
    with pytest.raises(error):
        select_next_candidates(**args)


# ---------------------------------------------------------------- pipeline


@pytest.fixture(scope="module")
def clip():
    from xmempp.io.synthetic import MovingDiscs

    return MovingDiscs(10, height=48, width=80, objects=1, seed=3)


def test_suggest_frames_with_predicted_masks_matches_selector(model, clip):
    from xmempp import InferenceConfig, InferenceSession

    config = InferenceConfig(size=-1)
    predicted = {i: clip.mask(i) for i in range(len(clip))}
    predicted[6] = np.zeros_like(predicted[6])  # the target left the frame: never suggested
    references = {0: clip.mask(0)}
    with pytest.warns(DeprecationWarning, match="suggest_candidates"):
        got = suggest_frames(model, clip, references, 3, predicted_masks=predicted, config=config)
    assert got == list(
        suggest_candidates(model, clip, references, k=3, predicted_masks=predicted, config=config).chosen
    )

    session = InferenceSession(model, config)
    feats = [session.encode_key(clip[i]) for i in range(len(clip))]
    keys, shrinkages, selections = (torch.cat([f[n] for f in feats]) for n in range(3))
    masks = np.stack([(predicted[i] > 0)[None] for i in range(len(clip))]).astype(np.float32)
    assert got == select_next_candidates(keys, shrinkages, selections, masks, 3, previously_chosen=[0])
    assert 0 not in got and 6 not in got and len(got) == 3


def test_suggest_candidates_after_propagation(model, clip):
    from xmempp import InferenceConfig

    stages = set()
    result = suggest_candidates(
        model,
        clip,
        {0: clip.mask(0), 5: clip.mask(5)},
        k=2,
        config=InferenceConfig(size=-1),
        progress=lambda s, d, t: stages.add(s),
    )
    assert len(result.chosen) == 2 and not {0, 5} & set(result.chosen)
    assert result.previously_chosen == (0, 5)
    assert stages == {"features", "masks", "selection"}


def test_suggest_candidates_missing_predicted_mask_is_an_input_error(model, clip):
    predicted = {i: clip.mask(i) for i in range(len(clip)) if i != 4}
    with pytest.raises(InputError, match="no predicted mask"):
        suggest_candidates(model, clip, {0: clip.mask(0)}, k=2, predicted_masks=predicted)


# --------------------------------------------------------------------- CLI

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _chair() -> Path:
    folder = DATA / "chair"
    if not (folder / "JPEGImages").is_dir() or not (folder / "Annotations").is_dir():
        pytest.skip(f"shared clip absent: {folder} (expected ../shared/data beside the checkout)")
    return folder


def _run_cli(*args: str):
    from typer.testing import CliRunner

    from xmempp.cli.app import app

    return CliRunner().invoke(app, ["candidates", *args])


def test_cli_candidates_on_real_clip_with_predicted_masks(checkpoint_path, tmp_path):
    import json
    import shutil

    chair = _chair()
    refs = tmp_path / "refs"
    refs.mkdir()
    shutil.copy(chair / "Annotations" / "frame_000000.png", refs)
    common = [
        "-v",
        str(chair / "JPEGImages"),
        "-m",
        str(refs),
        "-k",
        "3",
        "--predicted",
        str(chair / "Annotations"),
        "--model",
        str(checkpoint_path),
        "--size",
        "96",
        "--device",
        "cpu",
        "-q",
    ]
    result = _run_cli(*common, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    picked = [c["index"] for c in data["candidates"]]
    assert len(picked) == 3 and 0 not in picked
    assert [c["name"] for c in data["candidates"]] == [f"frame_{i:06d}" for i in picked]
    assert data["references"] == [{"frame": 0, "name": "frame_000000", "index": 0}]
    assert [c["frame"] for c in data["candidates"]] == picked  # frame_<n>.jpg: the frame number is n
    # frames where the chair is absent from the ground truth are never suggested
    empty = {i for i in range(60) if _empty_mask(chair / "Annotations" / f"frame_{i:06d}.png")}
    assert not empty & set(picked) and empty <= {item["index"] for item in data["invalid"]}


def _empty_mask(path: Path) -> bool:
    from PIL import Image

    with Image.open(path) as image:
        ids = np.asarray(image)
    return (ids > 0).mean() * 100 < 0.25


def test_cli_candidates_propagates_when_no_predictions(golden_checkpoint_path, tmp_path):
    # the real chair clip is in ../shared anyway; the stand-in weights give masks large enough to rank
    checkpoint_path = golden_checkpoint_path
    import shutil

    chair = _chair()
    frames, refs = tmp_path / "frames", tmp_path / "refs"
    frames.mkdir()
    refs.mkdir()
    for i in range(10):
        shutil.copy(chair / "JPEGImages" / f"frame_{i:06d}.jpg", frames)
    shutil.copy(chair / "Annotations" / "frame_000000.png", refs)
    shutil.copy(chair / "Annotations" / "frame_000005.png", refs)
    result = _run_cli(
        "-v",
        str(frames),
        "-m",
        str(refs),
        "-k",
        "20",
        "--model",
        str(checkpoint_path),
        "--size",
        "96",
        "--device",
        "cpu",
        "-q",
    )
    assert result.exit_code == 0, result.output
    listed = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    # "  1. frame_000003  frame 3": rank, frame name (source stem), index
    assert [row[0] for row in listed] == [f"{rank}." for rank in range(1, 9)]
    assert all(row[1] == f"frame_{int(row[3]):06d}" and row[2] == "frame" for row in listed)
    assert sorted(int(row[3]) for row in listed) == [1, 2, 3, 4, 6, 7, 8, 9]
    assert "only 8 of the 20 requested" in " ".join(result.stderr.split())


def test_cli_candidates_reports_bad_input_in_one_line(checkpoint_path, tmp_path):
    chair = _chair()
    result = _run_cli(
        "-v",
        str(chair / "JPEGImages"),
        "-m",
        str(tmp_path / "missing"),
        "--model",
        str(checkpoint_path),
        "--device",
        "cpu",
        "-q",
    )
    assert result.exit_code == 2
    assert "mask folder not found" in result.stderr and "Traceback" not in result.output


def test_propagation_features_equal_a_separate_key_pass(model):
    """Without predicted masks the propagation's own key features are used; they equal a separate pass."""
    from xmempp import InferenceConfig
    from xmempp.candidate_selection import extract_candidate_features, suggest_candidates
    from xmempp.io.synthetic import MovingDiscs

    clip = MovingDiscs(6, 64, 112)
    config = InferenceConfig(size=-1)
    separate = extract_candidate_features(model, clip, config)
    one_pass = suggest_candidates(model, clip, {0: clip.mask(0)}, k=2, config=config)
    two_pass = suggest_candidates(model, clip, {0: clip.mask(0)}, k=2, config=config, features=separate)
    assert one_pass.chosen == two_pass.chosen and len(one_pass.chosen) == 2


# ------------------------------------------------------- soft or binary targets


def test_soft_predicted_targets_are_used_as_given(model, clip):
    from xmempp import InferenceConfig, InferenceSession

    config = InferenceConfig(size=-1)
    rng = np.random.default_rng(0)
    soft = {
        i: (clip.mask(i) > 0) * rng.uniform(0.3, 1.0, clip.mask(i).shape).astype(np.float32) for i in range(len(clip))
    }
    references = {0: clip.mask(0)}
    result = suggest_candidates(model, clip, references, k=3, predicted_masks=soft, config=config)
    session = InferenceSession(model, config)
    feats = [session.encode_key(clip[i]) for i in range(len(clip))]
    keys, shrinkages, selections = (torch.cat([f[n] for f in feats]) for n in range(3))
    masks = np.stack([((clip.mask(0) > 0) if i == 0 else soft[i])[None] for i in range(len(clip))])
    assert list(result.chosen) == select_next_candidates(
        keys, shrinkages, selections, masks.astype(np.float32), 3, previously_chosen=[0]
    )
    assert result.target == "soft"
    binary = suggest_candidates(
        model, clip, references, k=3, predicted_masks={i: clip.mask(i) for i in range(10)}, config=config
    )
    assert binary.target == "binary"
    mixed = suggest_candidates(model, clip, references, k=3, config=config, predicted_masks={**soft, 3: clip.mask(3)})
    assert mixed.target == "mixed"


def _write_alpha_run(folder: Path, clip, soft: dict[int, np.ndarray]) -> None:
    """What `xmempp process --alpha` leaves: frames, masks/ (index PNGs) and alpha/1/ (16-bit mattes)."""
    import cv2
    from PIL import Image

    for sub in ("frames", "refs", "out/masks", "out/alpha/1"):
        (folder / sub).mkdir(parents=True)
    for i in range(len(clip)):
        Image.fromarray(clip[i]).save(folder / "frames" / f"f_{i:03d}.png")
        Image.fromarray((soft[i] >= 0.5).astype(np.uint8)).save(folder / "out" / "masks" / f"f_{i:03d}.png")
        cv2.imwrite(str(folder / "out" / "alpha" / "1" / f"f_{i:03d}.png"), np.round(soft[i] * 65535).astype(np.uint16))
    Image.fromarray(clip.mask(0)).save(folder / "refs" / "f_000.png")


def test_cli_candidates_reads_alpha_mattes_as_soft_targets(checkpoint_path, tmp_path, clip):
    import json

    from xmempp.candidate_selection.targets import AlphaTargets

    rng = np.random.default_rng(1)
    soft = {i: (clip.mask(i) > 0) * rng.uniform(0.2, 1.0, clip.mask(i).shape) for i in range(len(clip))}
    _write_alpha_run(tmp_path, clip, soft)
    targets = AlphaTargets(tmp_path / "out" / "alpha", [f"f_{i:03d}" for i in range(len(clip))], (48, 80))
    assert len(targets) == len(clip) and np.abs(targets[4] - soft[4]).max() <= 1 / 65535
    common = [
        "-v",
        str(tmp_path / "frames"),
        "-m",
        str(tmp_path / "refs"),
        "-k",
        "3",
        "--model",
        str(checkpoint_path),
        "--size",
        "-1",
        "--device",
        "cpu",
        "-q",
    ]
    for given, target in (("out", "soft"), ("out/alpha", "soft"), ("out/masks", "binary")):
        result = _run_cli(*common, "--predicted", str(tmp_path / given), "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["target"] == target
    result = _run_cli(*common, "--predicted", str(tmp_path / "out" / "masks"))
    assert "binary targets" in " ".join(result.stderr.split())


@pytest.mark.parametrize(
    "options, folder, tolerance",
    [
        (dict(alpha=True), "alpha", 1 / 255),
        (dict(alpha=True, alpha_bits=16), "alpha", 1 / 65535),
        (dict(alpha=True, matte_format="tiff", alpha_bits=16), "alpha", 1 / 65535),
        (dict(alpha=True, matte_format="exr"), "alpha", 1e-3),
        (dict(exr_layers=True), "layers", 1e-3),
        (dict(exr_layers=True, matte_format="tiff", alpha_bits=16, alpha=True), ".", 1 / 65535),
    ],
    ids=["png8", "png16", "tiff16", "exr", "exr-layers", "out-folder"],
)
def test_predicted_targets_read_every_matte_process_writes(tmp_path, clip, options, folder, tolerance):
    """`candidates --predicted` reads back what `process` wrote: PNG 8/16, TIFF, EXR, layered EXRs."""
    from PIL import Image

    from xmempp.cli.candidates_cmd import _predicted_targets
    from xmempp.inference.shot_folders import PlateOptions
    from xmempp.io.sequences import FrameInfo
    from xmempp.io.sources import open_frames
    from xmempp.io.writers import ResultWriter, WriterOptions

    (tmp_path / "frames").mkdir()
    rng = np.random.default_rng(2)
    names = [f"shot.{1001 + i}" for i in range(4)]
    h, w = clip[0].shape[:2]
    wanted = {}
    with ResultWriter(tmp_path / "out", None, [2, 5], WriterOptions(masks=False, fsync=False, **options)) as writer:
        for i, name in enumerate(names):
            Image.fromarray(clip[i]).save(tmp_path / "frames" / f"{name}.png")
            objects = rng.uniform(0, 0.5, (2, h, w)).astype(np.float32)
            probs = np.concatenate([1 - objects.sum(0, keepdims=True), objects])
            writer.submit(name, None, probs, FrameInfo(1001 + i, 4))
            wanted[i] = objects.max(0)
    frames = open_frames(tmp_path / "frames")
    try:
        targets = _predicted_targets(tmp_path / "out" / folder, frames, PlateOptions())
        assert sorted(targets) == [0, 1, 2, 3]
        for i in range(4):
            assert np.abs(targets[i] - wanted[i]).max() <= tolerance + 1e-6
    finally:
        frames.close()


def test_a_review_priority_prefers_flagged_frames_among_diverse_ones():
    """Without a priority the selection is XMem++'s; weighing a frame by 1 + (1 - its review score) brings a
    flagged frame forward when it is nearly as diverse as the best, never a duplicate of a chosen frame."""
    keys, shrinkages, selections, masks = _random_inputs(21)
    plain = select_candidates(keys, shrinkages, selections, masks, k=4, min_mask_presence_percent=0.0)
    assert list(plain.chosen) == list(
        select_candidates(
            keys, shrinkages, selections, masks, k=4, min_mask_presence_percent=0.0, priority=[0.0] * 14
        ).chosen
    )
    runner_up = plain.chosen[1]
    priority = [0.0] * 14
    priority[runner_up] = 1.0  # the review flagged it badly (score 0)
    flagged = select_candidates(
        keys, shrinkages, selections, masks, k=4, min_mask_presence_percent=0.0, priority=priority
    )
    assert flagged.chosen[0] == runner_up
    priority = [0.0] * 14
    priority[3] = 1.0  # frame 3 duplicates frame 2: still never before frames that differ
    twins = select_candidates(
        keys,
        shrinkages,
        selections,
        masks,
        k=3,
        previously_chosen=(2,),
        min_mask_presence_percent=0.0,
        priority=priority,
    )
    assert 3 not in twins.chosen
    with pytest.raises(InputError, match="priority has 3 values"):
        select_candidates(keys, shrinkages, selections, masks, k=2, priority=[0.0, 0.0, 0.0])
