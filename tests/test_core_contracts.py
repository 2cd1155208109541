"""Core contracts: XMemppError on public paths, the typed workspace schema, the workspace as a frame source."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from iohelpers import colour_frame
from xmempp.errors import ConfigError, InputError, MemoryStateError, OutputError, XMemppError
from xmempp.inference.jobs import ShotJob, plan_frames
from xmempp.io.atomic import atomic_open, encode_image, encode_jpeg, encode_png
from xmempp.io.frames import Frames, FrameSource
from xmempp.io.workspace import Workspace
from xmempp.io.workspace_info import WorkspaceInfo
from xmempp.io.writers import ResultWriter, WriterOptions
from xmempp.memory.store import KeyValueStore


@pytest.mark.parametrize(
    "options, error",
    [
        (dict(alpha_bits=12), ConfigError),
        (dict(overlay_opacity=2.0), ConfigError),
        (dict(queue_size=0), ConfigError),
    ],
)
def test_writer_options_raise_config_error(options, error):
    with pytest.raises(error):
        WriterOptions(**options)


def test_writer_errors_are_xmempp_errors(tmp_path):
    with pytest.raises(InputError, match="distinct"):
        ResultWriter(tmp_path / "a", None, [1, 1])
    writer = ResultWriter(tmp_path / "b", None, [1])
    writer.close()
    with pytest.raises(OutputError, match="closed"):
        writer.submit("f", None, np.zeros((2, 4, 4), np.float32))


def test_encoders_raise_xmempp_errors(tmp_path):
    with pytest.raises(InputError):
        encode_png(np.zeros((4, 4), np.float32))
    with pytest.raises(InputError):
        encode_png(np.zeros((4, 4, 3), np.uint8), palette=np.zeros((256, 3), np.uint8))
    with pytest.raises(InputError):
        encode_jpeg(np.zeros((4, 4), np.uint16))
    with pytest.raises(OutputError, match="unsupported"):
        encode_image(".bmp", np.zeros((4, 4), np.uint8))
    with pytest.raises(OutputError, match="PNG"):
        encode_image(".jpg", np.zeros((4, 4), np.uint8), palette=np.zeros((256, 3), np.uint8))
    with pytest.raises(ConfigError), atomic_open(tmp_path / "x", mode="a"):
        pass


def test_store_without_usage_raises_memory_state_error():
    store = KeyValueStore(count_usage=False)
    with pytest.raises(MemoryStateError):
        store.usage()


def test_every_error_class_is_an_xmempp_error():
    for cls in (ConfigError, InputError, MemoryStateError, OutputError):
        assert issubclass(cls, XMemppError)
    with pytest.raises(XMemppError):
        plan_frames(3, [0], "up")


# ----------------------------------------------------------------------------------- workspace schema


def test_workspace_info_round_trip_keeps_unknown_fields(tmp_path):
    data = {
        "references": [4, 1, 4],
        "num_objects": 2,
        "frames": ["a", "b"],
        "source_size": [40, 60],
        "object_ids": [9, 5],
        "fps": 25,
        "xmempp_gui": {"k": 3},
        "xmempp_workspace_version": 1,
        "from_a_later_version": {"x": 1},
    }
    info = WorkspaceInfo.from_dict(data)
    assert info.references == [1, 4] and info.num_objects == 2 and info.source_size == (40, 60)
    assert info.fps == 25.0 and info.gui_settings == {"k": 3} and info.version == 1
    assert info.extra == {"from_a_later_version": {"x": 1}}
    info.write(tmp_path / "info.json")
    again = json.loads((tmp_path / "info.json").read_text())
    assert again["references"] == [1, 4] and again["source_size"] == [40, 60]
    assert again["from_a_later_version"] == {"x": 1} and again["xmempp_gui"] == {"k": 3}


def test_workspace_info_treats_wrong_types_as_absent():
    info = WorkspaceInfo.from_dict(
        {
            "references": "nope",
            "num_objects": 0,
            "size": [1],
            "source_names": [1, 2],
            "object_colors": [[1, 2]],
            "fps": "fast",
        }
    )
    assert info.references == [] and info.num_objects == 1 and info.size is None
    assert info.source_names is None and info.object_colors is None and info.fps is None


def test_broken_info_json_is_an_input_error(tmp_path):
    (tmp_path / "info.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="JSON object"):
        WorkspaceInfo.read(tmp_path / "info.json")


# ----------------------------------------------------------------------------------- workspace as frame source


def test_workspace_is_a_frame_source_in_its_info_order(tmp_path):
    ws_dir = tmp_path / "ws"
    (ws_dir / "images").mkdir(parents=True)
    order = ["b", "a", "c"]  # info.json order differs from the sorted file names
    for i, stem in enumerate(order):
        Image.fromarray(colour_frame(i, 16, 24)).save(ws_dir / "images" / f"{stem}.png")
    (ws_dir / "info.json").write_text(json.dumps({"references": [], "num_objects": 1, "frames": order, "fps": 12}))
    ws = Workspace.open(ws_dir)
    assert isinstance(ws, FrameSource) and isinstance(ws, Frames)
    assert ws.names == order and len(ws) == 3 and ws.size == (16, 24) and ws.fps == 12.0
    for i in range(3):
        np.testing.assert_array_equal(ws[i], colour_frame(i, 16, 24))
    np.testing.assert_array_equal(ws[-1], ws[2])
    with pytest.raises(IndexError):
        ws[3]
    assert ShotJob(ws, {}).stems() == order


def test_user_sequences_satisfy_the_frames_protocol():
    frames = [np.zeros((4, 4, 3), np.uint8)] * 2
    assert isinstance(frames, Frames)
    assert ShotJob(frames, {}).stems() == ["00000", "00001"]
