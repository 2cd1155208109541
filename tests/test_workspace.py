"""GUI workspaces in the XMem++ layout: creation, renumbering, resizing, reopening."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from iohelpers import colour_frame, shared_data, square_mask, write_palette_png, write_video
from xmempp.errors import InputError, OutputError
from xmempp.io.atomic import TEMP_PREFIX
from xmempp.io.masks import LabeledMask, davis_palette, read_mask, read_mask_folder
from xmempp.io.sources import open_frames
from xmempp.io.workspace import Workspace, create_workspace, workspace_size


def frame_folder(folder, stems, h=40, w=60, ext=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(stems):
        Image.fromarray(colour_frame(i, h, w)).save(folder / f"{s}{ext}")
    return open_frames(folder)


def test_workspace_size_follows_xmempp():
    assert workspace_size(480, 853, 240) == (240, 426)
    assert workspace_size(720, 480, 240) == (360, 240)
    assert workspace_size(100, 200, None) == (100, 200) == workspace_size(100, 200, -1)


def test_create_renumbers_objects_and_writes_info(tmp_path):
    stems = [f"shot_a_{n}" for n in range(1001, 1007)]
    frames = frame_folder(tmp_path / "src", stems)
    pal = davis_palette()
    pal[9] = (9, 9, 9)
    masks = {
        4: LabeledMask(square_mask(40, 60, {9: (0, 0, 10, 10), 5: (20, 20, 30, 30)}), pal),
        1: LabeledMask(square_mask(40, 60, {9: (0, 0, 10, 10)}), pal),
    }
    path = create_workspace(tmp_path / "ws", "shot_a", frames, masks, size=20)
    assert path == tmp_path / "ws" / "shot_a"
    assert sorted(p.name for p in (path / "images").iterdir()) == [f"{s}.png" for s in stems]
    assert sorted(p.name for p in (path / "masks").iterdir()) == ["shot_a_1002.png", "shot_a_1005.png"]
    info = json.loads((path / "info.json").read_text())
    assert info["references"] == [1, 4] and info["num_objects"] == 2
    assert info["frames"] == stems and info["object_ids"] == [9, 5]
    assert info["object_colors"][0] == [9, 9, 9]
    assert info["source_size"] == [40, 60] and info["size"] == [20, 30]
    with Image.open(path / "masks" / "shot_a_1005.png") as image:
        assert image.mode == "P" and image.size == (30, 20)
        np.testing.assert_array_equal(np.array(image.getpalette()).reshape(-1, 3)[:3], davis_palette()[:3])
        ids = np.array(image)
    assert set(np.unique(ids)) == {0, 1, 2}
    assert ids[2, 2] == 1 and ids[12, 12] == 2
    assert [p for p in (tmp_path / "ws").iterdir() if p.name.startswith(".")] == []

    ws = Workspace.open(path)
    assert len(ws) == 6 and ws.names == stems and ws.references == [1, 4]
    assert ws.num_objects == 2 and ws.object_ids == [9, 5] and ws.size == (20, 30)
    assert ws.image(0).shape == (20, 30, 3)
    assert ws.mask(0) is None and ws.mask(4)[12, 12] == 2
    ws.save_mask(2, square_mask(20, 30, {1: (0, 0, 3, 3)}))
    ws.add_reference(2)
    again = Workspace.open(path)
    assert again.references == [1, 2, 4] and again.mask(2)[0, 0] == 1
    ws.remove_reference(1)
    assert Workspace.open(path).references == [2, 4]


def test_frames_are_renamed_when_sorted_order_would_differ(tmp_path):
    stems = [f"a_{n}" for n in range(1, 11)]  # sorted() would put a_10 before a_2
    frames = frame_folder(tmp_path / "src", stems, ext=".jpg")
    path = create_workspace(tmp_path / "ws", "p", frames)
    info = json.loads((path / "info.json").read_text())
    assert info["frames"] == [f"frame_{i:06d}" for i in range(10)]
    assert info["source_names"] == stems and info["image_extension"] == ".jpg"
    assert info["references"] == [] and info["num_objects"] == 1
    ws = Workspace.open(path)
    assert ws.names == info["frames"]
    assert np.abs(ws.image(9).astype(int) - colour_frame(9, 40, 60)).mean() < 3


def test_existing_workspace_is_refused(tmp_path):
    frames = frame_folder(tmp_path / "src", ["f_1", "f_2"])
    create_workspace(tmp_path / "ws", "p", frames)
    with pytest.raises(OutputError, match="already exists"):
        create_workspace(tmp_path / "ws", "p", frames)
    with pytest.raises(InputError, match="invalid workspace name"):
        create_workspace(tmp_path / "ws", "../p", frames)


def test_failed_import_leaves_nothing(tmp_path):
    frames = frame_folder(tmp_path / "src", ["f_1", "f_2"])
    bad = {0: LabeledMask(np.zeros((10, 10), np.uint8), None, tmp_path / "m.png")}
    with pytest.raises(InputError, match=r"m\.png is 10x10 but the frames are 60x40"):
        create_workspace(tmp_path / "ws", "p", frames, bad)
    assert list((tmp_path / "ws").iterdir()) == []
    (tmp_path / "src" / "f_2.png").write_bytes(b"broken")
    with pytest.raises(InputError, match=r"f_2\.png"):
        create_workspace(tmp_path / "ws", "p", open_frames(tmp_path / "src"))
    assert list((tmp_path / "ws").iterdir()) == []
    assert not list(tmp_path.rglob(TEMP_PREFIX + "*"))


def test_open_an_xmempp_plus_plus_workspace(tmp_path):
    root = tmp_path / "caps"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(3):
        Image.fromarray(colour_frame(i)).save(root / "images" / f"frame_{i:06d}.jpg")
    write_palette_png(root / "masks" / "frame_000001.png", square_mask(48, 64, {1: (0, 0, 4, 4)}), davis_palette())
    (root / "info.json").write_text(json.dumps({"references": [1], "num_objects": 2}))
    ws = Workspace.open(root)
    assert ws.names == ["frame_000000", "frame_000001", "frame_000002"]
    assert ws.references == [1] and ws.num_objects == 2 and ws.object_ids == [1, 2]
    assert ws.mask(1)[0, 0] == 1 and ws.size == (48, 64)
    with pytest.raises(InputError, match="no images/ folder"):
        Workspace.open(tmp_path)


def test_workspace_from_a_video(tmp_path):
    video = write_video(tmp_path / "clip.mp4", [colour_frame(i) for i in range(12)])
    frames = open_frames(video)
    masks_dir = tmp_path / "masks"
    masks_dir.mkdir()
    write_palette_png(masks_dir / "5.png", square_mask(48, 64, {2: (0, 0, 8, 8)}), davis_palette())
    masks = read_mask_folder(masks_dir, frames.names, frames.size, by_index=True)
    path = create_workspace(tmp_path / "ws", "clip", frames, masks)
    info = json.loads((path / "info.json").read_text())
    assert info["frames"][5] == "000005" and info["references"] == [5] and info["object_ids"] == [2]
    assert info["fps"] == pytest.approx(25) and info["image_extension"] == ".jpg"
    assert read_mask(path / "masks" / "000005.png").ids[0, 0] == 1


def test_real_caps_workspace(tmp_path):
    frames = open_frames(shared_data("caps", "JPEGImages"))
    masks = read_mask_folder(shared_data("caps", "Annotations"), frames.names, frames.size)
    path = create_workspace(tmp_path, "caps", frames, masks, size=120)
    ws = Workspace.open(path)
    assert len(ws) == 87 and ws.references == [0, 14, 33, 43, 66] and ws.num_objects == 2
    assert ws.size == (213, 120) and ws.mask(33).max() == 2


def test_workspace_folder_gets_normal_permissions(tmp_path):
    import os

    if os.name != "posix":
        pytest.skip("POSIX permissions")
    umask = os.umask(0o022)
    os.umask(umask)
    path = create_workspace(tmp_path, "p", frame_folder(tmp_path / "src", ["f_1"]))
    assert path.stat().st_mode & 0o777 == 0o777 & ~umask
    assert (path / "info.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_interrupted_import_leaves_nothing(tmp_path):
    frames = frame_folder(tmp_path / "src", [f"f_{i}" for i in range(5)])

    def ctrl_c(done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        create_workspace(tmp_path / "ws", "p", frames, progress=ctrl_c)
    assert list((tmp_path / "ws").iterdir()) == []
