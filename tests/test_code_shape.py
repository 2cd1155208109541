"""The code's shape, checked: no import cycle in the core, small core modules, no CLI wording in core errors."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "xmempp"
#: No core module grows past this many lines: split it by job instead. (Counted on `ruff format`ted code,
#: which gives a long call one line per argument: 450 before the formatter, about 5 % more after it.)
MAX_CORE_LINES = 475


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str) -> set[str]:
    """Core modules `path` imports, at any level (function-level imports count: they are cycles too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
    return found


def _core_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in CORE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {
            m
            for m in _imports(path, name)
            if m in modules and m != name and not (path.name == "__init__.py" and m.startswith(name + "."))
        }
    return graph


def test_core_import_graph_has_no_cycle():
    graph = _core_graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep) :] + [dep]
                raise AssertionError("import cycle in the core: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


#: Folders whose modules the line cap holds to: the core and the candidate selector.
CAPPED_FOLDERS = (CORE, ROOT / "candidate_selection")


def test_core_modules_are_small():
    big = {
        str(p.relative_to(ROOT)): n
        for folder in CAPPED_FOLDERS
        for p in folder.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_CORE_LINES
    }
    assert not big, f"core and candidate_selection modules over {MAX_CORE_LINES} lines (split them by job): {big}"


_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")


def _error_messages(path: Path) -> list[tuple[int, str]]:
    """The string literals inside `raise ...Error(...)` calls of a module, with their line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            for sub in ast.walk(node.exc):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    found.append((sub.lineno, sub.value))
    return found


def test_core_errors_name_no_cli_flag_or_command():
    offenders = []
    for path in CORE.rglob("*.py"):
        for line, text in _error_messages(path):
            if _FLAG.search(text) or ("xmempp " in text and "`" in text) or "/v1/" in text:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    assert not offenders, (
        "core errors must carry a Remedy for each front end to word, not CLI flags, commands "
        "or server paths:\n" + "\n".join(offenders)
    )


#: Folders on a public path: the core and every front end (the installed xmempp.* packages).
PUBLIC_FOLDERS = ("xmempp", "candidate_selection", "cli", "gui", "service", "batch")
#: Bare builtin errors kept on purpose, (file, exception) -> why.
KEPT_BUILTIN_ERRORS = {
    # Supervisely's BaseTracking.__init__ catches RuntimeError from load_on_device and retries on the CPU.
    ("service/supervisely.py", "RuntimeError"): "Supervisely's protocol: RuntimeError means retry on the CPU",
}


def _bare_builtin_raises(path: Path) -> list[tuple[int, str]]:
    """`raise ValueError(...)` / `raise RuntimeError(...)` (or the bare class) in a module, with their line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id in ("ValueError", "RuntimeError"):
                found.append((node.lineno, exc.id))
    return found


def test_no_bare_builtin_errors_on_public_paths():
    offenders = []
    for folder in PUBLIC_FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            offenders += [
                f"{rel}:{line}: raise {name}"
                for line, name in _bare_builtin_raises(path)
                if (rel, name) not in KEPT_BUILTIN_ERRORS
            ]
    assert not offenders, (
        "raise the project's errors (xmempp/errors.py: InputError, ConfigError, MemoryStateError, "
        "... with a Remedy where the user can act) instead of bare builtins:\n" + "\n".join(offenders)
    )


def test_bare_builtin_error_scan_finds_a_bare_raise(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "def f(x):\n    if x:\n        raise ValueError('bad')\n    raise RuntimeError\n", encoding="utf-8"
    )
    assert sorted(_bare_builtin_raises(module)) == [(3, "ValueError"), (4, "RuntimeError")]
