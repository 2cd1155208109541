"""The review in the GUI (issue 37), on small synthetic workspaces with the tests' random weights: fresh ->
stale after a reference edit -> fresh after a new propagation (a stopped one leaves the rest stale), undo,
approval and what clears it, the review after each propagation, a blanked mask flagged in the Review panel and
on the strip, the states kept over closing and reopening, and the export's question before stale masks."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json

import numpy as np
import pytest

pytest.importorskip("PyQt5")
pytest.importorskip("pytestqt")

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QMessageBox

from guihelpers import N, disc_mask, drag, make_workspace, open_window
from xmempp.io.review_state import FrameState

pytestmark = pytest.mark.usefixtures("private_qt_settings")

FRESH, STALE, FLAGGED, APPROVED, REFERENCE = (
    FrameState.fresh,
    FrameState.stale,
    FrameState.flagged,
    FrameState.approved,
    FrameState.reference,
)


def wait_done(qtbot, window, timeout: int = 60_000) -> None:
    """The job and the review after it have finished."""
    qtbot.waitUntil(lambda: window.job is None and not window.review_ui.controller.running, timeout=timeout)
    window.review_ui.refresh()


def states(window) -> list[FrameState]:
    return window.project.review.states_of()


def strip_colour(window, frame: int):
    from xmempp.gui.review_strip import STATE_COLOURS

    window.review_ui.refresh()  # what the next turn of the event loop draws
    name = window.review_ui.strip.colour_name(frame)
    return next((state for state, colour in STATE_COLOURS.items() if colour.name() == name), name)


def replace_edited_frames(box) -> int:
    """The propagation's question about edited frames: "Replace them"."""
    next(b for b in box.buttons() if b.text() == "Replace them").click()
    return 0


def test_fresh_stale_fresh_approval_undo_and_reopen(qtbot, tmp_path, checkpoint_path, captured, monkeypatch):
    monkeypatch.setattr(QMessageBox, "exec_", replace_edited_frames)
    path = make_workspace(tmp_path)
    window = open_window(qtbot, path, checkpoint_path)
    project, canvas, tracker = window.project, window.canvas, window.project.review
    assert states(window) == [REFERENCE] + [FrameState.none] * (N - 1)  # a workspace from before: no states

    # a propagation makes its frames fresh, and the review runs over them by itself
    assert window.propagate("forward")
    wait_done(qtbot, window)
    assert states(window)[0] is REFERENCE and all(s in (FRESH, FLAGGED) for s in states(window)[1:])
    assert all(tracker.states.check(f) is not None for f in range(1, N))
    assert (path / "review.json").exists()

    # Shift+A approves the current frame (again takes it back); the strip marks it and the canvas says so
    window.goto(2)
    qtbot.keyClick(canvas, Qt.Key_A, Qt.ShiftModifier)
    qtbot.waitUntil(lambda: "APPROVED" in canvas.badge, timeout=2_000)
    assert tracker.state(2) is APPROVED and strip_colour(window, 2) is APPROVED
    qtbot.keyClick(canvas, Qt.Key_A, Qt.ShiftModifier)
    assert tracker.state(2) is not APPROVED
    window.action_map["approve_frame"].trigger()
    assert tracker.state(2) is APPROVED
    # an edit of the frame clears its approval (and the review's verdict on the old mask)
    window.set_tool("brush")
    window.set_brush_size(5)
    drag(qtbot, canvas, [(80, 10), (85, 12)])
    assert tracker.state(2) is FRESH and tracker.states.check(2) is None

    # an edit of the reference (it replaces the reference) makes every propagated frame stale and clears approvals
    window.goto(4)
    window.action_map["approve_frame"].trigger()
    assert tracker.state(4) is APPROVED
    window.goto(0)
    drag(qtbot, canvas, [(5, 5), (9, 8)])
    window.review_ui.refresh()
    assert states(window) == [REFERENCE] + [STALE] * (N - 1)
    assert all(strip_colour(window, f) is STALE for f in range(1, N))
    window.goto(4)
    assert "STALE" in canvas.badge

    # a propagation stopped after its first frame: that frame is fresh, the ones it did not reach stay stale
    window.goto(0)
    assert window.propagate("forward")
    worker = window.worker
    worker.frameDone.connect(worker.pause, Qt.DirectConnection)  # holds the job right after the first saved frame
    qtbot.waitUntil(lambda: worker.paused, timeout=60_000)
    window.stop_job()
    wait_done(qtbot, window)
    assert states(window)[:2] == [REFERENCE, FRESH] or states(window)[:2] == [REFERENCE, FLAGGED]
    assert states(window)[2:] == [STALE] * (N - 2)

    # adding a reference makes them stale again (frame 1 too); propagating again from it makes all fresh
    window.goto(3)
    qtbot.keyClick(canvas, Qt.Key_R)
    assert project.references == [0, 3]
    assert [s for f, s in enumerate(states(window)) if f not in (0, 3)] == [STALE] * (N - 2)
    window.goto(0)
    assert window.propagate("full")
    wait_done(qtbot, window)
    assert all(s in (FRESH, FLAGGED) for f, s in enumerate(states(window)) if f not in (0, 3))
    assert tracker.stale_frames() == []

    # undo of the propagation brings the stale states back with the masks; redo makes them fresh again
    window.action_map["undo"].trigger()
    window.review_ui.refresh()
    assert [s for f, s in enumerate(states(window)) if f not in (0, 3)] == [STALE] * (N - 2)
    window.action_map["redo"].trigger()
    assert tracker.stale_frames() == []
    wait_done(qtbot, window)

    # closing and reopening keeps every state, the review's verdicts and the approvals
    window.goto(5)
    window.action_map["approve_frame"].trigger()
    before = states(window)
    checks = {f: tracker.states.check(f) for f in range(N)}
    assert all(checks[f] is not None for f in range(N) if f not in (0, 3))  # redo kept the review's verdicts
    window.review_ui.refresh()
    colours = [window.review_ui.strip.colour_name(f) for f in range(N)]
    window.close()
    again = open_window(qtbot, path, checkpoint_path)
    assert states(again) == before and before[5] is APPROVED
    assert {f: again.project.review.states.check(f) for f in range(N)} == checks
    assert [again.review_ui.strip.colour_name(f) for f in range(N)] == colours
    again.close()


def test_a_blanked_mask_is_flagged_in_the_panel_and_on_the_strip(
    qtbot, tmp_path, checkpoint_path, captured, monkeypatch
):
    monkeypatch.setattr(QMessageBox, "exec_", replace_edited_frames)
    window = open_window(qtbot, make_workspace(tmp_path), checkpoint_path)
    project, canvas, panel = window.project, window.canvas, window.review_ui.panel
    assert window.propagate("forward")
    wait_done(qtbot, window)
    # the failure: frame 3's object gone (as a propagation that lost it would leave it)
    project.edit_mask(3, np.zeros_like(project.mask(3)), "Blank")
    qtbot.keyClick(canvas, Qt.Key_R, Qt.ControlModifier)  # Review masks: every masked frame, in the background
    assert window.ui.tabs.currentWidget() is panel
    wait_done(qtbot, window)
    review = project.review
    assert review.state(3) is FLAGGED and 3 in review.flagged_frames()
    assert any("missing" in r for o in review.states.check(3).objects.values() for r in o.reasons)
    assert strip_colour(window, 3) is FLAGGED
    items = [panel.list.item(i) for i in range(panel.list.count())]
    span = next(s for s in review.spans() if s.start <= 3 < s.start + s.length)
    item = next(i for i in items if i.data(Qt.UserRole) == span.worst_position)
    assert "missing" in item.text() and project.labels[3] in item.text() + item.toolTip() + span.last
    assert "flagged frame" in panel.summary.text()

    # clicking the span goes to its worst frame; Ctrl+Right / Ctrl+Left step through the flagged frames
    window.goto(0)
    panel.list.itemClicked.emit(item)
    assert window.current == span.worst_position
    window.goto(0)
    qtbot.keyClick(canvas, Qt.Key_Right, Qt.ControlModifier)
    assert window.current == review.flagged_frames()[0]
    window.goto(N - 1)
    qtbot.keyClick(canvas, Qt.Key_Left, Qt.ControlModifier)
    assert window.current == [f for f in review.flagged_frames() if f < N - 1][-1]

    # approving it takes it off the panel; painting the object back and reviewing again clears the flag
    window.goto(3)
    window.action_map["approve_frame"].trigger()
    window.review_ui.refresh()
    assert review.state(3) is APPROVED and not any(s.start <= 3 < s.start + s.length for s in review.spans())
    assert len(review.spans()) == panel.list.count()
    project.edit_mask(3, disc_mask(3, 1), "Paint back")
    assert review.state(3) is FRESH  # the edit cleared the approval and the verdict
    window.action_map["review_masks"].trigger()
    wait_done(qtbot, window)
    assert review.state(3) is not FLAGGED
    window.close()


def test_export_asks_before_writing_stale_masks(qtbot, tmp_path, monkeypatch, captured):
    from xmempp.gui.export_dialog import ExportDialog

    window = open_window(qtbot, make_workspace(tmp_path))
    project = window.project
    # what a propagation does, without the network: masks saved by the worker, accepted, recorded
    changes = {}
    for f in range(1, N):
        project.workspace.save_mask(f, disc_mask(f, 1))
        project.accept_propagated(f)
        changes[f] = (None, project.workspace.mask_path(f).read_bytes())
    project.finish_propagation(changes, "Propagate forward")
    wait_done(qtbot, window)
    assert project.review.stale_frames() == []
    window.goto(2)
    window.save_reference()  # a new reference: the other propagated frames are stale
    assert project.review.stale_frames() == [1, 3, 4, 5]

    asked: list[str] = []

    def answer(label):
        def click(box):
            asked.append(box.text())
            next(b for b in box.buttons() if b.text().replace("&", "") == label).click()
            return 0

        return click

    out = tmp_path / "out"
    dialog = ExportDialog(project, window)
    dialog.folder.setText(str(out))
    monkeypatch.setattr(QMessageBox, "exec_", answer("Cancel"))
    dialog.start()
    assert len(asked) == 1 and "4 frames were propagated before the references last changed" in asked[0]
    assert dialog.worker is None and not out.exists() and "stale" in dialog.status.text()

    monkeypatch.setattr(QMessageBox, "exec_", answer("Export anyway"))
    dialog.start()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=30_000)
    assert len(asked) == 2 and dialog.result_frames == N and len(list((out / "masks").iterdir())) == N

    # approved stale frames are not asked about; with none left the export just writes
    for f in project.review.stale_frames():
        project.review.approve(f)
    dialog.overwrite.setChecked(True)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=30_000)
    assert len(asked) == 2 and dialog.result_frames == N
    saved = json.loads((project.workspace.review_path).read_text())
    assert saved["frames"][project.workspace.names[1]]["approved"] is True
    window.close()
