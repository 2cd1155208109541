"""`xmempp serve` end to end: a real uvicorn server on 127.0.0.1 and real HTTP clients (httpx).

Masks from the service must equal `xmempp process` / `run_job` on the same inputs; bad requests get a
4xx with a clear message and the server keeps serving.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from servicehelpers import collect_track, free_port, png_bytes, png_bytes_rgb, running_server, write_clip, write_masks
from xmempp.inference.config import InferenceConfig
from xmempp.inference.jobs import ShotJob, run_job
from xmempp.io.masks import read_mask
from xmempp.io.sources import open_frames
from xmempp.io.synthetic import MovingDiscs
from xmempp.io.writers import probs_to_ids
from xmempp.service import ServiceSettings, create_app
from xmempp.service.rle import decode_rle, encode_rle

TOKEN = "s3cret-test-token"
CONFIG = {"size": -1, "mem_every": 3}
LENGTH = 8


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    clip = write_clip(root / "shot", LENGTH)
    write_clip(root / "long", 150, seed=1)
    outside = tmp_path_factory.mktemp("outside")
    write_clip(outside / "secret", 2)
    (root / "escape").symlink_to(outside / "secret", target_is_directory=True)
    return root, clip, outside


@pytest.fixture(scope="module")
def server(media, checkpoint_path, tmp_path_factory):
    root = media[0]
    settings = ServiceSettings(
        port=free_port(),
        token=TOKEN,
        media_roots=[root],
        model=checkpoint_path,
        device="cpu",
        state_dir=tmp_path_factory.mktemp("state"),
        max_body_bytes=1 << 20,
        max_sessions=6,
        session_ttl_s=600,
    )
    app = create_app(settings)
    with running_server(app, settings.port) as url:
        yield url, app


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server[0], headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as c:
        yield c


def expected(model, frames, references, direction="shot", start=None, count=None) -> dict[int, np.ndarray]:
    """Masks of `run_job` on the same inputs, as original ids."""
    job = ShotJob(frames, references, InferenceConfig(**CONFIG), direction=direction, start=start, count=count)
    out: dict[int, np.ndarray] = {}
    run_job(model, job, on_result=lambda r: out.__setitem__(r.index, probs_to_ids(r.probs.numpy(), job.objects.ids)))
    return out


def open_session(client, **body) -> str:
    reply = client.post("/v1/sessions", json={"config": CONFIG, **body})
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def test_health_info_and_docs(server, client):
    url = server[0]
    assert httpx.get(f"{url}/v1/health").json() == {"status": "ok"}
    info = client.get("/v1/info").json()
    assert info["device"] == "cpu" and info["model"].endswith("XMem-random.pth")
    assert info["memory"]["peak_rss_bytes"] > 0 and info["memory"]["rss_bytes"] > 0
    assert info["limits"]["max_sessions"] == 6
    # integer limits are JSON integers (issue 36: `"max_sessions": 6.0`); the idle time is a number of seconds
    assert {name: type(value) for name, value in info["limits"].items()} == {
        "max_body_bytes": int,
        "max_frames": int,
        "max_frame_pixels": int,
        "max_sessions": int,
        "max_polls_per_client": int,
        "session_ttl_s": float,
    }, info["limits"]
    assert httpx.get(f"{url}/docs").status_code == 200
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    assert "/v1/sessions/{sid}/tracks/{rid}" in paths and "/v1/sessions/{sid}/candidates" in paths


def test_forward_track_equals_xmempp_process(media, client, checkpoint_path, tmp_path):
    root, clip, _ = media
    from cli.app import app as cli_app

    masks = write_masks(tmp_path / "masks", clip, [0])
    result = CliRunner().invoke(
        cli_app,
        [
            "process",
            "-v",
            str(root / "shot"),
            "-m",
            str(masks),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(checkpoint_path),
            "--device",
            "cpu",
            "--size",
            "-1",
            "--mem-every",
            "3",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    sid = open_session(client, video="shot")
    reply = client.put(
        f"/v1/sessions/{sid}/references/0", content=png_bytes(clip.mask(0)), headers={"Content-Type": "image/png"}
    )
    assert reply.status_code == 201 and reply.json()["objects"] == [1, 2]
    track = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0, "direction": "forward"})
    assert track.status_code == 202
    state, got = collect_track(client, sid, track.json()["id"])
    assert state["status"] == "done" and state["done"] == state["total"] == LENGTH
    for index in range(LENGTH):
        want = read_mask(tmp_path / "out" / "masks" / f"{index:05d}.png").ids
        np.testing.assert_array_equal(got[index], want, err_msg=f"frame {index}")
    png = client.get(f"/v1/sessions/{sid}/masks/5")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    (tmp_path / "m.png").write_bytes(png.content)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png").ids, got[5])
    assert client.delete(f"/v1/sessions/{sid}").status_code == 204
    assert client.get(f"/v1/sessions/{sid}").status_code == 404


def test_backward_track_streamed_equals_run_job(media, client, model):
    root, clip, _ = media
    sid = open_session(client, video=str(root / "shot"))
    last = LENGTH - 1
    reply = client.put(f"/v1/sessions/{sid}/references/{last}", json=encode_rle(clip.mask(last)))
    assert reply.status_code == 201, reply.text
    track = client.post(f"/v1/sessions/{sid}/tracks", json={"start": last, "direction": "backward", "count": 6}).json()
    lines = []
    with client.stream("GET", f"/v1/sessions/{sid}/tracks/{track['id']}/stream") as stream:
        assert stream.headers["content-type"].startswith("application/x-ndjson")
        for line in stream.iter_lines():
            lines.append(json.loads(line))
    lines = [line for line in lines if line.get("event") != "queued"]  # the run's place while it waits
    *results, final = lines
    assert final["status"] == "done" and final["done"] == 6
    assert [r["frame"] for r in results] == list(range(last, last - 6, -1))
    want = expected(model, open_frames(root / "shot"), {last: clip.mask(last)}, "backward", last, 6)
    for item in results:
        np.testing.assert_array_equal(decode_rle(item["mask"]), want[item["frame"]], err_msg=str(item["frame"]))
    client.delete(f"/v1/sessions/{sid}")


def _run_mattes(client, sid: str, body: dict) -> tuple[dict, dict[int, np.ndarray], dict[int, np.ndarray]]:
    """A track run with mattes: (final state, {frame: ids}, {frame: K x H x W mattes 0..1 in object order})."""
    import io

    from PIL import Image

    reply = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0, "mattes": True, **body})
    assert reply.status_code == 202, reply.text
    state, masks = collect_track(client, sid, reply.json()["id"])
    assert state["status"] == "done", state
    mattes = {}
    for frame in masks:
        planes = []
        for oid in (1, 2):
            png = client.get(f"/v1/sessions/{sid}/tracks/{state['id']}/mattes/{frame}/{oid}")
            assert png.status_code == 200 and png.headers["content-type"] == "image/png", png.text
            with Image.open(io.BytesIO(png.content)) as image:
                planes.append(np.asarray(image, dtype=np.float32) / 65535)
        mattes[frame] = np.stack(planes)
    return state, masks, mattes


def test_refined_mattes_equal_refine_frame_on_the_unrefined_ones(media, client):
    from xmempp.refine import RefineSettings, refine_frame

    root, clip, _ = media
    sid = open_session(client, video="shot")
    assert client.put(f"/v1/sessions/{sid}/references/0", json=encode_rle(clip.mask(0))).status_code == 201
    off_state, off_masks, off = _run_mattes(client, sid, {})
    guided_state, guided_masks, guided = _run_mattes(client, sid, {"refine": "guided"})
    defaults = RefineSettings()
    assert off_state["mattes"] and off_state["refine"] == "off"
    assert guided_state["refine"] == "guided" and guided_state["refine_detail"] == defaults.eps
    assert guided_state["refine_band"] is None and guided_state["refine_temporal"] == defaults.temporal
    settings = RefineSettings(mode="guided")
    frames = open_frames(root / "shot")
    changed = 0.0
    for index in range(LENGTH):
        # the network's mattes are what the masks are the argmax of
        probs = np.concatenate([np.clip(1 - off[index].sum(0, keepdims=True), 0, 1), off[index]])
        assert np.mean(probs_to_ids(probs, (1, 2)) == off_masks[index]) > 0.999, index
        want = np.asarray(refine_frame(frames[index], probs, settings))
        # the same up to the 16-bit mattes the refinement was given here
        np.testing.assert_allclose(guided[index], want[1:], atol=1e-3, err_msg=str(index))
        # and the masks their argmax, wherever the top two mattes are not tied within that tolerance
        top = np.sort(want, axis=0)
        decided = top[-1] - top[-2] > 2e-3
        assert np.mean((guided_masks[index] == probs_to_ids(want, (1, 2)))[decided]) > 0.999, index
        changed = max(changed, float(np.abs(guided[index] - off[index]).max()))
    assert changed > 0.05  # refining changed the mattes by far more than the tolerance
    frames.close()
    rid = off_state["id"]

    def check(reply, status, words):
        assert reply.status_code == status, (reply.status_code, reply.text)
        assert words in reply.json()["detail"], reply.json()

    tracks = f"/v1/sessions/{sid}/tracks"
    check(client.post(tracks, json={"start": 0, "refine": "guided"}), 422, '"mattes": true')
    check(client.post(tracks, json={"start": 0, "mattes": True, "refine": "sharp"}), 422, "refine")
    check(client.post(tracks, json={"start": 0, "mattes": True, "refine_detail": 0}), 422, "refine_detail")
    check(client.post(tracks, json={"start": 0, "mattes": True, "refine_band": -1}), 422, "refine_band")
    check(client.post(tracks, json={"start": 0, "mattes": True, "refine_temporal": 1}), 422, "refine_temporal")
    check(client.get(f"{tracks}/{rid}/mattes/0/9"), 404, "its objects are [1, 2]")
    check(client.get(f"{tracks}/{rid}/mattes/99/1"), 400, "outside the shot")
    plain = client.post(tracks, json={"start": 0, "count": 2}).json()["id"]
    collect_track(client, sid, plain)
    check(client.get(f"{tracks}/{plain}/mattes/0/1"), 404, '"mattes": true')
    client.delete(f"/v1/sessions/{sid}")


def test_references_replace_and_delete(media, client, model):
    """Edited references give the masks of a job opened on the final references."""
    root, clip, _ = media
    sid = open_session(client, video="shot")
    url = f"/v1/sessions/{sid}/references"
    assert client.put(f"{url}/3", json=encode_rle(clip.mask(3))).status_code == 201
    assert client.put(f"{url}/7", json=encode_rle(clip.mask(7))).status_code == 201
    only_one = np.where(clip.mask(3) == 2, 0, clip.mask(3)).astype(np.uint8)
    replaced = client.put(f"{url}/3", json=encode_rle(only_one))
    assert replaced.status_code == 200 and replaced.json()["replaced"] and replaced.json()["objects"] == [1]
    assert client.get(url).json() == {"references": [3, 7]}
    np.testing.assert_array_equal(decode_rle(client.get(f"{url}/7").json()["mask"]), clip.mask(7))
    assert client.delete(f"{url}/7").status_code == 204
    assert client.get(url).json() == {"references": [3]}
    missing = client.delete(f"{url}/7")
    assert missing.status_code == 404 and "no reference" in missing.json()["detail"]
    rid = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 3, "count": 4}).json()["id"]
    state, got = collect_track(client, sid, rid)
    assert state["status"] == "done", state
    want = expected(model, open_frames(root / "shot"), {3: only_one}, "forward", 3, 4)
    for index in range(3, 7):
        np.testing.assert_array_equal(got[index], want[index], err_msg=f"frame {index}")
    client.delete(f"/v1/sessions/{sid}")


def test_candidates_match_the_selector(media, client, model):
    root, clip, _ = media
    from xmempp.candidate_selection import suggest_candidates

    sid = open_session(client, video="shot")
    client.put(f"/v1/sessions/{sid}/references/0", json=encode_rle(clip.mask(0)))
    reply = client.post(f"/v1/sessions/{sid}/candidates", json={"k": 3, "alpha": 0.5})
    assert reply.status_code == 200, reply.text
    want = suggest_candidates(
        model, open_frames(root / "shot"), {0: clip.mask(0)}, k=3, alpha=0.5, config=InferenceConfig(**CONFIG)
    )
    assert [c["frame"] for c in reply.json()["candidates"]] == list(want.chosen)
    assert reply.json()["references"] == [0] and 0 not in [c["frame"] for c in reply.json()["candidates"]]
    client.delete(f"/v1/sessions/{sid}")


def test_cancel_mid_track(media, client):
    sid = open_session(client, video="long")
    first = MovingDiscs(150, objects=2, seed=1).mask(0)
    client.put(f"/v1/sessions/{sid}/references/0", json=encode_rle(first))
    rid = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0}).json()["id"]
    reply = client.get(f"/v1/sessions/{sid}/tracks/{rid}", params={"after": 0, "wait": 30}).json()
    assert reply["results"], reply
    cancelled = client.post(f"/v1/sessions/{sid}/tracks/{rid}/cancel")
    assert cancelled.status_code == 200
    state, got = collect_track(client, sid, rid)
    assert state["status"] == "cancelled" and 0 < state["done"] < state["total"] == 150
    assert sorted(got) == list(range(state["done"]))
    # the server goes on: a new run on the same session completes
    rid2 = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0, "count": 3}).json()["id"]
    assert collect_track(client, sid, rid2)[0]["status"] == "done"
    client.delete(f"/v1/sessions/{sid}")


def test_four_clients_at_once(media, server, model):
    """4 clients, each with its own uploaded session, track at once; all correct, memory bounded."""
    import psutil

    root, clip, _ = media
    url = server[0]
    frames = open_frames(root / "shot")
    want = expected(model, frames, {0: clip.mask(0)})
    process = psutil.Process()
    rss_before = process.memory_info().rss
    peak = [rss_before]
    outcomes: dict[int, object] = {}

    def one_client(number: int) -> None:
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as c:
                sid = open_session(c, frames=LENGTH)
                for index in range(LENGTH):
                    reply = c.put(f"/v1/sessions/{sid}/frames/{index}", content=png_bytes_rgb(frames[index]))
                    assert reply.status_code == 200, reply.text
                assert reply.json()["ready"]
                c.put(
                    f"/v1/sessions/{sid}/references/0",
                    content=png_bytes(clip.mask(0)),
                    headers={"Content-Type": "image/png"},
                )
                rid = c.post(f"/v1/sessions/{sid}/tracks", json={"start": 0}).json()["id"]
                state, got = collect_track(c, sid, rid)
                c.delete(f"/v1/sessions/{sid}")
                outcomes[number] = (state, got)
        except BaseException as exc:
            outcomes[number] = exc

    threads = [threading.Thread(target=one_client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        peak.append(process.memory_info().rss)
        time.sleep(0.05)
    for number in range(4):
        outcome = outcomes[number]
        assert not isinstance(outcome, BaseException), f"client {number}: {outcome!r}"
        state, got = outcome
        assert state["status"] == "done"
        for index in range(LENGTH):
            np.testing.assert_array_equal(got[index], want[index], err_msg=f"client {number} frame {index}")
    growth = max(peak) - rss_before
    assert growth < 512 << 20, f"serving 4 clients grew the process by {growth / 2**20:.0f} MiB"


def test_bad_requests_get_clear_4xx(media, server, client):
    _root, clip, outside = media
    url = server[0]
    sid = open_session(client, video="shot")

    def check(reply, status, words):
        assert reply.status_code == status, (reply.status_code, reply.text)
        assert words in reply.json()["detail"], reply.json()

    check(
        client.put(f"/v1/sessions/{sid}/references/0", json=encode_rle(np.zeros((10, 10), np.uint8))),
        400,
        "must match its frame",
    )
    check(
        client.put(
            f"/v1/sessions/{sid}/references/0",
            content=png_bytes(np.zeros((10, 10), np.uint8)),
            headers={"Content-Type": "image/png"},
        ),
        400,
        "10x10",
    )
    check(client.put(f"/v1/sessions/{sid}/references/99", json=encode_rle(clip.mask(0))), 400, "outside the shot")
    check(client.get("/v1/sessions/nope"), 404, "no session 'nope'")
    check(client.post("/v1/sessions/nope/tracks", json={"start": 0}), 404, "no session")
    check(client.post("/v1/sessions", json={"video": str(outside / "secret")}), 403, "outside the media roots")
    check(client.post("/v1/sessions", json={"video": "../" + outside.name + "/secret"}), 403, "outside the media roots")
    check(client.post("/v1/sessions", json={"video": "escape"}), 403, "outside the media roots")
    check(client.post("/v1/sessions", json={"video": "missing"}), 400, "does not exist")
    check(client.put(f"/v1/sessions/{sid}/frames/0", content=b"x" * (2 << 20)), 413, "exceeds")
    check(
        client.post("/v1/sessions", content=b'{"video": "shot",', headers={"Content-Type": "application/json"}),
        400,
        "malformed JSON",
    )
    check(
        client.put(f"/v1/sessions/{sid}/references/0", content=b"{nope", headers={"Content-Type": "application/json"}),
        400,
        "malformed JSON",
    )
    check(client.post("/v1/sessions", json={"video": "shot", "config": {"top_k": 0}}), 422, "top_k")
    check(client.post("/v1/sessions", json={"video": "shot", "bogus": 1}), 422, "bogus")
    check(client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0}), 409, "no reference")
    check(client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0, "direction": "sideways"}), 422, "direction")
    check(httpx.get(f"{url}/v1/info", headers={"Authorization": "Bearer wrong"}), 401, "bearer token")
    check(httpx.get(f"{url}/v1/info"), 401, "bearer token")
    # the server keeps serving, and the session still works
    assert client.put(f"/v1/sessions/{sid}/references/0", json=encode_rle(clip.mask(0))).status_code == 201
    rid = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0, "count": 2}).json()["id"]
    assert collect_track(client, sid, rid)[0]["status"] == "done"
    client.delete(f"/v1/sessions/{sid}")


def test_session_limit(client):
    opened = []
    try:
        while True:
            reply = client.post("/v1/sessions", json={"frames": 2})
            if reply.status_code != 201:
                break
            opened.append(reply.json()["id"])
            assert len(opened) <= 6
        assert reply.status_code == 429 and "sessions are open" in reply.json()["detail"]
    finally:
        for sid in opened:
            client.delete(f"/v1/sessions/{sid}")
    reply = client.post("/v1/sessions", json={"frames": 2})
    assert reply.status_code == 201
    client.delete(f"/v1/sessions/{reply.json()['id']}")
