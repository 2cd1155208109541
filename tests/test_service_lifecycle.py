"""`xmempp serve` as a process: a clean stop (SIGTERM) keeps the sessions of a given state folder and removes
a temporary one, and a restart reloads the sessions a killed server (SIGKILL) left behind."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from servicehelpers import free_port, png_bytes, serve_in_subprocess, write_clip
from xmempp.io.synthetic import MovingDiscs
from xmempp.service.rle import encode_rle

AUTH = {"Authorization": "Bearer tok"}


def start_server(checkpoint: Path, media: Path, state: Path | None) -> tuple[subprocess.Popen, str]:
    state_options = ["--state-dir", str(state)] if state is not None else []
    return serve_in_subprocess(
        "--model", str(checkpoint), "--device", "cpu", "--token", "tok", "--media-root", str(media), *state_options
    )


def busy_session(url: str, frames: int = 150) -> tuple[str, str]:
    """An uploaded session with frames (JPEG), two references and a running track."""
    clip = MovingDiscs(frames, objects=2)
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
        sid = client.post("/v1/sessions", json={"frames": frames, "config": {"size": -1}}).json()["id"]
        for index in range(frames):
            import io

            from PIL import Image

            buffer = io.BytesIO()
            Image.fromarray(clip[index]).save(buffer, format="JPEG")
            assert client.put(f"/v1/sessions/{sid}/frames/{index}", content=buffer.getvalue()).status_code == 200
        reply = client.put(
            f"/v1/sessions/{sid}/references/0", content=png_bytes(clip.mask(0)), headers={"Content-Type": "image/png"}
        )
        assert reply.status_code == 201, reply.text
        client.put(f"/v1/sessions/{sid}/references/{frames - 1}", json=encode_rle(clip.mask(frames - 1)))
        rid = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0}).json()["id"]
        assert client.get(f"/v1/sessions/{sid}/tracks/{rid}", params={"wait": 20}).json()["results"]
    return sid, rid


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.mark.slow
def test_a_killed_servers_sessions_are_reloaded_and_a_clean_stop_keeps_them(checkpoint_path, tmp_path):
    media, state = tmp_path / "media", tmp_path / "state"
    write_clip(media / "shot", 2)
    # killed: the files stay, and the next server on that folder reloads the session from them
    server, url = start_server(checkpoint_path, media, state)
    try:
        sid, _ = busy_session(url)
    finally:
        server.send_signal(signal.SIGKILL)
        server.communicate(timeout=30)
    assert len(files_under(state / "sessions")) >= 150
    server, url = start_server(checkpoint_path, media, state)
    try:
        reloaded = httpx.get(f"{url}/v1/sessions/{sid}", headers=AUTH).json()
        assert reloaded["references"] == [0, 149] and reloaded["uploaded"] == 150 and reloaded["tracks"] == []
        assert not any(p.suffix == ".png" for p in (state / "sessions" / sid / "tracks").rglob("*"))
        closed, _ = busy_session(url)
        assert httpx.delete(f"{url}/v1/sessions/{closed}", headers=AUTH).status_code == 204
        rid = httpx.post(f"{url}/v1/sessions/{sid}/tracks", json={"start": 0}, headers=AUTH).json()["id"]
        # a long poll is open while the server is asked to stop
        poll = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import httpx; "
                f"httpx.get('{url}/v1/sessions/{sid}/tracks/{rid}', "
                f"params={{'wait': 30, 'after': 1000000}}, headers={AUTH!r}, timeout=60)",
            ]
        )
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/v1/info", headers=AUTH).json()["polls"] < 1 and poll.poll() is None:
            assert time.monotonic() < deadline, "the long poll did not open"
            time.sleep(0.1)
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0]
    poll.wait(timeout=60)
    assert server.returncode in (0, -signal.SIGTERM), output  # uvicorn ends by re-raising the signal
    assert "Application shutdown complete" in output, output
    assert (state / "sessions" / sid / "session.json").is_file() and not (state / "sessions" / closed).exists()
    assert not (state / ".xmempp-serve.lock").exists()


@pytest.mark.slow
def test_clean_stop_removes_its_own_temp_state_folder(checkpoint_path, tmp_path):
    media = tmp_path / "media"
    write_clip(media / "shot", 2)
    server, url = start_server(checkpoint_path, media, None)
    try:
        busy_session(url, 30)
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0]
    match = re.search(r"state in (\S+?)(;|\s|$)", output)
    assert match, output
    assert not Path(match.group(1)).exists(), f"{match.group(1)} left behind: {files_under(Path(match.group(1)))}"


@pytest.mark.slow
def test_two_servers_cannot_share_a_state_folder(checkpoint_path, tmp_path):
    media, state = tmp_path / "media", tmp_path / "state"
    write_clip(media / "shot", 2)
    server, _ = start_server(checkpoint_path, media, state)
    try:
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "from xmempp.cli.app import main; main()",
                "serve",
                "--port",
                str(free_port()),
                "--model",
                str(checkpoint_path),
                "--device",
                "cpu",
                "--state-dir",
                str(state),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert other.returncode != 0 and "another xmempp server uses the state folder" in other.stderr, other.stderr
        # issue 36: it printed "serving on http://..." before it refused
        assert "serving on" not in other.stdout + other.stderr, other.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)


def test_sigterm_ends_open_streams_and_polls_with_a_stopping_line_and_a_clean_log(checkpoint_path, tmp_path):
    """Issue 36: SIGTERM used to cut an open stream without its last line (curl 18) after the 5 s grace period,
    with a CancelledError traceback in the log; runs are now cancelled first and every open stream and long poll
    ends with a line saying the server stops."""
    import json
    import threading

    from xmempp.service.server import GRACEFUL_SHUTDOWN_S

    media = tmp_path / "media"
    clip = write_clip(media / "long", 300)
    server, url = start_server(checkpoint_path, media, None)
    lines: list[str] = []
    polled: list[dict] = []
    try:
        with httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
            sid = client.post("/v1/sessions", json={"video": "long", "config": {"size": -1}}).json()["id"]
            assert client.put(f"/v1/sessions/{sid}/references/0", json=encode_rle(clip.mask(0))).status_code == 201
            rid = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0}).json()["id"]

        def stream() -> None:
            try:
                with httpx.stream(
                    "GET", f"{url}/v1/sessions/{sid}/tracks/{rid}/stream", headers=AUTH, timeout=60
                ) as reply:
                    lines.extend(reply.iter_lines())
            except httpx.HTTPError as exc:  # e.g. an incomplete chunked read: the stream was cut
                lines.append(f"cut: {type(exc).__name__}: {exc}")

        def poll() -> None:
            polled.append(
                httpx.get(
                    f"{url}/v1/sessions/{sid}/tracks/{rid}",
                    headers=AUTH,
                    timeout=60,
                    params={"after": 1_000_000, "wait": 30},
                ).json()
            )

        readers = [threading.Thread(target=stream), threading.Thread(target=poll)]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 60
        while len(lines) < 2:
            assert time.monotonic() < deadline, "the stream did not open"
            time.sleep(0.05)
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/v1/info", headers=AUTH).json()["polls"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        signalled = time.monotonic()
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0]
    stopped_in = time.monotonic() - signalled
    for reader in readers:
        reader.join(timeout=30)
    assert server.returncode in (0, -signal.SIGTERM), output
    assert stopped_in < GRACEFUL_SHUTDOWN_S, f"stopped after {stopped_in:.1f} s: {output}"
    assert "Traceback" not in output and "ERROR" not in output and "graceful shutdown exceeded" not in output, output
    last = json.loads(lines[-1])  # a cut stream's last line is not JSON
    assert last["event"] == "stopping" and "stopping" in last["detail"], last
    assert last["status"] == "cancelled" and 0 < last["done"] < 300, last
    results = [json.loads(line) for line in lines[:-1] if json.loads(line).get("event") != "queued"]
    assert all(result["seq"] == n for n, result in enumerate(results, start=1))
    assert polled and polled[0]["event"] == "stopping" and polled[0]["status"] == "cancelled", polled
