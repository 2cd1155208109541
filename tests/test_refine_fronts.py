"""The refine stage and colour decontamination on the front ends that write mattes: `process --foreground`
(files, manifest, a missing pymatting), batch shot lists and options (`refine*`, `foreground`), the same
mattes as `process`, the OpenJD command lines, and resume fingerprints."""

from __future__ import annotations

import dataclasses
import importlib.util

import cv2
import numpy as np
import pytest
import torch
import typer.main
from typer.testing import CliRunner

from batchhelpers import write_csv
from xmempp.batch import LocalBackend, plan_slots, read_shot_list, run_batch
from xmempp.batch.marker import shot_fingerprint
from xmempp.batch.openjd import job_template
from xmempp.cli.app import app
from xmempp.evaluation.composites import make_scene
from xmempp.inference.checkpoint import fingerprint_changes, job_fingerprint
from xmempp.inference.config import InferenceConfig
from xmempp.inference.shot_folders import open_shot_job
from xmempp.io.manifest import written_by_xmempp
from xmempp.io.matte_folders import read_soft_matte
from xmempp.io.writers import WriterOptions
from xmempp.refine import RefineSettings
from xmempp.refine.pymatting_loader import pymatting_available

oiio = pytest.importorskip("OpenImageIO")
if not pymatting_available():  # checked without importing it: pymatting and numba take seconds to import
    pytest.skip("pymatting is not installed: pip install 'xmempp[matting]'", allow_module_level=True)

#: Flags of the refined runs, and the same settings as shot-list columns.
REFINE_FLAGS = [
    "--refine",
    "guided",
    "--refine-band",
    "3",
    "--refine-detail",
    "2e-5",
    "--refine-temporal",
    "0.5",
    "--foreground",
    "--alpha-bits",
    "16",
]
REFINE_COLUMNS = {
    "refine": "guided",
    "refine_band": "3",
    "refine_detail": "2e-5",
    "refine_temporal": "0.5",
    "foreground": "true",
    "alpha_bits": "16",
}
FRAMES = 4


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A generated hair shot (96x144, 4 frames) whose keyframe is the artist's soft 16-bit matte of object 1
    (`masks/hair_1/`)."""
    root = tmp_path_factory.mktemp("fronts")
    seq = make_scene("hair", 96, 144, FRAMES, seed=2)
    (root / "frames").mkdir()
    (root / "masks" / "hair_1").mkdir(parents=True)
    for i, c in enumerate(seq):
        cv2.imwrite(str(root / f"frames/f_{i:03d}.png"), np.rint(c.plate[..., ::-1] * 255).astype(np.uint8))
    cv2.imwrite(str(root / "masks/hair_1/f_000.png"), np.rint(seq[0].alpha * 65535).astype(np.uint16))
    return root


@pytest.fixture
def one_thread():
    """CPU results depend on torch's thread count: runs compared bit for bit use one thread each."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _process(clip, out, checkpoint_path, *flags):
    result = invoke(
        "process",
        "-v",
        clip / "frames",
        "-m",
        clip / "masks",
        "-o",
        out,
        "--model",
        checkpoint_path,
        "--size",
        48,
        "--threads",
        1,
        "-q",
        *flags,
    )
    assert result.exit_code == 0, result.output
    return result


def _exr(path):
    image = oiio.ImageInput.open(str(path))
    try:
        return tuple(image.spec().channelnames), image.read_image("float")
    finally:
        image.close()


def _png16(path):
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)


def test_process_foreground_writes_colour_and_rgba_from_the_written_matte(clip, tmp_path, checkpoint_path, one_thread):
    out = tmp_path / "out"
    _process(clip, out, checkpoint_path, *REFINE_FLAGS)
    (oid,) = [p.name for p in (out / "alpha").iterdir()]
    recorded = written_by_xmempp(out)
    for i in range(FRAMES):
        stem = f"f_{i:03d}"
        alpha = read_soft_matte(out / "alpha" / oid / f"{stem}.png")
        colour = _png16(out / "foreground" / oid / f"{stem}.png")
        names, rgba = _exr(out / "rgba" / oid / f"{stem}.exr")
        assert names == ("R", "G", "B", "A") and colour.dtype == np.uint16 and rgba.shape == (96, 144, 4)
        np.testing.assert_allclose(rgba[..., 3], alpha, atol=1e-3)  # half float vs 16 bits
        np.testing.assert_allclose(rgba[..., :3], colour / 65535 * alpha[..., None], atol=2e-3)  # premultiplied
        plate = cv2.imread(str(clip / f"frames/{stem}.png"))[..., ::-1].astype(np.uint16) * 257
        hard = (alpha <= 5e-4) | (alpha >= 1 - 5e-4)
        soft = (alpha > 2e-3) & (alpha < 1 - 2e-3)
        changed = np.any(colour != plate, axis=-1)
        assert not changed[hard].any(), f"{stem}: the colour changed where the matte is not soft"
        assert soft.any() and changed[soft].mean() > 0.2, f"{stem}: the colour was not decontaminated"
        assert {f"foreground/{oid}/{stem}.png", f"rgba/{oid}/{stem}.exr"} <= recorded
    artist = cv2.imread(str(clip / "masks/hair_1/f_000.png"), cv2.IMREAD_UNCHANGED)
    keyframe = read_soft_matte(out / "alpha" / oid / "f_000.png")
    np.testing.assert_array_equal(np.rint(keyframe * 65535), artist)  # the soft keyframe as the artist drew it
    assert (keyframe == 0).any() and (keyframe == 1).any(), "the keyframe has hard pixels to check"

    again = invoke(
        "process",
        "-v",
        clip / "frames",
        "-m",
        clip / "masks",
        "-o",
        out,
        "--model",
        checkpoint_path,
        "--size",
        48,
        "--alpha",
        "-q",
    )
    assert again.exit_code != 0 and "--overwrite" in again.output
    _process(clip, out, checkpoint_path, "--alpha", "--overwrite")  # the earlier run's foreground is stale
    assert not (out / "foreground").exists() and not (out / "rgba").exists()
    assert not any(k.startswith(("foreground/", "rgba/")) for k in written_by_xmempp(out))
    (out / "rgba" / "9").mkdir(parents=True)
    (out / "rgba" / "9" / "theirs.exr").write_bytes(b"someone else's")  # not xmempp's: never replaced
    refused = invoke(
        "process",
        "-v",
        clip / "frames",
        "-m",
        clip / "masks",
        "-o",
        out,
        "--model",
        checkpoint_path,
        "--size",
        48,
        "--foreground",
        "--overwrite",
        "-q",
    )
    assert refused.exit_code != 0 and "rgba/9/theirs.exr" in refused.output, refused.output


def test_foreground_without_pymatting_runs_on_blur_fusion(clip, tmp_path, monkeypatch, checkpoint_path):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pymatting" else find_spec(name, *a)
    )
    out = tmp_path / "out"
    _process(clip, out, checkpoint_path, "--foreground", "--refine", "guided")
    assert len(list((out / "foreground").rglob("*.png"))) == FRAMES
    assert len(list((out / "rgba").rglob("*.exr"))) == FRAMES


@pytest.mark.slow
def test_batch_rows_with_refine_columns_write_what_process_writes(clip, tmp_path, checkpoint_path, one_thread):
    direct = tmp_path / "direct"
    _process(clip, direct, checkpoint_path, *REFINE_FLAGS)
    common = {"plate": clip / "frames", "masks": clip / "masks", "size": 48}
    shots = read_shot_list(
        write_csv(
            tmp_path / "shots.csv",
            [
                {"name": "refined", "output": "out/refined", **common, **REFINE_COLUMNS},
                {"name": "plain", "output": "out/plain", **common, "alpha": "true", "alpha_bits": "16"},
            ],
        )
    )
    assert shots[0].refine.mode == "guided" and shots[0].writer.foreground and shots[0].writer.alpha
    assert shot_fingerprint(shots[0], checkpoint_path) != shot_fingerprint(
        dataclasses.replace(shots[0], refine=dataclasses.replace(shots[0].refine, band=4.0)), checkpoint_path
    )
    report = run_batch(shots, checkpoint_path, LocalBackend(plan_slots("cpu", 1, len(shots), cores=1)))
    assert [r.status for r in report.results] == ["done", "done"], report.results
    (oid,) = [p.name for p in (direct / "alpha").iterdir()]
    refined, plain = tmp_path / "out/refined", tmp_path / "out/plain"
    for i in range(FRAMES):
        stem = f"f_{i:03d}.png"
        for folder in ("alpha", "foreground"):
            np.testing.assert_array_equal(
                cv2.imread(str(refined / folder / oid / stem), cv2.IMREAD_UNCHANGED),
                cv2.imread(str(direct / folder / oid / stem), cv2.IMREAD_UNCHANGED),
                err_msg=f"{folder}/{oid}/{stem}",
            )
    last = f"alpha/{oid}/f_{FRAMES - 1:03d}.png"
    assert not np.array_equal(read_soft_matte(refined / last), read_soft_matte(plain / last)), "the refine ran"
    assert not (plain / "foreground").exists()


def _parse_process(args):
    """`xmempp process`'s parameters of a generated command line (its config file named c.json)."""
    process = typer.main.get_command(app).commands["process"]
    return process.make_context("process", [a if a != "{{Task.File.Config}}" else "c.json" for a in args[1:]]).params


def test_openjd_command_lines_carry_the_refine_settings_and_foreground(clip, tmp_path):
    shots = read_shot_list(
        write_csv(
            tmp_path / "shots.csv",
            [
                {
                    "name": "a",
                    "plate": clip / "frames",
                    "masks": clip / "masks",
                    "output": "out/a",
                    **REFINE_COLUMNS,
                    "refine_feather": "2",
                    "premultiplied": "false",
                },
                {"name": "b", "plate": clip / "frames", "masks": clip / "masks", "output": "out/b"},
            ],
        )
    )
    first, second = (step["script"]["actions"]["onRun"]["args"] for step in job_template(shots, "x")["steps"])
    pairs = {first[i]: first[i + 1] for i in range(len(first) - 1)}
    assert (pairs["--refine"], pairs["--refine-band"], pairs["--refine-feather"]) == ("guided", "3.0", "2.0")
    assert float(pairs["--refine-detail"]) == 2e-5 and float(pairs["--refine-temporal"]) == 0.5
    assert {"--foreground", "--straight", "--alpha"} <= set(first)
    assert not {"--refine", "--foreground", "--straight", "--refine-band"} & set(second)
    params = _parse_process(first)  # the lines parse as `xmempp process`
    assert (
        params["refine"],
        params["refine_band"],
        params["refine_feather"],
        params["refine_detail"],
        params["refine_temporal"],
        params["foreground"],
        params["premultiplied"],
    ) == ("guided", 3.0, 2.0, 2e-5, 0.5, True, False)
    params = _parse_process(second)
    assert (params["refine"], params["refine_band"], params["foreground"], params["premultiplied"]) == (
        "off",
        None,
        False,
        True,
    )


def test_bad_refine_values_name_their_row_and_fail_the_batch(clip, tmp_path):
    common = {"plate": clip / "frames", "masks": clip / "masks"}
    shots = write_csv(
        tmp_path / "shots.csv",
        [
            {"name": "sharp", "output": "o1", **common, "refine": "sharp"},
            {"name": "neg", "output": "o2", **common, "refine": "guided", "refine_band": "-4"},
            {"name": "word", "output": "o3", **common, "refine_temporal": "lots"},
            {"name": "fine", "output": "o4", **common, "refine": "matting", "refine_feather": "1.5"},
            {"name": "maybe", "output": "o5", **common, "foreground": "maybe"},
        ],
    )
    result = invoke("batch", shots, "--dry-run")
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "Traceback" not in result.output
    for expected in (
        "shots.csv line 2 (shot 'sharp'): refine mode must be one of off, guided, matting, not 'sharp'",
        "shots.csv line 3 (shot 'neg'): refine band must be 0..4096 plate pixels, not -4.0",
        "shots.csv line 4 (shot 'word'): refine_temporal must be a number",
        "shots.csv line 6 (shot 'maybe'): foreground must be true or false",
    ):
        assert expected in text, text
    assert "line 5" not in text
    good = write_csv(tmp_path / "good.csv", [{"name": "fine", "output": "o4", **common}])
    for flags, words in ((["--refine", "sharp"], "'sharp' is not one of"), (["--refine-band", "-4"], "-4")):
        result = invoke("batch", good, "--dry-run", *flags)
        assert result.exit_code == 2 and words in result.output and "--refine" in result.output, result.output


def test_a_resume_with_other_refine_or_foreground_settings_names_the_change(clip, tmp_path, model):
    def fingerprint(refine: RefineSettings, foreground: bool):
        job = open_shot_job(
            clip / "frames",
            clip / "masks",
            tmp_path / "out",
            InferenceConfig(size=48),
            options=WriterOptions(alpha=True, foreground=foreground),
            refine=refine,
        )
        try:
            return job_fingerprint(model, job)
        finally:
            job.frames.close()

    base = fingerprint(RefineSettings(), False)
    assert fingerprint_changes(base, fingerprint(RefineSettings(), False)) == []
    (refined,) = fingerprint_changes(base, fingerprint(RefineSettings(mode="guided"), False))
    assert refined.startswith("output option refine") and "guided" in refined
    changed = fingerprint_changes(base, fingerprint(RefineSettings(), True))
    assert changed == ["output option foreground (False -> True)"]


def test_matting_refiner_without_pymatting_is_refused_before_anything_runs(clip, tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pymatting" else find_spec(name, *a)
    )
    result = invoke(
        "process",
        "-v",
        clip / "frames",
        "-m",
        clip / "masks",
        "-o",
        tmp_path / "out",
        "--model",
        tmp_path / "no-such-weights.pth",
        "--refine",
        "matting",
    )
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "the matting refiner needs pymatting" in text and "--refine guided" in text, text
    assert not (tmp_path / "out").exists()
