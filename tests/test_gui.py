"""End-to-end GUI tests (pytest-qt, offscreen) on a workspace imported from ../shared/data/caps with the
stand-in weights: paint, undo / redo, save a reference, propagate in the worker, suggest frames,
close and reopen; the screenshot command; annotation without weights."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt5")
pytest.importorskip("pytestqt")

from PyQt5.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt5.QtGui import QMouseEvent
from PyQt5.QtWidgets import QApplication, QMessageBox

from xmempp.io.frames import FolderFrames
from xmempp.io.masks import read_mask
from xmempp.io.workspace import create_workspace

SHARED = Path(__file__).resolve().parents[2] / "shared"
CAPS = SHARED / "data" / "caps"
FRAMES = 12  # a short piece of the clip keeps the network steps few (CPU, stand-in weights)
SIZE = 120  # workspace images: shorter side 120 px


def caps_workspace(tmp_path: Path, name: str = "caps") -> Path:
    """A workspace of the first FRAMES frames of caps with its frame-0 annotation, made by create_workspace."""
    if not CAPS.is_dir():
        pytest.skip(f"example clip {CAPS} is absent (the GUI tests read ../shared/data beside the checkout)")
    src = tmp_path / "src"
    src.mkdir()
    for path in sorted((CAPS / "JPEGImages").glob("*.jpg"))[:FRAMES]:
        (src / path.name).symlink_to(path)
    frames = FolderFrames(src)
    masks = {0: read_mask(CAPS / "Annotations" / "frame_000000.png")}
    return create_workspace(tmp_path / "workspace", name, frames, masks, size=SIZE)


def image_point(canvas, x: float, y: float) -> QPoint:
    """Widget position of image pixel (x, y)."""
    return canvas.transform().map(QPointF(x + 0.5, y + 0.5)).toPoint()


def drag_to(canvas, point: QPoint, button=Qt.LeftButton) -> None:
    """A mouse move with `button` held (QTest's mouseMove carries no buttons)."""
    event = QMouseEvent(QEvent.MouseMove, QPointF(point), Qt.NoButton, button, Qt.NoModifier)
    QApplication.sendEvent(canvas, event)


def stroke(qtbot, canvas, points, button=Qt.LeftButton) -> None:
    """Drag through image points with a mouse button held."""
    qtbot.mousePress(canvas, button, pos=image_point(canvas, *points[0]))
    for x, y in points[1:]:
        drag_to(canvas, image_point(canvas, x, y), button)
    qtbot.mouseRelease(canvas, button, pos=image_point(canvas, *points[-1]))


def open_window(qtbot, workspace: Path, model=None):
    from xmempp.gui.main_window import MainWindow
    from xmempp.gui.project import Project

    project = Project.open(workspace, model, "cpu")
    window = MainWindow(project)
    qtbot.addWidget(window)
    window.resize(1300, 800)
    window.show()
    qtbot.waitExposed(window)
    QApplication.setActiveWindow(window)  # offscreen windows are not activated by themselves; shortcuts need it
    window.canvas.setFocus()
    return window


def wait_idle(qtbot, window, timeout: int = 120_000) -> None:
    qtbot.waitUntil(lambda: window.job is None, timeout=timeout)


pytestmark = pytest.mark.usefixtures("private_qt_settings")


@pytest.fixture
def captured(monkeypatch):
    """Message boxes record their text instead of blocking."""
    shown: list[tuple[str, str, str]] = []

    def record(kind, answer=QMessageBox.Ok):
        def show(parent, title, text, *args, **kwargs):
            shown.append((kind, title, text))
            return answer

        return show

    monkeypatch.setattr(QMessageBox, "critical", record("critical"))
    monkeypatch.setattr(QMessageBox, "warning", record("warning"))
    monkeypatch.setattr(QMessageBox, "information", record("information"))
    monkeypatch.setattr(QMessageBox, "question", record("question", QMessageBox.Yes))
    return shown


@pytest.mark.slow
def test_annotate_propagate_suggest_and_reopen(qtbot, tmp_path, checkpoint_path, captured):
    workspace = caps_workspace(tmp_path)
    window = open_window(qtbot, workspace, checkpoint_path)
    project, canvas = window.project, window.canvas
    assert project.references == [0] and len(project) == FRAMES

    # settings through the Memory tab: processing size and mem_every (saved at once)
    window.ui.memory_panel.fields["size"].setValue(SIZE)
    window.ui.memory_panel.fields["mem_every"].setValue(3)
    saved = json.loads((workspace / "info.json").read_text())["xmempp_gui"]["config"]
    assert saved["size"] == SIZE and saved["mem_every"] == 3

    # paint a stroke on frame 5 (no mask yet): saved to masks/<stem>.png
    window.goto(5)
    assert canvas.frame_index == 5 and not project.has_mask(5)
    window.select_object(1)
    window.set_tool("brush")
    window.set_brush_size(9)
    stroke(qtbot, canvas, [(60, 40), (80, 50), (100, 60)])
    mask_file = project.workspace.mask_path(5)
    assert mask_file.exists()
    painted = read_mask(mask_file).ids
    assert painted[50, 80] == 1 and painted[5, 5] == 0 and (painted == 1).sum() > 100

    # undo removes the mask it created, redo brings it back (both saved)
    window.action_map["undo"].trigger()
    assert not mask_file.exists() and not canvas.work_mask.any()
    window.action_map["redo"].trigger()
    assert mask_file.exists() and np.array_equal(read_mask(mask_file).ids, painted)

    # keyboard: R saves the frame as a reference
    qtbot.keyClick(canvas, Qt.Key_R)
    assert project.references == [0, 5]
    assert json.loads((workspace / "info.json").read_text())["references"] == [0, 5]
    assert window.ui.references_panel.list.count() == 2

    # propagate forward from frame 3 in the worker; pause and resume on the way
    reference_bytes = mask_file.read_bytes()
    window.goto(3)
    assert window.propagate("forward")
    assert window.job == "propagation" and not canvas.editable
    window.toggle_pause()
    assert window.worker.paused
    qtbot.wait(200)
    window.toggle_pause()
    wait_idle(qtbot, window)
    assert not captured, captured
    for frame in (3, 4, 6, 7, 8, 9, 10, 11):
        assert project.has_mask(frame), frame
        assert project.workspace.mask_path(frame).exists()
    assert mask_file.read_bytes() == reference_bytes  # the stored reference is used, never overwritten
    assert not project.has_mask(1) and not project.has_mask(2)
    assert project.undo_stack.undoText().startswith("Propagate forward · ")
    stats = project.engine.memory_stats()
    assert stats.permanent_frames == 2 and stats.temporary_frames >= 1
    assert canvas.editable

    # fill the rest backward so that every frame has a mask (the selector then uses them)
    window.goto(2)
    assert window.propagate("backward")
    wait_idle(qtbot, window)
    assert project.masked_frames == set(range(FRAMES))

    # suggest two frames (worker thread, progress bar), shown as thumbnails and on the timeline
    window.ui.candidates_panel.k.setValue(2)
    window.ui.candidates_panel.min_mask.setValue(0.0)  # the tests' random weights propagate empty masks
    assert window.suggest()
    wait_idle(qtbot, window)
    assert not captured, captured
    result = window.last_suggestion_result
    assert result is not None and 1 <= len(result.chosen) <= 2
    suggestions = project.settings.suggestions
    assert suggestions == list(result.chosen) and not set(suggestions) & {0, 5}
    assert window.ui.candidates_panel.list.count() == len(suggestions)
    assert window.timeline.track.suggestions == suggestions

    masks_before = {i: project.mask(i).copy() for i in range(FRAMES)}
    window.close()

    # reopen: masks, references and settings as they were; references re-encoded into a new session
    window2 = open_window(qtbot, workspace, checkpoint_path)
    p2 = window2.project
    assert p2.references == [0, 5]
    for i in range(FRAMES):
        assert np.array_equal(p2.mask(i), masks_before[i]), i
    assert p2.config.size == SIZE and p2.config.mem_every == 3
    assert p2.settings.k == 2 and p2.settings.suggestions == suggestions
    assert window2.ui.memory_panel.fields["mem_every"].value() == 3
    assert window2.ui.candidates_panel.k.value() == 2
    assert p2.engine.session is None
    window2.goto(9)
    assert window2.propagate("forward", limit=2)
    wait_idle(qtbot, window2)
    assert p2.engine.session.references == [0, 5]
    window2.close()


def test_screenshot_command_renders_a_window(tmp_path):
    workspace = caps_workspace(tmp_path)
    shot = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    code = "from xmempp.cli.app import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "gui", "--workspace", str(workspace), "--screenshot", str(shot)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    from PIL import Image

    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 1000
    assert pixels.std() > 20  # not blank


def test_missing_weights_annotation_works_propagation_explains(qtbot, tmp_path, captured):
    workspace = caps_workspace(tmp_path)
    missing = tmp_path / "nowhere" / "XMem.pth"
    window = open_window(qtbot, workspace, missing)
    project, canvas = window.project, window.canvas
    window.goto(4)
    window.set_tool("lasso")
    stroke(qtbot, canvas, [(20, 20), (90, 20), (90, 80), (20, 80)])
    assert project.has_mask(4) and project.mask(4)[50, 50] == 1
    assert window.propagate("forward") is False
    assert window.job is None
    ((kind, _title, text),) = captured
    assert kind == "critical" and str(missing) in text and "xmempp weights download" in text
    captured.clear()
    assert window.suggest() is False
    assert captured and str(missing) in captured[0][2]
    window.close()


def test_unreadable_weights_reported_from_the_worker(qtbot, tmp_path, captured):
    workspace = caps_workspace(tmp_path)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    window = open_window(qtbot, workspace, broken)
    assert window.propagate("forward")
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: bool(captured), timeout=10_000)
    kind, _title, text = captured[0]
    assert kind == "critical" and str(broken) in text and "xmempp weights download" in text
    assert window.canvas.editable and window.project.undo_stack.count() == 0
    window.close()


def test_shortcut_table_drives_actions_and_help(qtbot, tmp_path):
    from PyQt5.QtGui import QKeySequence

    from xmempp.gui.help_dialog import HelpDialog
    from xmempp.gui.shortcuts import SHORTCUTS, shortcut_markdown

    workspace = caps_workspace(tmp_path)
    window = open_window(qtbot, workspace)
    markdown = shortcut_markdown()
    for row in SHORTCUTS:
        assert row.help in markdown
        if row.kind != "action":
            continue
        if row.indexed:
            for n, key in enumerate(row.keys, start=1):
                assert window.action_map[f"{row.action}_{n}"].shortcut() == QKeySequence(key)
        else:
            assert [s.toString() for s in window.action_map[row.action].shortcuts()] == [
                QKeySequence(k).toString() for k in row.keys
            ]
    dialog = HelpDialog(window)
    text = " ".join(dialog.browser.toPlainText().split())
    assert len(dialog.rows) == len(SHORTCUTS)
    for row in SHORTCUTS:
        assert " ".join(row.help.split()) in text
        for key in row.key_label.split(" / "):
            assert key in text
    window.close()
