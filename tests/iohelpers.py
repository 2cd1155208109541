"""Helpers for the I/O tests: the example clips in ../shared/data, and small media files made on the fly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = SHARED / "data"


def shared_data(*parts: str) -> Path:
    """Path inside ../shared/data, or skip the test when the shared example clips are absent."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"example clip {path} is absent (these tests read ../shared/data beside the checkout)")
    return path


def colour_frame(index: int, height: int = 48, width: int = 64) -> np.ndarray:
    """A frame whose colours encode `index` (smooth, so it survives video compression)."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[..., 0] = (index * 23) % 200 + 20
    frame[..., 1] = 220 - (index * 11) % 180
    frame[..., 2] = np.linspace(30, 200, width, dtype=np.uint8)[None, :]
    return frame


def write_video(path: Path, frames: Sequence[np.ndarray], fps: int = 25, codec: str = "libx264", gop: int = 8) -> Path:
    """Encode RGB frames into a video file with PyAV."""
    av = pytest.importorskip("av")
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = gop
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_palette_png(path: Path, ids: np.ndarray, palette: np.ndarray) -> Path:
    """Save HxW uint8 ids as a palette PNG."""
    image = Image.frombytes("P", (ids.shape[1], ids.shape[0]), np.ascontiguousarray(ids, dtype=np.uint8).tobytes())
    image.putpalette(np.asarray(palette, dtype=np.uint8).tobytes())
    image.save(path)
    return path


def square_mask(height: int, width: int, boxes: dict[int, tuple[int, int, int, int]]) -> np.ndarray:
    """HxW uint8 ids with rectangles: {id: (top, left, bottom, right)}."""
    ids = np.zeros((height, width), dtype=np.uint8)
    for oid, (t, left, b, r) in boxes.items():
        ids[t:b, left:r] = oid
    return ids
