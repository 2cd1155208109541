"""The GUI feeds the candidate selector its own propagation's soft probabilities, binary masks only
where a frame was repainted since."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("PyQt5")

from xmempp.gui.model_cache import ModelCache
from xmempp.gui.workers import SavedMasks
from xmempp.io.atomic import atomic_write_bytes, encode_png
from xmempp.io.frames import FolderFrames
from xmempp.io.workspace import Workspace, create_workspace


def test_saved_masks_give_soft_targets_until_repainted(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 24, 3), 40 * i, np.uint8)).save(src / f"p_{i}.png")
    mask = np.zeros((16, 24), np.uint8)
    mask[4:10, 5:15] = 7
    workspace = Workspace.open(create_workspace(tmp_path / "ws", "shot", FolderFrames(src), {0: mask}))
    engine = ModelCache()
    probs = np.zeros((2, 16, 24), np.float32)
    probs[1, 4:10, 5:15] = 0.8
    probs[1, 0, 0] = 0.3
    probs[0] = 1 - probs[1]
    data = encode_png((probs[1] > 0.5).astype(np.uint8) * 7)
    atomic_write_bytes(workspace.mask_path(1), data)
    engine.record_soft_target(1, data, probs)
    saved = SavedMasks(workspace, [0, 1], engine)
    soft = saved[1]
    assert soft.dtype == np.float32 and np.abs(soft - probs[1]).max() <= 1 / 65535
    assert saved[0].dtype == np.uint8  # never propagated: the saved ids
    repainted = np.roll(mask, 3, axis=1)
    atomic_write_bytes(workspace.mask_path(1), encode_png(repainted))  # repainted: soft target is stale
    assert saved[1].dtype == np.uint8 and np.array_equal(saved[1], repainted)
