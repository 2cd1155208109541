"""The export dialog's refine controls: the core's refine stage on the exported soft mattes, off with a
reason while no soft output is ticked, remembered with the dialog's choices."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import importlib.util
import json

import cv2
import numpy as np
import pytest

pytest.importorskip("PyQt5")
pytest.importorskip("pytestqt")

from PIL import Image

from guihelpers import N, disc_mask, make_workspace, open_window
from xmempp.inference.jobs import ShotJob, run_job
from xmempp.refine import RefineSettings, refine_frame

pytestmark = pytest.mark.usefixtures("private_qt_settings")


def _export(qtbot, window, out, mode: str, propagate: bool = True) -> None:
    """Export 16-bit soft mattes (of a new propagation, or of the saved masks at the source size) to `out`
    with refine `mode`."""
    from xmempp.gui.export_dialog import ExportDialog

    dialog = ExportDialog(window.project, window)
    dialog.folder.setText(str(out))
    dialog.masks.setChecked(False)
    dialog.alpha.setChecked(True)
    dialog.alpha_bits.setCurrentIndex(dialog.alpha_bits.findData(16))
    (dialog.from_propagation if propagate else dialog.from_saved).setChecked(True)
    assert propagate or dialog.upscale.isChecked()
    dialog.refine.mode.setCurrentIndex(dialog.refine.mode.findData(mode))
    dialog.start()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=120_000)
    assert dialog.result_frames == N, dialog.status.text()


def _mattes(out) -> np.ndarray:
    """The exported mattes of object 7, N x H x W uint16."""
    return np.stack([np.asarray(Image.open(out / "alpha" / "7" / f"plate_{i:04d}.png")) for i in range(N)])


def test_refine_controls_follow_soft_outputs_and_are_remembered(qtbot, tmp_path, captured):
    from xmempp.gui.export_dialog import ExportDialog
    from xmempp.gui.refine_controls import NO_SOFT_OUTPUT

    window = open_window(qtbot, make_workspace(tmp_path))
    dialog = ExportDialog(window.project, window)
    controls = dialog.refine
    assert controls.settings() == RefineSettings()  # the core's defaults, mode off
    assert controls.mode.currentData() == RefineSettings().mode
    # only index masks: the controls are off, say why, and the export refines nothing
    assert not dialog.alpha.isChecked() and not controls.mode.isEnabled()
    assert not controls.reason.isHidden() and controls.reason.text() == NO_SOFT_OUTPUT
    controls.mode.setCurrentIndex(controls.mode.findData("guided"))
    assert controls.settings() == RefineSettings() and dialog.request().refine == RefineSettings()
    for soft in (dialog.alpha, dialog.exr, dialog.cryptomatte):
        soft.setChecked(True)
        assert controls.mode.isEnabled() and controls.reason.isHidden()
        assert dialog.request().refine == RefineSettings(mode="guided")
        soft.setChecked(False)
        assert not controls.mode.isEnabled()
    dialog.alpha.setChecked(True)
    # the advanced part: band, feather, detail, temporal smoothing
    assert controls.details.isHidden()
    controls.advanced.setChecked(True)
    assert not controls.details.isHidden()
    controls.band.setValue(24)
    controls.detail.setText("1e-5")
    controls.temporal.setValue(0.6)
    want = RefineSettings(mode="guided", band=24.0, eps=1e-5, temporal=0.6)
    assert dialog.request().refine == want
    dialog.folder.setText(str(tmp_path / "out"))
    dialog.start()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=60_000)
    assert dialog.result_frames == N
    saved = json.loads((window.project.workspace.path / "info.json").read_text())["xmempp_gui"]["export"]
    assert saved["refine"] == "guided" and saved["refine_band"] == 24 and saved["refine_detail"] == "1e-5"
    again = ExportDialog(window.project, window)
    assert again.request().refine == want and again.refine.advanced.isChecked()
    # a bad saved value takes the core's default; the others stay
    window.project.settings.export.update(refine_detail="0", refine_band=-3, refine="sharp")
    third = ExportDialog(window.project, window)
    assert third.request().refine == RefineSettings(mode="off", temporal=0.6)
    # a detail the core refuses: the message names the control, never a CLI flag
    third.refine.mode.setCurrentIndex(third.refine.mode.findData("guided"))
    third.refine.detail.setText("2")
    third.start()
    text = third.status.text()
    assert "Detail (eps)" in text and "--refine" not in text, text
    assert not captured
    window.close()


def test_export_refined_mattes_equal_refine_frame_on_the_same_probabilities(qtbot, tmp_path, checkpoint_path, captured):
    window = open_window(qtbot, make_workspace(tmp_path), checkpoint_path)
    _export(qtbot, window, tmp_path / "off", "off")
    _export(qtbot, window, tmp_path / "guided", "guided")
    assert not captured
    off, guided = _mattes(tmp_path / "off"), _mattes(tmp_path / "guided")

    # the same probabilities, propagated as the export does, refined by the core
    project = window.project
    job = ShotJob(project.workspace, {0: disc_mask(0)}, project.config, project.settings.mode)
    probs: dict[int, np.ndarray] = {}
    run_job(project.engine.ensure_model(), job, on_result=lambda r: probs.__setitem__(r.index, np.asarray(r.probs)))
    settings = RefineSettings(mode="guided")
    for i in range(N):
        raw = np.rint(probs[i][1] * 65535)
        refined = np.rint(np.asarray(refine_frame(project.workspace[i], probs[i], settings))[1] * 65535)
        assert np.abs(off[i] - raw).max() <= 1, i
        assert np.abs(guided[i] - refined).max() <= 1, i
    # refining changed the soft edges (a network with random weights is unsure over wide areas), not what
    # the network was sure of
    changed = np.abs(guided.astype(np.int64) - off) > 65535 // 100
    soft = (off > 0.05 * 65535) & (off < 0.95 * 65535)
    assert changed[soft].mean() > 0.5 and changed[~soft].mean() < 0.05, (changed[soft].mean(), changed[~soft].mean())
    window.close()


def test_refined_saved_masks_at_the_source_size_change_only_the_edges(qtbot, tmp_path, captured):
    window = open_window(qtbot, make_workspace(tmp_path, size=36))  # imported at half the source size
    results = {}
    for mode in ("off", "guided"):
        _export(qtbot, window, tmp_path / mode, mode, propagate=False)
        results[mode] = _mattes(tmp_path / mode).astype(np.int64)
    assert not captured
    changed = np.abs(results["guided"] - results["off"]) > 65535 // 100
    assert changed.any()
    # only along the disc's outline (the upscaled mask's soft edge), nowhere inside or outside it
    for i in range(N):
        disc = (disc_mask(i) > 0).astype(np.uint8)
        square = np.ones((7, 7), np.uint8)
        edge = cv2.dilate(disc, square) > cv2.erode(disc, square)
        assert not (changed[i] & ~edge).any(), i
    window.close()


@pytest.mark.skipif(importlib.util.find_spec("pymatting") is None, reason="foreground colour needs pymatting")
def test_export_foreground_colour_writes_colour_and_rgba_beside_the_mattes(qtbot, tmp_path, checkpoint_path, captured):
    from xmempp.gui.export_dialog import ExportDialog
    from xmempp.io.matte_folders import read_soft_matte

    oiio = pytest.importorskip("OpenImageIO")

    window = open_window(qtbot, make_workspace(tmp_path), checkpoint_path)
    dialog = ExportDialog(window.project, window)
    out = tmp_path / "out"
    dialog.folder.setText(str(out))
    dialog.from_propagation.setChecked(True)
    assert not dialog.alpha.isChecked()
    dialog.foreground.setChecked(True)
    assert dialog.alpha.isChecked() and dialog.request().options.foreground  # the colour comes with its matte
    dialog.alpha_bits.setCurrentIndex(dialog.alpha_bits.findData(16))
    dialog.refine.mode.setCurrentIndex(dialog.refine.mode.findData("guided"))
    dialog.start()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=120_000)
    assert dialog.result_frames == N, dialog.status.text()
    assert not captured
    hard_pixels = 0
    for i in range(N):
        stem = f"plate_{i:04d}"
        alpha = read_soft_matte(out / "alpha" / "7" / f"{stem}.png")
        colour = cv2.cvtColor(
            cv2.imread(str(out / "foreground" / "7" / f"{stem}.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB
        )
        exr = oiio.ImageInput.open(str(out / "rgba" / "7" / f"{stem}.exr"))
        names, rgba = tuple(exr.spec().channelnames), exr.read_image("float")
        exr.close()
        assert colour.dtype == np.uint16 and colour.shape == (*alpha.shape, 3) and names == ("R", "G", "B", "A")
        np.testing.assert_allclose(rgba[..., 3], alpha, atol=1e-3)
        frame = np.asarray(window.project.workspace[i]).astype(np.int64) * 257
        hard = (alpha <= 5e-4) | (alpha >= 1 - 5e-4)
        assert not np.any(colour.astype(np.int64) != frame, axis=-1)[hard].any(), i  # the frame where not soft
        hard_pixels += int(hard.sum())
    assert hard_pixels  # (the random-weights network is unsure over most frames; the keyframe is hard)
    assert ExportDialog(window.project, window).foreground.isChecked()  # remembered
    window.close()
