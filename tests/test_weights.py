"""xmempp.model.weights and `xmempp weights`: locations, resumable download, checks (no internet needed).

A tiny HTTP server in a thread serves a fake XMem state dict and supports Range requests; the
official URLs are monkeypatched to point at it.
"""

from __future__ import annotations

import hashlib
import io
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from xmempp.errors import WeightsError
from xmempp.model import weights as W

# ----------------------------------------------------------------------------------- fixtures


def _state_bytes(state: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def fake_xmem_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A small state dict with the XMem key groups (shapes do not matter for the structural check)."""
    g = torch.Generator().manual_seed(seed)
    return {
        "key_encoder.conv1.weight": torch.randn(8, 3, 3, 3, generator=g),
        "key_encoder.bn1.weight": torch.randn(8, generator=g),
        "value_encoder.conv1.weight": torch.randn(8, 5, 3, 3, generator=g),
        "key_proj.key_proj.weight": torch.randn(4, 8, 3, 3, generator=g),
        "decoder.pred.weight": torch.randn(1, 8, 3, 3, generator=g),
        "decoder.pred.bias": torch.randn(1, generator=g),
    }


class _Handler(BaseHTTPRequestHandler):
    server: _FileServer

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        srv = self.server
        srv.requests.append({"path": self.path, "range": self.headers.get("Range")})
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", "/files/" + self.path.rsplit("/", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not self.path.startswith("/files/"):
            self.send_error(404, "Not Found")
            return
        data = srv.payload
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and srv.honour_range:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if srv.cut_after is not None:  # announce the full length, send less, hang up
            self.wfile.write(body[: srv.cut_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


class _FileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.payload = b""
        self.honour_range = True
        self.cut_after: int | None = None
        self.requests: list[dict] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture
def server():
    srv = _FileServer()
    srv.payload = _state_bytes(fake_xmem_state())
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """XMEMPP_HOME in a temporary folder, so nothing touches the real cache."""
    folder = tmp_path / "home"
    monkeypatch.setenv("XMEMPP_HOME", str(folder))
    return folder


@pytest.fixture
def official(server, monkeypatch):
    """Point both official names at the local server."""
    for name in list(W.WEIGHT_URLS):
        monkeypatch.setitem(W.WEIGHT_URLS, name, server.url(f"/files/{name}"))
    return server


def _closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/XMem.pth"  # nothing listens there any more: connection refused


# ----------------------------------------------------------------------------------- locations


def test_xmempp_home_overrides_everything(tmp_path, monkeypatch):
    monkeypatch.setenv("XMEMPP_HOME", str(tmp_path / "w"))
    assert W.weights_dir() == (tmp_path / "w").absolute()
    assert W.weights_path() == (tmp_path / "w" / "XMem.pth").absolute()
    assert W.weights_path("XMem-s012.pth").name == "XMem-s012.pth"


def _make_checkout(root: Path, project: str = "xmempp", readme: bool = True) -> None:
    (root / "saves").mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "{project}"\nversion = "0"\n')
    if readme:
        (root / "saves" / "README.md").write_text("weights go here\n")


def test_checkout_saves_only_when_cwd_is_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv("XMEMPP_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    checkout = tmp_path / "checkout"
    _make_checkout(checkout)
    monkeypatch.chdir(checkout)
    assert W.weights_dir() == checkout / "saves"
    monkeypatch.chdir(checkout / "saves")  # a subfolder is not the checkout
    assert W.weights_dir() == tmp_path / "xdg" / "xmempp"


@pytest.mark.parametrize("project, readme", [("other-project", True), ("xmempp", False)])
def test_not_a_checkout_uses_user_cache(tmp_path, monkeypatch, project, readme):
    monkeypatch.delenv("XMEMPP_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    _make_checkout(tmp_path / "c", project=project, readme=readme)
    monkeypatch.chdir(tmp_path / "c")
    assert W.weights_dir() == tmp_path / "xdg" / "xmempp"


def test_default_cache_is_home_dot_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("XMEMPP_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.chdir(tmp_path)
    assert W.weights_dir() == tmp_path / "user" / ".cache" / "xmempp"


@pytest.mark.parametrize("bad", ["../XMem.pth", "sub/XMem.pth", ""])
def test_weights_name_must_be_plain(bad):
    with pytest.raises(WeightsError, match="plain file name"):
        W.weights_path(bad)


# ----------------------------------------------------------------------------------- download


def test_full_download_records_sha(home, official):
    seen: list[tuple[int, int | None]] = []
    path = W.download_weights(progress=lambda done, total: seen.append((done, total)))
    data = official.payload
    assert path == home / "XMem.pth"
    assert path.read_bytes() == data
    assert not (home / "XMem.pth.part").exists()
    digest = hashlib.sha256(data).hexdigest()
    assert (home / "XMem.pth.sha256").read_text() == f"{digest}  XMem.pth\n"
    assert W.recorded_sha256(path) == digest
    assert seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data))
    assert official.requests[0]["range"] is None


def test_download_into_dest_dir_with_small_chunks(tmp_path, official, monkeypatch):
    monkeypatch.setattr(W, "_CHUNK", 1000)
    seen: list[int] = []
    path = W.download_weights("XMem-s012.pth", tmp_path / "elsewhere", lambda d, t: seen.append(d))
    assert path == tmp_path / "elsewhere" / "XMem-s012.pth"
    assert path.read_bytes() == official.payload
    assert len(seen) > 3 and seen == sorted(seen)


def test_resume_from_partial_file_with_range(home, official):
    data = official.payload
    home.mkdir()
    (home / "XMem.pth.part").write_bytes(data[:1234])
    seen: list[tuple[int, int | None]] = []
    path = W.download_weights(progress=lambda d, t: seen.append((d, t)))
    assert official.requests[-1]["range"] == "bytes=1234-"
    assert path.read_bytes() == data
    assert seen[0] == (1234, len(data))


def test_server_ignoring_range_restarts(home, official):
    official.honour_range = False
    data = official.payload
    home.mkdir()
    (home / "XMem.pth.part").write_bytes(b"garbage that must not survive")
    path = W.download_weights()
    assert official.requests[-1]["range"] == "bytes=29-"  # asked, but got a 200
    assert path.read_bytes() == data


def test_interrupted_download_keeps_part_and_resumes(home, official):
    data = official.payload
    official.cut_after = 1000
    with pytest.raises(WeightsError, match="interrupted after 1000 bytes") as info:
        W.download_weights()
    assert "again to resume" in str(info.value) and str(home / "XMem.pth") in str(info.value)
    assert (home / "XMem.pth.part").read_bytes() == data[:1000]
    assert not (home / "XMem.pth").exists()
    official.cut_after = None
    path = W.download_weights()
    assert official.requests[-1]["range"] == "bytes=1000-"
    assert path.read_bytes() == data


def test_complete_part_answered_416_is_finished(home, official):
    home.mkdir()
    (home / "XMem.pth.part").write_bytes(official.payload)
    path = W.download_weights()
    assert path.read_bytes() == official.payload
    assert W.recorded_sha256(path) == hashlib.sha256(official.payload).hexdigest()


def test_part_longer_than_the_file_restarts(home, official):
    home.mkdir()
    (home / "XMem.pth.part").write_bytes(official.payload + b"stale tail")
    path = W.download_weights()
    assert [r["range"] for r in official.requests] == [f"bytes={len(official.payload) + 10}-", None]
    assert path.read_bytes() == official.payload


def test_follows_redirect_and_keeps_range(home, official, monkeypatch):
    monkeypatch.setitem(W.WEIGHT_URLS, "XMem.pth", official.url("/redirect/XMem.pth"))
    home.mkdir()
    (home / "XMem.pth.part").write_bytes(official.payload[:500])
    path = W.download_weights()
    assert [r["path"] for r in official.requests] == ["/redirect/XMem.pth", "/files/XMem.pth"]
    assert official.requests[-1]["range"] == "bytes=500-"
    assert path.read_bytes() == official.payload


def test_existing_file_is_not_downloaded_again(home, official):
    home.mkdir()
    (home / "XMem.pth").write_bytes(b"already here")
    assert W.download_weights() == home / "XMem.pth"
    assert official.requests == []
    W.download_weights(force=True)
    assert (home / "XMem.pth").read_bytes() == official.payload


def test_unknown_name_is_rejected(home):
    with pytest.raises(WeightsError, match="unknown weights 'XMem2.pth'.*XMem.pth, XMem-s012.pth"):
        W.download_weights("XMem2.pth")


def test_mirror_url(home, server):
    path = W.download_weights("custom.pth", url=server.url("/files/custom.pth"))
    assert path == home / "custom.pth" and path.read_bytes() == server.payload


def test_not_an_xmem_file_is_rejected_and_deleted(home, official):
    official.payload = _state_bytes(
        {
            "encoder.conv.weight": torch.zeros(2),
            "key_encoder.conv1.weight": torch.zeros(2),
            "head.fc.bias": torch.zeros(1),
        }
    )
    with pytest.raises(WeightsError) as info:
        W.download_weights()
    message = str(info.value)
    assert "not an XMem checkpoint" in message
    assert "missing key groups value_encoder., key_proj., decoder." in message
    assert "unexpected key prefixes encoder., head." in message
    assert not (home / "XMem.pth").exists() and not (home / "XMem.pth.part").exists()
    assert not (home / "XMem.pth.sha256").exists()


def test_html_page_instead_of_checkpoint_is_rejected(home, official):
    official.payload = b"<html><body>rate limited</body></html>"
    with pytest.raises(WeightsError, match="not a readable PyTorch checkpoint"):
        W.download_weights()
    assert not (home / "XMem.pth").exists()


def test_offline_message_names_url_and_destination(home, monkeypatch):
    url = _closed_port_url()
    monkeypatch.setitem(W.WEIGHT_URLS, "XMem.pth", url)
    with pytest.raises(WeightsError) as info:
        W.download_weights()
    message = str(info.value)
    assert message.startswith(f"could not reach {url}")
    assert f"put it at {home / 'XMem.pth'}" in message
    assert "\n" not in message
    assert not (home / "XMem.pth").exists()


def test_http_error_message_names_destination(home, official, monkeypatch):
    monkeypatch.setitem(W.WEIGHT_URLS, "XMem.pth", official.url("/nothing/XMem.pth"))
    with pytest.raises(WeightsError, match=r"HTTP 404 .*put it at " + re.escape(str(home / "XMem.pth"))):
        W.download_weights()


# ----------------------------------------------------------------------------------- verification


def test_verify_and_tamper_detection(home, official):
    path = W.download_weights()
    assert W.verify_weights(path) == hashlib.sha256(official.payload).hexdigest()
    # still a valid XMem-shaped file, but not the one that was downloaded
    path.write_bytes(_state_bytes(fake_xmem_state(seed=1)))
    with pytest.raises(WeightsError, match="file changed since download.*download the weights"):
        W.verify_weights(path)
    with pytest.raises(WeightsError, match="file changed since download"):
        W.resolve_weights()


def test_verify_without_record_checks_structure(tmp_path):
    good = tmp_path / "good.pth"
    torch.save(fake_xmem_state(), good)
    assert W.verify_weights(good) == W.sha256_file(good)
    bad = tmp_path / "bad.pth"
    torch.save({"decoder.x": torch.zeros(1)}, bad)
    with pytest.raises(WeightsError, match="missing key groups key_encoder., value_encoder., key_proj."):
        W.verify_weights(bad)
    with pytest.raises(WeightsError, match="weights file not found"):
        W.verify_weights(tmp_path / "absent.pth")


def test_check_xmem_state_dict_cases():
    W.check_xmem_state_dict(fake_xmem_state())
    W.check_xmem_state_dict({"state_dict": fake_xmem_state()})
    with pytest.raises(WeightsError, match="holds a list"):
        W.check_xmem_state_dict([1, 2])
    with pytest.raises(WeightsError, match="strip that prefix"):
        W.check_xmem_state_dict({"module." + k: v for k, v in fake_xmem_state().items()})
    with pytest.raises(WeightsError, match="not tensors: decoder.note"):
        W.check_xmem_state_dict({**fake_xmem_state(), "decoder.note": 3})


# ----------------------------------------------------------------------------------- resolve


def test_resolve_weights(home, official, tmp_path):
    with pytest.raises(WeightsError, match="weights file not found"):
        W.resolve_weights(tmp_path / "nope.pth")
    explicit = tmp_path / "mine.pth"
    torch.save(fake_xmem_state(), explicit)
    assert W.resolve_weights(str(explicit)) == explicit
    with pytest.raises(WeightsError, match=re.escape(f"no weights at {home / 'XMem.pth'}")):
        W.resolve_weights(download=False)
    assert official.requests == []
    path = W.resolve_weights()
    assert path == home / "XMem.pth" and len(official.requests) == 1
    assert W.resolve_weights(download=False) == path


# ----------------------------------------------------------------------------------- CLI


@pytest.fixture
def cli():
    from typer.testing import CliRunner

    from xmempp.cli.app import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["weights", *args])


def test_cli_path(cli, home):
    result = cli("path")
    assert result.exit_code == 0
    assert result.stdout.strip() == str(home / "XMem.pth")
    result = cli("path", "--name", "XMem-s012.pth")
    assert result.stdout.strip() == str(home / "XMem-s012.pth")
    assert cli("path", "--name", "nope.pth").exit_code != 0


def test_cli_verify(cli, home, tmp_path):
    good = tmp_path / "good.pth"
    torch.save(fake_xmem_state(), good)
    result = cli("verify", str(good))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK {good}") and W.sha256_file(good) in result.stdout

    bad = tmp_path / "bad.pth"
    torch.save({"something.else": torch.zeros(1)}, bad)
    result = cli("verify", str(bad))
    assert result.exit_code == 2
    assert "Traceback" not in result.output and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "missing key groups" in lines[0]

    result = cli("verify")  # default path, absent
    assert result.exit_code == 2 and str(home / "XMem.pth") in result.stderr


def test_cli_download(cli, home, official):
    result = cli("download")
    assert result.exit_code == 0, result.output
    assert (home / "XMem.pth").read_bytes() == official.payload
    assert hashlib.sha256(official.payload).hexdigest() in result.stdout
    result = cli("download")
    assert result.exit_code == 0 and "already there" in result.stdout
    assert cli("verify").exit_code == 0


def test_cli_download_offline_is_one_red_line(cli, home, monkeypatch):
    monkeypatch.setitem(W.WEIGHT_URLS, "XMem.pth", _closed_port_url())
    result = cli("download")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not reach" in lines[0] and str(home / "XMem.pth") in lines[0]
