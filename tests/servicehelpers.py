"""Helpers for the tracking-service tests: a small clip on disk and a real uvicorn server in a thread."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import numpy as np
import uvicorn
from PIL import Image

from iohelpers import write_palette_png
from xmempp.io.masks import davis_palette
from xmempp.io.synthetic import MovingDiscs


def write_clip(folder: Path, length: int, objects: int = 2, seed: int = 0) -> MovingDiscs:
    """Frames of a 64x112 `MovingDiscs` clip as PNGs `folder/00000.png`, ...; returns the clip."""
    clip = MovingDiscs(length, objects=objects, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(length):
        Image.fromarray(clip[index]).save(folder / f"{index:05d}.png")
    return clip


def write_masks(folder: Path, clip: MovingDiscs, frames: list[int]) -> Path:
    """The clip's true masks of `frames` as palette PNGs named like the frames."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in frames:
        write_palette_png(folder / f"{index:05d}.png", clip.mask(index), davis_palette())
    return folder


def png_bytes(ids: np.ndarray) -> bytes:
    """A palette PNG of `ids` as bytes."""
    import io

    image = Image.frombytes("P", (ids.shape[1], ids.shape[0]), np.ascontiguousarray(ids, dtype=np.uint8).tobytes())
    image.putpalette(davis_palette().tobytes())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_bytes_rgb(frame: np.ndarray) -> bytes:
    """An RGB frame as PNG bytes."""
    import io

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_in_subprocess(
    *options: str, probe: str = "/v1/health", stderr_apart: bool = False, env: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """`xmempp serve OPTIONS` in a subprocess on a free port (text output: stderr on stdout unless `stderr_apart`;
    `env` added to the environment); returns it and its URL once `probe` answers 200 (within 120 s)."""
    port = free_port()
    command = [sys.executable, "-c", "from xmempp.cli.app import main; main()", "serve", "--port", str(port), *options]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stderr_apart else subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "400", **(env or {})},
    )
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
    while True:
        assert process.poll() is None, process.communicate()
        try:
            if httpx.get(f"{url}{probe}", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "xmempp serve did not come up"
        time.sleep(0.2)


@contextlib.contextmanager
def serving_in_subprocess(*options: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`serve_in_subprocess(*options)` for the `with` block: the server is stopped (SIGTERM) at its end."""
    process, url = serve_in_subprocess(*options)
    try:
        yield process, url
    finally:
        process.terminate()
        process.communicate(timeout=60)


@contextlib.contextmanager
def running_server(app, port: int) -> Iterator[str]:
    """Serve `app` with uvicorn (the service's `ServiceServer`, as `xmempp serve` does) on 127.0.0.1:`port` in a
    thread; yields the base URL."""
    from xmempp.service.server import ServiceServer

    server = ServiceServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=5)
    )
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def collect_track(
    client: httpx.Client, sid: str, rid: str, timeout: float = 120.0
) -> tuple[dict, dict[int, np.ndarray]]:
    """Poll a track run with `after=N` until it is final; returns (final state, {frame: ids})."""
    from xmempp.service.rle import decode_rle

    masks: dict[int, np.ndarray] = {}
    after, deadline = 0, time.monotonic() + timeout
    while True:
        reply = client.get(f"/v1/sessions/{sid}/tracks/{rid}", params={"after": after, "wait": 2})
        assert reply.status_code == 200, reply.text
        state = reply.json()
        for item in state["results"]:
            assert item["seq"] == after + 1
            masks[item["frame"]] = decode_rle(item["mask"])
            after = item["seq"]
        if state["status"] in ("done", "cancelled", "failed") and state["next"] == state["done"]:
            return state, masks
        assert time.monotonic() < deadline, f"track {rid} did not finish: {state}"


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares `width` x `height` (8-bit RGB); its pixel data is a stub, so only a
    reader that trusts the header before checking it would allocate the declared size."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def peak_rss_during(action, pid: int | None = None) -> tuple[object, int]:
    """Run `action()` while sampling the RSS of process `pid` (default: this one) every millisecond; returns (its
    result, the peak growth in bytes over the RSS before)."""
    import psutil

    process = psutil.Process(pid)
    before = process.memory_info().rss
    peak, done = [before], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak.append(process.memory_info().rss)
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = action()
    finally:
        done.set()
        sampler.join()
    return result, max(peak) - before
