"""Progress reports: plain lines off a terminal, tqdm bars on one, nothing with ``--quiet``."""

from __future__ import annotations

import functools
import io
import re
import textwrap
import time

import pytest
from _sweep_toy import toy_data, toy_task

from jaxch6.cli import main
from jaxch6.progress import TqdmProgress, make
from jaxch6.sweep import Param, Progress, SweepConfig
from jaxch6.sweep import run as sweep_run

TOY = SweepConfig(trials=6, epochs=2, batch_size=8, seed=1, chunk_size=4, lanes=2,
                  space=(Param("lr", 1e-3, 1e-1), Param("weight_decay", 1e-6, 1e-2)))

REPORTS = [
    Progress("compiling", 0, 0, 0, 0.0, step_start=True),
    Progress("round 1/1", 0, 10, 0, 0.0, step_start=True),
    Progress("round 1/1", 4, 10, 4, 0.5, lanes_per_second=8.0, best_val_acc=0.5),
    Progress("round 1/1", 10, 10, 10, 1.25, lanes_per_second=8.0, best_val_acc=0.75),
]


def _show(reports, **kw) -> str:
    out = io.StringIO()
    with TqdmProgress(out, **kw) as progress:
        for p in reports:
            progress(p)
            if p.label == "compiling":
                time.sleep(0.05)
    return out.getvalue()


def test_plain_lines_off_a_terminal():
    """A log, not a flood: the compile phase when it starts and ends, one line per step."""
    lines = _show(REPORTS).splitlines()  # a StringIO is not a terminal
    assert len(lines) == 3
    assert lines[0] == "compiling…"
    seconds = float(re.fullmatch(r"compiling… (\d+\.\d) s", lines[1]).group(1))
    assert 0.0 <= seconds < 60
    assert lines[2].startswith("round 1/1: 10/10 trials") and "ETA 00:00" in lines[2]
    assert lines[2].endswith("best val 0.7500  run 1.2 s")


def test_plain_lines_at_most_one_per_interval(monkeypatch):
    """A long step writes a line per PLAIN_INTERVAL_S, not one per chunk."""
    import jaxch6.progress as P

    chunks = [Progress("round 1/1", k, 100, k, 0.1 * k, best_val_acc=0.5)
              for k in range(10, 101, 10)]
    steps = [Progress("round 1/1", 0, 100, 0, 0.0, step_start=True)]
    assert len(_show(steps + chunks).splitlines()) == 1  # a fast step: its last line only
    monkeypatch.setattr(P, "PLAIN_INTERVAL_S", 0.0)
    lines = _show(steps + chunks).splitlines()
    assert len(lines) == 10
    assert re.fullmatch(r"round 1/1: 10/100 trials  [\d.]+ trials/s  ETA \d\d:\d\d  "
                        r"best val 0\.5000  run 1\.0 s", lines[0])


def test_announce_writes_the_setup_lines():
    from jaxch6.progress import setup_lines

    info = {"data": {"dataset": "mnist", "source": "sample", "location": "embedded",
                     "n_train": 400, "n_val": 100},
            "device_count": 2, "device_kind": "cpu", "backend": "cpu", "chunk_size": 8,
            "lanes": 2, "jax_version": "0.0"}
    out = io.StringIO()
    TqdmProgress(out, plain=True).announce(setup_lines(info))
    assert out.getvalue().splitlines() == [
        "data: mnist from source 'sample' (embedded): 400 train / 100 validation",
        "devices: 2 x cpu (cpu), chunk 8 lanes in groups of 2, jax 0.0"]


def test_unit_and_no_best_yet():
    lines = _show([Progress("rung 0", 0, 2, 0, 0.0, step_start=True),
                   Progress("rung 0", 2, 2, 1, 0.5)], unit="lane").splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("rung 0: 2/2 lanes") and lines[0].endswith("lanes/s  "
                                                                          "ETA 00:00  run 0.5 s")


def test_bars_on_a_terminal():
    text = _show(REPORTS, plain=False, refresh_seconds=0.01)
    assert "compiling…" in text and re.search(r"compiling… \d+\.\d s\n", text)
    assert "round 1/1\n" in text
    assert "10/10" in text and "trial/s" in text and "best val 0.7500" in text
    assert text.endswith("\n")  # the finished bar is left on its own line


def test_close_ends_a_compile_phase_cut_short():
    out = io.StringIO()
    progress = TqdmProgress(out, plain=False, refresh_seconds=0.01)
    progress(REPORTS[0])
    progress.close()
    progress.close()  # twice is harmless
    written = out.getvalue()
    time.sleep(0.05)  # five redraws of a counter still running
    assert out.getvalue() == written  # the compile counter stopped
    assert re.search(r"compiling… \d+\.\d s", out.getvalue())


def test_make_is_none_when_quiet():
    assert make(quiet=True) is None
    assert isinstance(make(), TqdmProgress)


@pytest.mark.slow
def test_python_api_reports_through_the_reporter(tmp_path):
    out = io.StringIO()
    with TqdmProgress(out) as progress:
        sweep_run(TOY, data=toy_data(), task=toy_task, progress=progress)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("data: ")
    # a task's engine compiles while its lane is measured, before the devices line
    assert lines[1] == "compiling…" and lines[2].startswith("devices: ")
    assert re.fullmatch(r"compiling… \d+\.\d s", lines[3])
    assert [line.split()[2] for line in lines[4:]] == ["6/6"]


@pytest.mark.slow
def test_python_api_shows_progress_by_default_and_progress_false_silences(tmp_path, capsys):
    from jaxch6.sweep.devices import HOW_TO

    sweep_run(TOY, data=toy_data(), task=toy_task)
    # (pytest started JAX already: the one line saying how to get the CLI's devices may come)
    err = [line for line in capsys.readouterr().err.splitlines()
           if line != HOW_TO.format(n=1)]
    assert err[0].startswith("data: ") and "compiling…" in err
    assert err[-1].startswith("round 1/1: 6/6 trials")
    sweep_run(TOY, data=toy_data(), task=toy_task, progress=False)
    assert capsys.readouterr().err == ""


@pytest.fixture
def toy_cli(monkeypatch):
    """``jaxch6 sweep`` on the toy model (the command line, the toy's compile time)."""
    import jaxch6.sweep

    monkeypatch.setattr(jaxch6.sweep, "run", functools.partial(
        jaxch6.sweep.run, data=toy_data(), task=toy_task))
    return ["sweep", "--trials", "6", "--epochs", "2", "--no-compile-cache", "--no-plot",
            "--cpu-devices", "1", "--space", "lr=1e-3:1e-1"]


@pytest.mark.slow
def test_sweep_cli_plain_lines_and_quiet(toy_cli, tmp_path, capsys):
    assert main([*toy_cli, "--out", str(tmp_path / "a")]) == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert err[0] == "compiling…" and re.fullmatch(r"compiling… \d+\.\d s", err[1])
    assert err[2:] == [line for line in err[2:] if line.startswith("round 1/1: 6/6 trials")]
    assert len(err) == 3
    out = captured.out.splitlines()
    assert out[0].startswith("data: ") and out[1].startswith("devices: ")
    assert main([*toy_cli, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.startswith("data: ")


class _FakeExperiment:
    def run(self, out_dir, *, seed=0, quick=False):
        return {}


def test_experiment_cli_plain_lines_and_quiet(monkeypatch, tmp_path, capsys):
    from jaxch6 import experiments

    monkeypatch.setattr(experiments, "get", lambda name: _FakeExperiment())
    monkeypatch.setattr(experiments, "NAMES", ("one", "two"))
    assert main(["experiment", "all", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2  # one line per step, as it ends
    assert err[0].startswith("one: 1/1 experiments") and err[1].startswith("two: 1/1")
    assert main(["experiment", "all", "--out", str(tmp_path), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "one:" in captured.out


def test_a_jupyter_kernel_gets_tqdm_auto_bars(monkeypatch):
    """In a Jupyter kernel (ipykernel loaded, IPython's shell has a kernel) the default
    reporter draws bars with tqdm.auto, even though standard error is not a terminal."""
    import sys
    import types

    import tqdm.auto


    assert TqdmProgress().plain  # pytest: no kernel, no terminal
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    bars = []

    class NotebookBar(tqdm.auto.tqdm):  # tqdm.auto's bar, recorded when it is made
        def __init__(self, *args, **kwargs):
            bars.append(kwargs.get("total"))
            super().__init__(*args, **{**kwargs, "file": io.StringIO()})

    monkeypatch.setattr(tqdm.auto, "tqdm", NotebookBar)
    with TqdmProgress() as progress:
        assert not progress.plain
        progress(Progress("round 1/1", 0, 4, 0, 0.0, step_start=True))
    assert bars == [4]
    assert TqdmProgress(io.StringIO()).plain  # an explicit file that is no terminal: lines


@pytest.mark.slow
def test_the_data_line_comes_before_jax_is_imported(tmp_path):
    """The first output line of a sweep (its data) does not wait for JAX's import: the data is
    loaded and announced first; the devices line follows once JAX is up."""
    import subprocess
    import sys

    code = textwrap.dedent(f"""
        import sys
        from jaxch6.sweep.devices import configure_cpu_devices
        configure_cpu_devices("auto")
        import jaxch6
        jaxch6.enable_compile_cache({str(tmp_path / "cache")!r})
        import jaxch6.sweep as S
        seen = []
        class Reporter:
            def __call__(self, p):
                pass
            def announce(self, lines):
                seen.append((lines[0].split(":")[0], "jax" in sys.modules))
        S.run(S.SweepConfig(trials=2, epochs=1, hidden=(8,), train_size=100),
              progress=Reporter(), out={str(tmp_path / "run")!r}, figures=False)
        print(seen)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[('data', False), ('devices', True)]"
