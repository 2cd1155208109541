"""The spline tool (issue 33): Bezier points placed by click, tangents by drag, per-point feather, edits
afterwards; shapes kept per keyframe in shapes.json, reopened as shapes, rasterised to the keyframe's mask
and exported as the keyframe's soft matte after a propagation from it."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("PyQt5")

from PIL import Image
from PyQt5.QtCore import Qt

from guihelpers import N, at, drag, make_workspace, open_window
from xmempp.io.roto_shapes import SHAPES_FILE, keyframe_ids, keyframe_mattes, read_shapes

pytestmark = pytest.mark.usefixtures("private_qt_settings")

KEY = 3  # the spline keyframe
CX, CY, R = 42.0, 36.0, 14.0  # the disc of frame 3 around pixel (42, 36) (guihelpers.synthetic_frame)
C = 0.5  # `at(x, y)` is the centre of pixel (x, y): image point (x + 0.5, y + 0.5)


def click(qtbot, canvas, x: float, y: float, modifiers=Qt.NoModifier, button=Qt.LeftButton) -> None:
    qtbot.mouseClick(canvas, button, modifiers, at(canvas, x, y))


def draw_disc_shape(qtbot, canvas) -> None:
    """Four points around the disc, each dragged out into a tangent, closed on the first point."""
    k = 0.5523 * R
    for (x, y), (tx, ty) in (
        ((CX, CY - R), (k, 0)),
        ((CX + R, CY), (0, k)),
        ((CX, CY + R), (-k, 0)),
        ((CX - R, CY), (0, -k)),
    ):
        drag(qtbot, canvas, [(x, y), (x + tx / 2, y + ty / 2), (x + tx, y + ty)])
    click(qtbot, canvas, CX, CY - R)


def test_spline_keyframe_round_trips_and_propagates_from_its_soft_matte(qtbot, tmp_path, checkpoint_path):
    window = open_window(qtbot, make_workspace(tmp_path), checkpoint_path)
    canvas, project = window.canvas, window.project
    window.goto(KEY)
    window.set_tool("spline")
    assert canvas.tool.name == "spline"
    draw_disc_shape(qtbot, canvas)
    path = project.workspace.path / SHAPES_FILE
    shapes = read_shapes(path)[KEY]
    assert len(shapes) == 1 and len(shapes[0].points) == 4 and shapes[0].object_id == canvas.object_id
    first = shapes[0].points[0]
    assert abs(first.out_x - 0.5523 * R) < 0.5 and abs(first.in_x + 0.5523 * R) < 0.5  # dragged tangents
    mask = project.mask(KEY)
    yy, xx = np.mgrid[: mask.shape[0], : mask.shape[1]]
    disc = np.hypot(xx - CX, yy - CY) <= R
    assert np.mean((mask > 0) != disc) < 0.01  # the closed shape fills the disc

    # edit afterwards: Ctrl+drag the right point outwards sets its outer feather; drag the bottom point down
    drag(qtbot, canvas, [(CX + R, CY), (CX + R + 3, CY), (CX + R + 6, CY)], modifiers=Qt.ControlModifier)
    drag(qtbot, canvas, [(CX, CY + R), (CX, CY + R + 2), (CX, CY + R + 4)])
    shapes = read_shapes(path)[KEY]
    right, bottom = shapes[0].points[1], shapes[0].points[2]
    assert 5 < right.outer < 7 and right.inner == 0
    assert abs(bottom.y - (CY + R + 4 + C)) < 0.2
    canvas.tool.selected = (0, 0)
    canvas.tool.set_feather(1.5, 4.0)  # the feather boxes' setter
    shapes = read_shapes(path)[KEY]
    assert (shapes[0].points[0].inner, shapes[0].points[0].outer) == (1.5, 4.0)
    expected = keyframe_ids(keyframe_mattes(shapes, mask.shape), np.zeros_like(mask))
    assert np.array_equal(project.mask(KEY), expected * canvas.object_id)
    window.save_reference()
    assert KEY in project.references
    window.close()

    # reopened: the keyframe is still shapes, editable as shapes
    again = open_window(qtbot, project.workspace.path, checkpoint_path)
    again.goto(KEY)
    again.set_tool("spline")
    assert again.canvas.shape_store.shapes(KEY) == shapes
    drag(qtbot, again.canvas, [(CX - R, CY), (CX - R - 1, CY), (CX - R - 2, CY)])
    moved = read_shapes(path)[KEY]
    assert abs(moved[0].points[3].x - (CX - R - 2 + C)) < 0.2 and moved[0].points[1] == shapes[0].points[1]
    again.save_reference()
    shapes = moved

    # propagate from the keyframe, export soft mattes: the keyframe's output is its shapes' soft matte
    again.goto(KEY)
    assert again.propagate("forward")
    qtbot.waitUntil(lambda: again.job is None, timeout=120_000)
    assert all(again.project.has_mask(f) for f in range(KEY + 1, N))
    from xmempp.gui.export_dialog import ExportDialog

    dialog = ExportDialog(again.project, again)
    out = tmp_path / "out"
    dialog.folder.setText(str(out))
    dialog.alpha.setChecked(True)
    dialog.alpha_bits.setCurrentIndex(dialog.alpha_bits.findData(16))
    dialog.from_propagation.setChecked(True)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=120_000)
    assert dialog.result_frames == N, dialog.status.text()
    matte = keyframe_mattes(shapes, mask.shape)[1]
    written = np.asarray(Image.open(out / "alpha" / "7" / f"plate_{KEY:04d}.png")).astype(np.float64) / 65535
    assert np.abs(written - matte).max() <= 1 / 65535 + 1e-9  # the artist's soft edge, as drawn
    soft = (written > 0.01) & (written < 0.99)
    assert soft.sum() > 40  # feathered, not a hard edge
    nxt = np.asarray(Image.open(out / "alpha" / "7" / f"plate_{KEY + 1:04d}.png"))
    assert nxt.any()  # propagated from it
    assert json.loads(path.read_text())["frames"][str(KEY)]
    again.close()


def test_v_picks_the_spline_tool_and_enter_closes_the_shape(qtbot, tmp_path):
    window = open_window(qtbot, make_workspace(tmp_path))
    window.action_map["tool_spline"].trigger()  # V
    canvas = window.canvas
    assert canvas.tool.name == "spline" and window.action_map["tool_spline"].isChecked()
    assert not window.action_map["tool_brush"].isChecked()  # one tool checked at a time
    for x, y in ((20, 20), (40, 20), (40, 40), (20, 40)):
        click(qtbot, canvas, x, y)
    assert canvas.tool.pending
    window.action_map["remove_point"].trigger()  # Backspace: the last point goes
    assert len(canvas.tool.drawing) == 3
    window.action_map["accept"].trigger()  # Enter closes
    assert not canvas.tool.pending
    mask = window.project.mask(window.current)
    assert mask[25, 32] == canvas.object_id and mask[35, 25] == 0  # the triangle (20,20)-(40,20)-(40,40)
    click(qtbot, canvas, 40, 20, button=Qt.RightButton)  # right-click a point of a 3-point shape
    assert window.project.workspace.path.joinpath(SHAPES_FILE).exists() is False
    assert window.project.mask(window.current)[25, 32] == 0  # the shape went, and its fill
    window.close()


def test_feather_boxes_follow_the_selected_point_and_set_it(qtbot, tmp_path):
    from xmempp.gui.spline_tool import FeatherControls

    window = open_window(qtbot, make_workspace(tmp_path))
    controls = window.findChild(FeatherControls)
    assert controls is not None and not controls.isVisible()  # only with the spline tool
    window.set_tool("spline")
    qtbot.waitUntil(controls.isVisible, timeout=2000)
    canvas = window.canvas
    for x, y in ((20, 20), (50, 20), (50, 50), (20, 50)):
        click(qtbot, canvas, x, y)
    window.action_map["accept"].trigger()
    # outwards along the corner's normal (the diagonal): outer feather 3 * sqrt(2)
    drag(qtbot, canvas, [(50, 20), (52, 18), (53, 17)], modifiers=Qt.ControlModifier)
    assert 3.7 < controls.outer.value() < 4.7 and controls.inner.value() == 0
    controls.inner.setValue(2.0)  # typed into the box: the point takes it
    point = read_shapes(window.project.workspace.path / SHAPES_FILE)[window.current][0].points[1]
    assert point.inner == 2.0 and 3.7 < point.outer < 4.7
    click(qtbot, canvas, 20, 20)  # another point: its own feather shown
    assert controls.inner.value() == 0 and controls.outer.value() == 0
    window.set_tool("brush")
    qtbot.waitUntil(lambda: not controls.isVisible(), timeout=2000)
    window.close()


def test_a_broken_shapes_file_is_never_overwritten(qtbot, tmp_path):
    path = make_workspace(tmp_path)
    (path / SHAPES_FILE).write_text("{")
    window = open_window(qtbot, path)
    notes = []
    window.canvas.message.connect(notes.append)
    window.set_tool("spline")
    for x, y in ((60, 10), (90, 10), (90, 30)):
        click(qtbot, window.canvas, x, y)
    window.action_map["accept"].trigger()
    assert (path / SHAPES_FILE).read_text() == "{"  # the artist's file as it was
    assert any("shapes.json" in n and "not saved" in n for n in notes), notes
    assert window.project.mask(window.current)[15, 80] == 0  # nothing drawn from an unsaved shape
    window.close()


def test_undo_and_redo_restore_the_outline_with_the_mask(qtbot, tmp_path):
    window = open_window(qtbot, make_workspace(tmp_path))
    window.set_tool("spline")
    canvas, path = window.canvas, window.project.workspace.path / SHAPES_FILE
    original = window.project.mask(window.current).copy()
    for x, y in ((20, 20), (50, 20), (50, 50), (20, 50)):
        click(qtbot, canvas, x, y)
    window.action_map["accept"].trigger()  # the shape closed: one step
    drag(qtbot, canvas, [(50, 50), (55, 55), (60, 60)])  # a point moved: another step
    moved = read_shapes(path)[window.current][0].points[2]
    assert (moved.x, moved.y) == pytest.approx((60 + C, 60 + C), abs=0.2)
    assert window.project.mask(window.current)[57, 57]
    window.action_map["undo"].trigger()  # the point is back, in the file and the tool
    point = read_shapes(path)[window.current][0].points[2]
    assert (point.x, point.y) == pytest.approx((50 + C, 50 + C), abs=0.2)
    shown = canvas.tool.shapes[0].points[2]
    assert (shown.x, shown.y) == pytest.approx((50 + C, 50 + C), abs=0.2)
    assert window.project.mask(window.current)[57, 57] == 0
    window.action_map["undo"].trigger()  # the shape goes with its fill
    assert not path.exists() or window.current not in read_shapes(path)
    assert canvas.tool.shapes == [] and np.array_equal(window.project.mask(window.current), original)
    window.action_map["redo"].trigger()
    window.action_map["redo"].trigger()
    assert read_shapes(path)[window.current][0].points[2].x == pytest.approx(60 + C, abs=0.2)
    assert window.project.mask(window.current)[57, 57] == canvas.object_id
    window.close()
