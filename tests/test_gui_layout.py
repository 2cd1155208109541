"""The main window on a laptop screen and its issue-33 behaviour (pytest-qt, offscreen): it opens within a
1280x720 or 1366x768 screen with a window manager's frame, the status bar's message comes before its fields,
controls that cannot act during a propagation are off, F on a painted frame offers to save it as a reference,
File > Load weights checks like `--model`, the combined-alpha view, the raw | refined split with hidden objects,
the workspace reopening where the artist left, the Candidates grid; and the `ViewState` the window follows."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

pytest.importorskip("PyQt5")
pytest.importorskip("pytestqt")

from PyQt5.QtCore import QMargins, QPoint, QRect, Qt
from PyQt5.QtWidgets import QApplication, QFileDialog, QMessageBox, QToolBar, QWidget

from guihelpers import H, N, W, disc_mask, drag, make_workspace, open_window

pytestmark = pytest.mark.usefixtures("private_qt_settings")

#: The laptop screens the window must fit, and a window manager's frame (title bar, borders) around the window.
SCREENS = [(1280, 720), (1366, 768)]
FRAME = QMargins(1, 30, 1, 1)


def _inside(window: QWidget, widget: QWidget) -> bool:
    rect = window.rect()
    return (
        widget.isVisible()
        and rect.contains(widget.mapTo(window, widget.rect().topLeft()))
        and rect.contains(widget.mapTo(window, widget.rect().bottomRight()))
    )


def _two_objects() -> np.ndarray:
    """Object 1 a disc crossing the middle of the frame, object 2 a block at the bottom right."""
    ids = disc_mask(4, value=1)
    ids[55:68, 70:90] = 2
    return ids


def wait_idle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.job is None, timeout=60_000)


# ------------------------------------------------------------------------------------------ screen


@pytest.mark.parametrize("screen", SCREENS, ids=["1280x720", "1366x768"])
def test_main_window_opens_within_a_laptop_screen_with_every_bar_visible(qtbot, tmp_path, screen):
    from xmempp.gui.main_window import MainWindow
    from xmempp.gui.project import Project
    from xmempp.gui.window_geometry import fit_to_screen

    path = make_workspace(
        tmp_path,
        stem="shot010_comp_plate_v003.",
        count=4,
        height=270,
        width=480,
        masks={0: disc_mask(0, height=270, width=480)},
    )
    window = MainWindow(Project.open(path, None, "cpu"))
    qtbot.addWidget(window)
    available = QRect(0, 0, *screen)
    fit_to_screen(window, available, FRAME)  # what the first open does on that screen
    window.show()
    qtbot.waitExposed(window)
    QApplication.processEvents()
    outer = QRect(window.pos(), window.size().grownBy(FRAME))  # the frame sits around the window
    assert available.contains(outer), (outer, available)
    hint = window.minimumSizeHint()
    assert hint.width() <= window.width() and hint.height() <= window.height()
    for widget in (
        window.statusBar(),
        window.ui.saved_label,
        window.ui.model_label,
        window.ui.options_bar,
        window.canvas,
        window.timeline,
        window.ui.dock,
    ):
        assert _inside(window, widget), widget
    export = window.ui.options_bar.widgetForAction(window.action_map["export"])
    assert export.isVisible() and window.ui.options_bar.rect().contains(export.geometry())
    window.close()


@pytest.mark.parametrize("width", [1366, 1280, 1024])
def test_export_stays_in_reach_whatever_the_tool_and_view(qtbot, tmp_path, width):
    from xmempp.gui.settings import TOOLS

    window = open_window(qtbot, make_workspace(tmp_path), size=(width, 700))
    bar = window.ui.options_bar
    views = ("blend", "alpha") if width > 1024 else ("blend",)  # a matte view adds the raw / refined box
    tools = [t for t in TOOLS if f"tool_{t}" in window.action_map] if width > 1024 else ["brush", "segment"]
    for tool in tools:
        for view in views:
            window.set_tool(tool)
            window.set_overlay_mode(view)
            QApplication.processEvents()
            export = bar.widgetForAction(window.action_map["export"])
            assert export is not None and export.isVisible() and bar.rect().contains(export.geometry()), (tool, view)
    window.set_tool("brush")
    window.set_overlay_mode("blend")
    QApplication.processEvents()
    assert window.ui.size_box.isVisible() and (width < 1366 or all(a.isVisible() for a in window.ui.droppable))
    window.close()


@pytest.mark.parametrize("screen", SCREENS, ids=["1280x720", "1366x768"])
def test_every_tool_and_side_tab_is_in_sight(qtbot, tmp_path, screen):
    from xmempp.gui.settings import TOOLS

    window = open_window(qtbot, make_workspace(tmp_path), size=screen)
    QApplication.processEvents()
    tools_bar = window.findChild(QToolBar, "toolsBar")
    for name in TOOLS:  # the spline tool too
        button = tools_bar.widgetForAction(window.action_map[f"tool_{name}"])
        assert button is not None and _inside(window, button), name
    tabs = window.ui.tabs
    bar = tabs.tabBar()
    for index in range(tabs.count()):
        assert bar.rect().contains(bar.tabRect(index)) and _inside(window, bar), tabs.tabText(index)
    assert all(tabs.tabToolTip(i) == tabs.tabText(i) for i in range(tabs.count())), "an elided name has its tooltip"
    assert window.ui.zoom_label.text() and not window.ui.zoom_label.elided
    window.close()


def test_status_message_comes_before_the_cursor_zoom_and_model_fields(qtbot, tmp_path):
    window = open_window(qtbot, make_workspace(tmp_path), size=(1280, 720))
    bar = window.statusBar()
    window.ui.model_label.setText("model: XMem-s012-with-a-rather-long-name.pth on cuda:0 (bf16)")
    window.ui.cursor_label.setText("x 1234  y 567  ·  Object 12")
    text = "loading the model XMem-s012.pth on cpu…"  # cut to "loading the mod…" before
    bar.showMessage(text, 5000)
    QApplication.processEvents()
    message = bar.message
    assert message.isVisible() and not message.elided and message.toolTip() == text
    assert bar.currentMessage() == text
    for field in (window.ui.model_label, window.ui.cursor_label, window.ui.zoom_label):
        assert field.toolTip() == field.text(), "a field that gives up room elides, with its text as tooltip"
    assert window.ui.model_label.elided  # it made room for the message
    longer = " / ".join([text] * 4)
    bar.showMessage(longer)
    QApplication.processEvents()
    assert message.elided and message.toolTip() == longer, "never silently cut: the tooltip holds all of it"
    bar.clearMessage()
    assert bar.currentMessage() == ""
    window.close()


def test_candidates_panel_is_a_grid_that_fits_at_1280(qtbot, tmp_path):
    window = open_window(qtbot, make_workspace(tmp_path, count=12), size=(1280, 720))
    window.project.set_suggestions([1, 3, 5, 7, 9])
    panel = window.ui.candidates_panel
    window.ui.tabs.setCurrentWidget(panel)
    QApplication.processEvents()
    shown = panel.list
    rects = [shown.visualItemRect(shown.item(i)) for i in range(shown.count())]
    assert len(rects) == 5 and len({r.x() for r in rects}) >= 3, "several suggestions to a row"
    assert shown.verticalScrollBar().maximum() == 0, "k=5 suggestions fit without scrolling"
    assert all(shown.viewport().rect().contains(r) for r in rects)
    for widget in (panel.k, panel.alpha, panel.min_mask, panel.button):
        assert _inside(window, widget), widget
    assert panel.k.mapTo(panel, QPoint(0, 0)).y() == panel.min_mask.mapTo(panel, QPoint(0, 0)).y()  # one row
    window.close()


# ------------------------------------------------------------------------------------------ jobs


def test_controls_that_cannot_act_are_disabled_during_a_propagation(qtbot, tmp_path, checkpoint_path):
    window = open_window(qtbot, make_workspace(tmp_path), checkpoint_path)
    window.ui.memory_panel.fields["size"].setValue(64)
    window.set_brush_size(5)
    drag(qtbot, window.canvas, [(80, 10), (85, 12)])
    assert window.action_map["undo"].isEnabled()
    panel, review = window.ui.candidates_panel, window.review_ui.panel
    assert window.propagate("forward") and window.job == "propagation"
    off = {
        "Suggest frames button": panel.button,
        "Edit > Undo": window.action_map["undo"],
        "Edit > History": window.action_map["history"],
        "Propagate > Suggest": window.action_map["suggest"],
        "Review masks": review.review_button,
        "Approve frame": review.approve_button,
        "Review > Approve": window.action_map["approve_frame"],
        "File > Load weights": window.ui.load_weights_action,
    }
    assert not [name for name, widget in off.items() if widget.isEnabled()]
    wait_idle(qtbot, window)
    assert [name for name, widget in off.items() if not widget.isEnabled()] == []
    window.close()


def test_f_on_a_painted_frame_offers_to_save_it_as_a_reference_and_propagate(
    qtbot, tmp_path, checkpoint_path, monkeypatch, captured
):
    window = open_window(qtbot, make_workspace(tmp_path, masks={}), checkpoint_path)
    project = window.project
    window.ui.memory_panel.fields["size"].setValue(64)
    window.goto(2)
    assert project.edit_mask(2, disc_mask(2, value=1), "Brush") and project.references == []
    asked = []

    def save_and_propagate(box):
        asked.append(box.text())
        next(b for b in box.buttons() if b.text() == "Save as reference and propagate").click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec_", save_and_propagate)
    qtbot.keyClick(window.canvas, Qt.Key_F)
    assert asked and "not a reference yet" in asked[0], captured
    assert project.references == [2] and window.job == "propagation"
    wait_idle(qtbot, window)
    assert all(project.has_mask(i) for i in range(2, N))

    # declined, nothing is saved and nothing runs
    window.goto(0)
    project.edit_mask(0, disc_mask(0, value=1), "Brush")
    project.delete_reference(2)
    monkeypatch.setattr(QMessageBox, "exec_", lambda box: asked.append(box.text()) or 0)  # closed: no button
    assert not window.propagate("forward")
    assert project.references == [] and window.job is None and len(asked) == 2
    window.close()


def test_load_weights_checks_like_the_cli_and_the_next_propagation_uses_them(
    qtbot, tmp_path, checkpoint_path, monkeypatch, captured
):
    from xmempp.errors import WeightsError
    from xmempp.model.loading import load_model
    from xmempp.model.weights import resolve_weights

    window = open_window(qtbot, make_workspace(tmp_path), tmp_path / "missing.pth")
    engine = window.project.engine
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError) as refused:  # what `--model bad.pth` says
        load_model(resolve_weights(bad, download=False), device="cpu")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *_a, **_k: (str(bad), ""))
    window.ui.load_weights_action.trigger()
    assert captured and captured[-1][0] == "critical"
    assert str(bad) in captured[-1][1] and refused.value.message in captured[-1][1]
    assert engine.model is None and engine.model_path == tmp_path / "missing.pth", "a refused file changes nothing"

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *_a, **_k: (str(checkpoint_path), ""))
    window.ui.load_weights_action.trigger()
    assert engine.model is not None and engine.model_path == checkpoint_path
    assert checkpoint_path.name in window.ui.model_label.text()
    window.ui.memory_panel.fields["size"].setValue(64)
    assert window.propagate("forward")
    wait_idle(qtbot, window)
    assert all(window.project.has_mask(i) for i in range(N)) and len(captured) == 1
    window.close()


# ------------------------------------------------------------------------------------------ matte views


def test_combined_alpha_view_shows_every_visible_object(qtbot, tmp_path):
    from xmempp.gui.matte_view import COMBINED_MODE, MATTE_MODES, VIEW_LABELS, render_view

    ids = _two_objects()
    frame = np.full((H, W, 3), 90, np.uint8)
    out = np.zeros_like(frame)
    render_view(out, frame, ids, COMBINED_MODE, object_id=1)
    assert (out[ids > 0] == 255).all() and (out[ids == 0] == 0).all()
    assert COMBINED_MODE in MATTE_MODES and VIEW_LABELS[COMBINED_MODE]

    window = open_window(qtbot, make_workspace(tmp_path, masks={0: ids}))
    window.select_object(1)
    window.set_overlay_mode("alpha")
    assert (window.canvas.grab_rgb()[60, 80] == 0).all(), "the per-object view shows object 1 only"
    window.set_overlay_mode(COMBINED_MODE)
    shown = window.canvas.grab_rgb()
    assert (shown[36, 46] == 255).all() and (shown[60, 80] == 255).all() and (shown[5, 5] == 0).all()
    assert window.ui.view_box.currentData() == COMBINED_MODE and window.ui.compare_action.isVisible()
    window.project.set_object_hidden(2, True)
    assert (window.canvas.grab_rgb()[60, 80] == 0).all(), "a hidden object is not in the combined alpha"
    window.close()


def test_raw_refined_split_honours_hide(qtbot, tmp_path):
    pytest.importorskip("xmempp.refine")
    ids = _two_objects()
    window = open_window(qtbot, make_workspace(tmp_path, masks={0: ids}))
    project = window.project
    window.select_object(1)
    window.set_overlay_mode("alpha")
    window.set_compare("split")
    right_of_middle = (36, W // 2 + 6)  # inside object 1, on the refined half
    assert window.canvas.grab_rgb()[right_of_middle].max() > 128
    project.set_object_hidden(1, True)
    shown = window.canvas.grab_rgb()
    assert shown[right_of_middle].max() == 0 and shown[36, W // 2 - 6].max() == 0, "hidden on both halves"
    assert not window.refined.matte(0, project.image(0), project.mask(0), 1).any()
    window.set_overlay_mode("combined")
    assert window.canvas.grab_rgb()[60, 80].max() > 128 and window.canvas.grab_rgb()[right_of_middle].max() == 0
    window.close()


# ------------------------------------------------------------------------------------------ reopening


def test_workspace_reopens_on_the_tab_and_frame_where_the_artist_left(qtbot, tmp_path):
    path = make_workspace(tmp_path)
    window = open_window(qtbot, path)
    assert window.ui.tabs.currentWidget() is window.ui.references_panel
    window.goto(3)
    window.ui.tabs.setCurrentWidget(window.ui.candidates_panel)
    window.close()
    again = open_window(qtbot, path)
    assert again.current == 3 and again.ui.tabs.currentWidget() is again.ui.candidates_panel
    again.ui.tabs.setCurrentWidget(again.review_ui.panel)
    again.goto(5)
    again.close()
    third = open_window(qtbot, path)
    assert third.current == 5 and third.ui.tabs.currentWidget() is third.review_ui.panel
    third.close()


# ------------------------------------------------------------------------------------------ the view model


def test_view_state_tells_its_listeners_what_changed():
    from xmempp.gui.settings import GuiSettings
    from xmempp.gui.view_state import ViewState

    settings = GuiSettings(overlay_mode="alpha", brush_size=30, current_object=2, side_tab="Memory")
    view = ViewState.from_settings(settings)
    assert (view.overlay_mode, view.brush_size, view.object_id, view.tab, view.frame) == ("alpha", 30, 2, "Memory", -1)
    heard = []
    view.subscribe(heard.append)
    assert view.update(brush_size=30) == {} and heard == []  # nothing changed, nobody is told
    assert view.update(brush_size=12, frame=4) == {"brush_size": 12, "frame": 4}
    assert heard == [{"brush_size": 12, "frame": 4}]
    assert view.saved(heard[0]) == {"brush_size": 12, "current_frame": 4}
    with pytest.raises(AttributeError, match="zoom"):
        view.update(zoom=2.0)


def test_the_view_state_is_what_canvas_widgets_and_saved_settings_show(qtbot, tmp_path):
    window = open_window(qtbot, make_workspace(tmp_path))
    view, canvas, ui, settings = window.view, window.canvas, window.ui, window.project.settings
    view.update(overlay_mode="checker", onion_skin=True, brush_size=40, compare="split", frame=3, tool="eraser")
    assert (canvas.overlay_mode, canvas.onion_skin, canvas.brush_size, canvas.compare) == ("checker", True, 40, "split")
    assert canvas.frame_index == 3 and window.timeline.track.current == 3 and canvas.tool is canvas.tools["eraser"]
    assert ui.view_box.currentData() == "checker" and ui.compare_box.currentData() == "split"
    assert ui.size_box.value() == 40 and window.action_map["toggle_onion"].isChecked()
    assert window.action_map["tool_eraser"].isChecked()
    assert (settings.overlay_mode, settings.onion_skin, settings.brush_size, settings.current_frame) == (
        "checker",
        True,
        40,
        3,
    )
    ui.view_box.setCurrentIndex(ui.view_box.findData("blend"))  # a widget changes the view, and the rest follow
    ui.size_box.setValue(25)
    assert (view.overlay_mode, canvas.overlay_mode, settings.overlay_mode) == ("blend", "blend", "blend")
    assert (view.brush_size, canvas.brush_size, ui.size_slider.value()) == (25, 25, 25)
    window.close()


def test_the_default_brush_is_a_share_of_the_frame_until_the_artist_sizes_it(qtbot, tmp_path):
    from xmempp.gui.project import Project
    from xmempp.gui.view_state import default_brush_size

    assert (default_brush_size(240, 426), default_brush_size(480, 854), default_brush_size(1080, 1920)) == (7, 14, 32)
    assert default_brush_size(60, 80) == 4  # never a dot
    path = make_workspace(tmp_path, height=400, width=600)
    window = open_window(qtbot, path)
    assert window.view.brush_size == window.canvas.brush_size == window.ui.size_box.value() == 12  # 3 % of 400
    window.action_map["brush_larger"].trigger()  # `]`: chosen, so kept in the workspace
    chosen = window.view.brush_size
    assert chosen == 15 and window.project.settings.brush_size == chosen
    window.close()
    assert Project.open(path, None, "cpu").settings.brush_size == chosen
    fresh = make_workspace(tmp_path, name="small", height=100, width=200)
    window = open_window(qtbot, fresh)
    assert window.view.brush_size == 4 and window.project.settings.brush_size is None
    window.close()
