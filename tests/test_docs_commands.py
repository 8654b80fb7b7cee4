"""The commands the README and the docs pages show, as a user would copy them.

Every ``jaxch6`` command of a code block parses with the command line's own parser, and every
option named in running text exists (a renamed or removed option fails here, not for a user);
every ``python experiments/...`` script, test file, CI script and ``jaxch6[extra]`` named
exists; the README's install, ``pip install . && jaxch6 sweep``, runs from the installed files
outside the checkout; the network page's examples print what the page says; the tutorial
works followed in order. The documented sweeps themselves run, shrunk, in
tests/test_readme_examples.py.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from jaxch6.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHELL = ("", "bash", "console", "sh", "shell")


def _block_commands() -> list[tuple[str, str]]:
    """``(page, command)`` for each command of a shell (or unmarked) code block: continuation
    lines joined, a ``$ `` prompt and a trailing ``# comment`` dropped, ``a && b`` split."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for kind, block in re.findall(r"```([a-z]*)\n(.*?)```", text, re.S):
            if kind not in SHELL:
                continue
            for line in block.replace("\\\n", " ").splitlines():
                line = re.sub(r"\s+#.*$", "", line.strip().removeprefix("$ "))
                found += [(page.name, c.strip()) for c in line.split("&&") if c.strip()]
    return found


def _inline_commands() -> list[tuple[str, str]]:
    """``(page, command)`` for each command in backticks in the running text."""
    found = []
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        found += [(page.name, c) for c in re.findall(r"`((?:jaxch6|python) [^`\n]+)`", text)]
    return found


def _parse(words: list[str]) -> tuple[int, str]:
    """The parser's exit status (0 when it parses) and what it wrote to stderr."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(words)
    except SystemExit as exc:
        return int(exc.code or 0), err.getvalue()
    return 0, ""


def test_every_jaxch6_command_of_a_code_block_parses():
    commands = [(p, c) for p, c in _block_commands() if c.startswith("jaxch6 ")]
    # the extraction finds them (a change of format would silently check nothing)
    assert len(commands) >= 20, commands
    assert {c.split()[1] for _, c in commands} >= {"sweep", "verify", "data", "experiment"}
    for page, command in commands:
        code, err = _parse(shlex.split(command)[1:])
        assert code == 0, (page, command, err)
    # and the check can fail: a misspelt option is refused
    assert _parse(["sweep", "--trails", "5"])[0] == 2


def _help(words: tuple[str, ...]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args([*words, "--help"])
    return out.getvalue()


def test_every_option_a_page_names_in_running_text_exists():
    """``jaxch6 sweep --resume DIR``, ``jaxch6 verify [--steps 200]``, ...: placeholders in
    the text do not parse, but each option must be one of its (sub)command's."""
    helps: dict[tuple[str, ...], str] = {}
    checked = 0
    for page, command in _inline_commands():
        words = command.replace("[", " ").replace("]", " ").split()
        if words[0] != "jaxch6" or len(words) < 2:
            continue
        path = tuple(words[1:3] if words[2:3] and words[2] in ("show", "evaluate",
                                                                 "export-optuna", "info")
                     else words[1:2])
        text = helps.setdefault(path, _help(path))
        for option in (w for w in words if w.startswith("--")):
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), (page, command)
            checked += 1
    assert checked >= 30


def _scripts() -> list[tuple[str, list[str]]]:
    """``(page, words after python)`` for each ``python experiments/...`` command."""
    found = []
    for page, command in _block_commands() + _inline_commands():
        words = command.replace("[", " ").replace("]", " ").split()
        if words[0] in ("python", "python3") and words[1].startswith("experiments/"):
            found.append((page, words[1:]))
    return found


def test_every_script_file_and_extra_a_page_names_exists():
    scripts = _scripts()
    assert len(scripts) >= 5
    assert [s for s in scripts if not (ROOT / s[1][0]).is_file()] == []
    for page, command in _block_commands():
        words = command.split()
        if words[0] == "pytest":
            assert all((ROOT / w).is_file() for w in words[1:] if w.startswith("tests/"))
        elif words[0].startswith(".ci/"):
            assert os.access(ROOT / words[0], os.X_OK), (page, command)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    named = {m for page in PAGES
             for m in re.findall(r"(?:jaxch6|\.)\[(\w+)\]", page.read_text(encoding="utf-8"))}
    assert {"dev", "docs", "optuna", "pandas", "tensorboard", "tensorflow"} <= named
    assert named <= set(extras), named - set(extras)


#: Options of other tools the pages name: pytest's, TensorBoard's and MkDocs'.
OTHER_TOOLS = {"--collect-only", "--logdir", "--strict"}


def _script_help(script: str) -> str:
    proc = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, timeout=120,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0 and proc.stdout.startswith("usage:"), (script, proc.stderr)
    return proc.stdout


def _has(option: str, text: str) -> bool:
    return bool(re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text))


@pytest.mark.slow
def test_every_option_of_a_documented_script_is_in_its_help():
    """Each ``python experiments/X.py --option`` of the pages is one of X's options, and every
    ``--option`` a page names anywhere is one of jaxch6's or of a script the pages name."""
    helps = {}
    for page, (script, *args) in _scripts():
        helps.setdefault(script, _script_help(script))
        for option in (w for w in args if w.startswith("--")):
            assert _has(option, helps[script]), (page, script, option)
    texts = [page.read_text(encoding="utf-8") for page in PAGES]
    for script in sorted({s for t in texts for s in re.findall(r"experiments/\w+\.py", t)}):
        helps.setdefault(script, _script_help(script))
    commands = [(), ("sweep",), ("sweep", "show"), ("sweep", "evaluate"),
                ("sweep", "export-optuna"), ("verify",), ("gradcheck",), ("experiment",),
                ("data",)]
    known = "\n".join([*helps.values(), *(_help(c) for c in commands)])
    named = {o for t in texts for o in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", t)}
    assert len(named) >= 60 and len(helps) >= 8
    assert {o for o in named - OTHER_TOOLS if not _has(o, known)} == set()


@pytest.mark.slow
def test_the_installed_package_runs_outside_the_checkout(tmp_path):
    """The README's ``pip install . && jaxch6 sweep``, offline: setuptools' ``build_py`` (the
    step of the wheel build that chooses the files) installs the package's files, the
    ``jaxch6`` script's entry point is among them, and from another directory they load the
    embedded sample and run a small sweep into ``runs/sweep-*``."""
    pytest.importorskip("setuptools")
    src, lib, work = tmp_path / "src", tmp_path / "lib", tmp_path / "work"
    shutil.copytree(ROOT / "jaxch6", src / "jaxch6",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q",
                    "build_py", "--build-lib", str(lib)], cwd=src, check=True,
                   capture_output=True, timeout=120)
    assert (lib / "jaxch6" / "data" / "mnist_sample.npz").is_file()
    script = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = script["jaxch6"].split(":")
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(lib), "JAX_PLATFORMS": "cpu"}
    env.pop("JAXCH6_DATA_DIR", None)

    def jaxch6(*argv: str) -> str:
        code = (f"import sys, {module}; assert {module}.__file__.startswith({str(lib)!r}); "
                f"sys.argv[0] = 'jaxch6'; {module}.{function}()")
        proc = subprocess.run([sys.executable, "-c", code, *argv], cwd=work, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    assert "source=sample" in jaxch6("data", "info", "--source", "sample")
    out = jaxch6("sweep", "--trials", "2", "--epochs", "1", "--hidden", "8", "--train-size",
                 "100", "--batch-size", "20", "--no-compile-cache", "--quiet", "--no-plot")
    assert "Best-2(val acc:" in out
    (run,) = (work / "runs").glob("sweep-*")
    assert {"sweep.toml", "trials.jsonl", "summary.json"} <= {p.name for p in run.iterdir()}


def _python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / page).read_text(encoding="utf-8"),
                      re.S)


@pytest.mark.slow
def test_the_network_pages_examples_print_what_they_say(capsys):
    """docs/network.md: the training step reaches its ``≈ 0.93`` test accuracy, and the
    vmapped learning-rate sweep prints the final validation accuracies its comment shows."""
    import numpy as np

    step, sweep = _python_blocks("network.md")
    exec(step, {})  # noqa: S102
    value, accuracy = (float(w) for w in capsys.readouterr().out.split())
    assert np.isfinite(value) and abs(accuracy - 0.93) < 0.005
    exec(sweep, {})  # noqa: S102
    printed = capsys.readouterr().out
    said = re.search(r"# \[([\d. ]+)\] \[False \.\.\.\]", sweep)
    shown = [float(w) for w in said[1].split()]
    accs = [float(w) for w in re.findall(r"\d\.\d+", printed.split("]")[0])]
    assert np.round(accs, 2).tolist() == shown, printed
    assert printed.count("False") == 8 and "True" not in printed  # none diverged


# a sweep shrunk to seconds: these options' values replaced, the network and data made tiny
QUICK = {"--trials": "9", "--epochs": "3", "--min-epochs": "1"}
TINY = ["--hidden", "8", "--batch-size", "20", "--train-size", "100", "--source", "sample",
        "--no-compile-cache", "--quiet", "--cpu-devices", "1", "--no-plot"]


@pytest.mark.slow
def test_the_tutorial_runs_in_order(tmp_path, monkeypatch, capsys):
    """docs/tutorial.md followed block by block in one directory and one Python session: each
    step works after the ones before it (its sweeps shrunk to seconds; ``jaxch6 verify`` is
    tests/test_verify.py's)."""
    import jaxch6.sweep
    from jaxch6.cli import main

    small = {"trials": 9, "epochs": 3, "hidden": (8,), "batch_size": 20, "train_size": 100,
             "source": "sample"}
    config_class = jaxch6.sweep.SweepConfig
    monkeypatch.setattr(jaxch6.sweep, "SweepConfig", lambda **kw: config_class(**{**kw, **small}))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    steps = []
    text = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    for kind, block in re.findall(r"```([a-z]*)\n(.*?)```", text, re.S):
        if kind == "python":
            exec(block, scope)  # noqa: S102
            steps.append("python")
            continue
        for line in block.replace("\\\n", " ").splitlines() if kind in SHELL else []:
            words = shlex.split(re.sub(r"\s+#.*$", "", line))
            if words[:2] == ["jaxch6", "sweep"]:
                argv = [QUICK[before] if before in QUICK else w  # the value after an option
                        for before, w in zip(words[:-1], words[1:], strict=True)]
                assert main([*argv, *TINY]) == 0, line
                steps.append(words[-1])
    assert steps == ["python", "python", "runs/book", "python", "runs/halving", "python"]
    printed = capsys.readouterr().out
    assert printed.count("Best-1(val acc:") == 3  # the two commands and run(...)
    for out in ("runs/book", "runs/book-py", "runs/halving"):
        assert len(jaxch6.sweep.load(out).trials) == 9, out
    best = jaxch6.sweep.load("runs/halving").ranked[0]
    assert scope["best"].id == best.id and scope["model"].meta["trial"] == best.id
    assert scope["logits"].shape == (100, 10)
