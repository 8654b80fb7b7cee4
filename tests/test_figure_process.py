"""``jaxch6 sweep``'s figure helper process (:mod:`jaxch6.commands.figure_process`): the same
files as drawn in the command's process, and the command's own drawing whenever the helper
cannot be used (its errors raised from there, as without a helper)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from jaxch6.commands import figure_process

_SETUP = """
    import os, signal, sys
    from pathlib import Path
    from jaxch6 import plots
    from jaxch6.commands import figure_process
    from jaxch6.sweep import Param, SweepConfig, SweepResult, Trial, rank
    space = (Param("learning_rate", 1e-4, 1.0, "log"), Param("weight_decay", 0.0, 0.1, "lin"))
    trials = [Trial(i, 0, {"learning_rate": lr, "weight_decay": 0.01 * i},
                    [0.1 * i + 0.05 * e for e in range(4)], [0.1 * i + 0.04 * e for e in range(4)],
                    diverged=False, status="stopped" if i == 0 else "complete")
              for i, lr in enumerate([0.01, 0.3, 2e-4])]
    result = SweepResult(SweepConfig(space=space, scheduler="halving"), rank(trials), [], {},
                         {"scheduler": {"name": "halving"}}, None)
    out = Path(sys.argv[1])
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    source = textwrap.dedent(_SETUP) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", source, *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.slow
def test_the_helper_writes_the_same_files_as_the_command(tmp_path):
    (tmp_path / "helper").mkdir()
    (tmp_path / "here").mkdir()
    done = _python("""
        helper = figure_process.start()
        assert helper is not None and "matplotlib" not in sys.modules
        names = helper.write(result, out / "helper")
        assert "matplotlib" not in sys.modules, "drawn in this process"
        assert helper.pid is None  # reaped
        print(",".join(names))
        print(",".join(plots.write_sweep_figures(result, out / "here")))
    """, str(tmp_path))
    assert done.returncode == 0, done.stderr
    helper_names, here_names = done.stdout.split()
    assert helper_names == here_names == "top20.png,scatter.png,parallel.png,rungs.png"
    for name in here_names.split(","):
        assert (tmp_path / "helper" / name).read_bytes() == (tmp_path / "here" / name).read_bytes()


@pytest.mark.slow
def test_without_a_helper_the_command_draws_them_itself(tmp_path):
    """A helper killed before it answers: the figures are drawn in the command's process."""
    done = _python("""
        helper = figure_process.start()
        os.kill(helper.pid, signal.SIGKILL)
        print(",".join(helper.write(result, out)))
        assert "matplotlib" in sys.modules  # drawn here
    """, str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["top20.png,scatter.png,parallel.png,rungs.png"]
    assert all((tmp_path / n).read_bytes()[:4] == b"\x89PNG" for n in done.stdout.split()[0]
               .split(","))


@pytest.mark.slow
def test_matplotlib_missing_raises_as_without_a_helper(tmp_path):
    done = _python("""
        sys.modules["matplotlib"] = None  # importing it fails, in the helper and here
        helper = figure_process.start()
        assert helper is not None
        helper.write(result, out)
    """, str(tmp_path))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: ") and "matplotlib" in last, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_helper_once_jax_or_another_thread_runs(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", sys)
    assert figure_process.start() is None
    monkeypatch.delitem(sys.modules, "jax")
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert figure_process.start() is None
    finally:
        stop.set()
        thread.join()
