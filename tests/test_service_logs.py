"""`xmempp serve --log-format json` (issue 36): every line the server writes is a JSON object (server messages,
one access line per request with its token's name and time, warnings), through a clean stop by SIGTERM; text
logs keep uvicorn's lines with the token's name on each access line."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from servicehelpers import serve_in_subprocess, write_clip

TOKEN_FILE = '[tokens]\nfarm = "farm-secret-0123"\n\n[tokens.artist]\ntoken = "artist-secret-4567"\nmax_sessions = 1\n'


def start_server(checkpoint: Path, tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    write_clip(tmp_path / "media" / "shot", 3)
    (tmp_path / "tokens.toml").write_text(TOKEN_FILE)
    return serve_in_subprocess(
        "--model",
        str(checkpoint),
        "--device",
        "cpu",
        "--token-file",
        str(tmp_path / "tokens.toml"),
        "--media-root",
        str(tmp_path / "media"),
        *extra,
        probe="/v1/ready",
        stderr_apart=True,
        env={"COLUMNS": "80", "PYTHONWARNINGS": "default"},
    )


def requests(url: str) -> None:
    """Answered requests of every kind: fine, unauthorised, unknown, refused by a limit, bad input."""
    artist = {"Authorization": "Bearer artist-secret-4567"}
    assert httpx.get(f"{url}/v1/info", headers=artist).status_code == 200
    assert httpx.get(f"{url}/v1/info", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(f"{url}/v1/sessions/unknown", headers=artist).status_code == 404
    assert httpx.post(f"{url}/v1/sessions", json={"video": "shot"}, headers=artist).status_code == 201
    assert httpx.post(f"{url}/v1/sessions", json={"video": "shot"}, headers=artist).status_code == 429
    assert (
        httpx.post(
            f"{url}/v1/sessions",
            content=b"{not json",
            headers={"Authorization": "Bearer farm-secret-0123", "Content-Type": "application/json"},
        ).status_code
        == 400
    )


def stop(process: subprocess.Popen) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode in (0, -signal.SIGTERM), (out, err)
    return out, err


def test_json_logs_are_json_lines_only_from_start_to_sigterm(checkpoint_path, tmp_path):
    process, url = start_server(checkpoint_path, tmp_path, "--log-format", "json")
    try:
        requests(url)
    finally:
        out, err = stop(process)
    assert out == ""  # every line on stderr, as the other commands' JSON logs
    lines = [json.loads(line) for line in err.splitlines()]  # each line JSON, or this raises
    assert lines and all({"time", "level", "event", "message"} <= set(line) for line in lines), lines
    serving = [line for line in lines if line["event"] == "serving"]
    assert len(serving) == 1 and serving[0]["tokens"] == ["farm", "artist"] and serving[0]["url"] == url
    access = [line for line in lines if line["event"] == "request"]
    seen = [(line["method"], line["path"], line["status"], line["token"]) for line in access]
    for expected in [
        ("GET", "/v1/info", 200, "artist"),
        ("GET", "/v1/info", 401, "none"),
        ("GET", "/v1/sessions/unknown", 404, "artist"),
        ("POST", "/v1/sessions", 201, "artist"),
        ("POST", "/v1/sessions", 429, "artist"),
        ("POST", "/v1/sessions", 400, "farm"),
    ]:
        assert expected in seen, (expected, seen)
    assert all(isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0 for line in access)
    assert all(line["client"].startswith("127.0.0.1:") for line in access)
    assert not any("exception" in line for line in lines), lines  # a clean stop: no traceback
    assert any("shutdown" in line["message"].lower() for line in lines if line["event"] == "server")


@pytest.mark.slow
def test_text_logs_keep_uvicorns_lines_with_the_token_on_access_lines(checkpoint_path, tmp_path):
    process, url = start_server(checkpoint_path, tmp_path)
    try:
        requests(url)
    finally:
        out, err = stop(process)
    access = out.splitlines()
    assert any(
        line.startswith("INFO:") and '"GET /v1/info" 200' in line and line.endswith("token=artist") for line in access
    ), access
    assert any('"POST /v1/sessions" 429' in line and "token=artist" in line for line in access), access
    assert any('"GET /v1/info" 401' in line and line.endswith("token=none") for line in access), access
    assert "serving on http://" in err and "tokens: farm, artist" in err
