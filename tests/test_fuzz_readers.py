"""Property-based tests of the readers of user files: frames, masks, config files, workspace info.

Whatever the bytes (random, truncated, zero-length, corrupted valid images, headers declaring huge
sizes, unusual modes and bit depths, JSON of the wrong shape), a reader either returns a well-formed
result or raises the specific `XMemppError` subclass it documents (`InputError` for frames, masks
and workspaces, `ConfigError` for settings); never another exception, a crash or a hang, and never
an allocation driven by a forged header.
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from xmempp.errors import ConfigError, InputError
from xmempp.inference.config import InferenceConfig
from xmempp.io.frames import FolderFrames
from xmempp.io.images import MAX_IMAGE_PIXELS, decode_image_file
from xmempp.io.masks import read_mask, read_mask_folder
from xmempp.io.workspace import Workspace

#: Examples per property (reported in the closing note of issue 11).
EXAMPLES = 200
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SUFFIXES = (".png", ".jpg", ".tif", ".bmp", ".webp")

# (mode, format) pairs Pillow can write; arrays are made to fit the mode
_WRITABLE = [
    ("1", "PNG"),
    ("L", "PNG"),
    ("LA", "PNG"),
    ("P", "PNG"),
    ("RGB", "PNG"),
    ("RGBA", "PNG"),
    ("I;16", "PNG"),
    ("L", "TIFF"),
    ("RGB", "TIFF"),
    ("CMYK", "TIFF"),
    ("F", "TIFF"),
    ("I;16", "TIFF"),
    ("I", "TIFF"),
    ("LAB", "TIFF"),
    ("YCbCr", "TIFF"),
    ("1", "TIFF"),
    ("L", "BMP"),
    ("P", "BMP"),
    ("RGB", "BMP"),
    ("RGBA", "BMP"),
    ("L", "JPEG"),
    ("RGB", "JPEG"),
    ("CMYK", "JPEG"),
    ("RGB", "WEBP"),
    ("RGBA", "WEBP"),
]
_EXT = {"PNG": ".png", "TIFF": ".tif", "BMP": ".bmp", "JPEG": ".jpg", "WEBP": ".webp"}


@st.composite
def encoded_images(draw) -> tuple[bytes, str]:
    """A valid small image file of a random mode, size, bit depth and format: (bytes, suffix)."""
    mode, fmt = draw(st.sampled_from(_WRITABLE))
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    seed = draw(st.integers(0, 2**32 - 1))
    levels = draw(st.sampled_from([2, 5, 256, 70000]))  # few values (mask-like) .. 16-bit / anti-aliased
    rng = np.random.default_rng(seed)
    values = rng.integers(0, levels, size=(h, w))
    bands = len(Image.new(mode, (1, 1)).getbands())
    if mode in ("I;16", "I"):
        image = (
            Image.fromarray(np.clip(values, 0, 65535).astype(np.uint16)).convert(mode)
            if mode == "I"
            else Image.fromarray(np.clip(values, 0, 65535).astype(np.uint16))
        )
    elif mode == "F":
        image = Image.fromarray((values / max(1, levels - 1)).astype(np.float32))
    elif bands == 1:
        image = (
            Image.fromarray((values % 256).astype(np.uint8), "L").convert(mode)
            if mode != "P"
            else Image.fromarray((values % 256).astype(np.uint8), "L").convert("P")
        )
    else:
        arr = rng.integers(0, min(levels, 256), size=(h, w, bands)).astype(np.uint8)
        image = Image.frombytes(mode, (w, h), arr.tobytes())
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue(), _EXT[fmt]


@st.composite
def damaged_images(draw) -> tuple[bytes, str]:
    """A valid image truncated, with bytes overwritten, or both; or zero bytes."""
    data, suffix = draw(encoded_images())
    data = bytearray(data)
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    for _ in range(draw(st.integers(0, 6))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data), suffix


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


# valid (colour type, bit depth) pairs of PNG
_PNG_TYPES = [(0, 1), (0, 8), (0, 16), (2, 8), (2, 16), (3, 8), (4, 8), (6, 8), (6, 16)]


@st.composite
def png_bombs(draw) -> bytes:
    """A PNG whose header declares more pixels than `MAX_IMAGE_PIXELS` (with a valid CRC and tiny data)."""
    width = draw(st.integers(1, 2**31 - 1))
    min_height = MAX_IMAGE_PIXELS // width + 1
    assume(min_height <= 2**31 - 1)
    height = draw(st.integers(min_height, 2**31 - 1))
    colour, depth = draw(st.sampled_from(_PNG_TYPES))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    chunks = _png_chunk(b"IHDR", ihdr)
    if colour == 3:
        chunks += _png_chunk(b"PLTE", bytes(range(6)))
    chunks += _png_chunk(b"IDAT", zlib.compress(b"\0" * draw(st.integers(0, 4096))))
    return b"\x89PNG\r\n\x1a\n" + chunks + _png_chunk(b"IEND", b"")


def bmp_bomb(width: int, height: int, bits: int = 24) -> bytes:
    """A BMP whose header declares width x height pixels, with almost no pixel data."""
    header = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(header) + 16, 0, 0, 14 + len(header)) + header + b"\0" * 16


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """One folder for every example's files (each example overwrites the last one's)."""
    return tmp_path_factory.mktemp("fuzz")


def _write(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    path = folder / name
    path.write_bytes(data)
    return path


def check_frame_file(path: Path) -> None:
    """Decode `path` as a frame, directly and through a frame folder: an RGB array or an `InputError`."""
    try:
        rgb = decode_image_file(path)
    except InputError as exc:
        assert str(path) in str(exc)
    else:
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.size > 0
    try:
        frames = FolderFrames(path.parent)
        assert frames.size[0] > 0 and frames.size[1] > 0
        assert frames[0].shape == frames.size + (3,)
    except InputError:
        pass


def check_mask_file(path: Path) -> None:
    """Read `path` as a mask, alone and as a mask folder: uint8 ids or an `InputError`."""
    try:
        mask = read_mask(path)
    except InputError:
        pass
    else:
        assert mask.ids.dtype == np.uint8 and mask.ids.ndim == 2 and len(mask.object_ids) <= 64
    try:
        masks = read_mask_folder(path.parent, [path.stem])
        assert list(masks) == [0]
    except InputError:
        pass


@fuzz
@given(data=st.binary(max_size=2048), suffix=st.sampled_from(SUFFIXES))
@example(data=b"", suffix=".png")
@example(data=b"\x89PNG\r\n\x1a\n", suffix=".png")
@example(data=b"II*\x00", suffix=".tif")
@example(data=b"BM", suffix=".bmp")
def test_random_bytes_as_frames_and_masks(scratch, data, suffix):
    path = _write(scratch / "random", f"f0{suffix}", data)
    check_frame_file(path)
    check_mask_file(path)


@fuzz
@given(image=encoded_images())
def test_valid_images_of_every_mode_and_depth(scratch, image):
    data, suffix = image
    path = _write(scratch / "valid", f"f0{suffix}", data)
    rgb = decode_image_file(path)  # every valid image decodes as a frame
    assert rgb.dtype == np.uint8 and rgb.shape[2] == 3
    check_mask_file(path)


@fuzz
@given(image=damaged_images())
def test_truncated_and_corrupted_images(scratch, image):
    data, suffix = image
    path = _write(scratch / "damaged", f"f0{suffix}", data)
    check_frame_file(path)
    check_mask_file(path)


@fuzz
@given(data=png_bombs())
def test_png_headers_declaring_huge_sizes_are_refused_before_decoding(scratch, data):
    path = _write(scratch / "bomb", "f0.png", data)
    with pytest.raises(InputError, match="too large"):
        decode_image_file(path)
    with pytest.raises(InputError, match="too large"):
        read_mask(path)
    with pytest.raises(InputError, match="too large"):
        _ = FolderFrames(path.parent).size
    with pytest.raises(InputError, match="too large"):
        read_mask_folder(path.parent, ["f0"])


@pytest.mark.parametrize(
    "width,height,bits", [(100_000, 100_000, 24), (60_000, -60_000, 8), (2**31 - 1, 1, 24), (20_000, 20_000, 1)]
)
def test_bmp_headers_declaring_huge_sizes_are_refused(tmp_path, width, height, bits):
    path = tmp_path / "f0.bmp"
    path.write_bytes(bmp_bomb(width, height, bits))
    with pytest.raises(InputError):
        decode_image_file(path)
    with pytest.raises(InputError):
        read_mask(path)


def tiff_with_bad_strip_offsets(field_type: int) -> bytes:
    """A 1x1 grayscale TIFF whose StripOffsets tag has an ASCII (2) or RATIONAL (5) value, not an offset."""
    entries = [(256, 1), (257, 1), (258, 8), (259, 1), (262, 1), (277, 1), (278, 1)]
    ifd = b"".join(struct.pack("<HHIHH", tag, 3, 1, value, 0) for tag, value in entries)
    ifd += struct.pack("<HHII", 279, 4, 1, 1)
    rational_at = 8 + 2 + 12 * (len(entries) + 2) + 4
    ifd += (
        struct.pack("<HHI", 273, 2, 3) + b"ab\0\0" if field_type == 2 else struct.pack("<HHII", 273, 5, 1, rational_at)
    )
    body = struct.pack("<H", len(entries) + 2) + ifd + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + body + (struct.pack("<II", 1, 3) if field_type == 5 else b"") + b"\x80"


@pytest.mark.parametrize("field_type", [2, 5])
def test_tiff_with_broken_strip_offsets(tmp_path, field_type):
    """Pillow raises TypeError on these (found by the fuzz tests): they must be InputErrors."""
    path = tmp_path / "f0.tif"
    path.write_bytes(tiff_with_bad_strip_offsets(field_type))
    with pytest.raises(InputError, match="corrupt"):
        decode_image_file(path)
    with pytest.raises(InputError, match="corrupt"):
        read_mask(path)


def test_the_pixel_limit_does_not_depend_on_pillows_global(tmp_path, monkeypatch):
    """A library that switches Pillow's own bomb check off (MAX_IMAGE_PIXELS = None) does not disarm ours."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = tmp_path / "f0.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )
    with pytest.raises(InputError, match="too large"):
        decode_image_file(path)
    with pytest.raises(InputError, match="too large"):
        read_mask(path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_FIELDS = [f for f in InferenceConfig.__dataclass_fields__]
setting_values = (
    st.integers(-(2**70), 2**70)
    | st.integers(-3, 40)
    | st.booleans()
    | st.none()
    | st.floats(allow_nan=True)
    | st.text(max_size=6)
    | st.lists(st.integers(), max_size=2)
)


def _check_config(config: InferenceConfig) -> None:
    for name in (
        "mem_every",
        "top_k",
        "max_mid_term_frames",
        "min_mid_term_frames",
        "num_prototypes",
        "max_long_term_elements",
        "deep_update_every",
        "size",
    ):
        value = getattr(config, name)
        assert type(value) is int, (name, value)
    assert config.size == -1 or 16 <= config.size <= 16384
    assert type(config.enable_long_term) is bool and type(config.enable_long_term_count_usage) is bool


@fuzz
@given(settings_=st.dictionaries(st.sampled_from(_FIELDS), setting_values, min_size=1, max_size=2))
def test_config_settings_of_wrong_types_and_ranges(scratch, settings_):
    path = _write(scratch / "config", "config.json", json.dumps(settings_).encode())
    try:
        config = InferenceConfig.from_json(path)
    except ConfigError as exc:
        assert str(exc)
    else:
        _check_config(config)


@fuzz
@given(value=json_values)
@example(value=[[[[[]]]]])
def test_config_files_of_any_json_shape(scratch, value):
    path = _write(scratch / "config", "config.json", json.dumps(value).encode())
    with contextlib.suppress(ConfigError):
        _check_config(InferenceConfig.from_json(path))


@fuzz
@given(data=st.binary(max_size=512))
@example(data=b"[" * 100_000)
@example(data=b"\xff\xfe{")
@example(data=b'{"deep_update_every": true}')
@example(data=b'{"size": 100000000000000000000}')
@example(data=b'{"mem_every": NaN}')
@example(data=b'{"size": Infinity}')
def test_config_files_of_random_bytes(scratch, data):
    path = _write(scratch / "config", "config.json", data)
    with contextlib.suppress(ConfigError):
        _check_config(InferenceConfig.from_json(path))


def test_config_file_that_is_a_folder_or_missing(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        InferenceConfig.from_json(tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        InferenceConfig.from_json(tmp_path / "nope.json")


_INFO_KEYS = ["references", "num_objects", "object_ids", "size", "frames", "fps", "source_size"]


@pytest.fixture(scope="module")
def workspace_dir(tmp_path_factory) -> Path:
    """A workspace folder with two frames; each example writes its own info.json."""
    root = tmp_path_factory.mktemp("ws") / "shot"
    (root / "images").mkdir(parents=True)
    for name in ("a", "b"):
        Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(root / "images" / f"{name}.png")
    return root


def _check_workspace(path: Path) -> None:
    try:
        ws = Workspace.open(path)
    except InputError:
        return
    assert len(ws) == 2 and all(isinstance(n, str) for n in ws.names)
    assert all(type(i) is int and 0 <= i < len(ws) for i in ws.references)
    assert type(ws.num_objects) is int and ws.num_objects >= 1
    assert len(ws.object_ids) == ws.num_objects and all(type(i) is int and 1 <= i <= 255 for i in ws.object_ids)
    h, w = ws.size
    assert type(h) is int and type(w) is int and h > 0 and w > 0


@fuzz
@given(
    info=st.dictionaries(st.sampled_from(_INFO_KEYS), json_values, max_size=5)
    | st.fixed_dictionaries({"references": st.lists(json_values, max_size=3)})
)
@example(info={"frames": [{}]})
@example(info={"references": [1.5]})
@example(info={"num_objects": 10**30})
def test_workspace_info_of_wrong_types(workspace_dir, info):
    (workspace_dir / "info.json").write_text(json.dumps(info))
    _check_workspace(workspace_dir)


@fuzz
@given(data=st.binary(max_size=256))
@example(data=b"[" * 100_000)
def test_workspace_info_of_random_bytes(workspace_dir, data):
    (workspace_dir / "info.json").write_bytes(data)
    _check_workspace(workspace_dir)
