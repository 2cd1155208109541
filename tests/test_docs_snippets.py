"""Every ```python block of README.md and docs/*.md runs (mktestdocs finds the blocks).

The blocks of one file run in order in one namespace, as a reader would type them, in a sandbox folder
that holds what the examples name:

- `saves/XMem.pth`: the tests' own random weights (`tests/random_weights.py`) in the official layout;
- `plates/shot_a/shot_a_1001.png` ... `1004`: a synthetic clip (`xmempp.io.synthetic.MovingDiscs`, 64x112,
  two objects) and `roto/shot_a/shot_a_1001.png`, its first frame's index mask;
- `sh010/plate/sh010_plate_v001.1001.exr` ... `1003` (scene-linear EXR) and `sh010/roto/sh010_roto.1001.exr`
  (channel `chair.mask`), for docs/plates.md (needs the `vfx` extra).

A block that needs what no sandbox can hold (a GPU, a cluster, another package's environment) is marked
with the line `<!-- docs-test: skip (why) -->` right above its opening fence: it is still compiled, so a
syntax error fails, but not run. Shell commands go in ```bash blocks, never run; every opening fence names
its language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from mktestdocs import grab_code_blocks
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: The marker line that keeps the next ```python block from running (it is still compiled).
SKIP_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*skip\b.*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    code: str
    skip: bool


def fences(text: str) -> list[tuple[int, str, bool]]:
    """(line, language, skip marker above) of every opening fence."""
    found, open_fence = [], None
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        match = FENCE.match(line)
        if not match:
            continue
        if open_fence is None:
            open_fence = match.group(2)
            skip = number >= 2 and bool(SKIP_MARKER.match(lines[number - 2]))
            found.append((number, match.group(3).strip(), skip))
        elif match.group(2).startswith(open_fence) and not match.group(3).strip():
            open_fence = None
    return found


def python_blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    codes = grab_code_blocks(text, lang="python")
    opening = [(line, skip) for line, lang, skip in fences(text) if lang == "python"]
    assert len(codes) == len(opening), (
        f"{path.name}: mktestdocs found {len(codes)} python blocks, the fences {len(opening)}"
    )
    return [Block(path, line, code, skip) for (line, skip), code in zip(opening, codes)]


def _doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


WITH_PYTHON = [p for p in DOC_FILES if python_blocks(p)]


def _write_exr(path: Path, channels: dict[str, np.ndarray]) -> None:
    import OpenEXR

    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {k: np.ascontiguousarray(v) for k, v in channels.items()}).write(str(path))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, state) -> Path:
    """The folder the examples run in (see the module's docstring)."""
    import torch

    from xmempp.io.synthetic import MovingDiscs

    root = tmp_path_factory.mktemp("docs-sandbox")
    (root / "saves").mkdir()
    torch.save(state, root / "saves" / "XMem.pth")
    clip = MovingDiscs(4, 64, 112, objects=2, seed=1)
    for folder in ("plates/shot_a", "roto/shot_a", "sh010/plate", "sh010/roto"):
        (root / folder).mkdir(parents=True)
    for i in range(len(clip)):
        Image.fromarray(clip[i]).save(root / "plates" / "shot_a" / f"shot_a_{1001 + i}.png")
    Image.fromarray(clip.mask(0)).save(root / "roto" / "shot_a" / "shot_a_1001.png")
    try:
        import OpenEXR  # noqa: F401
    except ImportError:  # without the vfx extra: docs/plates.md's test skips
        return root
    for i in range(3):
        linear = (clip[i].astype(np.float32) / 255.0) ** 2.2
        _write_exr(
            root / "sh010" / "plate" / f"sh010_plate_v001.{1001 + i}.exr",
            {c: linear[..., k].astype(np.float16) for k, c in enumerate("RGB")},
        )
    _write_exr(root / "sh010" / "roto" / "sh010_roto.1001.exr", {"chair.mask": (clip.mask(0) == 2).astype(np.float32)})
    return root


@pytest.mark.parametrize("path", WITH_PYTHON, ids=_doc_id)
def test_python_blocks_run(path: Path, sandbox: Path, monkeypatch) -> None:
    import torch

    blocks = python_blocks(path)
    needs_exr = any("sh010" in b.code for b in blocks if not b.skip)
    if needs_exr and not (sandbox / "sh010" / "roto" / "sh010_roto.1001.exr").exists():
        pytest.skip("the plate examples need the vfx extra (OpenEXR, OpenImageIO)")
    monkeypatch.chdir(sandbox)
    monkeypatch.setenv("XMEMPP_HOME", str(sandbox / "saves"))  # nothing may reach for the user's weights cache
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    namespace: dict = {"__name__": "__main__"}
    for block in blocks:
        compiled = compile(block.code, f"{_doc_id(path)}, block at line {block.line}", "exec")
        if block.skip:
            continue
        try:
            exec(compiled, namespace)
        except Exception as exc:
            raise AssertionError(
                f"{_doc_id(path)}: the python block at line {block.line} failed: {type(exc).__name__}: {exc}"
            ) from exc


@pytest.mark.parametrize("path", DOC_FILES, ids=_doc_id)
def test_fences_name_their_language(path: Path) -> None:
    """An unlabelled block is neither run nor highlighted: shell goes in ```bash, output in ```text."""
    unlabelled = [line for line, lang, _ in fences(path.read_text(encoding="utf-8")) if not lang]
    assert not unlabelled, f"{_doc_id(path)}: code blocks without a language at lines {unlabelled}"


def test_skip_markers_precede_python_blocks() -> None:
    """A marker that no longer sits above a python block (the block moved) would silently mark nothing."""
    for path in DOC_FILES:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if SKIP_MARKER.match(line):
                nxt = lines[number] if number < len(lines) else ""
                match = FENCE.match(nxt)
                assert match and match.group(3).strip() == "python", (
                    f"{_doc_id(path)}:{number}: the skip marker is not right above a ```python block"
                )
