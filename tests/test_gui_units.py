"""GUI parts on small synthetic workspaces (no ../shared needed except where the model is used):
overlay modes, tools, click-to-segment backends, undo, references, export, settings, launching."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import importlib.machinery
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt5")
pytest.importorskip("pytestqt")

from PIL import Image
from PyQt5.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt5.QtGui import QKeyEvent
from PyQt5.QtWidgets import QApplication, QMessageBox

from guihelpers import H, N, W, at, disc_mask, drag, make_workspace, open_window, synthetic_frame
from xmempp.io.frames import FolderFrames
from xmempp.io.masks import davis_palette, read_mask
from xmempp.io.workspace import create_workspace

pytestmark = pytest.mark.usefixtures("private_qt_settings")


# ------------------------------------------------------------------------------------------ pure parts


def test_overlay_modes():
    from xmempp.gui.overlay import composite, object_outline

    frame = synthetic_frame(0)
    ids = (disc_mask(0) > 0).astype(np.uint8)
    palette = davis_palette()
    blend = composite(frame, ids, "blend", 0.5, palette)
    inside, outside = (36, 30), (5, 5)
    assert np.array_equal(blend[outside], frame[outside])
    assert not np.array_equal(blend[inside], frame[inside])
    fade = composite(frame, ids, "fade")
    assert np.array_equal(fade[inside], frame[inside]) and fade[outside].sum() < frame[outside].sum()
    popup = composite(frame, ids, "popup")
    assert np.array_equal(popup[inside], frame[inside]) and popup[outside].tolist() == [112, 112, 112]
    edge = object_outline(ids)
    assert edge.any() and not edge[inside] and not edge[outside]
    assert np.array_equal(composite(frame, None), frame)


def test_settings_survive_bad_values():
    from xmempp.gui.settings import GuiSettings

    s = GuiSettings.from_json(
        {
            "config": {"mem_every": 3, "top_k": -4, "size": 240, "bogus": 1},
            "k": True,
            "alpha": 2.0,
            "overlay_mode": "popup",
            "suggestions": [3, "x", 1],
            "edited": [5, 5, -1],
            "brush_size": 20,
        }
    )
    assert s.config.mem_every == 3 and s.config.size == 240 and s.config.top_k == 30
    assert s.k == 5 and s.alpha == 0.5 and s.overlay_mode == "popup" and s.brush_size == 20
    assert s.suggestions == [3, 1] and s.edited == [5]
    assert GuiSettings.from_json(s.to_json()) == s
    assert GuiSettings.from_json("nonsense") == GuiSettings()


def test_plan_propagation():
    from xmempp import Direction
    from xmempp.gui.workers import plan_propagation

    assert plan_propagation("forward", 3, 6, [0]).passes == [[3, 4, 5]]
    assert plan_propagation("backward", 3, 6, [0]).passes == [[3, 2, 1, 0]]
    full = plan_propagation(Direction.SHOT, 4, 6, [2, 5])
    assert full.passes == [[2, 3, 4, 5], [2, 1, 0]] and full.total == 7 and full.span == (0, 5)
    assert plan_propagation("forward", 5, 6, [5]).passes == []
    assert plan_propagation("forward", 0, 6, [0], limit=2).passes == [[0, 1]]


def test_gui_propagation_uses_the_core_direction_words():
    """The GUI's directions are `xmempp.Direction` (the CLI's and docs' words); the old "full" reads as shot."""
    from xmempp import Direction
    from xmempp.errors import InputError
    from xmempp.gui.shortcuts import SHORTCUTS
    from xmempp.gui.workers import plan_propagation, propagation_direction

    assert propagation_direction("full") is Direction.SHOT and propagation_direction("shot") is Direction.SHOT
    assert plan_propagation("full", 4, 6, [2, 5]).passes == plan_propagation(Direction.SHOT, 4, 6, [2, 5]).passes
    assert plan_propagation(Direction.SHOT, 4, 6, [2, 5]).text == "Propagate whole shot"
    assert plan_propagation(Direction.BOTH, 3, 6, [0]).passes == [[3, 4, 5], [3, 2, 1, 0]]
    with pytest.raises(InputError, match="shot, forward, backward, both"):
        propagation_direction("sideways")
    names = {s.action for s in SHORTCUTS}
    assert {f"propagate_{d.value}" for d in (Direction.FORWARD, Direction.BACKWARD, Direction.SHOT)} <= names
    assert not any("full" in name for name in names)


def test_grabcut_box_and_strokes():
    from xmempp.gui.segment_backends import SCRIBBLE_BG, SCRIBBLE_FG, GrabCutBackend, Prompt

    image = synthetic_frame(2)
    truth = disc_mask(2) > 0
    backend = GrabCutBackend()
    found = backend.segment(image, Prompt(box=(16, 18, 56, 54)))
    iou = (found & truth).sum() / (found | truth).sum()
    assert iou > 0.8
    scribble = np.zeros((H, W), np.uint8)
    scribble[34:38, 32:42] = SCRIBBLE_FG
    scribble[5:8, 5:90] = SCRIBBLE_BG
    found = backend.segment(image, Prompt(scribble=scribble))
    assert (found & truth).sum() / (found | truth).sum() > 0.6
    assert not backend.segment(image, Prompt()).any()


def test_sam_backend_is_optional_and_adapts(monkeypatch, tmp_path):
    from xmempp.gui import segment_backends as sb

    monkeypatch.delenv("XMEMPP_SAM_CHECKPOINT", raising=False)
    monkeypatch.setenv("XMEMPP_HOME", str(tmp_path / "weights"))
    if importlib.util.find_spec("segment_anything") is None:
        assert not sb.SamBackend.available()
        assert [type(b) for b in sb.available_backends()] == [sb.GrabCutBackend]

    calls = {}

    class FakePredictor:
        def __init__(self, model):
            calls["model"] = model

        def set_image(self, image):
            calls["set_image"] = calls.get("set_image", 0) + 1

        def predict(self, point_coords=None, point_labels=None, box=None, multimask_output=True):
            calls["predict"] = (point_coords, point_labels, box)
            return np.ones((1, H, W), bool), np.ones(1), None

    class FakeModel:
        def to(self, device):
            calls["device"] = device
            return self

    fake = types.ModuleType("segment_anything")
    fake.__spec__ = importlib.machinery.ModuleSpec("segment_anything", None)
    fake.sam_model_registry = {"vit_b": lambda checkpoint: calls.setdefault("checkpoint", checkpoint) and FakeModel()}
    fake.SamPredictor = FakePredictor
    checkpoint = tmp_path / "sam_vit_b_01ec64.pth"
    checkpoint.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "segment_anything", fake)
    monkeypatch.setenv("XMEMPP_SAM_CHECKPOINT", str(checkpoint))
    assert sb.SamBackend.available()
    backend = sb.available_backends()[0]
    assert isinstance(backend, sb.SamBackend) and "points" in backend.modes
    prompt = sb.Prompt(points=[(10.0, 12.0, True), (50.0, 40.0, False)], box=(5, 5, 60, 50), frame=3)
    assert backend.segment(synthetic_frame(0), prompt).all()
    coords, labels, box = calls["predict"]
    assert coords.tolist() == [[10.0, 12.0], [50.0, 40.0]] and labels.tolist() == [1, 0]
    assert box.tolist() == [5, 5, 60, 50] and calls["checkpoint"] == str(checkpoint)
    backend.segment(synthetic_frame(0), prompt)
    assert calls["set_image"] == 1  # the embedding of a frame is reused


def test_launch_reuses_its_own_workspace(tmp_path):
    from xmempp.errors import OutputError
    from xmempp.gui.launch import workspace_from_source

    src = tmp_path / "plates"
    src.mkdir()
    for i in range(3):
        Image.fromarray(synthetic_frame(i)).save(src / f"p_{i}.png")
    path, created = workspace_from_source(src, tmp_path / "ws")
    assert created and path == tmp_path / "ws" / "plates" and (path / "info.json").exists()
    again, created = workspace_from_source(src, tmp_path / "ws")
    assert again == path and not created
    other = tmp_path / "other" / "plates"
    other.mkdir(parents=True)
    Image.fromarray(synthetic_frame(0)).save(other / "p_0.png")
    with pytest.raises(OutputError, match="already exists"):
        workspace_from_source(other, tmp_path / "ws")


# ------------------------------------------------------------------------------------------ the window


def test_polygon_lasso_eraser_objects_and_undo(qtbot, tmp_path):
    window = open_window(qtbot, make_workspace(tmp_path))
    project, canvas = window.project, window.canvas
    assert project.object_ids == [7] and project.num_objects == 1
    window.goto(2)

    # polygon: click corners, Enter fills
    window.set_tool("polygon")
    for x, y in ((10, 10), (40, 10), (40, 30), (10, 30)):
        qtbot.mouseClick(canvas, Qt.LeftButton, pos=at(canvas, x, y))
    assert canvas.tool.pending
    qtbot.keyClick(canvas, Qt.Key_Return)
    assert not canvas.tool.pending
    assert project.mask(2)[20, 25] == 1 and project.mask(2)[50, 80] == 0

    # a second object, selected with key 2, filled with the lasso
    window.add_object()
    assert project.num_objects == 2 and project.object_ids == [7, 1]
    window.select_object(1)
    qtbot.keyClick(canvas, Qt.Key_2)
    assert canvas.object_id == 2
    window.set_tool("lasso")
    drag(qtbot, canvas, [(60, 40), (90, 40), (90, 65), (60, 65)])
    assert project.mask(2)[52, 75] == 2

    # lasso with Shift erases; eraser paints background
    drag(qtbot, canvas, [(62, 42), (88, 42), (88, 63), (62, 63)], modifiers=Qt.ShiftModifier)
    assert project.mask(2)[52, 75] == 0
    window.set_tool("eraser")
    window.set_brush_size(7)
    drag(qtbot, canvas, [(20, 20), (30, 20)])
    assert project.mask(2)[20, 25] == 0 and project.mask(2)[12, 12] == 1

    # Alt+click picks the object under the pointer; Delete clears it from the frame
    qtbot.mouseClick(canvas, Qt.LeftButton, Qt.AltModifier, at(canvas, 12, 12))
    assert canvas.object_id == 1
    qtbot.keyClick(canvas, Qt.Key_Delete)
    assert not (project.mask(2) == 1).any()

    # every step undoes, in order, and is saved
    texts = [project.undo_stack.text(i) for i in range(project.undo_stack.count())]
    assert texts == [
        f"{t} · plate_0002" for t in ("Polygon fill", "Lasso fill", "Lasso erase", "Eraser stroke", "Clear object 7")
    ]
    for _ in texts:
        window.action_map["undo"].trigger()
    assert not project.has_mask(2) and not project.workspace.mask_path(2).exists()
    for _ in texts:
        window.action_map["redo"].trigger()
    on_disk = read_mask(project.workspace.mask_path(2)).ids
    assert np.array_equal(on_disk, project.mask(2)) and on_disk[52, 75] == 0 and not (on_disk == 1).any()
    assert json.loads((project.workspace.path / "info.json").read_text())["num_objects"] == 2
    window.close()


def test_segment_tool_with_grabcut(qtbot, tmp_path):
    window = open_window(qtbot, make_workspace(tmp_path))
    project, canvas = window.project, window.canvas
    window.goto(3)
    window.set_tool("segment")
    assert window.ui.backend_box.currentText() == "GrabCut"
    window.ui.segment_mode_box.setCurrentIndex(window.ui.segment_mode_box.findData("box"))
    drag(qtbot, canvas, [(26, 18), (46, 30), (66, 54)])
    truth = disc_mask(3) > 0
    found = project.mask(3) == 1
    assert (found & truth).sum() / (found | truth).sum() > 0.8
    qtbot.keyClick(canvas, Qt.Key_Escape)  # cancel: back to the mask before the segmentation
    assert not project.mask(3).any()
    window.ui.segment_mode_box.setCurrentIndex(window.ui.segment_mode_box.findData("strokes"))
    drag(qtbot, canvas, [(40, 34), (46, 36), (50, 38)])
    drag(qtbot, canvas, [(3, 3), (90, 3)], button=Qt.RightButton)
    assert (project.mask(3)[truth] == 1).mean() > 0.6
    qtbot.keyClick(canvas, Qt.Key_Return)
    assert not canvas.tool.pending and project.has_mask(3)
    window.close()


def test_references_delete_with_confirmation(qtbot, tmp_path, monkeypatch):
    window = open_window(qtbot, make_workspace(tmp_path))
    project = window.project
    answers = [QMessageBox.No, QMessageBox.Yes]
    asked = []

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    window.goto(0)
    window.action_map["delete_reference"].trigger()
    assert project.references == [0] and asked
    window.ui.references_panel.list.item(0).setSelected(True)
    window.ui.references_panel.delete_button.click()
    assert project.references == [] and len(asked) == 2
    assert json.loads((project.workspace.path / "info.json").read_text())["references"] == []
    assert project.has_mask(0)  # the mask stays
    window.action_map["undo"].trigger()
    assert project.references == [0] and window.ui.references_panel.list.count() == 1
    # an empty frame cannot become a reference
    window.goto(4)
    window.action_map["save_reference"].trigger()
    assert project.references == [0]
    window.close()


def test_export_saved_masks_with_original_ids(qtbot, tmp_path, captured):
    from xmempp.gui.export_dialog import ExportDialog

    workspace = make_workspace(tmp_path, size=36)  # workspace at half the source size
    window = open_window(qtbot, workspace)
    dialog = ExportDialog(window.project, window)
    out = tmp_path / "out"
    dialog.folder.setText(str(out))
    dialog.alpha.setChecked(True)
    dialog.alpha_bits.setCurrentIndex(dialog.alpha_bits.findData(16))
    dialog.binary.setChecked(True)
    dialog.overlay.setChecked(True)
    assert dialog.upscale.isEnabled() and dialog.upscale.isChecked()
    dialog.start()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=60_000)
    assert dialog.result_frames == N
    mask = read_mask(out / "masks" / "plate_0000.png")
    assert mask.ids.shape == (H, W) and set(np.unique(mask.ids)) == {0, 7}
    assert tuple(mask.palette[7]) == tuple(davis_palette()[7])
    with Image.open(out / "alpha" / "7" / "plate_0000.png") as matte:
        assert np.asarray(matte).dtype == np.uint16
    assert (out / "binary" / "7" / "plate_0005.png").exists() and (out / "overlay" / "plate_0003.jpg").exists()
    assert not (out / "masks" / "frame_000000.png").exists()
    # a second export into the same folder is refused unless asked to replace
    dialog.start()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=60_000)
    assert dialog.result_frames is None and "already holds results" in captured[-1][1]
    dialog.overwrite.setChecked(True)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=60_000)
    assert dialog.result_frames == N
    window.close()


def test_edited_frames_and_space_pause_and_undo_propagation(qtbot, tmp_path, checkpoint_path, monkeypatch, captured):
    window = open_window(qtbot, make_workspace(tmp_path), checkpoint_path)
    project, canvas = window.project, window.canvas
    window.ui.memory_panel.fields["size"].setValue(64)
    window.goto(3)
    window.set_brush_size(5)
    drag(qtbot, canvas, [(80, 10), (85, 12)])
    assert project.settings.edited == [3]

    def choose_save(box):
        next(b for b in box.buttons() if b.text() == "Save as references").click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec_", choose_save)
    window.goto(1)
    assert window.propagate("forward")
    assert project.references == [0, 3] and project.settings.edited == []
    # Space tap pauses and resumes; Space + drag pans instead
    QApplication.sendEvent(canvas, QKeyEvent(QEvent.KeyPress, Qt.Key_Space, Qt.NoModifier, " "))
    QApplication.sendEvent(canvas, QKeyEvent(QEvent.KeyRelease, Qt.Key_Space, Qt.NoModifier, " "))
    assert window.worker is not None and window.worker.paused
    qtbot.keyClick(canvas, Qt.Key_Space)
    assert not window.worker.paused
    qtbot.waitUntil(lambda: window.job is None, timeout=60_000)
    assert not captured, captured
    assert all(project.has_mask(i) for i in range(N))
    written = {i: project.mask(i).copy() for i in range(N)}
    assert written[3][10, 82] == 1  # the reference, not a prediction
    offset = QPointF(canvas._offset)
    QApplication.sendEvent(canvas, QKeyEvent(QEvent.KeyPress, Qt.Key_Space, Qt.NoModifier, " "))
    drag(qtbot, canvas, [(10, 10), (30, 30)])
    QApplication.sendEvent(canvas, QKeyEvent(QEvent.KeyRelease, Qt.Key_Space, Qt.NoModifier, " "))
    assert canvas._offset != offset and not window.timeline.playing
    assert np.array_equal(project.mask(3), written[3])
    # one undo puts back what was there before the propagation
    window.action_map["undo"].trigger()
    assert not project.has_mask(1) and not project.has_mask(5)
    assert project.has_mask(3) and project.has_mask(0)
    window.action_map["redo"].trigger()
    assert np.array_equal(project.mask(5), written[5])
    window.close()


def test_gui_command_creates_workspace_from_images(tmp_path):
    src = tmp_path / "plates"
    src.mkdir()
    for i in range(3):
        Image.fromarray(synthetic_frame(i)).save(src / f"p_{i}.png")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    code = "from xmempp.cli.app import main; main()"
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [sys.executable, "-c", code, "gui", "--images", str(src), "--screenshot", str(shot)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "workspace" / "plates" / "info.json").exists() and shot.exists()
    proc = subprocess.run(
        [sys.executable, "-c", code, "gui", "--images", str(src), "--workspace", "x"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "exactly one of" in proc.stderr and "Traceback" not in proc.stderr


def test_opens_an_xmempp_style_workspace(qtbot, tmp_path):
    """An XMem++ workspace: images/, masks/, and an info.json with only references and num_objects."""
    ws = tmp_path / "workspace" / "legacy"
    (ws / "images").mkdir(parents=True)
    (ws / "masks").mkdir()
    for i in range(3):
        Image.fromarray(synthetic_frame(i)).save(ws / "images" / f"{i:07d}.jpg")
    mask = Image.fromarray((disc_mask(0) > 0).astype(np.uint8), mode="P")
    mask.putpalette(davis_palette().tobytes())
    mask.save(ws / "masks" / "0000000.png")
    (ws / "info.json").write_text(json.dumps({"references": [0], "num_objects": 1}))
    window = open_window(qtbot, ws)
    project = window.project
    assert project.names == ["0000000", "0000001", "0000002"] and project.references == [0]
    assert project.mask(0)[36, 30] == 1 and not project.has_mask(1)
    window.goto(1)
    window.set_tool("lasso")
    drag(qtbot, window.canvas, [(10, 10), (30, 10), (30, 30), (10, 30)])
    window.close()
    info = json.loads((ws / "info.json").read_text())
    assert info["references"] == [0] and info["num_objects"] == 1 and "xmempp_gui" in info
    assert read_mask(ws / "masks" / "0000001.png").ids[20, 20] == 1


def test_zoom_pan_and_timeline(qtbot, tmp_path):
    from PyQt5.QtGui import QWheelEvent

    window = open_window(qtbot, make_workspace(tmp_path))
    canvas, track = window.canvas, window.timeline.track
    zoom = canvas.zoom
    centre = QPointF(canvas.width() // 2, canvas.height() // 2)
    image_point = canvas.to_image(centre)
    wheel = QWheelEvent(
        centre,
        canvas.mapToGlobal(centre.toPoint()),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.NoButton,
        Qt.NoModifier,
        Qt.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(canvas, wheel)
    assert canvas.zoom > zoom * 1.2
    after = canvas.to_image(centre)
    assert abs(after.x() - image_point.x()) < 1e-6 and abs(after.y() - image_point.y()) < 1e-6  # zooms at the pointer
    offset = QPointF(canvas._offset)
    drag(qtbot, canvas, [(10, 10), (20, 25)], button=Qt.MiddleButton)
    assert (canvas._offset != offset and not window.project.has_mask(0)) or window.project.mask(0)[10, 10] == 0
    window.action_map["zoom_fit"].trigger()
    assert abs(canvas.zoom - zoom) < 1e-6
    qtbot.mouseClick(track, Qt.LeftButton, pos=QPoint(int(track._x(4)), track.height() // 2))
    assert window.current == 4 and "6" in window.timeline.counter.text()
    qtbot.keyClick(canvas, Qt.Key_PageUp)
    assert window.current == 0  # the previous reference
    window.set_overlay_mode("checker")
    qtbot.keyClick(canvas, Qt.Key_O)
    assert canvas.overlay_mode == "blend"  # O cycles the overlays and the matte views, wrapping round
    qtbot.keyClick(canvas, Qt.Key_H)
    assert not canvas.show_mask and np.array_equal(canvas.grab_rgb(), window.project.image(0))
    window.close()
    settings = json.loads((window.project.workspace.path / "info.json").read_text())["xmempp_gui"]
    assert settings["show_mask"] is False and settings["overlay_mode"] == "blend"


def test_closing_during_propagation_keeps_finished_frames(qtbot, tmp_path, checkpoint_path):
    window = open_window(qtbot, make_workspace(tmp_path), checkpoint_path)
    window.ui.memory_panel.fields["size"].setValue(64)
    assert window.propagate("forward")
    qtbot.waitUntil(lambda: window.project.has_mask(1), timeout=60_000)
    window.close()
    assert window.job is None and window.jobs.runner.job_thread is None
    project = window.project
    done = [i for i in range(1, N) if project.workspace.mask_path(i).exists()]
    assert done and all(read_mask(project.workspace.mask_path(i)).ids.shape == (H, W) for i in done)
    assert project.undo_stack.count() == 1


def test_gui_workspace_from_a_video(tmp_path):
    from iohelpers import write_video
    from xmempp.gui.launch import workspace_from_source

    video = write_video(tmp_path / "clip.mp4", [synthetic_frame(i) for i in range(4)])
    path, created = workspace_from_source(video, tmp_path / "ws")
    assert created and path.name == "clip"
    info = json.loads((path / "info.json").read_text())
    assert len(info["frames"]) == 4 and info["image_extension"] == ".jpg"


def test_docs_list_the_current_shortcuts():
    from xmempp.gui.shortcuts import shortcut_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "gui.md"
    if not doc.exists():
        pytest.skip("docs/gui.md is absent")
    assert shortcut_markdown() in doc.read_text(encoding="utf-8"), (
        "docs/gui.md is out of date: paste the output of xmempp.gui.shortcut_markdown() into it"
    )


def test_a_failed_save_is_reported_and_the_edit_kept(qtbot, tmp_path, captured, monkeypatch):
    from xmempp.errors import OutputError

    window = open_window(qtbot, make_workspace(tmp_path))
    project = window.project

    def fail(index, ids):
        raise OutputError(f"cannot write {project.workspace.mask_path(index)}: No space left on device")

    monkeypatch.setattr(project.workspace, "save_mask", fail)
    window.goto(2)
    window.set_tool("lasso")
    drag(qtbot, window.canvas, [(10, 10), (30, 10), (30, 30), (10, 30)])
    assert captured and "could not save the mask of plate_0002" in captured[-1][1]
    assert "No space left" in captured[-1][1] and window.ui.saved_label.text() == "⚠ not saved"
    assert project.mask(2)[20, 20] == 1  # still on screen, nothing lost in memory
    monkeypatch.undo()
    drag(qtbot, window.canvas, [(40, 40), (60, 40), (60, 60), (40, 60)])
    assert read_mask(project.workspace.mask_path(2)).ids[20, 20] == 1  # the next save writes the whole mask
    window.close()


def test_counter_shows_source_frame_names(qtbot, tmp_path):
    src = tmp_path / "plates"
    src.mkdir()
    for n in (9, 10, 11):  # natural order differs from sorted order: the workspace renames its files
        Image.fromarray(synthetic_frame(n - 9)).save(src / f"sh010_{n}.png")
    workspace = create_workspace(tmp_path / "ws", "sh010", FolderFrames(src))
    window = open_window(qtbot, workspace)
    assert window.project.names[0] == "frame_000000"
    assert window.project.labels == ["sh010_9", "sh010_10", "sh010_11"]
    window.goto(1)
    assert "sh010_10" in window.timeline.counter.text()
    window.close()
