"""One way to edit references: the front ends (gui/, service/, batch/, cli/) keep the network's memory in line
with their references only through the core's session model (`xmempp.annotation.AnnotationSession.memory`,
which uses `ReferenceSync`). A front end that calls an `InferenceSession`'s `add_reference`,
`replace_reference` or `remove_reference`, or builds a `ReferenceSync` of its own, has grown a second
implementation of reference edits again: this test names the file and line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRONT_ENDS = ("gui", "service", "batch", "cli")
#: The memory controls of `InferenceSession` only the session model may call.
MEMORY_EDITS = frozenset({"add_reference", "replace_reference", "remove_reference"})


def reference_edits(source: str, filename: str = "<snippet>") -> list[str]:
    """The places in `source` that edit a network memory's references by hand: calls of `.add_reference`,
    `.replace_reference`, `.remove_reference` (on anything: a front end has no other object with these
    names to call), and any use of `ReferenceSync` (imported, called or referred to)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MEMORY_EDITS:
            found.append(f"{where} calls .{node.func.attr}()")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MEMORY_EDITS:
            found.append(f"{where} calls {node.func.id}()")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names]
            if (
                "ReferenceSync" in names
                or any(n.endswith("reference_sync") for n in names)
                or (isinstance(node, ast.ImportFrom) and (node.module or "").endswith("reference_sync"))
            ):
                found.append(f"{where} imports ReferenceSync")
        elif (isinstance(node, ast.Name) and node.id == "ReferenceSync") or (
            isinstance(node, ast.Attribute) and node.attr == "ReferenceSync"
        ):
            found.append(f"{where} uses ReferenceSync")
    return found


def front_end_edits(folder: str) -> list[str]:
    """Every hand-made reference edit in the Python files of one front end's folder."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        found += reference_edits(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "session.inference.add_reference(frame, image, ids)",
        "def f(s):\n    s.replace_reference(3, img, mask)",
        "memory = get()\nmemory.remove_reference(7)",
        "from xmempp.inference.reference_sync import ReferenceSync\nsync = ReferenceSync(model, config, 'xmempp')",
        "import xmempp.inference.reference_sync as rs\nrs.ReferenceSync(model, config, mode)",
        "from xmempp.inference import reference_sync",
    ],
)
def test_the_scan_finds_a_hand_made_reference_edit(snippet):
    assert reference_edits(snippet)


@pytest.mark.parametrize(
    "snippet",
    [
        "session.set_reference(0, ids)\nsession.delete_reference(3)\nsession.save_reference(2)",
        "inference = session.memory(model, config, 'xmempp')",
        "project.mark_reference(4, True)",
    ],
)
def test_the_scan_leaves_the_session_api_alone(snippet):
    assert reference_edits(snippet) == []


@pytest.mark.parametrize("folder", ["gui", "service", "batch", "cli"])
def test_front_ends_edit_references_only_through_the_session_model(folder):
    edits = front_end_edits(folder)
    assert edits == [], (
        "reference edits outside the session model (use AnnotationSession.set_reference / "
        "delete_reference and session.memory(...)):\n" + "\n".join(edits)
    )
