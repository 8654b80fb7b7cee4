"""Progress reports: plain lines off a terminal, tqdm bars on one, nothing with ``--quiet``."""

from __future__ import annotations

import functools
import io
import re
import time

import pytest
from _sweep_toy import toy_data, toy_make_run

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
    lines = _show(REPORTS).splitlines()  # a StringIO is not a terminal
    assert len(lines) == 4
    seconds = float(re.fullmatch(r"compiling… (\d+\.\d) s", lines[0]).group(1))
    assert 0.0 <= seconds < 60
    assert lines[1] == "round 1/1"
    assert re.fullmatch(r"round 1/1: 4/10 trials  [\d.]+ trials/s  ETA \d\d:\d\d  "
                        r"best val 0\.5000  run 0\.5 s", lines[2])
    assert lines[3].startswith("round 1/1: 10/10 trials") and "ETA 00:00" in lines[3]
    assert lines[3].endswith("best val 0.7500  run 1.2 s")


def test_unit_and_no_best_yet():
    lines = _show([Progress("rung 0", 0, 2, 0, 0.0, step_start=True),
                   Progress("rung 0", 2, 2, 1, 0.5)], unit="lane").splitlines()
    assert lines[0] == "rung 0"
    assert lines[1].startswith("rung 0: 2/2 lanes") and lines[1].endswith("lanes/s  "
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
    assert progress._ticker is None and re.search(r"compiling… \d+\.\d s", out.getvalue())


def test_make_is_none_when_quiet():
    assert make(quiet=True) is None
    assert isinstance(make(), TqdmProgress)


@pytest.mark.slow
def test_python_api_reports_through_the_reporter(tmp_path):
    out = io.StringIO()
    with TqdmProgress(out) as progress:
        sweep_run(TOY, data=toy_data(), make_run=toy_make_run, progress=progress)
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"compiling… \d+\.\d s", lines[0])
    assert lines[1] == "round 1/1"
    assert [line.split()[2] for line in lines[2:]] == ["4/6", "6/6"]


@pytest.fixture
def toy_cli(monkeypatch):
    """``jaxch6 sweep`` on the toy model (the command line, the toy's compile time)."""
    import jaxch6.sweep

    monkeypatch.setattr(jaxch6.sweep, "run", functools.partial(
        jaxch6.sweep.run, data=toy_data(), make_run=toy_make_run))
    return ["sweep", "--trials", "6", "--epochs", "2", "--no-compile-cache", "--no-plot",
            "--cpu-devices", "1", "--space", "lr=1e-3:1e-1"]


@pytest.mark.slow
def test_sweep_cli_plain_lines_and_quiet(toy_cli, tmp_path, capsys):
    assert main([*toy_cli, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"compiling… \d+\.\d s", err[0]) and err[1] == "round 1/1"
    assert err[-1].startswith("round 1/1: 6/6 trials")
    assert main([*toy_cli, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


class _FakeExperiment:
    def run(self, out_dir, *, seed=0, quick=False):
        return {}


def test_experiment_cli_plain_lines_and_quiet(monkeypatch, tmp_path, capsys):
    from jaxch6 import experiments

    monkeypatch.setattr(experiments, "get", lambda name: _FakeExperiment())
    monkeypatch.setattr(experiments, "NAMES", ("one", "two"))
    assert main(["experiment", "all", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "one (1/2)" and err[2] == "two (2/2)"
    assert err[1].startswith("one: 1/1 experiments") and err[3].startswith("two: 1/1")
    assert main(["experiment", "all", "--out", str(tmp_path), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "one:" in captured.out
