"""What an artist's session in the GUI hits (issue 24), on small synthetic workspaces: the processing
size of an imported workspace, Enter in number fields, Shift+Enter erase, weights and export messages,
job feedback, layout at 1280x720 and 1024x600, matte views, object management, the File menu,
suggestion stepping, the undo history."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import pickle
import shutil

import numpy as np
import pytest

pytest.importorskip("PyQt5")
pytest.importorskip("pytestqt")

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QApplication, QInputDialog, QWidget

from guihelpers import H, N, W, at, disc_mask, drag, make_workspace, open_window, write_frames

pytestmark = pytest.mark.usefixtures("private_qt_settings")
from xmempp.errors import OutputError, Remedy, RemedyKind, WeightsError  # noqa: E402
from xmempp.io.masks import read_mask  # noqa: E402
from xmempp.io.workspace import Workspace  # noqa: E402


def wait_idle(qtbot, window, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: window.job is None, timeout=timeout)


# ------------------------------------------------------------------------------------------ defects


def test_imported_workspace_keeps_its_processing_size(qtbot, tmp_path):
    from xmempp.gui.project import Project

    path = make_workspace(tmp_path, size=48)  # `xmempp import --size 48`: 48x64 frames
    assert Workspace.open(path).info.processing_size == 48
    window = open_window(qtbot, path)
    assert window.project.config.size == 48 and window.ui.memory_panel.fields["size"].value() == 48
    window.close()

    # a workspace an earlier GUI saved with the default 480 is processed at its own size again
    info = json.loads((path / "info.json").read_text())
    info["xmempp_gui"]["config"]["size"] = 480
    (path / "info.json").write_text(json.dumps(info))
    assert Project.open(path).config.size == 48

    # an XMem++ workspace (no sizes in info.json) is never upscaled past its frames (72 < the default 480)
    plain = tmp_path / "plain"
    shutil.copytree(path / "images", plain / "images")
    assert Project.open(plain).config.size == min(Workspace.open(plain).size) == 48

    # asked for explicitly, a size sticks (and may upscale)
    window = open_window(qtbot, path)
    window.ui.memory_panel.fields["size"].setValue(96)
    window.close()
    assert Project.open(path).config.size == 96


def test_enter_saves_number_fields_and_shift_enter_erases(qtbot, tmp_path, captured):
    window = open_window(qtbot, make_workspace(tmp_path))
    canvas, project = window.canvas, window.project
    window.set_tool("polygon")
    for x, y in ((32, 30), (40, 30), (40, 42)):
        qtbot.mouseClick(canvas, Qt.LeftButton, pos=at(canvas, x, y))
    assert canvas.tool.pending

    # Enter in k saves it; the polygon being drawn is not closed by it
    window.ui.tabs.setCurrentWidget(window.ui.candidates_panel)
    k = window.ui.candidates_panel.k
    k.setFocus()
    k.lineEdit().selectAll()
    qtbot.keyClicks(k, "3")
    assert project.settings.k != 3  # typing alone does not save
    qtbot.keyClick(k, Qt.Key_Return)
    assert project.settings.k == 3 and canvas.tool.pending
    size = window.ui.memory_panel.fields["size"]
    size.setFocus()
    size.lineEdit().selectAll()
    qtbot.keyClicks(size, "64")
    qtbot.keyClick(size, Qt.Key_Enter)  # keypad Enter too
    assert project.config.size == 64 and canvas.tool.pending

    # a value typed but not confirmed still counts when a job starts (here Ctrl+G, without weights)
    k.setFocus()
    k.lineEdit().selectAll()
    qtbot.keyClicks(k, "4")
    window.action_map["suggest"].trigger()
    assert project.settings.k == 4

    # Shift+Enter closes the polygon as an erase: the disc pixels inside become background
    assert project.mask(0)[36, 36] == 1
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key_Return, Qt.ShiftModifier)
    assert not canvas.tool.pending and project.mask(0)[36, 36] == 0 and project.mask(0)[36, 26] == 1
    assert project.undo_stack.undoText().startswith("Polygon erase")
    window.close()


@pytest.mark.parametrize("damage", ["python object", "truncated"])
def test_corrupt_weights_say_what_is_wrong_without_torch_advice(qtbot, tmp_path, checkpoint_path, captured, damage):
    from xmempp.gui.model_cache import ModelCache

    broken = tmp_path / "XMem.pth"
    if damage == "python object":
        broken.write_bytes(pickle.dumps({"weights": QWidget}))
    else:
        data = checkpoint_path.read_bytes()
        broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError) as error:
        ModelCache(broken, "cpu").ensure_model()
    for text in (str(error.value),):
        assert str(broken) in text and "xmempp weights download" in text
        assert "weights_only" not in text and "Unpickling" not in text and "arbitrary code" not in text
    window = open_window(qtbot, make_workspace(tmp_path), broken)
    assert window.propagate("forward")
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: bool(captured), timeout=10_000)
    kind, text = captured[0]
    assert kind == "critical" and "damaged" in text and "weights_only" not in text
    window.close()


def test_errors_are_worded_as_the_gui_controls():
    from xmempp.gui.remedies import gui_message, gui_remedy

    error = OutputError("output folder /x already holds results (masks)", remedy=Remedy(RemedyKind.ENABLE, "overwrite"))
    assert gui_message(error) == (
        "output folder /x already holds results (masks); tick “Overwrite existing results” in the export dialog"
    )
    assert gui_remedy(Remedy(RemedyKind.SET, "size", 384)) == "set “Processing size” in the Memory tab to 384"
    assert gui_remedy(Remedy(RemedyKind.DISABLE, "enable_long_term")).startswith("untick “Use long-term memory”")
    assert "--" not in gui_message(error)


def test_export_dialog_words_its_errors_as_its_controls_and_remembers_choices(qtbot, tmp_path, captured):
    from xmempp.gui.export_dialog import ExportDialog

    window = open_window(qtbot, make_workspace(tmp_path))
    out = tmp_path / "out"
    dialog = ExportDialog(window.project, window)
    dialog.folder.setText(str(out))
    dialog.alpha.setChecked(True)
    dialog.binary.setChecked(True)
    dialog.start()
    dialog.wait()
    qtbot.waitUntil(lambda: dialog.result_frames == N, timeout=20_000)
    assert dialog.overwrite.text() == "Overwrite existing results"

    # the choices come back in a new dialog (saved in the workspace)
    again = ExportDialog(window.project, window)
    assert again.folder.text() == str(out) and again.alpha.isChecked() and again.binary.isChecked()
    saved = json.loads((window.project.workspace.path / "info.json").read_text())["xmempp_gui"]["export"]
    assert saved["alpha"] is True and saved["folder"] == str(out)

    # exporting again without ticking overwrite: the message names the checkbox, never a CLI flag
    again.start()
    again.wait()
    qtbot.waitUntil(lambda: bool(captured), timeout=20_000)
    text = captured[-1][1]
    assert "Overwrite existing results" in text and "--overwrite" not in text, text
    assert "Overwrite existing results" in again.status.text()
    window.close()


# ------------------------------------------------------------------------------------------ job feedback


def test_job_progress_phases_rate_and_time_left():
    from xmempp.gui.job_progress import SUGGESTION_PHASES, JobProgress, format_duration

    now = [100.0]
    progress = JobProgress("Suggest frames", SUGGESTION_PHASES, 80, clock=lambda: now[0])
    seen = []
    for stage, steps, seconds in (
        ("model", 1, 2.0),
        ("features", 80, 0.05),
        ("propagation", 80, 0.2),
        ("selection", 5, 0.1),
    ):
        for done in range(1, steps + 1):
            now[0] += seconds
            progress.update(stage, done, steps)
            seen.append(progress.fraction)
        if stage == "features":
            text = progress.text()
            assert text.startswith("Suggest frames · 2/4 encoding frames 80/80 · 20.0 frames/s · ") and "left" in text
    assert seen == sorted(seen) and seen[-1] == 1.0  # one bar that never restarts
    assert 0.15 < seen[80] < 0.3  # the encoding pass is the lighter part of the job
    assert progress.frames == 160
    assert progress.summary("80 frames") == "80 frames in 0:20 (7.8 frames/s)"  # loading the model not counted
    assert format_duration(3723) == "1:02:03"


def test_suggestion_reports_phases_model_memory_and_a_finished_message(qtbot, tmp_path, checkpoint_path, captured):
    window = open_window(qtbot, make_workspace(tmp_path), checkpoint_path)
    jobs = window.jobs
    lines, models, stats = [], [], []
    jobs.progressChanged.connect(lambda done, total, text: lines.append((done, text)))
    jobs.modelChanged.connect(models.append)
    jobs.memoryStats.connect(stats.append)
    panel_values = []
    jobs.progressChanged.connect(lambda *_: panel_values.append(window.ui.candidates_panel.progress.value()))
    window.ui.candidates_panel.k.setValue(2)
    assert window.suggest()
    assert "not loaded" not in window.ui.model_label.text()
    wait_idle(qtbot, window)
    assert not captured, captured
    fractions = [done for done, _text in lines]
    assert fractions == sorted(fractions) and fractions[-1] == 1000
    assert panel_values == sorted(panel_values)  # the Candidates tab's bar never restarts either
    texts = " ".join(text for _done, text in lines)
    order = [texts.index(label) for label in ("encoding frames", "propagating the references", "choosing frames")]
    assert order == sorted(order)
    assert all("not loaded" not in line for line in models)
    assert any(s is not None and s.permanent_frames == 1 for s in stats)  # the memory panel is filled on the way
    message = window.statusBar().currentMessage()
    assert message.startswith("Suggest frames finished") and f"{N} frames in 0:" in message
    assert window.ui.memory_panel.permanent.text().startswith("1 frames")
    window.close()


def test_propagation_finished_message_and_status_bar_keeps_its_height(qtbot, tmp_path, checkpoint_path):
    window = open_window(qtbot, make_workspace(tmp_path), checkpoint_path)
    bar, canvas = window.statusBar(), window.canvas
    heights = (bar.height(), canvas.height(), window.timeline.y())
    assert window.propagate("forward")
    qtbot.waitUntil(lambda: window.ui.progress.isVisible(), timeout=5_000)
    QApplication.processEvents()
    assert (bar.height(), canvas.height(), window.timeline.y()) == heights
    wait_idle(qtbot, window)
    message = bar.currentMessage()
    assert message.startswith("Propagate forward finished") and "frames in 0:" in message and "frames/s" in message
    assert (bar.height(), canvas.height(), window.timeline.y()) == heights
    window.close()


def test_job_controller_works_through_signals_alone(qtbot, tmp_path, checkpoint_path):
    from xmempp.gui.job_controller import JobController
    from xmempp.gui.project import Project

    project = Project.open(make_workspace(tmp_path), checkpoint_path, "cpu")
    parent = QWidget()
    qtbot.addWidget(parent)
    jobs = JobController(project, parent)  # no window: the controller reaches no widget
    events = []
    jobs.busyChanged.connect(lambda busy: events.append(("busy", busy)))
    jobs.showFrame.connect(lambda frame: events.append(("frame", frame)))
    jobs.message.connect(lambda text, _ms: events.append(("message", text)))
    assert jobs.propagate("forward", 0)
    qtbot.waitUntil(lambda: not jobs.runner.busy, timeout=60_000)
    assert events[0] == ("busy", True) and ("busy", False) in events
    assert any(kind == "frame" for kind, _ in events)
    assert any(kind == "message" and "finished" in str(text) for kind, text in events)
    assert all(project.has_mask(i) for i in range(N))


# ------------------------------------------------------------------------------------------ layout


def test_window_laid_out_without_clipping_at_1280x720_and_1024x600(qtbot, tmp_path):
    path = make_workspace(
        tmp_path,
        stem="shot010_comp_plate_v003.",
        count=4,
        height=270,
        width=480,
        masks={0: disc_mask(0, height=270, width=480)},
    )
    window = open_window(qtbot, path, size=(1280, 720))
    QApplication.processEvents()
    assert window.width() == 1280 and window.height() == 720
    counter = window.timeline.counter
    assert not counter.elided and counter.width() >= counter.full_width()
    assert "shot010_comp_plate_v003.0000" in counter.text()
    inside = window.rect()
    for widget in (
        counter,
        window.canvas,
        window.timeline,
        window.ui.dock,
        window.ui.options_bar,
        window.ui.saved_label,
        window.ui.model_label,
    ):
        top_left = widget.mapTo(window, widget.rect().topLeft())
        bottom_right = widget.mapTo(window, widget.rect().bottomRight())
        assert inside.contains(top_left) and inside.contains(bottom_right), widget
    export = window.ui.options_bar.widgetForAction(window.action_map["export"])
    assert export.isVisible() and window.ui.options_bar.rect().contains(export.geometry())

    window.resize(1024, 600)
    QApplication.processEvents()
    assert window.minimumSizeHint().width() <= 1024 and window.minimumSizeHint().height() <= 600
    assert window.width() == 1024 and window.height() == 600
    export = window.ui.options_bar.widgetForAction(window.action_map["export"])
    assert export.isVisible() and window.ui.options_bar.rect().contains(export.geometry())
    assert window.timeline.compact and "4 / 4" not in counter.text() and "1 / 4" in counter.text()
    window.close()


# ------------------------------------------------------------------------------------------ matte views


def test_matte_view_modes_render_the_matte():
    from xmempp.gui.matte_view import CHECKER_GREYS, ONION_NEXT, render_view

    frame = np.full((H, W, 3), 200, np.uint8)
    ids = disc_mask(0, value=1)
    inside, outside = (36, 30), (5, 5)
    out = np.zeros_like(frame)
    render_view(out, frame, ids, "alpha")
    assert (out[inside] == 255).all() and (out[outside] == 0).all()
    render_view(out, frame, ids, "black")
    assert (out[inside] == 200).all() and (out[outside] == 0).all()
    render_view(out, frame, ids, "checker")
    assert (out[inside] == 200).all() and out[outside][0] in CHECKER_GREYS
    render_view(out, frame, ids, "outline", palette=np.full((256, 3), 10, np.uint8))
    assert (out[inside] == 200).all() and (out[outside] == 200).all() and (out[36, 16] != 200).any()  # edge only
    soft = np.full((H, W), 0.5, np.float32)
    render_view(out, frame, ids, "alpha", soft=soft)
    assert (out[outside] == 128).all()
    render_view(out, frame, ids, "alpha", object_id=2)  # another object's matte: empty
    assert not out.any()
    edges = np.zeros((H, W), bool)
    edges[10, 10] = True
    render_view(out, frame, ids, "black", onion=[(edges, ONION_NEXT)])
    assert tuple(out[10, 10]) == ONION_NEXT


def test_canvas_alpha_view_refined_split_and_onion_skin(qtbot, tmp_path):
    from xmempp.gui.matte_view import ONION_PREVIOUS

    window = open_window(qtbot, make_workspace(tmp_path))
    canvas, project = window.canvas, window.project
    window.set_overlay_mode("alpha")
    shown = canvas.grab_rgb()
    assert (shown[36, 30] == 255).all() and (shown[5, 5] == 0).all() and window.ui.compare_action.isVisible()

    # a refined matte plugs in: the split shows raw on the left half and refined on the right
    calls = []

    def refiner(frame, image, ids, object_id):
        calls.append((frame, object_id))
        return np.where(ids == object_id, 0.75, 0.25).astype(np.float32)

    canvas.refiner = refiner
    window.set_compare("split")
    shown = canvas.grab_rgb()
    assert calls and (shown[5, 5] == 0).all() and (shown[5, W - 5] == 64).all() and (shown[36, 40] == 255).all()
    window.set_compare("refined")
    assert (canvas.grab_rgb()[5, 5] == 64).all()
    saved = json.loads((project.workspace.path / "info.json").read_text())
    window.project.save_settings()
    assert json.loads((project.workspace.path / "info.json").read_text())["xmempp_gui"]["compare"] == "refined"
    del saved

    # onion skin: the previous frame's outline is drawn on this one
    window.set_overlay_mode("blend")
    window.goto(1)
    qtbot.keyClick(canvas, Qt.Key_O, Qt.ShiftModifier)
    assert canvas.onion_skin and project.settings.onion_skin
    shown = canvas.grab_rgb()
    edge = (disc_mask(0) > 0) & ~(np.roll(disc_mask(0), 1, axis=1) > 0)
    ys, xs = np.nonzero(edge)
    assert any(tuple(shown[y, x]) == ONION_PREVIOUS for y, x in zip(ys, xs))
    window.close()


# ------------------------------------------------------------------------------------------ objects


def test_objects_rename_recolour_hide_lock_and_names_in_exports(qtbot, tmp_path, captured):
    pytest.importorskip("OpenImageIO")
    import OpenImageIO as oiio

    from xmempp.gui.export_dialog import ExportDialog

    path = make_workspace(tmp_path)
    window = open_window(qtbot, path)
    project, canvas, panel = window.project, window.canvas, window.ui.objects
    window.add_object()
    assert project.num_objects == 2 and canvas.object_id == 2

    # rename: saved in info.json, shown in the list; a bad name is refused with the reason
    assert panel.rename(1, "  hero   cap ")
    assert json.loads((path / "info.json").read_text())["object_names"][0] == "hero cap"
    assert panel.list.item(0).text().startswith("Hero cap")
    assert not panel.rename(1, "a/b") and "/" in captured[-1][1]
    captured.clear()

    # recolour the display (the mask files keep the DAVIS palette)
    window.select_object(1)
    project.recolour_object(1, (10, 200, 30))
    assert tuple(canvas.grab_rgb()[36, 30]) != tuple(project.image(0)[36, 30])
    window.set_overlay_mode("popup")
    assert tuple(canvas.grab_rgb()[36, 30]) == tuple(project.image(0)[36, 30])
    window.set_overlay_mode("blend")
    blended = canvas.grab_rgb()[36, 30].astype(int)
    assert blended[1] > blended[0]  # green now
    assert read_mask(project.workspace.mask_path(0)).palette[1].tolist() != [10, 200, 30]

    # hide: the canvas shows the plate where the object is
    panel.buttons["hide"].click()
    assert project.styles.is_hidden(1) and np.array_equal(canvas.grab_rgb()[36, 30], project.image(0)[36, 30])
    panel.buttons["hide"].click()
    assert not project.styles.is_hidden(1)

    # lock: painting object 2 over object 1 leaves object 1 alone; painting a locked object is refused
    panel.buttons["lock"].click()
    assert project.styles.is_locked(1) and "locked" in panel.list.item(0).text()
    window.select_object(2)
    window.set_tool("brush")
    window.set_brush_size(9)
    drag(qtbot, canvas, [(10, 36), (60, 36)])
    mask = project.mask(0)
    assert mask[36, 30] == 1 and mask[36, 10] == 2  # the disc kept, the free pixels painted
    window.select_object(1)
    drag(qtbot, canvas, [(80, 10), (90, 10)])
    assert project.mask(0)[10, 85] == 0 and "locked" in window.statusBar().currentMessage()
    window.close()
    reopened = open_window(qtbot, path)
    assert reopened.project.object_name(1) == "hero cap" and reopened.project.styles.is_locked(1)
    assert reopened.project.object_colour(1) == (10, 200, 30)

    # exports name the EXR layers after the objects
    dialog = ExportDialog(reopened.project, reopened)
    dialog.folder.setText(str(tmp_path / "out"))
    dialog.masks.setChecked(False)
    dialog.exr.setChecked(True)
    dialog.cryptomatte.setChecked(True)
    dialog.start()
    dialog.wait()
    qtbot.waitUntil(lambda: dialog.result_frames == N, timeout=20_000)
    exr = sorted((tmp_path / "out" / "layers").glob("*.exr"))[0]
    spec = oiio.ImageInput.open(str(exr)).spec()
    assert list(spec.channelnames) == ["hero cap.A", "object 1.A"]  # the added object: its shown name, original id 1
    crypto = sorted((tmp_path / "out" / "cryptomatte").glob("*.exr"))
    assert len(crypto) == N and b"hero cap" in crypto[0].read_bytes()  # the manifest names the object
    reopened.close()


# ------------------------------------------------------------------------------------------ File menu, frames


def test_file_menu_new_open_recent_and_go_to_frame(qtbot, tmp_path, monkeypatch, captured):
    from xmempp.gui.file_actions import NewWorkspaceDialog, parse_frame

    window = open_window(qtbot, make_workspace(tmp_path))
    first = window.project.workspace.path

    # New from a frame pattern, at a size: the workspace is made and opened in place of this window
    frames = write_frames(tmp_path / "plates", 4, stem="plate.")
    dialog = NewWorkspaceDialog(tmp_path / "workspace", window)
    dialog.source.setText(str(frames / "plate.####.png"))
    assert dialog.name.placeholderText() == "plate"
    dialog.size_box.setValue(48)
    dialog.create_workspace()
    assert dialog.result() and dialog.path == tmp_path / "workspace" / "plate"
    second = window.open_path(dialog.path)
    qtbot.addWidget(second)
    assert second.project.config.size == 48 and len(second.project) == 4
    assert not window.isVisible()

    # a source that does not exist: the dialog says so and stays open
    bad = NewWorkspaceDialog(tmp_path / "workspace", second)
    bad.source.setText(str(tmp_path / "nothing"))
    bad.create_workspace()
    assert not bad.result() and "does not exist" in bad.error.text()

    # Open Recent lists the first workspace; choosing it opens it
    entries = [a.text() for a in second.ui.recent_menu.actions()]
    assert any(first.name in text and str(first.parent) in text for text in entries)
    second.ui.recent_menu.actions()[0].trigger()
    QApplication.processEvents()
    assert not second.isVisible()

    # Go to frame: a number or a name
    assert parse_frame("3", ["a", "b", "c"]) == 2 and parse_frame("b", ["a", "b", "c"]) == 1
    assert parse_frame("9", ["a"]) is None and parse_frame("x", ["a"]) is None
    third = open_window(qtbot, first)
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: ("plate_0004", True))
    third.action_map["goto_frame"].trigger()
    assert third.current == 4
    third.close()


def test_n_steps_through_suggestions_in_time_order_and_history_names_edits(qtbot, tmp_path):
    window = open_window(qtbot, make_workspace(tmp_path))
    project, canvas = window.project, window.canvas
    project.set_suggestions([4, 1, 3])  # pick order, not time order
    for expected in (1, 3, 4, 1):
        qtbot.keyClick(canvas, Qt.Key_N)
        assert window.current == expected
    qtbot.keyClick(canvas, Qt.Key_N, Qt.ShiftModifier)
    assert window.current == 4

    window.set_tool("brush")
    drag(qtbot, canvas, [(10, 10), (20, 10)])
    qtbot.keyClick(canvas, Qt.Key_R)
    window.action_map["history"].trigger()
    view = window._history.findChild(__import__("PyQt5.QtWidgets", fromlist=["QUndoView"]).QUndoView)
    model = view.model()
    rows = [model.index(i, 0).data() for i in range(model.rowCount())]
    assert rows == ["Opened workspace", "Brush stroke · plate_0004", "Save reference plate_0004"]
    assert window.action_map["undo"].text() == "Undo Save reference plate_0004"
    view.setCurrentIndex(model.index(0, 0))  # clicking the first row goes back to the opened state
    assert project.undo_stack.index() == 0 and not project.has_mask(4) and project.references == [0]
    window.close()


def test_jobs_go_through_the_memory_guard(qtbot, tmp_path, checkpoint_path, captured, monkeypatch):
    import xmempp.inference.memory_estimate as estimate

    window = open_window(qtbot, make_workspace(tmp_path), checkpoint_path)
    monkeypatch.setattr(estimate, "available_memory", lambda: 1024)  # a machine with 1 KiB free
    assert window.propagate("forward")
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: bool(captured), timeout=10_000)
    text = captured[-1][1]
    assert "more memory" in text and "“Run even if memory looks short” in the Memory tab" in text, text
    assert "--" not in text and not window.project.has_mask(3)
    captured.clear()
    window.ui.memory_panel.force_memory.setChecked(True)
    assert window.project.engine.force_memory
    assert window.propagate("forward")
    wait_idle(qtbot, window)
    # forced, the guard warns (as `xmempp process --force` does) and the job runs
    assert all(kind == "warning" for kind, _text in captured) and window.project.has_mask(3)
    window.close()


def test_export_stays_in_reach_in_matte_views_at_1280(qtbot, tmp_path):
    window = open_window(qtbot, make_workspace(tmp_path), size=(1280, 720))
    bar = window.ui.options_bar
    for mode in ("blend", "checker", "alpha", "outline"):
        window.set_overlay_mode(mode)
        QApplication.processEvents()
        export = bar.widgetForAction(window.action_map["export"])
        assert export.isVisible() and bar.rect().contains(export.geometry()), mode
    window.close()


def test_refined_matte_comes_from_the_refine_stage(qtbot, tmp_path):
    pytest.importorskip("xmempp.refine")
    window = open_window(qtbot, make_workspace(tmp_path))
    window.set_overlay_mode("alpha")  # the raw/refined switch shows in the matte views
    assert window.refined.available and window.ui.compare_box.isEnabled()
    window.set_compare("split")
    matte = window.refined.matte(0, window.project.image(0), window.project.mask(0), 1)
    assert matte.shape == (H, W) and matte.min() >= 0.0 and matte.max() <= 1.0 and matte[36, 30] > 0.5
    assert window.canvas.grab_rgb()[36, W - 40].max() > 0 or matte[36, W - 40] == 0
    window.close()


def test_refined_view_follows_the_export_dialogs_refine_settings(qtbot, tmp_path):
    pytest.importorskip("xmempp.refine")
    window = open_window(qtbot, make_workspace(tmp_path))
    project = window.project
    image, ids = project.image(0), project.mask(0)
    default = window.refined.matte(0, image, ids, 1)
    soft = (default > 0.01) & (default < 0.99)
    assert soft.any(), "the hard mask is refined as the network's soft matte, not left hard"
    assert default.min() >= 0.0 and default.max() <= 1.0 and (default[ids == 1] > 0.5).mean() > 0.9
    project.settings.export = {**project.settings.export, "refine_detail": "0.5"}
    coarse_detail = window.refined.matte(0, image, ids, 1)
    assert not np.array_equal(coarse_detail, default), "the export dialog's detail reaches the view"
    project.settings.export = {**project.settings.export, "refine_detail": "not a number"}
    assert np.array_equal(window.refined.matte(0, image, ids, 1), default), "a refused value takes the default"
    window.close()
