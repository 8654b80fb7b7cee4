"""The book through the public task contract, and `jaxch6 sweep --task MODULE:NAME` with its
actions (resume, show, evaluate, export-optuna) and errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxch6.cli import main
from jaxch6.sweep import SweepConfig, book_task, load, run, store
from jaxch6.sweep.runner import load_data
from jaxch6.sweep.task import book_data

TINY = ["--trials", "4", "--epochs", "2", "--hidden", "8", "--batch-size", "10",
        "--train-size", "50", "--source", "sample", "--seed", "3"]
QUIET = ["--no-compile-cache", "--quiet", "--no-plot", "--cpu-devices", "1"]


def _curves(trials):
    return [(t.id, t.hparams, t.train_acc, t.val_acc, t.diverged)
            for t in sorted(trials, key=lambda t: t.id)]


@pytest.mark.slow
def test_the_book_through_the_public_contract_equals_jaxch6_sweep(tmp_path):
    out = tmp_path / "cli"
    assert main(["sweep", *TINY, *QUIET, "--save-best", "1", "--out", str(out)]) == 0
    # user-style code: the book's network is one Task like any other
    config = SweepConfig(trials=4, epochs=2, hidden=(8,), batch_size=10, train_size=50,
                         source="sample", seed=3, save_best=1).validate()
    data, _ = load_data(config)
    task = book_task(config, data)
    res = run(config, task=task, data=book_data(config, data))
    assert _curves(res.trials) == _curves(load(out).trials)
    # the test digits, once: the book's evaluate on the same saved winner, from disk
    assert main(["sweep", "evaluate", str(out)]) == 0
    report = json.loads((out / "test.json").read_text())
    best = res.ranked[0]
    assert [r["id"] for r in report["trials"]] == [best.id]
    mine = res.evaluate(task=task)
    assert mine["trials"][0]["test"] == report["trials"][0]["test"]
    assert 0.0 <= mine["trials"][0]["test"]["test_acc"] <= 1.0


@pytest.mark.slow
def test_sweep_task_from_the_command_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "t"
    argv = ["sweep", "--task", "_task_toy:make_task", "--trials", "6", "--epochs", "2",
            "--scheduler", "halving", "--save-best", "1", "--out", str(out), *QUIET]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "data: task _task_toy:make_task (task), objective val_loss (minimised)" in text
    assert "Best-1(val_loss:" in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"]["path"] == "_task_toy:make_task"
    assert len(manifest["task"]["fingerprint"]) == 64
    assert main(["sweep", "show", str(out), "--no-plot"]) == 0
    assert "Best-1(val_loss:" in capsys.readouterr().out
    assert main(["sweep", "evaluate", str(out)]) == 0
    assert "val_loss" in json.loads((out / "test.json").read_text())["trials"][0]["test"]
    optuna = pytest.importorskip("optuna")
    assert main(["sweep", "export-optuna", str(out), "--storage",
                 f"sqlite:///{tmp_path}/o.db"]) == 0
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path}/o.db")
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    best = load(out).ranked[0]
    assert study.best_trial.user_attrs["key_id"] == best.id


@pytest.mark.slow
def test_a_changed_task_source_refuses_resume(tmp_path, capsys, monkeypatch):
    src = (tmp_path / "mine.py")
    src.write_text("from _task_toy import make_task\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = tmp_path / "d.npz"
    from _task_toy import make_data

    train, _ = make_data()
    np.savez(data, **{f"{s}/{k}": v for s, d in train.items() for k, v in d.items()})
    out = tmp_path / "r"
    assert main(["sweep", "--task", "mine:make_task", "--data", str(data), "--trials", "2",
                 "--epochs", "1", "--out", str(out), *QUIET]) == 0
    src.write_text("from _task_toy import make_task  # changed\n")
    capsys.readouterr()
    assert main(["sweep", "--resume", str(out), "--data", str(data), "--cpu-devices", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "source of task mine:make_task changed" in err[0]


@pytest.mark.parametrize("argv, words", [
    (["--task", "no_such_module_x:make"], "cannot import 'no_such_module_x'"),
    (["--task", "_task_toy:nothing"], "has no 'nothing'"),
    (["--task", "_task_toy"], "give MODULE:NAME"),
    (["--data", "x.npz"], "--data is a task's data"),
])
def test_task_option_errors_are_one_line(argv, words, capsys):
    assert main(["sweep", *argv, *QUIET]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


@pytest.mark.slow
def test_the_books_search_never_reads_the_test_digits(monkeypatch):
    """The book's search with a loader whose test split raises when touched; evaluate is the
    only reader."""
    from jaxch6 import data as D

    real = D.load

    class Poison(tuple):
        def __iter__(self):
            raise AssertionError("the search read the test split")

        def __getitem__(self, i):
            raise AssertionError("the search read the test split")

    def load(*args, **kwargs):
        return real(*args, **kwargs)._replace(test=Poison())

    monkeypatch.setattr(D, "load", load)
    config = SweepConfig(trials=2, epochs=1, hidden=(8,), batch_size=10, train_size=50,
                         source="sample", save_best=1)
    res = run(config, progress=False)
    assert len(res.trials) == 2
    with pytest.raises(AssertionError, match="read the test split"):
        res.evaluate()


@pytest.mark.parametrize("path, words", [
    ("_task_bad:not_jittable", "task 'linear3': init cannot be traced with traced hyperparameters"),
    ("_task_bad:wrong_structure", "task 'linear3': advance must return (state, metrics dict)"),
    ("_task_bad:no_objective", "task 'linear3': advance's metrics lack 'val_loss'"),
    ("_task_bad:metric_per_row", "task 'linear3': metric 'val_loss' must have one value per "
                                 "epoch, shape (1,), got shape (1, 4)"),
    ("_task_bad:load_not_a_pair", "task 'linear3': load_data must return (data, test_data), "
                                  "got dict"),
    ("_task_bad:factory_wrong_signature", "task _task_bad:factory_wrong_signature: calling it "
                                          "failed (TypeError: factory_wrong_signature() missing"),
    ("_task_bad:factory_raises", "task _task_bad:factory_raises: calling it failed "
                                 "(RuntimeError: boom in the user's factory)"),
])
def test_a_broken_task_is_one_line_naming_it(path, words, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["sweep", "--task", path, "--trials", "2", "--epochs", "1", "--out",
                 str(out), *QUIET]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert "Traceback" not in captured.err and not out.exists()


TESTS = Path(__file__).resolve().parent
KILLED = ["--task", "_task_toy:make_task", "--trials", "27", "--epochs", "9", "--scheduler",
          "halving", "--chunk-size", "2", "--lanes", "2",
          "--no-compile-cache", "--quiet", "--no-plot", "--cpu-devices", "2"]


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS.parent), str(TESTS)]))
    env.pop("XLA_FLAGS", None)
    return [sys.executable, "-m", "jaxch6.cli", *map(str, args)], env


def _task_records(out) -> dict:
    keep = ("hparams", "val_acc", "metrics", "diverged", "status", "epochs")
    return {r["id"]: {k: r.get(k) for k in keep}
            for r in store.read_trials(out, updates=True)}


@pytest.mark.slow
def test_a_task_sweep_killed_hard_resumes_from_the_command_line_bit_identical(tmp_path):
    straight, out = tmp_path / "straight", tmp_path / "killed"
    argv, env = _cli("sweep", *KILLED, "--out", straight)
    assert subprocess.run(argv, env=env, capture_output=True, timeout=300).returncode == 0
    argv, env = _cli("sweep", *KILLED, "--out", out)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    records = out / store.TRIALS
    deadline = time.perf_counter() + 120
    while proc.poll() is None and time.perf_counter() < deadline and not (
            records.exists() and records.read_text().count("\n") >= 3):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # kill -9: no handler runs, the lock is left behind
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    partial = _task_records(out)
    assert 0 < len(partial) and partial != _task_records(straight)  # stopped mid-run
    argv, env = _cli("sweep", "--resume", out, "--no-compile-cache", "--quiet", "--no-plot",
                     "--cpu-devices", "2")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _task_records(out) == _task_records(straight)
    assert json.loads((out / store.SUMMARY).read_text())["status"] == "complete"


@pytest.mark.parametrize("option", [["--batch-size", "7"], ["--optimizer", "adam"],
                                    ["--schedule", "cosine"], ["--train-size", "10"],
                                    ["--batchnorm"], ["--source", "sample"],
                                    ["--hidden", "100x5"]])
def test_the_books_options_are_refused_with_a_task(option, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["sweep", "--task", "_task_toy:make_task", *option, "--out", str(out),
                 *QUIET]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"jaxch6 sweep: error: {option[0]} is an option of the book's network and "
                   "data: it does not apply to --task _task_toy:make_task"]
    assert not out.exists()


def test_an_older_task_runs_sweep_toml_with_the_books_defaults_still_runs(tmp_path):
    """A task run's sweep.toml written before the book's fields were left out holds their
    defaults (hidden as sizes): ``--config`` runs it."""
    file = tmp_path / "sweep.toml"
    file.write_text('task = "_task_toy:make_task"\ntrials = 2\nepochs = 1\n'
                    'hidden = "100,100,100,100,100,100"\noptimizer = "sgd"\nbatch_size = 100\n')
    assert main(["sweep", "--config", str(file), "--out", str(tmp_path / "o"), *QUIET]) == 0
    assert len(store.read_trials(tmp_path / "o")) == 2


def test_a_task_module_named_like_an_imported_module_says_so(tmp_path, monkeypatch, capsys):
    """``--task stat:make_task`` with a ./stat.py: the standard library's ``stat`` was imported
    first; the one line says which module was found and what to do."""
    (tmp_path / "stat.py").write_text("from _task_toy import make_task  # noqa: F401\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # import_task adds the directory
    assert main(["sweep", "--task", "stat:make_task", "--out", str(tmp_path / "o"),
                 *QUIET]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'stat' has no 'make_task' (that name is the module " in err[0]
    assert err[0].endswith(f"imported before {tmp_path / 'stat.py'}: rename your module)")
