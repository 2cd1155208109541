"""The annotation-tool adapters: the CVAT tracking function through cvat-sdk's own types, and the
Supervisely-compatible `predict`; both must give what `run_job` gives on the same inputs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import PIL.Image
import pytest

from xmempp.errors import InputError
from xmempp.inference.config import InferenceConfig
from xmempp.inference.jobs import ShotJob, run_job
from xmempp.io.synthetic import MovingDiscs
from xmempp.io.writers import probs_to_ids
from xmempp.service.scheduler import Scheduler
from xmempp.service.supervisely import XMemppMaskTracker, track_masks

CONFIG = InferenceConfig(size=-1, mem_every=2)
LENGTH = 6


@pytest.fixture(scope="module")
def cvat():
    """cvat-sdk's auto-annotation API (`aa`), its mask codec, the tracking function and a `ShapeContext`: imported
    here, not at collection (cvat-sdk takes a while to import); the CVAT tests skip without cvat-sdk."""
    cvataa = pytest.importorskip("cvat_sdk.auto_annotation")
    from cvat_sdk.masks import decode_mask, encode_mask

    from xmempp.service.cvat import XMemppTrackingFunction, create

    class ShapeContext(cvataa.TrackingFunctionShapeContext):
        """The context CVAT's agent passes, for one shape type."""

        def __init__(self, shape_type: str) -> None:
            self._type = shape_type

        @property
        def original_shape_type(self) -> str:
            return self._type

    return SimpleNamespace(
        aa=cvataa,
        decode_mask=decode_mask,
        encode_mask=encode_mask,
        TrackingFunction=XMemppTrackingFunction,
        create=create,
        ShapeContext=ShapeContext,
    )


@pytest.fixture(scope="module")
def engine(model):
    engine = Scheduler(model, "stand-in")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def clip():
    return MovingDiscs(LENGTH, objects=2, seed=3)


def run_job_masks(model, frames, mask) -> list[np.ndarray]:
    job = ShotJob(frames, {0: mask}, CONFIG, direction="forward", start=0)
    out: list[np.ndarray] = []
    run_job(model, job, on_result=lambda r: out.append(probs_to_ids(r.probs.numpy(), job.objects.ids)))
    return out


def test_cvat_mask_tracking_equals_run_job(cvat, engine, model, clip):
    function = cvat.TrackingFunction(engine, CONFIG)
    assert isinstance(function.spec, cvat.aa.TrackingFunctionSpec)
    assert {"mask", "polygon"} <= set(function.spec.supported_shape_types)
    target = clip.mask(0) == 2
    context = cvat.ShapeContext("mask")
    images = [PIL.Image.fromarray(clip[i]) for i in range(LENGTH)]
    shape = cvat.aa.TrackableShape(type="mask", points=cvat.encode_mask(target))
    state = function.init_tracking_state(context, function.preprocess_image(context, images[0]), shape)
    want = run_job_masks(model, [clip[i] for i in range(LENGTH)], target.astype(np.uint8))
    for index in range(1, LENGTH):
        result = function.track(context, function.preprocess_image(context, images[index]), state)
        assert isinstance(result, cvat.aa.TrackableShape) and result.type == "mask"
        got = cvat.decode_mask(result.points, image_width=clip.width, image_height=clip.height)
        np.testing.assert_array_equal(got, want[index] == 1, err_msg=f"frame {index}")


def test_cvat_two_shapes_tracked_independently(cvat, engine, clip):
    """Interleaved `track` calls on two states (as the agent makes them) keep each shape's own memory."""
    function = cvat.TrackingFunction(engine, CONFIG)
    context = cvat.ShapeContext("mask")
    frames = [function.preprocess_image(context, PIL.Image.fromarray(clip[i])) for i in range(3)]
    states = [
        function.init_tracking_state(
            context, frames[0], cvat.aa.TrackableShape(type="mask", points=cvat.encode_mask(clip.mask(0) == k))
        )
        for k in (1, 2)
    ]
    separate = [
        function.init_tracking_state(
            context, frames[0], cvat.aa.TrackableShape(type="mask", points=cvat.encode_mask(clip.mask(0) == 1))
        )
    ]
    for index in (1, 2):
        first, _ = (function.track(context, frames[index], s) for s in states)
        alone = function.track(context, frames[index], separate[0])
        assert first.points == alone.points


def test_cvat_polygon_in_polygon_out(cvat, engine, clip):
    function = cvat.TrackingFunction(engine, CONFIG)
    context = cvat.ShapeContext("polygon")
    ys, xs = np.nonzero(clip.mask(0) == 1)
    polygon = [
        float(xs.min()),
        float(ys.min()),
        float(xs.max()),
        float(ys.min()),
        float(xs.max()),
        float(ys.max()),
        float(xs.min()),
        float(ys.max()),
    ]
    state = function.init_tracking_state(
        context, np.asarray(clip[0]), cvat.aa.TrackableShape(type="polygon", points=polygon)
    )
    result = function.track(context, np.asarray(clip[1]), state)
    assert result is not None and result.type == "polygon" and len(result.points) >= 6
    with pytest.raises(InputError, match="covers no pixel"):
        function.init_tracking_state(
            context,
            np.asarray(clip[0]),
            cvat.aa.TrackableShape(
                type="mask", points=cvat.encode_mask(np.zeros((clip.height, clip.width), dtype=bool))
            ),
        )
    with pytest.raises(InputError, match="cannot be tracked"):
        function.init_tracking_state(
            context, np.asarray(clip[0]), cvat.aa.TrackableShape(type="rectangle", points=[1, 1, 5, 5])
        )


def test_cvat_create_loads_the_checkpoint(cvat, checkpoint_path):
    function = cvat.create(model=str(checkpoint_path), device="cpu", size=-1)
    assert function.config.size == -1 and function.engine.device.type == "cpu"
    function.engine.close()


def test_supervisely_predict_equals_run_job(engine, model, clip):
    frames = [clip[i] for i in range(LENGTH)]
    want = run_job_masks(model, frames, clip.mask(0))
    tracker = XMemppMaskTracker()
    tracker.engine, tracker.config = engine, CONFIG
    got = tracker.predict(frames, clip.mask(0).astype(np.int64))
    assert len(got) == LENGTH and all(m.shape == (clip.height, clip.width) for m in got)
    for index in range(LENGTH):
        np.testing.assert_array_equal(got[index], want[index], err_msg=f"frame {index}")
    np.testing.assert_array_equal(track_masks(engine, frames[:2], clip.mask(0), CONFIG)[1], want[1])
    with pytest.raises(InputError, match="HxW"):
        tracker.predict(frames, np.zeros((2, 2, 2)))


def test_supervisely_load_on_device(tmp_path, checkpoint_path):
    tracker = XMemppMaskTracker()
    tracker.weights = checkpoint_path
    tracker.load_on_device(str(tmp_path), "cpu")
    assert tracker.engine is not None and tracker.engine.device.type == "cpu"
    tracker.engine.close()
