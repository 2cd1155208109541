"""The core model of an interactive shot (`xmempp.annotation.AnnotationSession`): references and their
validation, events, undo and redo, the review-state rules, its saved form (a workspace) and the network's
memory it keeps in line with the references, whatever the order of edits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xmempp import AnnotationSession, InputError
from xmempp.annotation import MaskOrigin, ShotObject
from xmempp.inference.config import InferenceConfig
from xmempp.inference.session import InferenceSession
from xmempp.io.atomic import atomic_write_image
from xmempp.io.review_state import FrameState
from xmempp.io.sources import open_frames
from xmempp.io.synthetic import MovingDiscs
from xmempp.io.workspace import Workspace, create_workspace

N, H, W = 8, 48, 80


@pytest.fixture
def clip():
    return MovingDiscs(N, H, W, objects=2, seed=3)


def recorder(session):
    """Every event the session emits, in order, as (name, args)."""
    seen: list[tuple] = []
    for name in ("mask_changed", "references_changed", "objects_changed", "review_changed", "history_changed"):
        getattr(session.events, name).connect(lambda *args, _n=name: seen.append((_n, *args)))
    return seen


def test_references_are_validated_with_a_remedy(clip):
    session = AnnotationSession.in_memory(clip, objects=[1, 2])
    with pytest.raises(InputError, match=r"is 10x5, the frames are 80x48; a mask must match"):
        session.set_reference(0, np.zeros((5, 10), np.uint8))
    with pytest.raises(InputError, match=r"outside the shot of 8 frames; use an index 0..7"):
        session.set_reference(8, clip.mask(0))
    with pytest.raises(InputError, match=r"marks no object .* need at least one object"):
        session.set_reference(0, np.zeros((H, W), np.uint8))
    bad = clip.mask(0).copy()
    bad[0, 0] = 9
    with pytest.raises(InputError, match=r"object ids \[9\] the session does not have .* add those objects first"):
        session.set_reference(0, bad)
    with pytest.raises(InputError, match="values outside 0..255"):
        session.set_reference(0, clip.mask(0).astype(np.int32) * 300)
    assert session.references == [] and session.masked_frames == set() and len(session.history) == 0


def test_objects_are_validated(clip):
    with pytest.raises(InputError, match="at least one object"):
        AnnotationSession.in_memory(clip, objects=[])
    for bad in (0, 256, True):
        with pytest.raises(InputError, match=r"object ids are whole numbers 1..255"):
            AnnotationSession.in_memory(clip, objects=[bad])
    with pytest.raises(InputError, match="given twice"):
        AnnotationSession.in_memory(clip, objects=[ShotObject(1), ShotObject(1)])
    session = AnnotationSession.in_memory(clip, objects=[1])
    with pytest.raises(InputError, match=r"without / or \\"):
        session.update_object(1, name="hair/left")
    with pytest.raises(InputError, match="has no object 4"):
        session.update_object(4, hidden=True)
    seen = recorder(session)
    assert session.add_object("sleeve") == 2 and session.objects.name(2) == "sleeve"
    assert session.update_object(2, locked=True) and not session.update_object(2, locked=True)
    assert seen == [("objects_changed",), ("objects_changed",)]


def test_set_replace_delete_references_fire_events_and_undo(clip):
    session = AnnotationSession.in_memory(clip)  # objects follow the references (the service's way)
    seen = recorder(session)
    assert session.set_reference(0, clip.mask(0)) is False
    assert session.object_ids == [1, 2] and session.references == [0]
    assert ("references_changed",) in seen and ("mask_changed", 0) in seen and ("objects_changed",) in seen
    version = session.version(0)
    seen.clear()
    assert session.set_reference(0, clip.mask(1)) is True  # replaced: a new version, announced
    assert session.version(0) > version and ("references_changed",) in seen
    assert np.array_equal(session.mask(0), clip.mask(1)) and session.origin(0) is MaskOrigin.reference
    only_second = clip.mask(5).copy()
    only_second[only_second == 1] = 0
    session.set_reference(5, only_second)
    assert session.object_order() == [1, 2]
    assert session.delete_reference(0) and not session.delete_reference(0)
    assert session.references == [5] and session.object_order() == [2]
    assert session.has_mask(0)  # deleting a reference keeps its mask
    assert session.history.undo_text == "Delete reference 000000"

    session.undo()  # the reference is back
    assert session.references == [0, 5]
    session.undo()  # frame 5 was never a reference nor masked
    assert session.references == [0] and not session.has_mask(5)
    session.undo()  # the replacement is taken back
    assert np.array_equal(session.mask(0), clip.mask(0))
    session.undo()
    assert session.references == [] and not session.has_mask(0) and session.undo() is None
    for _ in range(4):
        session.redo()
    assert session.references == [5] and np.array_equal(session.mask(0), clip.mask(1)) and session.redo() is None


def test_edits_keep_locked_objects_and_undo_by_patches(clip):
    session = AnnotationSession.in_memory(clip, objects=[1, 2])
    session.set_reference(0, clip.mask(0))
    session.update_object(2, locked=True)
    wiped = np.zeros((H, W), np.uint8)
    assert session.edit_mask(0, wiped, "Erase")
    assert set(np.unique(session.mask(0))) == {0, 2}  # object 2 is locked: its pixels stay
    assert not session.edit_mask(0, session.mask(0), "Nothing")
    assert session.edit_mask(3, clip.mask(3), "Brush") and session.origin(3) is MaskOrigin.edited
    assert session.edited_frames == [3]
    step = session.history.steps[-1]
    assert step.before.shape == step.after.shape and step.before.size < H * W  # only the changed rectangle
    session.undo()
    assert not session.has_mask(3)  # undo of an edit that created the mask removes it
    session.undo()
    assert np.array_equal(session.mask(0), clip.mask(0))
    with pytest.raises(InputError, match="has no mask yet"):
        session.save_reference(4)


def test_review_state_rules(clip):
    session = AnnotationSession.in_memory(clip, objects=[1, 2])
    session.set_reference(0, clip.mask(0))
    before = {f: session.mask_bytes(f) for f in (1, 2, 3)}
    for f in (1, 2, 3):
        session.propagated(f, clip.mask(f))
    session.finish_propagation({f: (before[f], session.mask_bytes(f)) for f in (1, 2, 3)}, "Propagate")
    assert [session.state(f) for f in range(4)] == [FrameState.reference] + [FrameState.fresh] * 3
    assert session.origin(2) is MaskOrigin.propagated
    assert session.approve(1) and session.approve(2) and not session.approve(2)
    session.edit_mask(2, clip.mask(4), "Brush")  # an edit of a frame clears its approval
    assert session.state(2) is FrameState.fresh and session.state(1) is FrameState.approved

    seen = recorder(session)
    session.set_reference(6, clip.mask(6))  # references changed after the propagation: stale, approvals gone
    assert ("review_changed",) in seen
    assert [session.state(f) for f in (1, 2, 3, 6)] == [FrameState.stale] * 3 + [FrameState.reference]
    session.undo()  # undo leaves them stale: results of the old references are never called fresh again
    assert session.state(3) is FrameState.stale

    # undo of a propagation puts back the masks and states of before it
    session2 = AnnotationSession.in_memory(clip, objects=[1, 2])
    session2.set_reference(0, clip.mask(0))
    session2.propagated(1, clip.mask(1))
    session2.finish_propagation({1: (None, session2.mask_bytes(1))}, "Propagate")
    session2.undo()
    assert not session2.has_mask(1) and session2.state(1) is FrameState.none
    session2.redo()
    assert session2.state(1) is FrameState.fresh and np.array_equal(session2.mask(1), clip.mask(1))


def test_an_in_memory_session_keeps_its_references_as_pngs_in_a_folder(tmp_path, clip):
    from xmempp.io.masks import davis_palette, read_mask

    palette = davis_palette()
    palette[2] = (1, 2, 3)
    session = AnnotationSession.in_memory(clip, folder=tmp_path / "references", palette=palette)
    session.set_reference(4, clip.mask(4))
    saved = read_mask(tmp_path / "references" / "000004.png")
    assert np.array_equal(saved.ids, clip.mask(4)) and tuple(saved.palette[2]) == (1, 2, 3)
    session.set_reference(4, clip.mask(6))  # replaced: the file follows
    assert np.array_equal(read_mask(tmp_path / "references" / "000004.png").ids, clip.mask(6))
    session.edit_mask(2, clip.mask(2), "Brush")  # not a reference: no file
    session.delete_reference(4)
    assert sorted(p.name for p in (tmp_path / "references").iterdir()) == []
    session.undo()
    assert [p.name for p in (tmp_path / "references").iterdir()] == ["000004.png"]


def _workspace(tmp_path, clip):
    src = tmp_path / "src"
    for i in range(len(clip)):
        atomic_write_image(src / f"f{i:03d}.png", clip[i])
    return create_workspace(tmp_path / "ws", "shot", open_frames(src), {0: clip.mask(0)})


def test_saved_to_and_reopened_from_a_workspace(tmp_path, clip):
    path = _workspace(tmp_path, clip)
    session = AnnotationSession.from_workspace(path)
    assert session.references == [0] and session.object_ids == [1, 2] and session.size == (H, W)
    assert np.array_equal(session.mask(0), clip.mask(0))
    session.edit_mask(3, clip.mask(3), "Brush")
    session.save_reference(3)
    session.update_object(1, name="hero cap", hidden=True)
    session.update_object(2, colour=(10, 20, 30), locked=True)
    session.propagated(5, clip.mask(5))
    session.finish_propagation({5: (None, session.mask_bytes(5))}, "Propagate")
    session.approve(5)
    session.edit_mask(6, clip.mask(6), "Brush")
    assert not list(path.rglob(".xmempp-tmp*")) and not [p for p in path.rglob("*") if p.name.startswith(".")]

    again = AnnotationSession.from_workspace(Workspace.open(path))
    assert again.references == [0, 3] and again.masked_frames == {0, 3, 5, 6} and again.edited_frames == [6]
    for f in (0, 3, 5, 6):
        assert np.array_equal(again.mask(f), session.mask(f))
    assert [(o.id, o.name, o.colour, o.hidden, o.locked) for o in again.objects] == [
        (1, "hero cap", None, True, False),
        (2, "", (10, 20, 30), False, True),
    ]
    assert [again.state(f) for f in (0, 3, 5, 6)] == [
        FrameState.reference,
        FrameState.reference,
        FrameState.approved,
        FrameState.none,
    ]
    info = json.loads((path / "info.json").read_text())
    assert info["references"] == [0, 3] and info["num_objects"] == 2  # what XMem++ reads


def _run(session: InferenceSession, clip, frames) -> list[torch.Tensor]:
    session.clear_memory()
    return [session.step(i, clip[i], end=i == frames[-1]).clone() for i in frames]


def test_the_networks_memory_does_not_depend_on_the_order_of_edits(model, clip):
    config = InferenceConfig(size=-1)
    only_second = clip.mask(5).copy()
    only_second[only_second == 1] = 0
    edited = AnnotationSession.in_memory(clip)
    edited.set_reference(0, clip.mask(0))
    first = edited.memory(model, config, "xmempp")
    assert edited.memory(model, config, "xmempp") is first and edited.current_memory is first
    edited.set_reference(5, only_second)
    edited.set_reference(0, clip.mask(2))  # replaced in place
    edited.delete_reference(0)  # object 1 goes: the memory is rebuilt in a fresh session's order
    edited.set_reference(3, clip.mask(3))
    edited.edit_mask(3, clip.mask(4), "Brush")  # an edit of a reference replaces it
    in_order = AnnotationSession.in_memory(clip)
    in_order.set_reference(3, clip.mask(4))
    in_order.set_reference(5, only_second)
    assert edited.references == in_order.references == [3, 5]

    frames = [4, 6, 7]
    a = edited.memory(model, config, "xmempp")
    fresh = InferenceSession(model, config, "xmempp")  # what a job opened from scratch holds
    for f in (3, 5):
        fresh.add_reference(f, clip[f], in_order.mask(f).copy())
    assert (
        a.object_ids
        == in_order.memory(model, config, "xmempp").object_ids
        == fresh.object_ids
        == in_order.object_order()
    )
    for x, y in zip(_run(a, clip, frames), _run(fresh, clip, frames)):
        assert torch.equal(x, y)
    edited.drop_memory()
    assert edited.current_memory is None and edited.memory(model, config, "xmempp") is not a


def test_the_guis_model_cache_keeps_its_old_name_with_a_notice():
    import importlib

    from xmempp.gui.model_cache import ModelCache

    engine = importlib.import_module("xmempp.gui.engine")
    with pytest.warns(DeprecationWarning, match=r"xmempp\.gui\.engine\.Engine is deprecated, use .*ModelCache"):
        assert engine.Engine is ModelCache
    with pytest.raises(AttributeError):
        engine.Nothing  # noqa: B018
