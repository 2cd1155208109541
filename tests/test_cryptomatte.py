"""Cryptomatte output read back by an independent decoder (`cryptomatte-api`, import name cryptomatte_api)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from platehelpers import OpenEXR
from xmempp.io.cryptomatte import (
    cryptomatte_channels,
    cryptomatte_metadata,
    murmurhash3_32,
    object_id_float,
    write_cryptomatte,
)
from xmempp.io.sequences import FrameInfo
from xmempp.io.writers import ResultWriter, WriterOptions

cryptomatte_api = pytest.importorskip("cryptomatte_api")


def test_murmurhash3_matches_published_vectors():
    assert murmurhash3_32(b"") == 0
    assert murmurhash3_32(b"hello") == 0x248BFA47
    assert murmurhash3_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723
    assert murmurhash3_32(b"hello", seed=1) == 0xBB4ABCAD


def test_ids_never_denormal_inf_or_nan():
    for i in range(2000):
        value = object_id_float(f"object{i}")
        bits = struct.unpack("<I", struct.pack("<f", float(value)))[0]
        assert 0 < (bits >> 23) & 0xFF < 255 and np.isfinite(value)


def coverages(h=24, w=36):
    cov = np.zeros((3, h, w), np.float32)
    cov[0, :, :12] = 1.0
    cov[1, :, 12:24] = 0.6
    cov[2, :, 12:24] = 0.3  # two objects share these pixels; background 0.1
    cov[2, :, 24:] = np.linspace(0.0, 1.0, w - 24)[None]
    cov[0, 5, 30] = 0.25  # three objects in one pixel
    return cov


def test_round_trip_through_cryptomatte_api(tmp_path):
    cov = coverages()
    names = ["hair", "jacket", "object3"]
    write_cryptomatte(tmp_path / "c.exr", cov, names, windows=((2, 3, 36, 24), (0, 0, 48, 32)), fsync=False)
    (crypto,) = cryptomatte_api.Cryptomatte.load(str(tmp_path / "c.exr"))
    assert crypto.metadata().name() == "CryptoObject"
    masks = crypto.masks()
    assert sorted(masks) == sorted(names)
    for name, expected in zip(names, cov):
        np.testing.assert_allclose(masks[name], expected, atol=1e-6)
    header = OpenEXR.File(str(tmp_path / "c.exr"), header_only=True).header()
    key = next(k for k in header if k.endswith("/manifest")).split("/")[1]
    assert key == f"{murmurhash3_32(b'CryptoObject'):08x}"[:7]
    assert header[f"cryptomatte/{key}/hash"] == "MurmurHash3_32"
    assert header[f"cryptomatte/{key}/conversion"] == "uint32_to_float32"
    manifest = json.loads(header[f"cryptomatte/{key}/manifest"])
    assert manifest["hair"] == struct.pack(">f", float(object_id_float("hair"))).hex()
    assert [list(v) for v in header["dataWindow"]] == [[2, 3], [37, 26]]


def test_ranks_are_sorted_by_coverage_and_empty_ranks_are_zero():
    cov = coverages()
    planes, channel_names = cryptomatte_channels(cov, ["a", "b", "c"])
    assert channel_names[:8] == [
        "CryptoObject00.R",
        "CryptoObject00.G",
        "CryptoObject00.B",
        "CryptoObject00.A",
        "CryptoObject01.R",
        "CryptoObject01.G",
        "CryptoObject01.B",
        "CryptoObject01.A",
    ]
    assert len(planes) == 12  # 6 ranks at least, as renderers write
    coverage = np.stack(planes[1::2])
    assert (np.diff(coverage, axis=0) <= 0).all()  # highest coverage first
    ids = np.stack(planes[0::2])
    assert ((ids == 0) == (coverage == 0)).all()  # no object: ID 0, coverage 0 (background)
    assert ids[0, 0, 15] == object_id_float("b") and coverage[1, 0, 15] == pytest.approx(0.3)
    assert cryptomatte_metadata("CryptoObject", ["a"])  # one layer's four keys
    assert len(cryptomatte_metadata("CryptoObject", ["a"])) == 4


def test_writer_sink_names_objects_and_numbers_files(tmp_path):
    probs = np.zeros((3, 16, 20), np.float32)
    probs[1, :, :10], probs[2, :, 10:] = 0.9, 0.7
    probs[0] = 1 - probs[1:].sum(0)
    options = WriterOptions(masks=False, cryptomatte=True, exr_layers=True, object_names={3: "hair"}, fsync=False)
    with ResultWriter(tmp_path, None, [3, 7], options) as writer:
        writer.submit("plate.1001", None, probs, FrameInfo(1001, 4))
    (crypto,) = cryptomatte_api.Cryptomatte.load(str(tmp_path / "cryptomatte" / "cryptomatte.1001.exr"))
    masks = crypto.masks()
    assert sorted(masks) == ["hair", "object7"]
    np.testing.assert_allclose(masks["hair"], probs[1], atol=1e-6)
    np.testing.assert_allclose(masks["object7"], probs[2], atol=1e-6)
    layered = OpenEXR.File(str(tmp_path / "layers" / "matte.1001.exr"), separate_channels=True)
    assert sorted(layered.channels()) == ["hair.A", "obj7.A"]
