"""A user's task under Optuna's samplers and pruners (the study on the shared run loop): the
task's direction becomes the study's, the records equal the plain sweep's, tracking and the
run directory's ``sweep.toml`` work as for a plain sweep. The task is tests/_task_toy.py's
(minimises a validation cross-entropy). Skipped without optuna."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from _task_toy import make_data, make_task  # noqa: E402

from jaxch6.cli import main  # noqa: E402
from jaxch6.errors import ConfigError  # noqa: E402
from jaxch6.sweep import SweepConfig, run, store  # noqa: E402
from jaxch6.sweep import optuna as jo  # noqa: E402

QUIET = ["--no-compile-cache", "--quiet", "--no-plot", "--cpu-devices", "1"]


def _curves(trials):
    return {t.id: (t.hparams, t.val_acc, t.train_acc, t.metrics, t.diverged) for t in trials}


@pytest.mark.slow
def test_a_task_under_the_random_sampler_equals_its_plain_sweep(tmp_path):
    """The study minimises the task's objective; every trial equals the plain sweep's."""
    import jax

    config = SweepConfig(trials=4, epochs=2, seed=1)
    data = make_data()[0]
    res = jo.run(config, task=make_task, data=data, batch_trials=3, out=tmp_path / "o",
                 devices=jax.local_devices())
    plain = run(config, task=make_task, data=data, devices=jax.local_devices())
    assert _curves(res.trials) == _curves(plain.trials)
    assert all(t.objective == "val_loss" and t.direction == "min" for t in res.trials)
    assert not (tmp_path / "o" / "study.db").exists()  # no storage given: a study in memory
    assert [r["id"] for r in store.read_trials(tmp_path / "o")] == [0, 1, 2, 3]
    assert res.info["direction"] == "min" and res.info["objective"] == "val_loss"
    assert res.ranked[0].final_val_acc == min(t.final_val_acc for t in res.trials)


@pytest.mark.slow
def test_a_task_under_tpe_and_a_pruner_minimises(tmp_path):
    """TPE and MedianPruner over a minimised objective: a minimize study, each trial told its
    final objective (PRUNED ones stopped at a rung), tracked per epoch as produced."""
    config = SweepConfig(trials=8, epochs=4, min_epochs=1, eta=2, seed=0)
    seen = []
    url = f"sqlite:///{tmp_path}/s.db"
    res = jo.run(config, task=make_task, data=make_data()[0], storage=url, study_name="min",
                 sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=4,
                                                    constant_liar=True),
                 pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
                 batch_trials=4, track=seen.append)
    study = optuna.load_study(study_name="min", storage=url)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    by_key = {t.user_attrs["key_id"]: t for t in study.trials}
    assert sorted(by_key) == sorted(t.id for t in res.trials) == list(range(8))
    for t in res.trials:
        told = by_key[t.id]
        assert told.user_attrs["val_acc"] == t.val_acc  # the objective's curve
        assert told.user_attrs["objective"] == "val_loss"
        if t.status == "complete":
            assert told.state == optuna.trial.TrialState.COMPLETE and t.epochs == 4
            assert told.value == pytest.approx(t.final_val_acc)
        else:
            assert told.state == optuna.trial.TrialState.PRUNED and t.epochs in (1, 2)
        assert set(told.intermediate_values) <= {0, 1}  # one report per rung below the last
    complete = [t for t in res.trials if t.status == "complete"]
    assert study.best_trial.user_attrs["key_id"] == min(complete,
                                                        key=lambda t: t.final_val_acc).id
    epochs = {}
    for m in seen:  # every epoch of every trial reached the tracker once, in order
        epochs.setdefault(m.trial, []).extend(m.epochs)
    assert epochs == {t.id: list(range(1, t.epochs + 1)) for t in res.trials}


@pytest.mark.slow
def test_cli_task_under_a_sampler_tracked(tmp_path):
    """``--task`` with ``--sampler`` and ``--tensorboard``: one TensorBoard run per trial."""
    pytest.importorskip("tensorboardX")
    out = tmp_path / "a"
    assert main(["sweep", "--task", "_task_toy:make_task", "--trials", "3", "--epochs", "2",
                 "--sampler", "tpe", "--batch-trials", "2", "--out", str(out),
                 "--tensorboard", str(tmp_path / "tb"), *QUIET]) == 0
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == [
        "trial-00000", "trial-00001", "trial-00002"]
    assert [r["objective"] for r in store.read_trials(out)] == ["val_loss"] * 3
    assert 'task = "_task_toy:make_task"' in (out / "sweep.toml").read_text().splitlines()


@pytest.mark.slow
def test_an_optuna_run_directory_config_runs_the_study_again(tmp_path):
    """The run directory's sweep.toml records the study's options; ``--config`` runs it again
    (the random sampler: the very trials)."""
    out, again = tmp_path / "a", tmp_path / "b"
    assert main(["sweep", "--trials", "3", "--epochs", "2", "--hidden", "8", "--train-size",
                 "60", "--batch-size", "20", "--source", "sample", "--sampler", "random",
                 "--pruner", "median", "--min-epochs", "1", "--batch-trials", "2",
                 "--study", "toy", "--out", str(out), *QUIET]) == 0
    lines = (out / "sweep.toml").read_text().splitlines()
    for line in ('sampler = "random"', 'pruner = "median"', 'study = "toy"',
                 "batch_trials = 2"):
        assert line in lines
    assert main(["sweep", "--config", str(out / "sweep.toml"), "--out", str(again),
                 *QUIET]) == 0
    summary = json.loads((again / "summary.json").read_text())
    assert summary["optuna"]["study"] == "toy" and summary["optuna"]["pruner"] == "MedianPruner"
    first, second = store.read_trials(out), store.read_trials(again)
    assert sorted(r["id"] for r in first) == [0, 1, 2]
    assert first == second
    assert all(np.isfinite(r["final_val_acc"]) for r in first)


@pytest.mark.slow
def test_cli_task_under_the_random_sampler_draws_the_plain_sweeps_trials(tmp_path):
    """``--task`` with ``--sampler random`` draws from the task's declared space: the plain
    sweep's trials, and a second process extending the study draws the next ones (not the
    first ones again)."""
    common = ["--task", "_task_toy:make_task", "--epochs", "1", *QUIET]
    assert main(["sweep", "--trials", "6", "--out", str(tmp_path / "plain"), *common]) == 0
    study = ["--sampler", "random", "--batch-trials", "3", "--out", str(tmp_path / "o")]
    assert main(["sweep", "--trials", "3", *study, *common]) == 0
    assert main(["sweep", "--trials", "6", *study, *common]) == 0
    plain = {r["id"]: r["hparams"] for r in store.read_trials(tmp_path / "plain")}
    drawn = {r["id"]: r["hparams"] for r in store.read_trials(tmp_path / "o")}
    assert drawn == plain and len({json.dumps(h) for h in drawn.values()}) == 6
    assert "trials = 6" in (tmp_path / "o" / "sweep.toml").read_text().splitlines()


@pytest.mark.slow
def test_a_study_refuses_a_task_whose_source_changed(tmp_path, monkeypatch, capsys):
    """A worker whose ``--task`` module changed since the study started is refused in one
    line (its trials would mix two models); the study keeps its trials."""
    module = tmp_path / "mytask_src.py"
    module.write_text("from _task_toy import make_task  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["sweep", "--task", "mytask_src:make_task", "--epochs", "1", "--sampler", "random",
            "--out", str(tmp_path / "o"), *QUIET]
    assert main([*args, "--trials", "2"]) == 0
    module.write_text("from _task_toy import make_task  # noqa: F401\n# another model\n")
    os.utime(module, (1e9, 1e9))  # a new modification time: inspect reads the file again
    capsys.readouterr()
    assert main([*args, "--trials", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["jaxch6 sweep: error: --study jaxch6-sweep: the source of the task changed "
                   "since the study started (its trials would mix two models); use another "
                   "study, or the task's first source"]
    assert len(store.read_trials(tmp_path / "o")) == 2


@pytest.mark.slow
def test_progress_takes_true_and_false_as_a_plain_sweep_does(capsys):
    """``progress=False`` reports nothing; ``progress=True`` draws the command line's
    progress on stderr."""
    config = SweepConfig(trials=2, epochs=1, seed=1)
    capsys.readouterr()
    quiet = jo.run(config, task=make_task, data=make_data()[0], progress=False)
    assert len(quiet.trials) == 2 and capsys.readouterr().err == ""
    shown = jo.run(config, task=make_task, data=make_data()[0], progress=True)
    assert _curves(shown.trials) == _curves(quiet.trials)
    assert "study" in capsys.readouterr().err


@pytest.mark.slow
def test_a_worker_directory_refuses_another_study_or_config_before_opening_it(tmp_path):
    """A directory holds one study's worker: another study, or another config, is refused
    before the study is opened, so the database gains no study and the files stay."""
    config = SweepConfig(trials=2, epochs=1, seed=1)
    url, out = f"sqlite:///{tmp_path}/s.db", tmp_path / "o"
    jo.run(config, task=make_task, data=make_data()[0], storage=url, study_name="a", out=out)
    before = (out / "trials.jsonl").read_bytes()
    with pytest.raises(ConfigError, match=f"{out} holds a worker of study 'a', not 'b': give "
                                          "another --out"):
        jo.run(config, task=make_task, data=make_data()[0], storage=url, study_name="b",
               out=out)
    with pytest.raises(ConfigError, match="holds a worker of another config: config field "
                                          "'seed' was 1, now 2"):
        jo.run(SweepConfig(trials=2, epochs=1, seed=2), task=make_task, data=make_data()[0],
               storage=url, study_name="a", out=out)
    assert [s.study_name for s in optuna.get_all_study_summaries(url)] == ["a"]
    assert (out / "trials.jsonl").read_bytes() == before
