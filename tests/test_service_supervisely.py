"""The Supervisely adapter as the real SDK builds and calls it: a subclass of the SDK's own
`MaskTracking` (its `BaseTracking.__init__` calls `load_on_device(model_dir, "cuda")` and falls back to
"cpu" on `RuntimeError`), `model_dir=None`, and `predict` with one and with many frames, also through the
SDK's own `_inference` with Bitmap geometries."""

from __future__ import annotations

import numpy as np
import pytest

sly = pytest.importorskip(
    "supervisely",
    reason="the Supervisely SDK is not installed: pip install "
    "'xmempp[supervisely]' in a separate environment (.ci/run does)",
)
from supervisely.geometry.bitmap import Bitmap  # noqa: E402
from supervisely.nn.inference import MaskTracking  # noqa: E402

from xmempp.inference.config import InferenceConfig  # noqa: E402
from xmempp.inference.jobs import ShotJob, run_job  # noqa: E402
from xmempp.io.synthetic import MovingDiscs  # noqa: E402
from xmempp.io.writers import probs_to_ids  # noqa: E402
from xmempp.service.supervisely import XMemppMaskTracker  # noqa: E402

CONFIG = InferenceConfig(size=-1)


@pytest.fixture(scope="module")
def tracker(checkpoint_path, tmp_path_factory):
    import os

    os.environ.setdefault("SLY_APP_DATA_DIR", str(tmp_path_factory.mktemp("sly-data")))

    class XMemppTracking(XMemppMaskTracker, MaskTracking):
        weights = checkpoint_path
        config = CONFIG

    app = XMemppTracking()  # model_dir=None, as the README's example; the SDK asks for "cuda" first
    yield app
    app.engine.close()


def run_job_masks(model, frames, mask):
    job = ShotJob(frames, {0: mask}, CONFIG, direction="forward", start=0)
    out = []
    run_job(model, job, on_result=lambda r: out.append(probs_to_ids(r.probs.numpy(), job.objects.ids)))
    return out


def test_the_sdk_constructs_it_on_a_cpu_only_host(tracker):
    import torch

    assert isinstance(tracker, MaskTracking)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert tracker.engine.device.type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            tracker.load_on_device(None, "cuda")


def test_predict_with_one_and_many_frames(tracker, model):
    clip = MovingDiscs(5, objects=2, seed=4)
    frames = [clip[i] for i in range(5)]
    one = tracker.predict(frames=frames[:1], input_mask=clip.mask(0).astype(np.int64))
    assert len(one) == 1
    np.testing.assert_array_equal(one[0], clip.mask(0))  # the annotated frame keeps the user's mask
    many = tracker.predict(frames=frames, input_mask=clip.mask(0))
    want = run_job_masks(model, frames, clip.mask(0))
    assert len(many) == 5
    for index in range(5):
        np.testing.assert_array_equal(many[index], want[index], err_msg=f"frame {index}")
    empty = tracker.predict(frames=frames[:2], input_mask=np.zeros(clip.mask(0).shape, np.int64))
    assert len(empty) == 2 and not any(m.any() for m in empty)


def test_the_sdks_own_inference_path(tracker, model):
    """`MaskTracking._inference` (what the Video Labeling Tool's Track button runs) on a Bitmap figure."""
    clip = MovingDiscs(4, objects=1, seed=6)
    frames = [clip[i] for i in range(4)]
    figure = Bitmap(clip.mask(0) == 1)
    results = tracker._inference(frames, [figure])
    want = run_job_masks(model, frames, (clip.mask(0) == 1).astype(np.uint8))
    assert len(results) == 3
    for index, shapes in enumerate(results, start=1):
        assert [s["type"] for s in shapes] == ["bitmap"]
        mask = np.zeros(clip.mask(0).shape, bool)
        Bitmap.from_json(shapes[0]["data"]).draw(mask, color=True)
        np.testing.assert_array_equal(mask, want[index] == 1, err_msg=f"frame {index}")
