"""`/openapi.json` matches the server: a client built from the live document (schemathesis) runs the
documented flow, and every answer, errors included, is checked against the declared status codes,
content types, headers and schemas."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from servicehelpers import free_port, png_bytes, png_bytes_rgb, running_server, write_clip
from xmempp.io.synthetic import MovingDiscs
from xmempp.service import Scheduler, ServiceSettings, create_app
from xmempp.service.rle import decode_rle, encode_rle

schemathesis = pytest.importorskip("schemathesis")
jsonschema = pytest.importorskip("jsonschema")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

TOKEN = "openapi-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    write_clip(root / "shot", 4)
    settings = ServiceSettings(
        port=free_port(), token=TOKEN, media_roots=[root], max_frames=50, state_dir=tmp_path_factory.mktemp("state")
    )
    engine = Scheduler(model, "XMem-standin.pth")
    with running_server(create_app(settings, engine), settings.port) as url:
        yield url, schemathesis.openapi.from_url(f"{url}/openapi.json")
    engine.close()


class Client:
    """Operations of the generated schema, called on the live server and validated on every answer."""

    def __init__(self, url: str, schema) -> None:
        self.url, self.schema = url, schema

    def __call__(self, method: str, path: str, expect: int, *, auth: bool = True, **parts):
        case = self.schema[path][method].Case(**parts)
        response = case.call(base_url=self.url, headers=AUTH if auth else {})
        case.validate_response(response, checks=CHECKS)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response


def test_the_document_declares_what_the_server_does(live):
    document = httpx.get(f"{live[0]}/openapi.json").json()
    paths, components = document["paths"], document["components"]
    assert components["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": components["securitySchemes"]["HTTPBearer"]["description"],
    }
    assert components["schemas"]["ErrorBody"]["properties"]["detail"]["type"] == "string"
    assert "HTTPValidationError" not in components["schemas"]
    frames = paths["/v1/sessions/{sid}/frames/{index}"]["put"]
    assert set(frames["requestBody"]["content"]) == {"image/png", "image/jpeg"}
    reference = paths["/v1/sessions/{sid}/references/{frame}"]["put"]
    assert set(reference["requestBody"]["content"]) == {"image/png", "application/json"}
    assert {"200", "201", "400", "401", "403", "404", "409", "413", "422"} <= set(reference["responses"])
    assert {"201", "401", "403", "413", "429"} <= set(paths["/v1/sessions"]["post"]["responses"])
    assert "429" in paths["/v1/sessions/{sid}/tracks/{rid}"]["get"]["responses"]
    stream = paths["/v1/sessions/{sid}/tracks/{rid}/stream"]["get"]["responses"]
    assert list(stream["200"]["content"]) == ["application/x-ndjson"]
    assert list(stream["404"]["content"]) == ["application/json"]
    assert list(paths["/v1/sessions/{sid}/masks/{frame}"]["get"]["responses"]["200"]["content"]) == ["image/png"]
    assert "security" not in paths["/v1/health"]["get"] and "security" not in paths["/v1/ready"]["get"]
    assert all(
        "security" in op
        for path, item in paths.items()
        if path not in ("/v1/health", "/v1/ready")
        for op in item.values()
    )


def test_documented_flow_through_the_generated_client(live):
    url, schema = live
    call = Client(url, schema)
    clip = MovingDiscs(4, objects=2, seed=5)
    call("GET", "/v1/health", 200, auth=False)
    call("GET", "/v1/info", 200)
    call("GET", "/v1/info", 401, auth=False)
    sid = call("POST", "/v1/sessions", 201, body={"frames": 4, "config": {"size": -1}}).json()["id"]
    for index in range(4):
        call(
            "PUT",
            "/v1/sessions/{sid}/frames/{index}",
            200,
            path_parameters={"sid": sid, "index": index},
            body=png_bytes_rgb(clip[index]),
            media_type="image/png",
        )
    assert call("GET", "/v1/sessions/{sid}", 200, path_parameters={"sid": sid}).json()["ready"]
    ref = {"sid": sid, "frame": 0}
    call("POST", "/v1/sessions/{sid}/tracks", 409, path_parameters={"sid": sid}, body={"start": 0})
    call(
        "PUT",
        "/v1/sessions/{sid}/references/{frame}",
        201,
        path_parameters=ref,
        body=encode_rle(clip.mask(0)),
        media_type="application/json",
    )
    call(
        "PUT",
        "/v1/sessions/{sid}/references/{frame}",
        200,
        path_parameters=ref,
        body=png_bytes(clip.mask(0)),
        media_type="image/png",
    )
    call(
        "PUT",
        "/v1/sessions/{sid}/references/{frame}",
        400,
        path_parameters=ref,
        body={"size": [4, 112], "values": [0], "counts": [448]},
        media_type="application/json",
    )
    assert call("GET", "/v1/sessions/{sid}/references", 200, path_parameters={"sid": sid}).json() == {"references": [0]}
    got = call("GET", "/v1/sessions/{sid}/references/{frame}", 200, path_parameters=ref).json()
    np.testing.assert_array_equal(decode_rle(got["mask"]), clip.mask(0))
    run = call(
        "POST",
        "/v1/sessions/{sid}/tracks",
        202,
        path_parameters={"sid": sid},
        body={"start": 0, "direction": "forward"},
    ).json()
    track = {"sid": sid, "rid": run["id"]}
    state = {"status": "queued"}
    while state["status"] in ("queued", "running"):
        state = call(
            "GET", "/v1/sessions/{sid}/tracks/{rid}", 200, path_parameters=track, query={"after": 0, "wait": 5}
        ).json()
    assert state["status"] == "done" and len(state["results"]) == 4
    streamed = call("GET", "/v1/sessions/{sid}/tracks/{rid}/stream", 200, path_parameters=track)
    document = httpx.get(f"{url}/openapi.json").json()
    line_schema = {
        **document["paths"]["/v1/sessions/{sid}/tracks/{rid}/stream"]["get"]["responses"]["200"]["content"][
            "application/x-ndjson"
        ]["schema"],
        "components": document["components"],
    }
    lines = [json.loads(line) for line in streamed.text.splitlines()]
    for line in lines:
        jsonschema.validate(line, line_schema)
    assert len(lines) == 5 and lines[-1]["status"] == "done"
    mask = call("GET", "/v1/sessions/{sid}/masks/{frame}", 200, path_parameters={"sid": sid, "frame": 2})
    assert mask.content.startswith(b"\x89PNG")
    matte = {"sid": sid, "rid": run["id"], "frame": 2, "object_id": 1}
    call("GET", "/v1/sessions/{sid}/tracks/{rid}/mattes/{frame}/{object_id}", 404, path_parameters=matte)
    call("POST", "/v1/sessions/{sid}/tracks", 422, path_parameters={"sid": sid}, body={"start": 0, "refine": "guided"})
    refined = call(
        "POST",
        "/v1/sessions/{sid}/tracks",
        202,
        path_parameters={"sid": sid},
        body={"start": 0, "count": 3, "mattes": True, "refine": "guided", "refine_band": 4},
    ).json()
    assert refined["mattes"] and refined["refine"] == "guided" and refined["refine_band"] == 4
    matte["rid"] = refined["id"]
    while call(
        "GET",
        "/v1/sessions/{sid}/tracks/{rid}",
        200,
        path_parameters={"sid": sid, "rid": refined["id"]},
        query={"after": 0, "wait": 5},
    ).json()["status"] in ("queued", "running"):
        pass
    png = call("GET", "/v1/sessions/{sid}/tracks/{rid}/mattes/{frame}/{object_id}", 200, path_parameters=matte)
    assert png.content.startswith(b"\x89PNG")
    call("POST", "/v1/sessions/{sid}/candidates", 200, path_parameters={"sid": sid}, body={"k": 2, "alpha": 0.5})
    call("POST", "/v1/sessions/{sid}/tracks/{rid}/cancel", 200, path_parameters=track)
    call("DELETE", "/v1/sessions/{sid}/references/{frame}", 204, path_parameters=ref)
    call("GET", "/v1/sessions/{sid}/references/{frame}", 404, path_parameters=ref)
    call("POST", "/v1/sessions", 413, body={"frames": 51})
    call("POST", "/v1/sessions", 403, body={"video": "/etc"})
    call("POST", "/v1/sessions", 422, body={"frames": 2, "config": {"top_k": 0}})
    call("GET", "/v1/sessions", 200)
    call("DELETE", "/v1/sessions/{sid}", 204, path_parameters={"sid": sid})
    call("GET", "/v1/sessions/{sid}", 404, path_parameters={"sid": sid})
    call("GET", "/v1/sessions/{sid}/tracks/{rid}/stream", 404, path_parameters=track)
