"""docs/benchmarks.md's measured tables are what scripts/benchmarks_page.py renders from docs/benchmarks/*.json."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("benchmarks_page", ROOT / "scripts" / "benchmarks_page.py")
assert _spec is not None and _spec.loader is not None
page_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(page_script)

#: What every result file must say about where, when and how it was measured.
PROVENANCE = ("hardware", "threads", "date", "xmempp_version", "torch_version", "command", "commit", "note")


def test_the_page_is_what_its_result_files_render():
    page = page_script.PAGE.read_text(encoding="utf-8")
    assert page_script.render(page, page_script.load_results()) == page, (
        "docs/benchmarks.md differs from docs/benchmarks/*.json: run python scripts/benchmarks_page.py render"
    )


def test_every_marked_table_is_rendered_and_known():
    page = page_script.PAGE.read_text(encoding="utf-8")
    names = [match["name"] for match in page_script.MARKED.finditer(page)]
    assert set(names) == set(page_script.TABLES)
    for match in page_script.MARKED.finditer(page):
        assert match["body"].startswith("| |"), f"table {match['name']} is empty"


@pytest.mark.parametrize("path", sorted((ROOT / "docs" / "benchmarks").glob("*.json")), ids=lambda p: p.name)
def test_every_result_file_names_its_provenance(path):
    result = json.loads(path.read_text(encoding="utf-8"))
    missing = [key for key in PROVENANCE if not result.get(key)]
    assert not missing, f"{path.name} lacks {missing}"
    assert result["command"].startswith("xmempp bench ")
    assert result["threads"] >= 1


def test_a_changed_figure_shows_as_a_difference():
    page = page_script.PAGE.read_text(encoding="utf-8")
    results = page_script.load_results()
    name = next(iter(results))
    results[name]["ms_per_frame"] *= 2
    assert page_script.render(page, results) != page


def test_a_hand_edit_inside_a_table_is_undone_by_render():
    page = page_script.PAGE.read_text(encoding="utf-8")
    edited = page.replace("| ms per frame |", "| ms per frame (hand-edited) |", 1)
    assert edited != page
    assert page_script.render(edited, page_script.load_results()) == page


def test_an_unknown_table_name_is_refused():
    with pytest.raises(SystemExit, match="unknown table"):
        page_script.render("<!-- bench:nope -->\n<!-- /bench -->\n", {})
