"""Units of the tracking service: RLE masks, media-root checks, settings, track runs, the work queue,
idle-session expiry, and the `xmempp serve` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest

from servicehelpers import free_port, write_clip
from xmempp.errors import ConfigError, InputError
from xmempp.service.errors import LimitExceeded, NotFound, NotReady, TooLarge, status_for
from xmempp.service.media import PathRefused, resolve_media
from xmempp.service.rle import decode_rle, encode_rle
from xmempp.service.scheduler import Scheduler
from xmempp.service.sessions import SessionStore
from xmempp.service.settings import ServiceSettings
from xmempp.service.tracks import TrackRun


def test_rle_round_trip_and_numpy_decoding():
    rng = np.random.default_rng(0)
    ids = (rng.random((17, 23)) > 0.7).astype(np.uint8) * rng.integers(1, 255, size=(17, 23)).astype(np.uint8)
    encoded = encode_rle(ids)
    assert encoded["size"] == [17, 23] and sum(encoded["counts"]) == 17 * 23
    np.testing.assert_array_equal(decode_rle(encoded), ids)
    np.testing.assert_array_equal(np.repeat(encoded["values"], encoded["counts"]).reshape(17, 23), ids)
    np.testing.assert_array_equal(decode_rle(encode_rle(np.zeros((3, 4), np.uint8))), np.zeros((3, 4)))


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"size": [2, 2], "values": [0], "counts": [3]}, "add up to 3"),
        ({"size": [2, 2], "values": [0, 1], "counts": [4]}, "equal length"),
        ({"size": [2, 2], "values": [300], "counts": [4]}, "0..255"),
        ({"size": [2, 2], "values": [0, 1], "counts": [-1, 5]}, "negative"),
        ({"size": [0, 2], "values": [], "counts": []}, "positive"),
        ({"values": [0], "counts": [4]}, '"size"'),
        ({"size": "big", "values": [0], "counts": [4]}, '"size"'),
        ({"size": [2, 2], "values": [0], "counts": [4.5]}, "integers only"),
        ({"size": [2, 2], "values": [0], "counts": [4.0]}, "integers only"),
        ({"size": [2, 2], "values": [True], "counts": [4]}, "integers only"),
        ({"size": [2.0, 2], "values": [0], "counts": [4]}, '"size"'),
        ({"size": [20000, 20000], "values": [0], "counts": [400_000_000]}, "more than"),
        ({"size": [2, 2], "values": [0] * 5, "counts": [1] * 5}, "runs"),
    ],
)
def test_rle_errors_say_what_is_wrong(bad, words):
    with pytest.raises(InputError, match=words):
        decode_rle(bad)


def test_rle_declared_size_checked_against_the_frame():
    with pytest.raises(InputError, match="must match its frame"):
        decode_rle({"size": [4000, 4000], "values": [0], "counts": [16_000_000]}, expected_size=(2, 2))


def test_error_details_in_request_terms_without_server_paths(tmp_path):
    from xmempp.errors import OutputError, Remedy, RemedyKind
    from xmempp.service.errors import service_message

    root, state = tmp_path / "media", tmp_path / "state"
    exc = ConfigError(
        f"cannot read frame {root}/shot/0001.png or {state}/sessions/abc_D-1/frames/000001.png",
        remedy=Remedy(RemedyKind.SET, "size", 480),
    )
    text = service_message(exc, [root], state)
    assert str(tmp_path) not in text and "--" not in text, text
    assert "shot/0001.png" in text and "frames/000001.png" in text and '"config": {"size": 480}' in text, text
    text = service_message(OutputError("/usr/lib/x/weights.pth is bad", remedy=Remedy(RemedyKind.ENABLE, "overwrite")))
    assert text == 'weights.pth is bad; set "overwrite": true in the request', text
    assert "DELETE /v1/sessions/ID" in service_message(LimitExceeded("close one (DELETE /v1/sessions/ID)"))


def test_track_matte_fields_are_the_core_refine_settings():
    from typing import get_args

    from pydantic import ValidationError

    from xmempp.refine import REFINE_MODES, RefineSettings
    from xmempp.service.errors import service_message
    from xmempp.service.schemas import TrackRequest

    assert get_args(TrackRequest.model_fields["refine"].annotation) == REFINE_MODES
    assert TrackRequest(start=0).refine_settings() == RefineSettings()  # the core's defaults
    body = TrackRequest(
        start=0, mattes=True, refine="matting", refine_band=8, refine_feather=2, refine_detail=1e-4, refine_temporal=0.5
    )
    assert body.refine_settings() == RefineSettings(mode="matting", band=8, feather=2, eps=1e-4, temporal=0.5)
    with pytest.raises(ValidationError, match="refine_feather"):
        TrackRequest(start=0, refine_feather=5000)
    # the core's own checks, in the request's terms
    with pytest.raises(ConfigError) as raised:
        RefineSettings(eps=2.0)
    text = service_message(raised.value)
    assert text.endswith(f'set "refine_detail": {RefineSettings().eps!r} in the request'), text  # the core's default


def test_media_paths_stay_inside_the_roots(tmp_path):
    root = (tmp_path / "root").resolve()
    (root / "shot").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "inner").symlink_to(root / "shot", target_is_directory=True)
    assert resolve_media("shot", [root]) == root / "shot"
    assert resolve_media(str(root / "shot"), [root]) == root / "shot"
    assert resolve_media("inner", [root]) == root / "shot"  # a link that stays inside is fine
    for path in ("../outside", str(outside), "link", "shot/../../outside", "/etc/passwd", "shot/\x00"):
        with pytest.raises(PathRefused):
            resolve_media(path, [root])
    with pytest.raises(InputError, match="does not exist"):
        resolve_media("nothing", [root])
    with pytest.raises(PathRefused, match="no media roots"):
        resolve_media("shot", [])


def test_settings_check_their_values(tmp_path):
    settings = ServiceSettings(media_roots=[tmp_path], state_dir=tmp_path / "state")
    assert settings.host == "127.0.0.1" and settings.state_dir.is_dir() and settings.media_roots == [tmp_path.resolve()]
    with pytest.raises(ConfigError, match="not a folder"):
        ServiceSettings(media_roots=[tmp_path / "missing"], state_dir=tmp_path / "s")
    with pytest.raises(ConfigError, match="max_sessions"):
        ServiceSettings(max_sessions=0, state_dir=tmp_path / "s")
    with pytest.raises(ConfigError, match="token"):
        ServiceSettings(token=" ", state_dir=tmp_path / "s")


def test_error_statuses():
    assert status_for(PathRefused("x")) == 403
    assert status_for(NotFound("x")) == 404
    assert status_for(NotReady("x")) == 409
    assert status_for(LimitExceeded("x")) == 429
    assert status_for(TooLarge("x")) == 413
    assert status_for(ConfigError("x")) == 422
    assert status_for(InputError("x")) == 400


def test_track_run_results_after_and_wait(tmp_path):
    run = TrackRun("r", "forward", 0, None, 3, tmp_path)
    assert run.results_after(0, 10) == [] and not run.final
    run.set_running()
    threading.Timer(0.05, run.publish, args=(5,)).start()
    run.wait(0, 5.0)
    assert run.results_after(0, 10) == [(1, 5)]
    run.publish(6)
    run.publish(7)
    assert run.results_after(1, 1) == [(2, 6)] and run.results_after(1, 10) == [(2, 6), (3, 7)]
    run.finish("done")
    run.wait(3, 5.0)  # returns at once: the run is final
    assert run.describe()["status"] == "done" and run.describe()["done"] == 3


def test_scheduler_runs_one_task_at_a_time(model):
    engine = Scheduler(model)
    running, most = [0], [0]
    lock = threading.Lock()

    def task() -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return 1

    futures = [engine.submit(task) for _ in range(8)]
    assert sum(f.result() for f in futures) == 8 and most[0] == 1 and engine.pending == 0
    with pytest.raises(ZeroDivisionError):
        engine.call(lambda: 1 / 0)
    engine.close()


def test_scheduler_is_fair_between_lanes(model):
    """An interactive task of lane B runs after at most one step of lane A's long task; two long tasks
    alternate in chunks; a lane's own tasks keep their order."""
    engine = Scheduler(model, chunk_frames=3, chunk_seconds=10.0)
    log: list[str] = []
    gate = threading.Event()

    def stepper(name: str, steps: int):
        left = [steps]

        def step() -> bool:
            gate.wait()
            log.append(name)
            time.sleep(0.01)
            left[0] -= 1
            return left[0] == 0

        return step

    a = engine.submit_steps(stepper("a", 9), lane="A")
    b = engine.submit_steps(stepper("b", 6), lane="B")
    after_a = engine.submit(lambda: log.append("A-edit"), lane="A")  # waits for A's own track
    gate.set()
    time.sleep(0.05)
    submitted_at = len(log)
    edit = engine.submit(lambda: log.append("C-edit"), lane="C")
    edit.result(timeout=10)
    a.result(timeout=10), b.result(timeout=10), after_a.result(timeout=10)
    assert log.index("C-edit") - submitted_at <= 1, log  # at most the step under way before it
    tracks = [x for x in log if x in "ab"]
    assert tracks[:3] == ["a"] * 3 and tracks[3] == "b", log  # a chunk of 3, then the other lane's turn
    assert log.index("A-edit") > max(i for i, x in enumerate(log) if x == "a"), log  # after A's own track
    engine.close()


def test_idle_sessions_expire_and_their_files_go(model, tmp_path):
    engine = Scheduler(model)
    store = SessionStore(ServiceSettings(state_dir=tmp_path, session_ttl_s=0.05), engine)
    session = store.create(None, 2, {}, "xmempp")
    assert session.folder.is_dir() and len(store) == 1
    time.sleep(0.1)
    assert store.expire_idle() == [session.id] and len(store) == 0
    engine.close()  # waits for the queued removal
    assert not session.folder.exists()
    with pytest.raises(NotFound, match="expired"):
        store.get(session.id)


def test_uploads_must_share_one_size(model, tmp_path):
    from servicehelpers import png_bytes_rgb

    engine = Scheduler(model)
    store = SessionStore(ServiceSettings(state_dir=tmp_path, max_frames=3), engine)
    with pytest.raises(TooLarge, match="at most 3"):
        store.create(None, 4, {}, "xmempp")
    session = store.create(None, 2, {}, "xmempp")
    session.add_upload(0, png_bytes_rgb(np.zeros((8, 10, 3), np.uint8)), 1000)
    with pytest.raises(InputError, match="one size"):
        session.add_upload(1, png_bytes_rgb(np.zeros((9, 10, 3), np.uint8)), 1000)
    with pytest.raises(InputError):
        session.add_upload(1, b"not an image", 1000)
    with pytest.raises(NotReady, match="1 of 2"):
        session.ready_frames()
    session.add_upload(1, png_bytes_rgb(np.ones((8, 10, 3), np.uint8)), 1000)
    assert len(session.ready_frames()) == 2
    engine.close()


def test_serve_command_in_a_subprocess(checkpoint_path, tmp_path):
    """`xmempp serve` starts, answers /v1/health without and /v1/info only with the token, and stops."""
    write_clip(tmp_path / "media" / "shot", 2)
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "from xmempp.cli.app import main; main()",
        "serve",
        "--port",
        str(port),
        "--model",
        str(checkpoint_path),
        "--device",
        "cpu",
        "--token",
        "tok",
        "--media-root",
        str(tmp_path / "media"),
        "--state-dir",
        str(tmp_path / "state"),
    ]
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "NO_COLOR": "1"}
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "xmempp serve did not come up"
            time.sleep(0.3)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/info").status_code == 401
        info = httpx.get(f"http://127.0.0.1:{port}/v1/info", headers={"Authorization": "Bearer tok"}).json()
        assert info["device"] == "cpu"
        created = httpx.post(
            f"http://127.0.0.1:{port}/v1/sessions", json={"video": "shot"}, headers={"Authorization": "Bearer tok"}
        )
        assert created.status_code == 201 and created.json()["frames"] == 2
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "serving on http://127.0.0.1:" in output


def test_serve_command_reports_bad_settings_in_one_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from xmempp.cli.app import main; main()",
            "serve",
            "--media-root",
            str(tmp_path / "missing"),
            "--model",
            str(tmp_path / "x.pth"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not a folder" in result.stderr


def test_shutdown_keeps_sessions_in_a_given_state_folder_and_removes_a_temporary_one(model, tmp_path):
    engine = Scheduler(model)
    store = SessionStore(ServiceSettings(state_dir=tmp_path), engine)
    kept = [store.create(None, 1, {}, "xmempp").folder for _ in range(2)]
    closed = store.create(None, 1, {}, "xmempp")
    store.close(closed.id)
    store.shutdown()
    assert all((folder / "session.json").is_file() for folder in kept) and not closed.folder.exists()
    temporary = ServiceSettings()
    store = SessionStore(temporary, engine)
    folder = store.create(None, 1, {}, "xmempp").folder
    store.shutdown()
    engine.close()
    assert len(store) == 0 and not folder.exists() and not temporary.state_dir.exists()
