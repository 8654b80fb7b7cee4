"""The package's shape, read from its source (AST only, nothing imported): no import cycle
between jaxch6's modules, function-level imports included; no private name of jaxch6 (one
leading underscore: a module's ``_name``, a package's ``_module``) used outside the module that
defines it, by the package, its tests, experiments or docs hooks; no function of jaxch6 longer
than :data:`MAX_LINES` lines of code."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxch6"
#: Where jaxch6 is used from: every Python file of these folders is checked.
USERS = ("jaxch6", "tests", "experiments", "docs")
#: The most lines of a function of jaxch6, from ``def`` to its end, its docstring not counted.
MAX_LINES = 60
#: Private names still imported across modules, and why.
ALLOWED_PRIVATE: dict[str, str] = {}


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


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _first_private(dotted: str) -> str | None:
    """``dotted`` up to its first private part (``jaxch6.a._b.c`` → ``jaxch6.a._b``)."""
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if _private(part):
            return ".".join(parts[: i + 1])
    return None


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def private_uses(path: Path) -> list[str]:
    """``FILE:LINE: NAME`` for each private jaxch6 name ``path`` uses that another module
    defines (:data:`ALLOWED_PRIVATE` included): imported
    (``from jaxch6.x import _y``, ``from jaxch6.x._m import y``) or read off an imported
    module or name (``x._y``)."""
    here, is_package = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bound: dict[str, str] = {}  # local name → the jaxch6 dotted name it is bound to
    found = []

    def use(dotted: str, line: int) -> None:
        private = _first_private(dotted)
        owner = private and private.rpartition(".")[0]
        if private and owner != here and private != here and \
                not here.startswith(private + "."):
            found.append(f"{path.relative_to(ROOT)}:{line}: {private}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for dotted, alias in zip(_imported(node, here, is_package), node.names,
                                     strict=True):
                if not dotted.startswith("jaxch6"):
                    continue
                use(dotted, node.lineno)
                if alias.asname or isinstance(node, ast.ImportFrom):
                    bound[alias.asname or alias.name] = dotted
                else:  # import jaxch6.a.b binds jaxch6
                    bound[dotted.partition(".")[0]] = dotted.partition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            chain, value = [node.attr], node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in bound:
                use(".".join([bound[value.id], *reversed(chain)]), node.lineno)
    return found


def test_the_private_name_check_sees_imports_and_attributes(tmp_path, monkeypatch):
    source = ("from jaxch6.train import _spec\nfrom jaxch6.experiments import common\n"
              "import jaxch6.plots as P\nfrom jaxch6 import train\n"
              "def f():\n    from jaxch6.commands._flags import x\n"
              "    return P._figure, train.make_run, train._hparams, common.__name__\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(source)
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert [u.split(": ")[1] for u in private_uses(tmp_path / "tests" / "test_x.py")] == [
        "jaxch6.train._spec", "jaxch6.commands._flags", "jaxch6.plots._figure",
        "jaxch6.train._hparams"]


def test_no_private_name_is_used_outside_its_module():
    paths = [path for folder in USERS for path in sorted((ROOT / folder).rglob("*.py"))]
    uses = [use for path in paths for use in private_uses(path)]
    found = [use for use in uses if use.partition(": ")[2] not in ALLOWED_PRIVATE]
    assert found == [], "private names used outside their module:\n" + "\n".join(found)
    # an exception no longer needed is removed
    assert {use.partition(": ")[2] for use in uses} >= set(ALLOWED_PRIVATE)


def code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's lines from ``def`` to its end, less its docstring's."""
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and \
            isinstance(first.value.value, str):
        lines -= first.end_lineno - first.lineno + 1
    return lines


def test_code_lines_leave_the_docstring_out():
    tree = ast.parse('def f(x):\n    """Doc.\n\n    More.\n    """\n    y = x\n    return y\n'
                     "def g():\n    return 1\n")
    assert [code_lines(n) for n in tree.body] == [3, 2]


def test_no_function_is_longer_than_max_lines():
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {code_lines(node)} lines"
            for path in sorted(PACKAGE.rglob("*.py"))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and code_lines(node) > MAX_LINES]
    assert long == [], f"functions over {MAX_LINES} lines of code:\n" + "\n".join(long)
