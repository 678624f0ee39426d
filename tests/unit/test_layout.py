"""The package's layout: no import circles, and no serving module left at the top level."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "src" / "underwrite"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The package modules `path` imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in known}


def import_graph(root: Path = PACKAGE_ROOT) -> dict[str, set[str]]:
    files = {module_name(p): p for p in root.rglob("*.py")}
    known = set(files)
    return {name: imports_of(path, known) - {name} for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle in `graph` (a list of modules, first == last), or None."""
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*trail, nxt])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_package_has_no_import_circles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_find_cycle_reports_a_circle_it_is_given() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]


def test_imports_of_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "underwrite" / "x.py"
    source.parent.mkdir()
    source.write_text("def f():\n    from underwrite.y import z\n")
    assert imports_of(source, {"underwrite.y", "underwrite.x"}) == {"underwrite.y"}


@pytest.mark.parametrize(
    "module",
    [
        "service",
        "api",
        "bento_model",
        "batching",
        "inference_writer",
        "body_limit",
        "request_timeout",
        "serving_cli",
        "retrain_pr",
        "simulate",
    ],
)
def test_serving_and_loop_modules_live_in_their_packages(module: str) -> None:
    assert not (PACKAGE_ROOT / f"{module}.py").exists()


def test_every_package_opens_with_its_map() -> None:
    for init in PACKAGE_ROOT.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.splitlines()) >= 3, f"{init} has no map in its docstring"


def test_test_modules_have_unique_names() -> None:
    """pytest imports test modules by file name from each folder: two alike cannot coexist."""
    tests = PACKAGE_ROOT.parents[1] / "tests"
    names = [p.name for p in tests.rglob("*.py") if p.name != "conftest.py"]
    assert sorted({n for n in names if names.count(n) > 1}) == []
