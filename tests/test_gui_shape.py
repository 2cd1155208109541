"""The shape of the code around the GUI: the main window only wires (a line budget), no module of the project is
part of an import cycle (imports parsed from the source, TYPE_CHECKING and function-level ones included), and the
action handlers reach only controllers."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Source folder -> the package it is installed as (pyproject's package-dir).
PACKAGES = {
    "xmempp": "xmempp",
    "gui": "xmempp.gui",
    "cli": "xmempp.cli",
    "service": "xmempp.service",
    "batch": "xmempp.batch",
    "candidate_selection": "xmempp.candidate_selection",
}
#: The main window wires controllers; past this it is doing their work again.
MAX_MAIN_WINDOW_LINES = 400


def _modules() -> dict[str, Path]:
    modules = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def _imports(path: Path, name: str) -> set[str]:
    """Every module name `path` imports, at any level (under TYPE_CHECKING too: a cycle in types is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project's modules it imports (a package's own submodules, which it re-exports, left out)."""
    modules = _modules()
    return {
        name: {
            m
            for m in _imports(path, name)
            if m in modules and m != name and not (path.name == "__init__.py" and m.startswith(name + "."))
        }
        for name, path in modules.items()
    }


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_find_cycles_sees_a_cycle_through_type_checking_imports(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    path = tmp_path / "probe.py"
    path.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .main_window import MainWindow\n",
        encoding="utf-8",
    )
    assert "xmempp.gui.main_window" in _imports(path, "xmempp.gui.probe")


def test_no_import_cycle_in_the_project():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles (give the lower module a Protocol of what it needs instead): " + "; ".join(
        " <-> ".join(group) for group in cycles
    )


def test_main_window_only_wires():
    lines = len((ROOT / "gui" / "main_window.py").read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MAIN_WINDOW_LINES, (
        f"gui/main_window.py has {lines} lines (at most {MAX_MAIN_WINDOW_LINES}): move the work to a controller"
    )


def test_action_handlers_reach_only_controllers():
    source = (ROOT / "gui" / "window_actions.py").read_text(encoding="utf-8")
    reached = {
        node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "t"
    }
    assert reached and not reached & {"canvas", "project", "ui", "timeline", "jobs"}, reached
