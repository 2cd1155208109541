"""Progress figures of a propagation count its own work only: not loading the model, not a pause, not the
reference frame it hands back as it is."""

from __future__ import annotations

import pytest

pytest.importorskip("PyQt5")

from xmempp.gui.job_progress import PROPAGATION_PHASES, JobProgress


def _run(pause_at: int = -1, pause_seconds: float = 0.0):
    """50 frame steps (the reference first, instant), 10 s of model loading, 6 s a frame; a pause on request."""
    now = [0.0]
    progress = JobProgress("Propagate forward", PROPAGATION_PHASES, 50, clock=lambda: now[0], free_steps=1)
    now[0] += 10.0  # loading the model
    lines = {}
    for done in range(1, 51):
        if done > 1:
            now[0] += 6.0
        progress.update("propagation", done, 50)
        lines[done] = progress.text()
        if done == pause_at:
            progress.pause()
            now[0] += pause_seconds
            lines["paused"] = progress.text()
            progress.resume()
    return progress, lines


def test_time_left_does_not_count_a_pause():
    _plain, plain_lines = _run()
    _paused, lines = _run(pause_at=10, pause_seconds=20.0)
    assert "4:00 left" in plain_lines[10] and "3:48 left" in plain_lines[12]  # 40 and 38 frames of 6 s
    assert lines[10] == plain_lines[10] and lines["paused"] == lines[10]  # the clock stands still while paused
    assert lines[12] == plain_lines[12]  # not "6:17 left" after a pause
    assert "0.2 frames/s" in lines[12]


def test_summary_counts_propagation_time_and_computed_frames_only():
    plain, _ = _run()
    paused, _ = _run(pause_at=25, pause_seconds=20.0)
    assert plain.summary() == "49 frames in 4:54 (0.2 frames/s)"  # 49 frames of 6 s; not 50, no 0:10 of loading
    assert paused.summary() == plain.summary()
    assert paused.summary("Propagate forward") == "Propagate forward in 4:54 (0.2 frames/s)"


def test_no_figures_before_the_first_frame():
    now = [0.0]
    progress = JobProgress("Propagate forward", PROPAGATION_PHASES, 10, clock=lambda: now[0], free_steps=1)
    now[0] += 30.0  # the model loads
    assert progress.elapsed == 0.0 and progress.remaining is None and progress.rate is None
    assert progress.text() == "Propagate forward · propagating 0/10"


def test_a_paused_propagation_reports_its_own_time_and_frames(qtbot, tmp_path, checkpoint_path):
    import time

    from guihelpers import N, make_workspace, open_window

    window = open_window(qtbot, make_workspace(tmp_path), checkpoint_path)
    jobs = window.jobs
    messages = []
    jobs.message.connect(lambda text, *_: messages.append(text))
    window.goto(0)
    started = time.monotonic()
    assert window.propagate("forward")
    assert jobs.toggle_pause()  # paused at once, for 3 s
    qtbot.wait(3000)
    assert jobs.toggle_pause()
    qtbot.waitUntil(lambda: window.job is None, timeout=120_000)
    wall = time.monotonic() - started
    finished = next(m for m in messages if "finished" in m)
    assert f"{N - 1} frames in " in finished  # the reference frame is not counted
    minutes, seconds = finished.split(" frames in ")[1].split(" ")[0].split(":")
    assert int(minutes) * 60 + int(seconds) <= wall - 2.5, (finished, wall)  # the pause is not counted
    window.close()
