"""Brush softness (issue 33): [ ] and Shift+[ ] change the brush's size and softness (shown in the options
bar, the status bar and the shortcut list); a soft stroke's edge is kept as the frame's soft layer, which
the mask follows, undo restores, a reopened workspace keeps, and an export writes as the keyframe's soft
matte after a propagation from its mask. A hard brush draws as it always did."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PyQt5")

from PIL import Image
from PyQt5.QtCore import Qt

from guihelpers import N, drag, make_workspace, open_window
from xmempp.io.soft_paint import SOFT_PAINT_DIR, effective_mattes, layer_path, read_layer

pytestmark = pytest.mark.usefixtures("private_qt_settings")

KEY = 2  # the frame painted soft


def layer_of(window, frame: int) -> dict[int, np.ndarray]:
    return read_layer(layer_path(window.project.workspace.path, frame), window.project.size)


def test_brackets_and_shift_brackets_set_size_and_softness(qtbot, tmp_path):
    from xmempp.gui.help_dialog import HelpDialog

    window = open_window(qtbot, make_workspace(tmp_path))
    ui, view, canvas = window.ui, window.view, window.canvas
    window.tools.set_brush_size(20)
    assert view.brush_softness == 0 and ui.softness_box.value() == 0
    qtbot.keyClick(canvas, Qt.Key_BraceLeft, Qt.ShiftModifier)  # Shift+[ on a US keyboard
    assert view.brush_softness == 0.25 and canvas.brush_softness == 0.25 and ui.softness_box.value() == 25
    assert "brush 20 px, 25 % soft" in window.statusBar().currentMessage()
    window.action_map["brush_softer"].trigger()
    window.action_map["brush_softer"].trigger()
    window.action_map["brush_softer"].trigger()
    window.action_map["brush_softer"].trigger()
    assert view.brush_softness == 1.0  # at most fully soft
    qtbot.keyClick(canvas, Qt.Key_BraceRight, Qt.ShiftModifier)  # Shift+]
    assert view.brush_softness == 0.75
    qtbot.keyClick(canvas, Qt.Key_BracketRight)  # ]
    assert view.brush_size == 25 and "brush 25 px, 75 % soft" in window.statusBar().currentMessage()
    ui.softness_box.setValue(0)
    assert view.brush_softness == 0 and ui.softness_box.text() == "Soft 0 %"
    qtbot.keyClick(canvas, Qt.Key_BracketLeft)  # [
    assert view.brush_size == 20 and window.statusBar().currentMessage().endswith("brush 20 px, hard")
    keys = {row[1] for row in HelpDialog(window).rows}
    assert {"Shift+[", "Shift+]", "["} <= keys  # in the F1 list
    ui.softness_box.setValue(40)
    window.close()
    again = open_window(qtbot, window.project.workspace.path)  # kept with the workspace
    assert again.view.brush_softness == 0.4 and again.ui.softness_box.value() == 40
    again.close()


def test_a_soft_stroke_keeps_its_edge_and_undo_restores_it(qtbot, tmp_path):
    window = open_window(qtbot, make_workspace(tmp_path))
    canvas, project = window.canvas, window.project
    window.goto(KEY)
    original = project.mask(KEY).copy()
    window.tools.set_brush_size(16)
    window.tools.set_brush_softness(0.5)  # a hard core of 4 px, falling off over the outer 4 px
    drag(qtbot, canvas, [(70, 12), (75, 12), (80, 12)])
    layer = layer_of(window, KEY)
    matte = layer[canvas.object_id]
    soft = (matte > 0) & (matte < 1)
    assert soft.sum() > 60 and matte[12, 75] == 1.0 and matte[12, 89] == 0.0  # falls off to the rim
    mask = project.mask(KEY)
    assert np.array_equal(mask == canvas.object_id, matte >= 0.5)  # the mask is the matte's half and more
    assert (mask == canvas.object_id).sum() < (matte > 0).sum()  # ... narrower than the brush
    assert np.array_equal(layer[canvas.object_id][original == canvas.object_id], np.ones((original == 1).sum()))

    # a small hard eraser takes the soft fringe it passes over, also where the mask was background already
    window.tools.set_brush_softness(0)
    window.tools.set_brush_size(3)
    window.set_tool("eraser")
    drag(qtbot, canvas, [(87, 4), (87, 12), (87, 20)])
    after = layer_of(window, KEY)[canvas.object_id]
    assert 0 < matte[12, 87] < 0.5 and mask[12, 87] == 0 and after[12, 87] == 0 and after[12, 75] == 1.0

    window.action_map["undo"].trigger()  # the fringe is back
    assert np.array_equal(layer_of(window, KEY)[canvas.object_id], matte)
    window.action_map["undo"].trigger()  # the soft stroke goes with its layer
    assert np.array_equal(project.mask(KEY), original)
    assert not layer_path(project.workspace.path, KEY).exists()
    window.action_map["redo"].trigger()
    assert np.array_equal(layer_of(window, KEY)[canvas.object_id], matte)
    assert np.array_equal(project.mask(KEY) == canvas.object_id, matte >= 0.5)
    window.close()

    again = open_window(qtbot, project.workspace.path)  # reopened: the same soft layer, the brush uses it
    assert np.array_equal(again.canvas.soft_store.layer(KEY)[1], matte)
    again.close()


def test_the_hard_brush_draws_as_before_and_writes_no_layer(qtbot, tmp_path):
    window = open_window(qtbot, make_workspace(tmp_path))
    canvas = window.canvas
    window.tools.set_brush_size(9)
    before = window.project.mask(window.current).copy()
    drag(qtbot, canvas, [(70, 12), (80, 12)])
    mask = window.project.mask(window.current)
    yy, xx = np.mgrid[: mask.shape[0], : mask.shape[1]] + 0.5
    t = np.clip((xx - 70.5) / 10, 0, 1)
    distance = np.hypot(xx - 70.5 - 10 * t, yy - 12.5)  # from the stroke's segment
    painted = (mask == 1) & (before == 0)
    assert painted[distance <= 4.5].all() and not painted[distance > 5.05].any()  # a 9 px brush (OpenCV's line)
    assert set(np.unique(mask[painted])) == {1}  # hard: object or not, no shades anywhere
    assert not (window.project.workspace.path / SOFT_PAINT_DIR).exists()
    window.close()


def test_a_soft_keyframe_propagates_from_its_mask_and_exports_its_soft_matte(qtbot, tmp_path, checkpoint_path):
    from xmempp.gui.export_dialog import ExportDialog

    window = open_window(qtbot, make_workspace(tmp_path, masks={}), checkpoint_path)
    canvas, project = window.canvas, window.project
    window.goto(KEY)
    window.tools.set_brush_size(34)
    window.tools.set_brush_softness(0.5)
    drag(qtbot, canvas, [(38, 36), (38, 36)])  # one soft dab over frame 2's disc (centre 38, 36)
    window.save_reference()
    assert project.references == [KEY]
    matte = effective_mattes(layer_of(window, KEY), project.mask(KEY))[1]
    assert ((matte > 0.01) & (matte < 0.99)).sum() > 40
    assert window.propagate("forward")
    qtbot.waitUntil(lambda: window.job is None, timeout=120_000)
    assert all(project.has_mask(f) for f in range(KEY + 1, N))

    dialog = ExportDialog(project, window)
    out = tmp_path / "out"
    dialog.folder.setText(str(out))
    dialog.alpha.setChecked(True)
    dialog.alpha_bits.setCurrentIndex(dialog.alpha_bits.findData(16))
    dialog.from_propagation.setChecked(True)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=120_000)
    assert dialog.result_frames == N, dialog.status.text()
    oid = project.object_ids[0]
    written = np.asarray(Image.open(out / "alpha" / str(oid) / f"plate_{KEY:04d}.png")).astype(np.float64) / 65535
    assert np.abs(written - matte).max() <= 1 / 65535 + 1e-9  # the brush's soft edge, as painted
    nxt = np.asarray(Image.open(out / "alpha" / str(oid) / f"plate_{KEY + 1:04d}.png"))
    assert nxt.any()  # propagated from it
    window.close()


def test_a_spline_on_a_soft_frame_sets_its_objects_matte_to_the_shapes(qtbot, tmp_path):
    from xmempp.io.roto_shapes import keyframe_mattes, read_shapes
    from xmempp.io.soft_paint import quantise

    window = open_window(qtbot, make_workspace(tmp_path))
    canvas, project = window.canvas, window.project
    window.tools.set_brush_size(10)
    window.tools.set_brush_softness(0.5)
    drag(qtbot, canvas, [(80, 60), (85, 60)])  # a soft stroke: the frame has a soft layer
    stroke = layer_of(window, window.current)[1]
    window.set_tool("spline")
    for x, y in ((60, 10), (90, 10), (90, 30), (60, 30)):
        drag(qtbot, canvas, [(x, y)])
    window.action_map["accept"].trigger()
    canvas.tool.selected = (0, 1)
    canvas.tool.set_feather(0.0, 3.0)
    shapes = read_shapes(project.workspace.path / "shapes.json")[window.current]
    layer = layer_of(window, window.current)
    assert np.array_equal(layer[1], quantise(keyframe_mattes(shapes, project.size)[1]))  # the shapes' soft edge
    assert stroke[60, 82] > 0 and layer[1][60, 82] == 0  # the object's pixels are its shapes', as in the mask
    assert np.array_equal(project.mask(window.current) == 1, layer[1] >= 0.5)
    window.action_map["undo"].trigger()  # the feather goes from the layer too
    assert layer_of(window, window.current)[1][10:31, 92].max() < layer[1][10:31, 92].max()
    window.close()


def test_a_damaged_layer_is_named_painted_hard_over_and_never_dropped_by_an_export(qtbot, tmp_path):
    from xmempp.gui.export_dialog import ExportDialog

    path = make_workspace(tmp_path)
    damaged = layer_path(path, 0)
    damaged.parent.mkdir()
    damaged.write_bytes(b"not a zip")
    window = open_window(qtbot, path)
    notes: list[str] = []
    window.canvas.message.connect(notes.append)
    window.tools.set_brush_softness(0.5)
    window.tools.set_brush_size(6)
    drag(qtbot, window.canvas, [(80, 60), (85, 60)])
    assert any("000000.npz" in n and "painting hard" in n for n in notes), notes
    assert window.project.mask(0)[60, 82] == 1 and damaged.read_bytes() == b"not a zip"  # painted, file kept
    dialog = ExportDialog(window.project, window)
    dialog.folder.setText(str(tmp_path / "out"))
    dialog.start()
    assert "000000.npz" in dialog.status.text() and dialog.worker is None
    window.close()


def test_soft_mattes_are_resized_for_an_export_at_the_source_size():
    from xmempp.gui.soft_paint_store import resized

    matte = np.zeros((4, 6), np.float32)
    matte[:, 3:] = 1.0
    big = resized({1: matte}, (8, 12))[1]
    assert big.shape == (8, 12) and big[:, :5].max() == 0 and big[:, 7:].min() == 1 and 0 < big[0, 6] < 1
    assert resized({1: matte}, (4, 6))[1] is matte


def test_the_matte_views_show_the_soft_layer(qtbot, tmp_path):
    window = open_window(qtbot, make_workspace(tmp_path))
    canvas = window.canvas
    window.tools.set_brush_size(12)
    window.tools.set_brush_softness(0.75)
    window.views.set_overlay_mode("alpha")
    assert canvas.overlay_mode == "alpha"
    drag(qtbot, canvas, [(80, 60), (86, 60)])
    matte = layer_of(window, window.current)[1]
    shown = canvas.grab_rgb()[..., 0].astype(np.float64) / 255
    assert np.abs(shown - matte).max() <= 0.5 / 255 + 1e-6  # the soft edge, not the hard mask
    assert ((shown > 0) & (shown < 1)).sum() > 30
    window.action_map["undo"].trigger()
    shown = canvas.grab_rgb()[..., 0]
    assert np.array_equal(shown > 0, window.project.mask(window.current) == 1) and set(np.unique(shown)) <= {0, 255}
    window.view.update(overlay_mode="combined")
    window.action_map["redo"].trigger()
    shown = canvas.grab_rgb()[..., 0].astype(np.float64) / 255
    assert np.abs(shown - matte).max() <= 0.5 / 255 + 1e-6
    window.close()
