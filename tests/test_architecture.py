"""The package's shape, read from its source (AST only, nothing imported): no import cycle
between jaxch6's modules, function-level imports included."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxch6"


def _modules() -> dict[str, tuple[Path, bool]]:
    """Module name → (file, is a package's ``__init__``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def _owner(name: str, modules) -> str | None:
    """The module ``name`` lives in: itself, or its longest prefix that is a module."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported(node: ast.Import | ast.ImportFrom, here: str, is_package: bool) -> list[str]:
    """The dotted names an import statement reads (``from a import b`` → ``a.b``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = here.split(".") if is_package else here.split(".")[:-1]
    if node.level:
        base = base[: len(base) - node.level + 1]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    return [f"{module}.{a.name}" for a in node.names]


def import_graph() -> dict[str, set[str]]:
    """Module → the jaxch6 modules it imports anywhere in its source (top level, inside
    functions, under ``TYPE_CHECKING``)."""
    modules = _modules()
    graph = {}
    for name, (path, is_package) in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for dotted in _imported(node, name, is_package):
                    owner = _owner(dotted, modules) if dotted.startswith("jaxch6") else None
                    if owner and owner != name:
                        targets.add(owner)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    # runner imports the task module only inside functions
    assert "jaxch6.sweep.task" in graph["jaxch6.sweep.runner"]
    assert "jaxch6.sweep.runner" in graph["jaxch6.sweep"]  # the package re-exports run
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules():
    found = cycles(import_graph())
    assert found == [], "import cycles (function-level imports count): " + "; ".join(
        " ↔ ".join(c) for c in found)
