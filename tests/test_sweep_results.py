"""A sweep directory read back as a table: ``jaxch6.sweep.load``, ``trials.csv``,
``to_dataframe``, ``jaxch6 sweep show``, and the export of a finished sweep to an Optuna study."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import sys

import pytest
from _sweep_toy import toy_data, toy_task

from jaxch6.cli import build_parser, main
from jaxch6.errors import ConfigError
from jaxch6.sweep import Param, SweepConfig, load, run
from jaxch6.sweep.tables import COLUMNS

TOY = SweepConfig(trials=9, epochs=4, batch_size=8, hidden=(4,), seed=2, lanes=2, chunk_size=4,
                  space=(Param("lr", 1e-3, 1.0), Param("weight_decay", 1e-6, 1e-2, "lin")))
HP = ["learning_rate", "weight_decay"]


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """``{scheduler: (result returned by run, its run directory)}``."""
    out = {}
    for name, kw in (("random", {"repeats": 2}), ("halving", {"scheduler": "halving"}),
                     ("pbt", {"scheduler": "pbt", "pbt_interval": 2})):
        d = tmp_path_factory.mktemp(name) / "run"
        res = run(dataclasses.replace(TOY, **kw), out=d, data=toy_data(), task=toy_task)
        out[name] = (res, d)
    return out


def _same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["random", "halving", "pbt"])
def test_load_gives_back_what_run_returned(sweeps, name):
    res, d = sweeps[name]
    got = load(d)
    assert got.config == res.config and got.out_dir == d
    assert got.info["status"] == "complete" and got.info["kind"] == "sweep"
    assert got.info["scheduler"]["name"] == res.config.scheduler
    assert got.rounds == json.loads(json.dumps(res.rounds))
    assert [t.id for t in got.trials] == [t.id for t in res.trials] == list(range(9))
    for a, b in zip(got.trials, res.trials, strict=True):
        assert (a.hparams, a.val_acc, a.train_acc) == (b.hparams, b.val_acc, b.train_acc)
        assert (a.status, a.rung, a.round, a.diverged) == (b.status, b.rung, b.round, b.diverged)
        assert a.lineage == b.lineage and a.repeats == b.repeats
    assert got.ranking_lines(5) == res.ranking_lines(5)


@pytest.mark.slow
def test_load_keeps_the_last_record_of_a_trial_trained_in_steps(sweeps):
    res, d = sweeps["halving"]
    lines = (d / "trials.jsonl").read_text().splitlines()
    assert len(lines) > 9  # survivors were recorded after each rung
    got = {t.id: t.epochs for t in load(d).trials}
    assert got == {t.id: t.epochs for t in res.trials}
    assert sorted(set(got.values())) == [1, 3, 4]


def test_load_refuses_a_directory_that_is_no_sweep(tmp_path):
    with pytest.raises(ConfigError, match="no manifest.json there"):
        load(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["random", "halving"])
def test_every_sweep_writes_trials_csv(sweeps, name):
    res, d = sweeps[name]
    with open(d / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [*COLUMNS, *("hp." + k for k in HP)]
    ranks = {t.id: i + 1 for i, t in enumerate(res.ranked)}
    assert [int(r["id"]) for r in rows] == list(range(9))
    for row, t in zip(rows, res.trials, strict=True):
        assert float(row["hp.learning_rate"]) == t.hparams["learning_rate"]
        assert float(row["hp.weight_decay"]) == t.hparams["weight_decay"]
        assert float(row["final_val_acc"]) == t.val_acc[-1]
        assert float(row["final_train_acc"]) == t.train_acc[-1]
        assert int(row["epochs"]) == t.epochs and row["status"] == t.status
        assert int(row["rank"]) == ranks[t.id] and row["diverged"] == str(t.diverged)
        assert row["rung"] == ("" if t.rung is None else str(t.rung))
        assert row["val_acc_std"] == ("" if t.val_acc_std is None else repr(t.val_acc_std))


@pytest.mark.slow
def test_to_dataframe_one_row_per_trial(sweeps):
    pytest.importorskip("pandas")
    res, d = sweeps["random"]
    df = load(d).to_dataframe()
    assert list(df.columns) == [*COLUMNS, "hp.learning_rate", "hp.weight_decay"]
    assert len(df) == 9 and df["id"].tolist() == list(range(9))
    assert df["hp.learning_rate"].tolist() == [t.hparams["learning_rate"] for t in res.trials]
    assert df["final_val_acc"].tolist() == [t.final_val_acc for t in res.trials]
    assert df["val_acc_std"].tolist() == pytest.approx([t.val_acc_std for t in res.trials])
    assert df["rung"].isna().all() and str(df["rung"].dtype) == "Int64"
    assert df.sort_values("rank")["id"].tolist() == [t.id for t in res.ranked]
    halving = load(sweeps["halving"][1]).to_dataframe()
    assert halving["rung"].tolist() == [t.rung for t in sweeps["halving"][0].trials]
    assert set(halving["status"]) == {"stopped", "complete"}


@pytest.mark.slow
def test_to_dataframe_without_pandas_names_the_extra(sweeps, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ConfigError, match=r"pip install 'jaxch6\[pandas\]'"):
        sweeps["random"][0].to_dataframe()


@pytest.mark.slow
def test_loading_an_optuna_worker_directory(tmp_path):
    import jax

    from jaxch6.sweep import optuna as jo

    config = SweepConfig(trials=4, epochs=3, batch_size=10, seed=0, lanes=1).validate()
    res = jo.run(config, data=toy_data(), task=toy_task, devices=jax.local_devices(),
                 batch_trials=4, out=tmp_path / "opt")
    got = load(tmp_path / "opt")
    assert got.info["kind"] == "optuna" and got.info["optuna"]["n_trials"] == 4
    assert [(t.id, t.val_acc, t.hparams) for t in got.trials] == \
        [(t.id, t.val_acc, t.hparams) for t in res.trials]
    assert (tmp_path / "opt" / "trials.csv").read_text().count("\n") == 5


def test_figures_csv_and_ranking_name_hyperparameters_alike(tmp_path):
    """Issue 21.6: one name per hyperparameter, the one ``--space`` takes, in the ranking, the
    figures' titles and axes, ``trials.csv`` (``hp.NAME``) and the space line of ``show``."""
    from jaxch6 import plots
    from jaxch6.sweep import Trial, format_trial, rank
    from jaxch6.sweep.records import format_space
    from jaxch6.sweep.space import parse_param
    from jaxch6.sweep.tables import HP_PREFIX, write_csv

    space = (parse_param("lr=1e-4:1"), parse_param("wd=0:0.1:lin"))
    trials = rank([Trial(i, 0, {"learning_rate": lr, "weight_decay": wd}, [0.5, acc],
                         [0.4, acc], False) for i, (lr, wd, acc) in
                   enumerate([(0.01, 0.02, 0.5), (0.3, 0.07, 0.8)])])
    assert format_trial(1, trials[0]) == \
        "Best-1(val acc:0.8) | learning_rate:0.3, weight_decay:0.07"
    assert format_space(space) == \
        "learning_rate 0.0001..1 (log), weight_decay 0..0.1 (lin)"
    header = write_csv(tmp_path / "t.csv", trials).read_text().splitlines()[0].split(",")
    assert [h.removeprefix(HP_PREFIX) for h in header if h.startswith(HP_PREFIX)] == HP
    scatter = plots.sweep_scatter(trials, space=space)
    assert [ax.get_title() for ax in scatter.axes if ax.get_title()] == HP
    assert [ax.get_xlabel() for ax in scatter.axes if ax.get_title()] == \
        ["learning_rate (log)", "weight_decay"]
    (ax, _bar) = plots.sweep_parallel(trials, space=space).axes
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == \
        ["learning_rate (log)", "weight_decay"]
    top = plots.sweep_top_grid(trials, n=2, cols=2)
    (best,) = [t.get_text() for t in top.axes[0].texts if t.get_text().startswith("Best-1 ")]
    assert best.splitlines()[1:] == \
        ["learning_rate=0.3", "weight_decay=0.07"]


# -- jaxch6 sweep show ------------------------------------------------------------------------
@pytest.mark.slow
def test_sweep_show_prints_the_ranking_and_renders_the_figures(sweeps, capsys):
    res, d = sweeps["halving"]
    for f in ("top20.png", "trials.csv"):
        (d / f).unlink(missing_ok=True)
    assert main(["sweep", "show", str(d), "--top", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    start = out.index("=========== Hyper-Parameter Optimization Result ===========")
    assert out[start + 1:start + 4] == res.ranking_lines(3)
    for f in ("top20.png", "scatter.png", "parallel.png", "rungs.png", "trials.csv"):
        assert (d / f).read_bytes()[:2] in (b"\x89P", b"id")
    assert not (d / "pbt.png").exists()


@pytest.mark.slow
def test_sweep_show_no_plot_writes_nothing(sweeps, capsys, tmp_path):
    _, d = sweeps["random"]
    before = sorted(p.name for p in d.iterdir())
    assert main(["sweep", "show", str(d), "--no-plot", "--top", "1"]) == 0
    assert capsys.readouterr().out.count("Best-") == 1
    assert sorted(p.name for p in d.iterdir()) == before
    assert main(["sweep", "show", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err


def test_sweep_without_an_action_still_runs_a_sweep():
    from jaxch6.commands import sweep as cmd
    from jaxch6.commands import sweep_actions

    args = build_parser().parse_args(["sweep", "--trials", "5", "--top", "3"])
    assert args.action is None and args._run is cmd.run and args.trials == 5
    args = build_parser().parse_args(["sweep", "show", "DIR", "--top", "3"])
    assert (args.action, args.dir, args.top, args._run) == ("show", "DIR", 3,
                                                             sweep_actions.run_show)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sweep", "show", "DIR", "--trials", "5"])


# -- export to Optuna -------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", ["random", "halving"])
def test_export_optuna_holds_every_trial(sweeps, name, tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    res, d = sweeps[name]
    url = f"sqlite:///{tmp_path / 'study.db'}"
    assert main(["sweep", "export-optuna", str(d), "--storage", url, "--study", name]) == 0
    assert f"exported 9 trials of {d} to study '{name}'" in capsys.readouterr().out
    study = optuna.load_study(study_name=name, storage=url)
    assert study.user_attrs["jaxch6_config"]["scheduler"] == res.config.scheduler
    trials = {t.user_attrs["key_id"]: t for t in study.get_trials()}
    assert sorted(trials) == list(range(9))
    for t in res.trials:
        ot = trials[t.id]
        assert ot.params == t.hparams
        assert ot.value == (0.0 if t.diverged else t.final_val_acc)
        assert ot.intermediate_values == dict(enumerate(t.val_acc))
        stopped = optuna.trial.TrialState.PRUNED
        assert (ot.state == stopped) == (t.status == "stopped")
        assert ot.user_attrs["train_acc"] == t.train_acc and ot.user_attrs["rung"] == t.rung
        lr = ot.distributions["learning_rate"]
        assert (lr.low, lr.high, lr.log) == (1e-3, 1.0, True)
        assert ot.distributions["weight_decay"].log is False
    assert study.best_trial.user_attrs["key_id"] == res.ranked[0].id
    with pytest.raises(ConfigError, match=f"study '{name}' already exists"):
        from jaxch6.sweep.export import to_optuna

        to_optuna(d, url, name)


@pytest.mark.slow
def test_export_optuna_default_study_name_and_hidden_password(sweeps, tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    from jaxch6.sweep.export import to_optuna

    _, d = sweeps["pbt"]
    study = to_optuna(d, tmp_path / "file.db")
    assert study.study_name == "run" and len(study.trials) == 9
    assert optuna.load_study(study_name="run", storage=f"sqlite:///{tmp_path / 'file.db'}")
    code = main(["sweep", "export-optuna", str(d), "--storage", "mysql://me:s3cret@/nowhere"])
    err = capsys.readouterr().err
    assert code == 2 and "s3cret" not in err and err.count("\n") == 1


def test_distributions_for_categorical_and_integer_spaces():
    pytest.importorskip("optuna")
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    from jaxch6.sweep.export import distribution

    assert distribution({"name": "act", "choices": ["relu", "tanh"]}, ["tanh"]) == \
        CategoricalDistribution(["relu", "tanh"])
    assert distribution({}, ["relu", "gelu", "relu"]) == CategoricalDistribution(["relu", "gelu"])
    assert distribution({"name": "n", "low": 2, "high": 8, "kind": "int"}, [4]) == \
        IntDistribution(2, 8)
    assert distribution(Param("lr", 1e-3, 1e-1), [0.5]) == FloatDistribution(1e-3, 0.5, log=True)


# -- export-optuna faults (issue 19 item 7) ---------------------------------------------------
@pytest.mark.slow
def test_export_refuses_a_running_or_unfinished_sweep(sweeps, tmp_path, capsys):
    pytest.importorskip("optuna")
    import json
    import shutil

    from jaxch6.sweep import store

    _, d = sweeps["random"]
    run_dir = tmp_path / "run"
    shutil.copytree(d, run_dir)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    with store.lock(run_dir):  # a sweep is running there
        assert main(["sweep", "export-optuna", str(run_dir), "--storage", url]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is in use by another sweep" in err, err
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "status": "running"}))
    assert main(["sweep", "export-optuna", str(run_dir), "--storage", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unfinished sweep (status running)" in err, err
    assert not (tmp_path / "study.db").exists() or _studies(url) == []


def _studies(url):
    import optuna

    return [s.study_name for s in optuna.get_all_study_summaries(storage=url)]


@pytest.mark.slow
def test_an_export_cut_short_is_replaced_by_the_next(sweeps, tmp_path):
    optuna = pytest.importorskip("optuna")
    from jaxch6.sweep.export import COMPLETE, to_optuna

    _, d = sweeps["halving"]
    url = f"sqlite:///{tmp_path / 'study.db'}"
    partial = optuna.create_study(storage=url, study_name="h", direction="maximize")
    partial.set_user_attr("jaxch6_export", {"kind": "sweep"})  # cut short: no complete mark
    study = to_optuna(d, url, "h")
    assert study.user_attrs[COMPLETE] is True and len(study.get_trials()) == 9
    assert _studies(url) == ["h"]
    with pytest.raises(ConfigError, match="already exists"):  # a complete export stays
        to_optuna(d, url, "h")
    optuna.create_study(storage=url, study_name="mine")  # not an export: never deleted
    with pytest.raises(ConfigError, match="already exists"):
        to_optuna(d, url, "mine")


@pytest.mark.slow
def test_export_gives_up_on_a_silent_server(sweeps, tmp_path, capsys):
    pytest.importorskip("optuna")
    import importlib.util
    import inspect
    import socket
    import threading
    import time

    from jaxch6.sweep import optuna_storage as S
    from jaxch6.sweep.export import to_optuna

    if not any(importlib.util.find_spec(m) for m in ("psycopg", "psycopg2")):
        pytest.skip("no PostgreSQL driver")
    assert inspect.signature(to_optuna).parameters["timeout"].default is None  # 10 s default
    assert S.CONNECT_TIMEOUT_S == 10.0
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    held = []
    threading.Thread(target=lambda: held.append(srv.accept()), daemon=True).start()
    _, d = sweeps["random"]
    t0 = time.monotonic()
    code = main(["sweep", "export-optuna", str(d), "--storage",
                 f"postgresql://u:pw@127.0.0.1:{srv.getsockname()[1]}/db",
                 "--storage-timeout", "1"])
    elapsed = time.monotonic() - t0
    srv.close()
    err = capsys.readouterr().err
    assert code == 2 and "within 1 s" in err and err.count("\n") == 1, err
    assert elapsed < 5


# -- sweep show on a live or empty directory (issue 19 item 13) ------------------------------
@pytest.mark.slow
def test_show_writes_nothing_into_a_running_sweep_and_refuses_no_records(sweeps, tmp_path,
                                                                        capsys):
    import shutil

    from jaxch6.sweep import store

    _, d = sweeps["random"]
    run_dir = tmp_path / "run"
    shutil.copytree(d, run_dir)
    for name in ("top20.png", "trials.csv"):
        (run_dir / name).unlink(missing_ok=True)
    with store.lock(run_dir):  # a sweep is running there
        assert main(["sweep", "show", str(run_dir)]) == 0
        out, err = capsys.readouterr()
        assert "Best-1(val acc:" in out and "wrote nothing" in err and "in use" in err
        assert not (run_dir / "top20.png").exists() and not (run_dir / "trials.csv").exists()
    (run_dir / "trials.jsonl").unlink()
    assert main(["sweep", "show", str(run_dir), "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no trial is recorded there" in err, err
