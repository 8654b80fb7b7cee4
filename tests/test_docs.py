"""The documentation site as built: every docstring table and formula renders as a table or
as MathML (made at build time: no script, no network), the reference pages exist, and
``site/`` holds documentation only."""

from __future__ import annotations

import ast
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")

INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)[^$]+?(?<![\\$])\$(?!\$)")
TABLE_RULE = re.compile(r"^\s*\|(\s*:?-{3,}:?\s*\|)+\s*$")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-d", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def _pages() -> dict[str, list[str]]:
    """``{api page stem: [module shown there, ...]}`` from the ``::: module`` lines."""
    pages = {}
    for md in sorted((ROOT / "docs" / "api").glob("*.md")):
        mods = re.findall(r"^:::\s*([\w.]+)", md.read_text(), re.M)
        if mods:
            pages[md.stem] = mods
    return pages


def _module_file(name: str) -> Path:
    path = ROOT.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _docstrings(name: str) -> list[str]:
    """The docstrings the page shows: the module's, and (but for jaxch6.sweep, whose page shows
    only its docstring) those of its public functions, classes and their public methods."""
    tree = ast.parse(_module_file(name).read_text())
    docs = [ast.get_docstring(tree, clean=True) or ""]
    if name == "jaxch6.sweep":
        return docs

    def walk(body):
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if node.name.startswith("_"):
                    continue
                docs.append(ast.get_docstring(node, clean=True) or "")
                if isinstance(node, ast.ClassDef):
                    walk(node.body)

    walk(tree.body)
    return docs


def _math_count(doc: str) -> int:
    display = doc.count("$$") // 2
    return display + len(INLINE_MATH.findall(doc.replace("$$", "")))


def _table_headers(doc: str) -> list[list[str]]:
    lines = doc.splitlines()
    heads = []
    for i, line in enumerate(lines):
        if TABLE_RULE.match(line) and i:
            cells = [c.strip() for c in lines[i - 1].strip().strip("|").split("|")]
            # code marks drop; inline math, a MathML element on the page, compares as MATH
            heads.append([re.sub(r"\$([^$]+)\$", "MATH", re.sub(r"`+", "", c)) for c in cells])
    return heads


def _text(page_html: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page_html))


@pytest.mark.slow
def test_every_docstring_table_and_formula_renders(site):
    pages = _pages()
    assert "plots" in pages and "sweep-export" in pages
    n_tables = n_math = 0
    for stem, modules in pages.items():
        page = (site / "api" / stem / "index.html").read_text()
        docs = [d for m in modules for d in _docstrings(m)]
        # every formula ($...$, $$...$$) is a MathML element on the built page, no TeX left
        want = sum(_math_count(d) for d in docs)
        assert page.count('class="arithmatex"') == want, stem
        maths = re.findall(r'class="arithmatex">(.*?)</(?:span|div)>', page, re.S)
        assert all(m.startswith("<math ") and m.endswith("</math>") for m in maths), stem
        assert not [m for m in maths if "\\" in _text(m) or "merror" in m], stem
        # aligned rows are table rows, not a raw "&" and a line break MathML Core ignores
        assert not [m for m in maths if re.search(r'&(?!#?\w+;)|linebreak=', m)], stem
        n_math += want
        # every Markdown table is an HTML table with the same header cells
        headers = re.findall(r"<thead>(.*?)</thead>", page, re.S)
        shown = [[_text(re.sub(r"<math .*?</math>", "MATH", c, flags=re.S)).strip()
                  for c in re.findall(r"<th[^>]*>(.*?)</th>", h, re.S)] for h in headers]
        for head in (h for d in docs for h in _table_headers(d)):
            assert head in shown, (stem, head)
            n_tables += 1
        text = _text(page)
        # nothing left as raw reStructuredText or raw Markdown
        assert not re.search(r"={5,}", text), stem
        assert not re.search(r"::\s*$", text, re.M), stem
        assert not re.search(r"^\s*\|[-:| ]{5,}\|\s*$", text, re.M), stem
        assert not INLINE_MATH.search(re.sub(r'<span class="arithmatex">.*?</span>', "",
                                             page, flags=re.S)), stem
    assert n_tables >= 4 and n_math >= 30  # the optimizers', initializers', schedules' tables


def test_no_restructuredtext_tables_or_literal_blocks_in_docstrings():
    for path in sorted((ROOT / "jaxch6").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef
                          | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node, clean=True) or ""
                assert not re.search(r"^\s*={3,}( +={3,})+\s*$", doc, re.M), path
                assert not re.search(r"::\s*$", doc, re.M), (path, getattr(node, "name", ""))


@pytest.mark.slow
def test_site_holds_documentation_only(site):
    files = [p for p in site.rglob("*") if p.is_file()]
    assert files
    assert not [p for p in files if p.suffix == ".py"]
    assert (site / "api" / "plots" / "index.html").read_text().count("write_sweep_figures")
    assert (site / "api" / "sweep-export" / "index.html").exists()


@pytest.mark.slow
def test_site_loads_nothing_from_the_network(site):
    """Math is MathML made at build time (docs/_hooks.py), fonts are the system's: no page
    loads a script, stylesheet or font from elsewhere, so the site renders offline."""
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        text = page.read_text()
        remote = re.findall(r'<(?:script|link)\b[^>]*(?:src|href)="((?:https?:)?//[^"]*)"', text)
        assert not [u for u in remote if "://" in u or u.startswith("//")], (page, remote)
        assert "mathjax" not in text.lower(), page
    optimizers = (site / "api" / "optimizers" / "index.html").read_text()
    assert optimizers.count("<math ") >= 10 and 'display="block"' in optimizers


@pytest.mark.slow
def test_the_fault_suite_count_in_docs_is_exact():
    """docs/sweeps.md says how many cases the fault suite tries, and which files it counts:
    ``pytest --collect-only`` over those files gives that number."""
    text = " ".join((ROOT / "docs" / "sweeps.md").read_text().split())
    said = re.search(r"The fault suite tries these as a hostile user would: (\d+) test cases "
                     r"\(at this writing\), as counted by `pytest --collect-only` over (.*?); ",
                     text)
    assert said, "the count sentence moved"
    files = [f"tests/{name}" for name in re.findall(r"(test_\w+\.py)`", said[2])]
    assert len(files) == 5, files
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", *files],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    counts = re.findall(r"^tests/\w+\.py: (\d+)$", r.stdout, re.M)
    assert len(counts) == len(files), r.stdout[-2000:]
    assert sum(map(int, counts)) == int(said[1])
