"""Review states of a workspace's masks (`xmempp.io.review_state`): fresh -> stale -> fresh, approval and
what clears it, the review's verdicts, and review.json (atomic, lenient, absent in older workspaces)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from iohelpers import colour_frame
from xmempp.errors import InputError
from xmempp.io.review_state import REVIEW_FILE, FrameCheck, FrameRecord, FrameState, ObjectCheck, ReviewStates
from xmempp.io.sources import open_frames
from xmempp.io.workspace import Workspace, create_workspace

FRESH, STALE, FLAGGED, APPROVED, NONE = (
    FrameState.fresh,
    FrameState.stale,
    FrameState.flagged,
    FrameState.approved,
    FrameState.none,
)


def bad(score: float = 0.1) -> FrameCheck:
    return FrameCheck(
        {1: ObjectCheck(score, True, ["object missing where the motion puts it"]), 2: ObjectCheck(0.9, False)}
    )


def test_fresh_stale_and_fresh_again():
    states = ReviewStates(6)
    assert [states.state(f) for f in range(6)] == [NONE] * 6  # nothing propagated yet (an older workspace)
    assert not states.references_changed()  # nothing to make stale: no new generation
    for f in range(1, 6):
        states.propagated(f)
    assert [states.state(f) for f in range(1, 6)] == [FRESH] * 5
    assert states.state(0, reference=True) is FrameState.reference
    assert states.state(3, has_mask=False) is NONE

    assert states.references_changed()  # e.g. a reference added
    assert states.stale_frames() == [1, 2, 3, 4, 5]
    assert not states.references_changed()  # stale already: nothing changes, no new generation
    # a stopped re-propagation reached frames 1 and 2 only
    states.propagated(1)
    states.propagated(2)
    assert [states.state(f) for f in range(1, 6)] == [FRESH, FRESH, STALE, STALE, STALE]
    for f in (3, 4, 5):
        states.propagated(f)
    assert states.stale_frames() == []


def test_approval_and_what_clears_it():
    states = ReviewStates(5)
    for f in range(1, 5):
        states.propagated(f)
    states.set_check(2, bad())
    assert states.state(2) is FLAGGED and states.check(2).score == pytest.approx(0.1)
    assert states.approve(2) and not states.approve(2)
    assert states.state(2) is APPROVED  # the artist's word beats the review's flag
    assert states.approve(2, False) and states.state(2) is FLAGGED
    states.approve(2)

    # an edit of the frame clears its approval and the verdict on the old mask
    assert states.edited(2) and states.state(2) is FRESH and states.check(2) is None
    assert not states.edited(2)

    # a change of the references makes propagated frames stale and clears their approval
    states.approve(3)
    states.approve(0)  # frame 0: painted, never propagated; its approval is not about the references
    assert states.references_changed()
    assert states.state(3) is STALE and not states.is_approved(3) and states.is_approved(0)
    # a stale frame may be approved as it is (the export then does not warn about it)
    states.approve(4)
    assert states.state(4) is APPROVED and 4 not in states.stale_frames()
    # a propagation over a frame clears its approval and verdict
    states.set_check(4, bad())
    states.propagated(4)
    assert states.state(4) is FRESH and states.check(4) is None

    # undo puts a frame's record back; a frame that becomes a reference forgets everything
    record = states.record(3)
    states.propagated(3)
    states.restore(3, record)
    assert states.state(3) is STALE
    assert states.forget(3) and states.record(3) == FrameRecord()


def test_check_from_a_review_and_its_score():
    from xmempp.review import FrameReview, ObjectReview

    review = FrameReview(
        3, "f3", {1: ObjectReview(0.2, True, ["part missing (30 % of the object)"]), 4: ObjectReview(0.8, False)}
    )
    check = FrameCheck.from_review(review)
    assert check.flagged and check.score == pytest.approx(0.2) and check.objects[1].reasons == review.objects[1].reasons
    assert FrameCheck().score == 1.0 and not FrameCheck().flagged


def frames(tmp_path, n=5):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(n):
        Image.fromarray(colour_frame(i, 30, 40)).save(src / f"plate_{i:04d}.png")
    mask = np.zeros((30, 40), np.uint8)
    mask[5:15, 5:15] = 1
    return create_workspace(tmp_path / "ws", "shot", open_frames(src), {0: mask})


def test_saved_beside_info_json_by_frame_name_and_read_back(tmp_path):
    path = frames(tmp_path)
    ws = Workspace.open(path)
    assert not ws.review_path.exists()
    states = ws.read_review_states()  # a workspace without review.json (older ones): no states
    assert states.generation == 0 and states.stale_frames() == []
    for f in range(1, 5):
        states.propagated(f)
    states.set_check(2, bad(0.123456))
    states.approve(4)
    states.references_changed()
    states.propagated(1)
    ws.save_review_states(states)
    assert ws.review_path == path / REVIEW_FILE
    data = json.loads(ws.review_path.read_text())
    assert data["version"] == 1 and data["generation"] == 1
    assert data["frames"]["plate_0001"] == {"propagated": 1}
    assert data["frames"]["plate_0002"]["objects"]["1"] == {
        "score": 0.1235,
        "flagged": True,
        "reasons": ["object missing where the motion puts it"],
    }
    assert "approved" not in data["frames"]["plate_0004"]  # cleared by the reference change
    assert not list(path.glob(".*"))  # written atomically: no temporary file left
    info = json.loads((path / "info.json").read_text())
    assert "review" not in json.dumps(info)  # info.json (XMem++ reads it) stays as it was

    again = Workspace.open(path).read_review_states()
    assert [again.state(f) for f in range(1, 5)] == [FRESH, STALE, STALE, STALE]
    assert again.check(2).objects[1].flagged and again.check(2).score == pytest.approx(0.1235)
    assert again.to_dict(ws.names) == data


def test_reading_is_lenient_and_a_broken_file_says_so(tmp_path):
    path = frames(tmp_path)
    ws = Workspace.open(path)
    ws.review_path.write_text(
        json.dumps(
            {
                "version": 7,
                "generation": 2,
                "future_field": [1, 2],
                "frames": {
                    "plate_0001": {"propagated": 2, "approved": "yes", "objects": {"1": {"score": "x"}}},
                    "plate_0002": {"propagated": 9},  # past the generation: ignored
                    "plate_0003": {"propagated": 1, "objects": {"1": {"score": 0.3, "flagged": True}, "a": {}}},
                    "not_a_frame": {"propagated": 1},
                    "plate_0004": "?",
                },
            }
        )
    )
    states = ws.read_review_states()
    assert states.generation == 2
    assert states.state(1) is FRESH and not states.is_approved(1) and states.check(1) == FrameCheck()
    assert states.propagated_at(2) is None
    assert states.state(3) is STALE and states.check(3).objects[1].reasons == []
    ws.review_path.write_text("{not json")
    with pytest.raises(InputError, match="review states start afresh"):
        ws.read_review_states()
