"""`GET /metrics` (issue 36): Prometheus text format, parsed with prometheus_client's parser, with the counts of
a scripted session on a real uvicorn server."""

from __future__ import annotations

import json

import httpx
import pytest

from servicehelpers import free_port, running_server, write_clip
from xmempp.io.synthetic import MovingDiscs
from xmempp.service import Scheduler, ServiceSettings, create_app
from xmempp.service.rle import encode_rle

parser = pytest.importorskip("prometheus_client.parser")

TOKEN = "metrics-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def scrape(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    reply = client.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain"), reply.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in parser.text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def requests(samples, route: str, method: str, code: int) -> float:
    key = ("xmempp_http_requests_total", (("code", str(code)), ("method", method), ("route", route)))
    return samples.get(key, 0.0)


def test_metrics_count_a_scripted_session(checkpoint_path, tmp_path):
    root = tmp_path / "media"
    write_clip(root / "shot", 6)
    engine = Scheduler.load(checkpoint_path, "cpu")
    settings = ServiceSettings(port=free_port(), token=TOKEN, media_roots=[root], state_dir=tmp_path / "state")
    try:
        with (
            running_server(create_app(settings, engine), settings.port) as url,
            httpx.Client(base_url=url, headers=AUTH, timeout=60) as client,
        ):
            assert httpx.get(f"{url}/metrics").status_code == 401  # the token, as /v1
            before = scrape(client)
            assert before[("xmempp_sessions_open", ())] == 0 and before[("xmempp_frames_tracked_total", ())] == 0
            assert before[("xmempp_model_load_seconds", ())] > 0
            sid = client.post("/v1/sessions", json={"video": "shot", "config": {"size": -1}}).json()["id"]
            reply = client.put(f"/v1/sessions/{sid}/references/0", json=encode_rle(MovingDiscs(6, objects=2).mask(0)))
            assert reply.status_code == 201, reply.text
            rid = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0, "count": 5}).json()["id"]
            with client.stream("GET", f"/v1/sessions/{sid}/tracks/{rid}/stream") as stream:
                lines = [json.loads(line) for line in stream.iter_lines()]
            lines = [line for line in lines if line.get("event") != "queued"]  # the run's place while it waits
            final = lines[-1]
            assert final["status"] == "done" and len(lines) == final["done"] + 1, final
            for _ in range(2):
                assert client.get(f"/v1/sessions/{sid}").status_code == 200
            assert client.get("/v1/sessions/not-a-session").status_code == 404
            assert client.get("/no/such/path/123").status_code == 404
            during = scrape(client)
            assert client.delete(f"/v1/sessions/{sid}").status_code == 204
            after = scrape(client)
    finally:
        engine.close()
    assert requests(during, "/metrics", "GET", 200) == 1  # the first scrape
    assert requests(during, "/v1/sessions", "POST", 201) == 1
    assert requests(during, "/v1/sessions/{sid}/references/{frame}", "PUT", 201) == 1
    assert requests(during, "/v1/sessions/{sid}/tracks", "POST", 202) == 1
    assert requests(during, "/v1/sessions/{sid}/tracks/{rid}/stream", "GET", 200) == 1
    assert requests(during, "/v1/sessions/{sid}", "GET", 200) == 2
    assert requests(during, "/v1/sessions/{sid}", "GET", 404) == 1
    assert requests(during, "unmatched", "GET", 404) == 1  # a random path adds no label value
    assert requests(after, "/v1/sessions/{sid}", "DELETE", 204) == 1
    assert requests(after, "/metrics", "GET", 200) == 2
    frames = final["done"]
    assert frames == final["total"] > 0
    assert during[("xmempp_frames_tracked_total", ())] == frames
    assert during[("xmempp_frame_seconds_count", ())] == frames
    assert during[("xmempp_frame_seconds_bucket", (("le", "+Inf"),))] == frames
    assert 0 < during[("xmempp_frame_seconds_sum", ())] < 60 * frames
    assert during[("xmempp_sessions_open", ())] == 1 and after[("xmempp_sessions_open", ())] == 0
    assert during[("xmempp_queue_length", ())] == 0 and during[("xmempp_polls_open", ())] == 0
    assert after[("xmempp_model_load_seconds", ())] == before[("xmempp_model_load_seconds", ())]
