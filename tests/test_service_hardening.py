"""The service under abuse, against a real uvicorn: media roots closed file by file, sizes checked before
any allocation, long polls that hold no thread, a fair model queue, and error details in API terms."""

from __future__ import annotations

import io
import socket
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from servicehelpers import (
    collect_track,
    free_port,
    peak_rss_during,
    png_bytes,
    png_header_only,
    running_server,
    serving_in_subprocess,
    write_clip,
)
from xmempp.inference.config import InferenceConfig
from xmempp.inference.jobs import ShotJob, run_job
from xmempp.io.sources import open_frames
from xmempp.io.synthetic import MovingDiscs
from xmempp.io.writers import probs_to_ids
from xmempp.service import Scheduler, ServiceSettings, create_app
from xmempp.service.rle import encode_rle

TOKEN = "hardening-token"
CONFIG = {"size": -1, "mem_every": 3}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def engine(model):
    engine = Scheduler(model, "XMem-standin.pth")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    write_clip(root / "shot", 6)
    write_clip(root / "long", 200, seed=1)
    outside = tmp_path_factory.mktemp("outside")
    write_clip(outside / "secret", 3, seed=7)
    links = root / "linkframes"
    links.mkdir()
    (links / "00000.png").write_bytes((root / "shot" / "00000.png").read_bytes())
    for index in (1, 2):  # frame files that are links to files outside the root
        (links / f"{index:05d}.png").symlink_to(outside / "secret" / f"{index:05d}.png")
    inner = root / "innerlinks"
    inner.mkdir()
    for index in range(3):  # links that stay inside the root are fine
        (inner / f"{index:05d}.png").symlink_to(root / "shot" / f"{index:05d}.png")
    return root, outside


@pytest.fixture(scope="module")
def server(media, engine, tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    settings = ServiceSettings(
        port=free_port(),
        token=TOKEN,
        media_roots=[media[0]],
        state_dir=state,
        max_body_bytes=4 << 20,
        max_frames=300,
        max_frame_pixels=1000 * 1000,
        max_polls_per_client=60,
        session_ttl_s=600,
    )
    app = create_app(settings, engine)
    with running_server(app, settings.port) as url:
        yield url, app, settings


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server[0], headers=AUTH, timeout=60) as c:
        yield c


def open_session(client, **body) -> str:
    reply = client.post("/v1/sessions", json={"config": CONFIG, **body})
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def test_symlinked_frame_files_escaping_the_root_are_refused(media, server, client):
    root, outside = media
    reply = client.post("/v1/sessions", json={"video": "linkframes"})
    assert reply.status_code == 403, reply.text
    detail = reply.json()["detail"]
    assert "outside the media roots" in detail and str(outside) not in detail and str(root) not in detail
    sid = open_session(client, video="innerlinks")  # links inside the root are fine
    assert client.get(f"/v1/sessions/{sid}").json()["source"] == "innerlinks"
    # a frame file replaced by an escaping link after the session opened is refused when read
    swapped = root / "swapped"
    write_clip(swapped, 3)
    sid2 = open_session(client, video="swapped")
    (swapped / "00001.png").unlink()
    (swapped / "00001.png").symlink_to(outside / "secret" / "00001.png")
    reply = client.put(f"/v1/sessions/{sid2}/references/1", json=encode_rle(MovingDiscs(3, objects=2).mask(1)))
    assert reply.status_code == 403 and "outside the media roots" in reply.json()["detail"], reply.text
    for s in (sid, sid2):
        client.delete(f"/v1/sessions/{s}")


def test_tiny_rle_declaring_a_huge_mask_is_refused_before_any_allocation(server, client):
    sid = open_session(client, video="shot")
    body = b'{"size": [20000, 20000], "values": [0], "counts": [400000000]}'
    url = f"/v1/sessions/{sid}/references/0"
    reply, growth = peak_rss_during(lambda: client.put(url, content=body, headers={"Content-Type": "application/json"}))
    assert reply.status_code == 400 and "20000x20000" in reply.json()["detail"], reply.text
    assert growth < 20 << 20, f"RSS grew by {growth / 2**20:.0f} MiB around a {len(body)}-byte body"
    small = b'{"size": [4000, 4000], "values": [0], "counts": [16000000]}'  # under the cap: the frame size decides
    reply = client.put(url, content=small, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and "must match its frame" in reply.json()["detail"], reply.text
    # a PNG whose header declares 20000x20000: refused from its header
    reply, growth = peak_rss_during(
        lambda: client.put(url, content=png_header_only(20000, 20000), headers={"Content-Type": "image/png"})
    )
    assert reply.status_code == 413 and "pixels" in reply.json()["detail"], reply.text
    assert growth < 20 << 20, f"RSS grew by {growth / 2**20:.0f} MiB around a header-only PNG"
    for counts, words in (([6000, 1168.5], "integers only"), ([6000, "1168"], "integers only")):
        reply = client.put(url, json={"size": [64, 112], "values": [0, 1], "counts": counts})
        assert reply.status_code == 400 and words in reply.json()["detail"], reply.text
    reply = client.put(url, json=encode_rle(np.zeros((64, 112), np.uint8)))
    assert reply.status_code == 400 and "marks no object" in reply.json()["detail"], reply.text
    assert client.get(f"/v1/sessions/{sid}/references").json() == {"references": []}
    client.delete(f"/v1/sessions/{sid}")


def test_uploads_capped_by_header_and_kept_in_their_encoding(media, server, client, model, tmp_path):
    sid = open_session(client, frames=3)
    reply, growth = peak_rss_during(
        lambda: client.put(f"/v1/sessions/{sid}/frames/0", content=png_header_only(8000, 8000))
    )
    assert reply.status_code == 413 and "8000x8000" in reply.json()["detail"], reply.text
    assert growth < 20 << 20, f"RSS grew by {growth / 2**20:.0f} MiB around a header-only 8000x8000 PNG"
    clip = MovingDiscs(3, objects=2, seed=2)
    jpegs = []
    for index in range(3):
        buffer = io.BytesIO()
        Image.fromarray(clip[index]).save(buffer, format="JPEG", quality=85)
        jpegs.append(buffer.getvalue())
        (tmp_path / f"{index:06d}.jpg").write_bytes(jpegs[-1])
        reply = client.put(f"/v1/sessions/{sid}/frames/{index}", content=jpegs[-1])
        assert reply.status_code == 200, reply.text
    stored = sorted((server[2].state_dir / "sessions" / sid / "frames").iterdir())
    assert [p.name for p in stored] == ["000000.jpg", "000001.jpg", "000002.jpg"]
    assert [p.read_bytes() for p in stored] == jpegs  # byte for byte as sent
    client.put(f"/v1/sessions/{sid}/references/0", json=encode_rle(clip.mask(0)))
    rid = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0}).json()["id"]
    state, got = collect_track(client, sid, rid)
    job = ShotJob(open_frames(tmp_path), {0: clip.mask(0)}, InferenceConfig(**CONFIG), direction="forward", start=0)
    want = {}
    run_job(model, job, on_result=lambda r: want.__setitem__(r.index, probs_to_ids(r.probs.numpy(), job.objects.ids)))
    assert state["status"] == "done"
    for index in range(3):
        np.testing.assert_array_equal(got[index], want[index], err_msg=f"frame {index}")
    client.delete(f"/v1/sessions/{sid}")


def test_too_many_frames_is_413_without_retry_after(client):
    reply = client.post("/v1/sessions", json={"frames": 301})
    assert reply.status_code == 413 and "Retry-After" not in reply.headers, reply.text
    reply = client.post("/v1/sessions", json={"video": "/etc"})
    assert reply.status_code == 403 and "--" not in reply.json()["detail"]


def _hold_lane(server, sid: str) -> threading.Event:
    """Block the session's lane on the engine (a task that waits without the GIL) so its runs stay queued."""
    release = threading.Event()
    server[1].state.engine.submit(lambda: release.wait(60), lane=sid)
    return release


def test_health_and_info_fast_under_50_long_polls(server, client):
    sid = open_session(client, video="shot")
    client.put(f"/v1/sessions/{sid}/references/0", json=encode_rle(MovingDiscs(6, objects=2).mask(0)))
    release = _hold_lane(server, sid)
    rid = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0}).json()["id"]
    answers: list[int] = []

    def poll() -> None:
        with httpx.Client(base_url=server[0], headers=AUTH, timeout=60) as c:
            answers.append(c.get(f"/v1/sessions/{sid}/tracks/{rid}", params={"after": 0, "wait": 20}).status_code)

    threads = [threading.Thread(target=poll) for _ in range(50)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while client.get("/v1/info").json()["polls"] < 50:
            assert time.monotonic() < deadline, "the 50 polls did not all open"
            time.sleep(0.05)
        timings = {"health": [], "info": []}
        with httpx.Client(base_url=server[0], headers=AUTH, timeout=10) as fresh:
            for _ in range(10):
                for name in timings:
                    started = time.perf_counter()
                    assert fresh.get(f"/v1/{name}").status_code == 200
                    timings[name].append(time.perf_counter() - started)
        assert client.get("/v1/info").json()["polls"] == 50  # all still waiting
        assert max(timings["health"]) < 0.1 and max(timings["info"]) < 0.1, timings
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=60)
    assert answers == [200] * 50
    client.delete(f"/v1/sessions/{sid}")


def test_a_disconnecting_client_frees_its_poll(server, client):
    sid = open_session(client, video="shot")
    client.put(f"/v1/sessions/{sid}/references/0", json=encode_rle(MovingDiscs(6, objects=2).mask(0)))
    release = _hold_lane(server, sid)
    try:
        rid = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0}).json()["id"]
        port = int(server[0].rsplit(":", 1)[1])
        for path in (f"/v1/sessions/{sid}/tracks/{rid}?after=0&wait=30", f"/v1/sessions/{sid}/tracks/{rid}/stream"):
            raw = socket.create_connection(("127.0.0.1", port))
            raw.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
            deadline = time.monotonic() + 10
            while client.get("/v1/info").json()["polls"] != 1:
                assert time.monotonic() < deadline, "the poll did not open"
                time.sleep(0.02)
            raw.close()
            deadline = time.monotonic() + 3
            while client.get("/v1/info").json()["polls"] != 0:
                assert time.monotonic() < deadline, f"{path}: a closed connection still holds its poll"
                time.sleep(0.02)
    finally:
        release.set()
    client.delete(f"/v1/sessions/{sid}")


def test_per_client_poll_limit(media, engine, tmp_path):
    settings = ServiceSettings(
        port=free_port(), token=TOKEN, media_roots=[media[0]], state_dir=tmp_path / "state", max_polls_per_client=2
    )
    app = create_app(settings, engine)
    with running_server(app, settings.port) as url, httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
        sid = open_session(client, video="shot")
        client.put(f"/v1/sessions/{sid}/references/0", json=encode_rle(MovingDiscs(6, objects=2).mask(0)))
        release = threading.Event()
        engine.submit(lambda: release.wait(60), lane=sid)
        rid = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0}).json()["id"]
        poll = f"/v1/sessions/{sid}/tracks/{rid}"
        threads = [
            threading.Thread(target=lambda: httpx.get(url + poll, params={"wait": 20}, headers=AUTH, timeout=30))
            for _ in range(2)
        ]
        try:
            for thread in threads:
                thread.start()
            while client.get("/v1/info").json()["polls"] < 2:
                time.sleep(0.02)
            third = client.get(poll, params={"wait": 5})
            assert third.status_code == 429 and third.headers["Retry-After"] == "1", third.text
            assert client.get(f"{poll}/stream").status_code == 429
            assert client.get(poll).status_code == 200  # a poll without wait is not limited
        finally:
            release.set()
            for thread in threads:
                thread.join(timeout=30)
        client.delete(f"/v1/sessions/{sid}")


def test_reference_edit_of_b_answered_while_a_tracks(server, client):
    a = open_session(client, video="long")
    client.put(f"/v1/sessions/{a}/references/0", json=encode_rle(MovingDiscs(200, objects=2, seed=1).mask(0)))
    b = open_session(client, video="shot")
    rid = client.post(f"/v1/sessions/{a}/tracks", json={"start": 0}).json()["id"]
    first = client.get(f"/v1/sessions/{a}/tracks/{rid}", params={"after": 0, "wait": 20}).json()
    assert first["status"] == "running" and first["results"], first
    started = time.perf_counter()
    reply = client.put(f"/v1/sessions/{b}/references/2", json=encode_rle(MovingDiscs(6, objects=2).mask(2)))
    seconds = time.perf_counter() - started
    a_state = client.get(f"/v1/sessions/{a}/tracks/{rid}").json()
    assert reply.status_code == 201, reply.text
    assert seconds < 2.0, f"B's reference edit took {seconds:.2f} s while A tracked"
    assert a_state["status"] == "running" and a_state["done"] < a_state["total"], a_state  # A had not finished
    b_run = client.post(f"/v1/sessions/{b}/tracks", json={"start": 2, "count": 3}).json()["id"]
    b_state, _ = collect_track(client, b, b_run, timeout=60)
    a_after = client.get(f"/v1/sessions/{a}/tracks/{rid}").json()
    assert b_state["status"] == "done" and a_after["done"] < a_after["total"], a_after  # B's run did not wait for A
    client.post(f"/v1/sessions/{a}/tracks/{rid}/cancel")
    for s in (a, b):
        client.delete(f"/v1/sessions/{s}")


def test_png_reference_of_another_size_refused_from_its_header(client):
    sid = open_session(client, video="shot")
    reply = client.put(
        f"/v1/sessions/{sid}/references/0",
        content=png_bytes(np.ones((10, 10), np.uint8)),
        headers={"Content-Type": "image/png"},
    )
    assert reply.status_code == 400 and "10x10" in reply.json()["detail"]
    client.delete(f"/v1/sessions/{sid}")


def test_a_60_mb_rle_body_is_refused_at_once_while_health_stays_fast(media, checkpoint_path):
    """Issue 36: a 57 MB RLE body (10 million runs, under the 64 MB body limit) was parsed whole before it was
    refused: 400 after 3.3 s, /v1/health blocked 2.7 s, +470 MB RSS. Its length and runs are now bounded by
    the frame's pixels before anything is parsed. The server runs in its own process, as deployed, so its RSS and
    its health answers are its own (in this process the client's 57 MB upload shared both)."""
    runs = 10_000_000
    body = (
        '{"size": [64, 112], "values": [' + ", ".join(["1"] * runs) + '], "counts": [' + ", ".join(["1"] * runs) + "]}"
    ).encode()
    assert 57 << 20 < len(body) < ServiceSettings().max_body_bytes
    with (
        serving_in_subprocess(
            "--model", str(checkpoint_path), "--device", "cpu", "--token", TOKEN, "--media-root", str(media[0])
        ) as (server, url),
        httpx.Client(base_url=url, headers=AUTH, timeout=60) as client,
    ):
        sid = open_session(client, video="shot")
        latencies: list[float] = []
        done = threading.Event()

        def health() -> None:
            with httpx.Client(base_url=url, timeout=30) as probe:
                while not done.is_set():
                    started = time.monotonic()
                    assert probe.get("/v1/health").status_code == 200
                    latencies.append(time.monotonic() - started)
                    time.sleep(0.01)

        prober = threading.Thread(target=health)
        prober.start()
        time.sleep(0.2)
        times: list[float] = []
        growths: list[int] = []
        try:
            for _ in range(3):  # the client's own upload of 57 MB is in the time: the best of three on a shared CPU
                started = time.monotonic()
                reply, growth = peak_rss_during(
                    lambda: client.put(
                        f"/v1/sessions/{sid}/references/0", content=body, headers={"Content-Type": "application/json"}
                    ),
                    server.pid,
                )
                times.append(time.monotonic() - started)
                growths.append(growth)
                time.sleep(0.2)
                if times[-1] < 0.5:
                    break
        finally:
            done.set()
            prober.join()
        took, growth = min(times), max(growths)
        print(
            f"60 MB RLE body answered {reply.status_code} in {took * 1000:.0f} ms (tries {times}); health at most "
            f"{max(latencies) * 1000:.0f} ms over {len(latencies)} probes; RSS +{growth / 2**20:.0f} MiB"
        )
        assert took < 0.5, f"refused after {took:.2f} s at best ({times})"
        # on a shared 2-core CPU a single probe may wait on the client's own upload (542 ms once in a fresh-clone CI
        # run with the server in this process), so the bar is on nine probes in ten, and a block (the defect held
        # health 2.7 s) shows in the slowest
        ordered = sorted(latencies)
        assert ordered[int(0.9 * (len(ordered) - 1))] < 0.1, f"health latencies (s): {ordered}"
        assert ordered[-1] < 1.0, f"health took up to {ordered[-1] * 1000:.0f} ms ({len(latencies)} probes)"
        assert growth < 50 << 20, f"the server's RSS grew by {growth / 2**20:.0f} MiB"
        assert reply.status_code == 400 and "more than any mask of a 112x64 frame needs" in reply.json()["detail"], (
            reply.text
        )
        # a body within the bounds but with more runs than pixels is refused before it is parsed, too
        few = (
            b'{"size": [64, 112], "values": ['
            + b",".join([b"1"] * 8000)
            + b'], "counts": ['
            + b",".join([b"1"] * 8000)
            + b"]}"
        )
        reply = client.put(
            f"/v1/sessions/{sid}/references/0", content=few, headers={"Content-Type": "application/json"}
        )
        assert reply.status_code == 400 and "8000 runs, more than the 7168 pixels" in reply.json()["detail"], reply.text


def test_an_unknown_session_says_whether_it_expired_was_closed_or_the_server_restarted(media, engine, tmp_path):
    """Issue 36: a 404 after a restart did not say that the server had restarted. A session id holds its opening
    time, so a server tells an id opened before it started that its state folder does not hold; closed and
    expired ids are remembered (in the state folder, so also by the next server on it)."""

    def settings(state: str) -> ServiceSettings:
        return ServiceSettings(
            port=free_port(), token=TOKEN, media_roots=[media[0]], state_dir=tmp_path / state, session_ttl_s=1
        )

    first = settings("state")
    with (
        running_server(create_app(first, engine), first.port) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=60) as client,
    ):
        before = open_session(client, video="shot")
    second = settings("another-state")
    with (
        running_server(create_app(second, engine), second.port) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=60) as client,
    ):
        reply = client.get(f"/v1/sessions/{before}")
        detail = reply.json()["detail"]
        assert reply.status_code == 404 and "before the server restarted at 20" in detail, reply.text
        assert "its state folder does not hold it" in detail and "create it again" in detail, detail
        closed = open_session(client, video="shot")
        assert client.delete(f"/v1/sessions/{closed}").status_code == 204
        reply = client.get(f"/v1/sessions/{closed}/references")
        assert reply.status_code == 404 and "was closed at 20" in reply.json()["detail"], reply.text
        idle = open_session(client, video="shot")
        deadline = time.monotonic() + 20
        while any(s["id"] == idle for s in client.get("/v1/sessions").json()):  # listing does not touch it
            assert time.monotonic() < deadline, "the idle session did not expire"
            time.sleep(0.2)
        reply = client.post(f"/v1/sessions/{idle}/tracks", json={"start": 0})
        assert reply.status_code == 404 and "expired at 20" in reply.json()["detail"], reply.text
        assert "after 1 s without a request" in reply.json()["detail"]
        reply = client.get("/v1/sessions/made-up-id")
        assert reply.status_code == 404 and "this server never opened it" in reply.json()["detail"], reply.text
    third = settings("another-state")
    with (
        running_server(create_app(third, engine), third.port) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=60) as client,
    ):
        assert "was closed at 20" in client.get(f"/v1/sessions/{closed}").json()["detail"]
        assert "expired at 20" in client.get(f"/v1/sessions/{idle}").json()["detail"]
