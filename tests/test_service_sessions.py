"""Service sessions that outlive a restart (issue 36), and a queued run's place in the queue.

A server given a state folder keeps its sessions there (settings, uploaded frames, references); a server
started later on that folder reloads them, after a clean stop or a kill. Track results are not kept: a new
track gives the same masks. A queued run tells its place and an estimated start in polls and streams.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from servicehelpers import collect_track, free_port, png_bytes, running_server, serve_in_subprocess, write_clip
from xmempp.io.synthetic import MovingDiscs
from xmempp.service import Scheduler, ServiceSettings, create_app
from xmempp.service.errors import NotFound
from xmempp.service.rle import decode_rle, encode_rle
from xmempp.service.sessions import SessionStore

TOKEN = "tok"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = {"size": -1, "mem_every": 3}
FRAMES = 12


def start_serve(checkpoint: Path, media: Path, state: Path | None) -> tuple[subprocess.Popen, str]:
    """`xmempp serve --conv direct` in a subprocess on a free port; returns it and its URL once /v1/health answers.

    `--conv auto` picks direct or Winograd convolutions by timing them in each process, so two processes can
    give masks a few pixels apart (measured: 2 of 3 runs of one 12-frame track); a fixed choice gives the same
    masks in every process, which is what a restart must show."""
    state_options = ["--state-dir", str(state)] if state is not None else []
    return serve_in_subprocess(
        "--model",
        str(checkpoint),
        "--device",
        "cpu",
        "--conv",
        "direct",
        "--token",
        TOKEN,
        "--media-root",
        str(media),
        *state_options,
    )


def stop(process: subprocess.Popen, how: int = signal.SIGTERM) -> str:
    process.send_signal(how)
    return process.communicate(timeout=60)[0]


def jpeg(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG")
    return buffer.getvalue()


def track_pngs(client: httpx.Client, sid: str) -> dict[int, bytes]:
    """Track the whole shot from frame 0; returns each frame's newest mask as the PNG the server sends."""
    reply = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0})
    assert reply.status_code == 202, reply.text
    state, _ = collect_track(client, sid, reply.json()["id"])
    assert state["status"] == "done", state
    return {frame: client.get(f"/v1/sessions/{sid}/masks/{frame}").content for frame in range(FRAMES)}


@pytest.mark.slow
def test_sessions_and_references_survive_sigterm_and_a_new_track_gives_the_same_masks(checkpoint_path, tmp_path):
    media, state = tmp_path / "media", tmp_path / "state"
    clip = write_clip(media / "shot", FRAMES)
    server, url = start_serve(checkpoint_path, media, state)
    try:
        with httpx.Client(base_url=url, headers=AUTH, timeout=60) as client:
            # a session on uploaded frames (JPEG, kept as sent) with a palette PNG and an RLE reference
            uploaded = client.post("/v1/sessions", json={"frames": FRAMES, "config": CONFIG}).json()["id"]
            for index in range(FRAMES):
                assert client.put(f"/v1/sessions/{uploaded}/frames/{index}", content=jpeg(clip[index])).is_success
            assert (
                client.put(
                    f"/v1/sessions/{uploaded}/references/0",
                    content=png_bytes(clip.mask(0)),
                    headers={"Content-Type": "image/png"},
                ).status_code
                == 201
            )
            assert (
                client.put(
                    f"/v1/sessions/{uploaded}/references/{FRAMES - 1}", json=encode_rle(clip.mask(FRAMES - 1))
                ).status_code
                == 201
            )
            # a session on a shot under the media root, its reference replaced once
            shot = client.post("/v1/sessions", json={"video": "shot", "config": CONFIG, "mode": "xmem"}).json()["id"]
            assert client.put(f"/v1/sessions/{shot}/references/5", json=encode_rle(clip.mask(4))).status_code == 201
            assert client.put(f"/v1/sessions/{shot}/references/5", json=encode_rle(clip.mask(5))).status_code == 200
            closed = client.post("/v1/sessions", json={"video": "shot"}).json()["id"]
            assert client.delete(f"/v1/sessions/{closed}").status_code == 204
            before = {sid: track_pngs(client, sid) for sid in (uploaded, shot)}
            old_run = client.get(f"/v1/sessions/{shot}").json()["tracks"][0]["id"]
    finally:
        output = stop(server)
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Traceback" not in output, output
    assert not (state / ".xmempp-serve.lock").exists()
    assert not (state / "sessions" / closed).exists()

    server, url = start_serve(checkpoint_path, media, state)
    try:
        with httpx.Client(base_url=url, headers=AUTH, timeout=60) as client:
            listed = {s["id"]: s for s in client.get("/v1/sessions").json()}
            assert set(listed) == {uploaded, shot}
            assert listed[uploaded]["references"] == [0, FRAMES - 1] and listed[shot]["references"] == [5]
            assert listed[uploaded]["uploaded"] == FRAMES and listed[uploaded]["ready"]
            assert listed[shot]["mode"] == "xmem" and listed[shot]["source"] == "shot"
            assert listed[shot]["config"]["mem_every"] == 3 and listed[shot]["tracks"] == []
            assert listed[shot]["restored"].startswith("20")
            for sid, frame, mask in (
                (uploaded, 0, clip.mask(0)),
                (uploaded, FRAMES - 1, clip.mask(FRAMES - 1)),
                (shot, 5, clip.mask(5)),
            ):
                got = decode_rle(client.get(f"/v1/sessions/{sid}/references/{frame}").json()["mask"])
                np.testing.assert_array_equal(got, mask)
            # results are not kept: the old run and masks say why, and a new track gives the same files
            reply = client.get(f"/v1/sessions/{shot}/tracks/{old_run}")
            assert reply.status_code == 404 and "ran before the server restarted" in reply.json()["detail"]
            reply = client.get(f"/v1/sessions/{shot}/masks/0")
            assert reply.status_code == 404 and "results from before the server restarted" in reply.json()["detail"]
            reply = client.get(f"/v1/sessions/{closed}")
            assert reply.status_code == 404 and "was closed at 20" in reply.json()["detail"], reply.text
            for sid in (uploaded, shot):
                assert track_pngs(client, sid) == before[sid], sid
    finally:
        output = stop(server)
    assert server.returncode in (0, -signal.SIGTERM), output
    assert f"sessions are kept across restarts in {state}: 2 reloaded" in " ".join(output.split()), output


@pytest.fixture
def scheduler(model):
    scheduler = Scheduler(model, "XMem-standin.pth")
    yield scheduler
    scheduler.close()


def test_a_killed_servers_sessions_are_reloaded_with_their_colours_and_uploads(scheduler, tmp_path):
    """The saved form is written as the session changes, so a server that never ran `shutdown` (SIGKILL) leaves
    a folder the next one reloads: uploads so far, the references, and the colour -> id table of flat-colour RGB
    references (a colour keeps its id)."""
    from servicehelpers import png_bytes_rgb

    clip = MovingDiscs(4, objects=2)
    settings = ServiceSettings(state_dir=tmp_path / "state")
    store = SessionStore(settings, scheduler)
    partial = store.create(None, 4, CONFIG, "xmempp")
    partial.add_upload(1, png_bytes_rgb(clip[1]), 10**6)
    full = store.create(None, 4, CONFIG, "xmempp")
    for index in range(4):
        full.add_upload(index, png_bytes_rgb(clip[index]), 10**6)
    custom = np.zeros((*clip.mask(0).shape, 3), np.uint8)
    custom[clip.mask(0) == 1], custom[clip.mask(0) == 2] = (17, 200, 3), (90, 90, 250)  # not DAVIS colours
    ids = full.decode_png_reference(0, png_bytes_rgb(custom))
    store.set_reference(full, 0, ids).result(timeout=60)
    (store.root / "no-session-file").mkdir()
    store._lock_file.close()  # as the kernel does for a killed process; nothing else is cleaned up

    again = SessionStore(ServiceSettings(state_dir=tmp_path / "state"), scheduler)
    assert again.swept == 1 and not (again.root / "no-session-file").exists()
    assert {s.id for s in again.all()} == {partial.id, full.id}
    reloaded = again.get(partial.id)
    assert reloaded.uploaded == {1} and reloaded.frames is None and reloaded.size == clip.mask(0).shape
    reloaded.add_upload(0, png_bytes_rgb(clip[0]), 10**6)
    reloaded = again.get(full.id)
    np.testing.assert_array_equal(reloaded.references[0], ids)
    only_second = np.zeros_like(custom)
    only_second[clip.mask(1) == 2] = (90, 90, 250)
    second = int(ids[clip.mask(0) == 2][0])
    assert set(np.unique(reloaded.decode_png_reference(1, png_bytes_rgb(only_second)))) == {0, second}
    again.shutdown()


def test_a_session_that_cannot_be_reopened_stays_on_disk_and_its_404_says_why(scheduler, tmp_path):
    media = tmp_path / "media"
    clip = write_clip(media / "shot", 3)
    state = tmp_path / "state"
    store = SessionStore(ServiceSettings(state_dir=state, media_roots=[media]), scheduler)
    session = store.create("shot", None, CONFIG, "xmempp")
    store.set_reference(session, 0, clip.mask(0)).result(timeout=60)
    store.shutdown()
    other = tmp_path / "other"
    other.mkdir()
    later = SessionStore(ServiceSettings(state_dir=state, media_roots=[other]), scheduler)
    with pytest.raises(NotFound, match="could not reload it: .*outside the media roots.*its files stay"):
        later.get(session.id)
    assert "1 could not be" in later.startup_note()
    later.shutdown()
    assert (state / "sessions" / session.id / "references" / "000000.png").is_file()
    back = SessionStore(ServiceSettings(state_dir=state, media_roots=[media]), scheduler)
    assert sorted(back.get(session.id).references) == [0]
    back.shutdown()


def test_a_temporary_state_folder_goes_with_its_sessions(scheduler):
    settings = ServiceSettings()
    store = SessionStore(settings, scheduler)
    assert "temporary folder" in store.startup_note()
    store.create(None, 1, {}, "xmempp")
    store.shutdown()
    assert not Path(settings.state_dir).exists()


def test_queued_runs_tell_their_place_and_estimated_start(model, tmp_path):
    """Issue 36: with 30 users a session waited 71 s for its first frame with no word of where it stood. Two
    sessions on one worker: while the worker is busy, each queued run's poll and stream say its place and an
    estimated start from the frame times measured so far."""
    media = tmp_path / "media"
    clip = write_clip(media / "shot", 30)
    scheduler = Scheduler(model, "XMem-standin.pth", chunk_frames=4, chunk_seconds=60.0)
    settings = ServiceSettings(port=free_port(), token=TOKEN, media_roots=[media], state_dir=tmp_path / "state")
    app = create_app(settings, scheduler)
    lines: list[dict] = []
    try:
        with running_server(app, settings.port) as url, httpx.Client(base_url=url, headers=AUTH, timeout=60) as client:
            a, b = (client.post("/v1/sessions", json={"video": "shot", "config": CONFIG}).json()["id"] for _ in "ab")
            for sid in (a, b):
                assert client.put(f"/v1/sessions/{sid}/references/0", json=encode_rle(clip.mask(0))).is_success
            first = client.post(f"/v1/sessions/{a}/tracks", json={"start": 0, "count": 5}).json()
            assert first["queue_position"] in (None, 1)  # nothing ahead of it
            collect_track(client, a, first["id"])  # the worker has timed frames now
            step = scheduler.step_seconds()
            assert step is not None and step > 0
            gate = threading.Event()
            scheduler.submit(gate.wait, lane="busy")  # the worker is busy with another task
            try:
                ra = client.post(f"/v1/sessions/{a}/tracks", json={"start": 0, "count": 20}).json()
                rb = client.post(f"/v1/sessions/{b}/tracks", json={"start": 0, "count": 10}).json()
                pa = client.get(f"/v1/sessions/{a}/tracks/{ra['id']}").json()
                pb = client.get(f"/v1/sessions/{b}/tracks/{rb['id']}").json()
                assert pa["status"] == "queued" and pa["queue_position"] == 2, pa
                # b waits for the busy task and a's first turn (4 frames): later than a
                assert pb["status"] == "queued" and pb["queue_position"] == 3, pb
                assert 0 < pa["estimated_start_s"] < pb["estimated_start_s"], (pa, pb)
                # the busy task (counted as one step) and a's first turn of 4 frames
                assert pb["estimated_start_s"] == pytest.approx(5 * step, abs=0.01)

                def stream() -> None:
                    with httpx.stream(
                        "GET", f"{url}/v1/sessions/{b}/tracks/{rb['id']}/stream", headers=AUTH, timeout=60
                    ) as reply:
                        lines.extend(json.loads(line) for line in reply.iter_lines())

                reader = threading.Thread(target=stream)
                reader.start()
                deadline = time.monotonic() + 30
                while not lines:
                    assert time.monotonic() < deadline, "no waiting line"
                    time.sleep(0.05)
            finally:
                gate.set()
            reader.join(timeout=60)
            assert lines[0]["event"] == "queued" and lines[0]["queue_position"] == 3, lines[0]
            results = [line for line in lines if "seq" in line]
            assert [r["seq"] for r in results] == list(range(1, 11)) and lines[-1]["status"] == "done", lines[-1]
            assert lines[-1]["queue_position"] is None and lines[-1]["estimated_start_s"] is None
            state, _ = collect_track(client, a, ra["id"])
            assert state["status"] == "done" and state["queue_position"] is None
    finally:
        scheduler.close()


def test_place_simulates_round_robin_turns(model):
    """The estimate follows the worker's turns: a long task of another lane runs one chunk before a queued
    task's first step, a task behind its own lane's long task waits for all of it."""
    scheduler = Scheduler(model, chunk_frames=3, chunk_seconds=60.0)
    gate = threading.Event()
    try:
        scheduler.submit_steps(lambda: (time.sleep(0.01), True)[1]).result(timeout=10)  # one timed step
        step = scheduler.step_seconds()
        busy = scheduler.submit(gate.wait, lane="busy")
        while not busy.running():
            time.sleep(0.001)
        long_a = scheduler.submit_steps(lambda: True, lane="A", steps_left=lambda: 10)
        next_b = scheduler.submit_steps(lambda: True, lane="B", steps_left=lambda: 2)
        after_a = scheduler.submit(lambda: None, lane="A", interactive=False)
        places = {name: scheduler.place(f) for name, f in (("a", long_a), ("b", next_b), ("after", after_a))}
        assert scheduler.place(busy) is None  # running: no place
        assert places["a"].position == 2 and places["a"].estimated_start_s == pytest.approx(1 * step)
        assert places["b"].position == 3 and places["b"].estimated_start_s == pytest.approx(4 * step)
        # a's 10 steps in turns of 3 around b's 2 steps: 1 + 3 + 2 + 7 steps before it
        assert places["after"].position == 4 and places["after"].estimated_start_s == pytest.approx(13 * step)
    finally:
        gate.set()
        scheduler.close()
    assert scheduler.place(long_a) is None
