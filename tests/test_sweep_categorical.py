"""Categorical and integer parameters: parsing, validation, sampling, the grid, and sweeps whose
trials differ in static choices (one compiled program per group) with every scheduler."""

from __future__ import annotations

import dataclasses
import json
import threading

import numpy as np
import pytest
from _sweep_toy import toy_data, toy_task

from jaxch6.errors import ConfigError
from jaxch6.sweep import Param, SweepConfig, resume, run, store
from jaxch6.sweep.keys import uniforms
from jaxch6.sweep.loop import Interrupted
from jaxch6.sweep.records import format_space, format_trial
from jaxch6.sweep.space import (
    draw,
    grid,
    grid_size,
    parse_param,
    sample,
    space_from_dicts,
)

OPT = Param.categorical("optimizer", ["sgd", "momentum"])
BS = Param.categorical("batch_size", [5, 10])
LR = Param.float("learning_rate", 1e-3, 0.3)
MOM = Param.float("momentum", 0.5, 0.95, log=False)
MIXED = SweepConfig(space=(OPT, BS, LR, MOM), trials=8, epochs=4, seed=5, lanes=2,
                    chunk_size=4, batch_size=8)


def _run(config, **kw):
    return run(config, data=toy_data(), task=toy_task, **kw)


def test_parse_categorical_and_int_forms():
    assert parse_param("optimizer=sgd,momentum,adam") == Param.categorical(
        "optimizer", ("sgd", "momentum", "adam"))
    assert parse_param("batchnorm=on,off").choices == ("on", "off")
    assert parse_param("batch_size=32,64,128").choices == (32, 64, 128)
    assert parse_param("hidden=100x6,50x4,200/100").choices == ("100x6", "50x4", "200/100")
    assert parse_param("batch_size=16:128:int") == Param.int("batch_size", 16, 128)
    assert parse_param("width=50:200:int:log") == Param.int("width", 50, 200, log=True)
    assert parse_param("lr=0.1,0.01") == Param.categorical("learning_rate", (0.1, 0.01))
    assert parse_param("lr=1e-6:1e-2") == Param.float("learning_rate", 1e-6, 1e-2)
    assert Param.float("lr", 0.1, 0.5, log=False) == Param("lr", 0.1, 0.5, "lin")


def test_to_dict_round_trips_every_kind():
    space = (OPT, Param.int("width", 8, 32, log=True), LR, Param.categorical("lr", [0.1, 0.2]))
    dicts = [p.to_dict() for p in space]
    assert dicts[0] == {"name": "optimizer", "kind": "categorical", "choices": ["sgd", "momentum"]}
    assert dicts[1] == {"name": "width", "low": 8, "high": 32, "scale": "log", "kind": "int"}
    assert dicts[2] == {"name": "learning_rate", "low": 1e-3, "high": 0.3, "scale": "log"}
    assert space_from_dicts(json.loads(json.dumps(dicts))) == space
    c = MIXED.validate()
    assert SweepConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


@pytest.mark.parametrize(
    "change, words",
    [
        ({"space": (Param.categorical("optimizer", []),)}, "space optimizer: no choices"),
        ({"space": (Param.categorical("optimizer", ["sgd", "sgd"]),)}, "choice 'sgd' given twice"),
        ({"space": (Param.categorical("bogus", ["a", "b"]),)}, "space bogus: not a hyperparameter"),
        ({"space": (Param.categorical("optimizer", ["sgd", "lbfgs"]),)},
         "space optimizer: unknown optimizer 'lbfgs'"),
        ({"space": (Param.categorical("activation", ["relu", "gelu"]),)},
         "space activation: unknown activation 'gelu'"),
        ({"space": (Param.categorical("batch_size", [0, 32]),)},
         "space batch_size: choices must be positive integers"),
        ({"space": (Param.categorical("batchnorm", ["on", "maybe"]),)},
         "space batchnorm: choices are on and off"),
        ({"space": (Param.int("learning_rate", 1, 5),)}, "space learning_rate: a float"),
        ({"space": (Param.float("optimizer", 1.0, 2.0),)}, "space optimizer: takes choices"),
        ({"space": (Param.int("batch_size", 8, 4),)}, "space batch_size: low must not exceed"),
        ({"space": (Param.categorical("optimizer", ["sgd", "adagrad"]), MOM)},
         "space momentum: not a hyperparameter of any searched optimizer (sgd, adagrad)"),
        ({"space": (Param.float("dropout_ratio", 0.1, 0.5, log=False),)},
         "space dropout_ratio: needs dropout on"),
        ({"space": (Param.categorical("hidden", ["8x2"]), Param.int("width", 4, 8))},
         "space hidden and width"),
        ({"space": (OPT, LR), "scheduler": "pbt"}, "space optimizer: pbt cannot search it"),
        ({"space": (OPT, LR), "sampler": "grid"}, "space learning_rate: a grid needs listed"),
        ({"space": (OPT,), "sampler": "grid", "scheduler": "hyperband"}, "sampler grid"),
        ({"sampler": "sobol"}, "sampler: unknown sampler 'sobol'"),
        ({"init": float("inf")}, "init: a numeric init is the normal's std"),
        ({"val_fraction": float("nan")}, "val_fraction must be a number in (0, 1)"),
        ({"trials": 0}, "trials must be a positive integer"),
        ({"eta": 1}, "eta must be an integer >= 2"),
        ({"keep": 0}, "keep must be a positive integer"),
        ({"batchnorm": "yes"}, "batchnorm must be true or false"),
    ],
)
def test_invalid_spaces_are_one_line_errors_naming_fields(change, words):
    with pytest.raises(ConfigError) as exc:
        dataclasses.replace(SweepConfig(), **change).validate()
    msg = str(exc.value)
    assert words in msg and "\n" not in msg and "--" not in msg


@pytest.mark.slow
def test_categorical_index_is_floor_of_the_params_uniform():
    space = (LR, Param.categorical("activation", ["relu", "tanh", "sigmoid"]),
             Param.int("batch_size", 2, 9), Param.int("width", 3, 300, log=True))
    ids = list(range(500))
    v = sample(space, ids, seed=1)
    u = uniforms(1, ids, 4).astype(np.float64)
    choices = np.array(["relu", "tanh", "sigmoid"])
    np.testing.assert_array_equal(v["activation"], choices[np.floor(u[:, 1] * 3).astype(int)])
    np.testing.assert_array_equal(v["batch_size"], 2 + np.floor(u[:, 2] * 8).astype(int))
    assert set(v["batch_size"].tolist()) == set(range(2, 10))
    assert v["width"].min() >= 3 and v["width"].max() <= 300 and np.median(v["width"]) < 60
    # a float keeps its values when a neighbour's choices shrink to one (a group-only sweep)
    one = sample((LR, Param.categorical("activation", ["tanh"]), *space[2:]), ids, seed=1)
    np.testing.assert_array_equal(one["learning_rate"], v["learning_rate"])
    assert set(one["activation"].tolist()) == {"tanh"}


@pytest.mark.slow
def test_draw_gives_plain_values_and_drops_names_the_optimizer_does_not_use():
    hp = draw((OPT, BS, LR, MOM), range(40), seed=0)
    for h in hp.values():
        assert type(h["optimizer"]) is str and type(h["batch_size"]) is int
        assert type(h["learning_rate"]) is float
        assert ("momentum" in h) == (h["optimizer"] == "momentum")
    assert {h["optimizer"] for h in hp.values()} == {"sgd", "momentum"}


def test_grid_enumerates_the_product_first_parameter_slowest():
    space = (OPT, Param.int("batch_size", 1, 3), Param.categorical("lr", [0.1, 0.01]))
    assert grid_size(space) == 12
    g = grid(space, range(12))
    assert g["optimizer"].tolist() == ["sgd"] * 6 + ["momentum"] * 6
    assert g["batch_size"].tolist() == [1, 1, 2, 2, 3, 3] * 2
    assert g["lr"].tolist() == [0.1, 0.01] * 6
    with pytest.raises(ConfigError, match="outside the grid"):
        grid(space, [12])
    c = SweepConfig(space=space, sampler="grid", trials=3).validate()
    assert c.trials == 12


def test_format_shows_strings_and_ints_plainly():
    hp = draw((OPT, BS, LR), [0], seed=0)[0]
    from jaxch6.sweep.records import Trial

    line = format_trial(1, Trial(0, 0, hp, [0.5], [0.5], False))
    assert f"optimizer:{hp['optimizer']}, batch_size:{hp['batch_size']}, learning_rate:" in line
    assert format_space((OPT, Param.int("width", 8, 32))) == \
        "optimizer {sgd, momentum}, width 8..32 (int, lin)"


def _curves(res):
    return {t.id: (t.train_acc, t.val_acc, t.hparams) for t in res.trials}


@pytest.mark.slow
def test_mixed_sweep_equals_each_group_swept_alone(tmp_path):
    mixed = _run(MIXED, out=tmp_path / "mixed")
    got = _curves(mixed)
    groups = {(h["optimizer"], h["batch_size"]) for _, _, h in got.values()}
    assert len(groups) == 4 and len(mixed.info["groups"]) == 4
    for opt, bs in groups:
        space = (Param.categorical("optimizer", [opt]), Param.categorical("batch_size", [bs]),
                 LR, *([MOM] if opt == "momentum" else []))  # sgd has no momentum (the last)
        alone = dataclasses.replace(MIXED, space=space)
        res = _curves(_run(alone))
        ids = [i for i, (_, _, h) in got.items() if (h["optimizer"], h["batch_size"]) == (opt, bs)]
        assert ids and all(res[i] == got[i] for i in ids)
    rec = [json.loads(x) for x in (tmp_path / "mixed" / store.TRIALS).read_text().splitlines()]
    assert {type(r["hparams"]["optimizer"]) for r in rec} == {str}
    assert {type(r["hparams"]["batch_size"]) for r in rec} == {int}


@pytest.mark.slow
def test_halving_across_optimizers_and_batch_sizes_keeps_straight_training(tmp_path):
    straight = _curves(_run(MIXED))
    cfg = dataclasses.replace(MIXED, scheduler="halving", eta=2, min_epochs=1)
    res = _run(cfg, out=tmp_path / "h")
    complete = [t for t in res.trials if t.status == "complete"]
    assert len(complete) == 2 and len(res.trials) == 8  # rungs 1, 2, 4: 8 → 4 → 2
    for t in res.trials:  # every trial, stopped or not, matches straight training so far
        tr, va, hp = straight[t.id]
        assert (t.train_acc, t.val_acc, t.hparams) == (tr[: t.epochs], va[: t.epochs], hp)


@pytest.mark.slow
def test_interrupted_mixed_halving_resumes_to_the_same_result(tmp_path):
    cfg = dataclasses.replace(MIXED, scheduler="halving", eta=2, min_epochs=1)
    full = _curves(_run(cfg))
    stop = threading.Event()

    def progress(p):
        if p.label.startswith("rung 2") and p.done > 0:
            stop.set()

    with pytest.raises(Interrupted):
        _run(cfg, out=tmp_path / "part", progress=progress, stop=stop)
    assert any((tmp_path / "part" / "states").glob("block-*.npz"))
    res = resume(tmp_path / "part", data=toy_data(), task=toy_task)
    assert _curves(res) == full


@pytest.mark.slow
def test_grid_sweep_runs_every_combination_once():
    cfg = dataclasses.replace(MIXED, space=(OPT, BS, Param.categorical("lr", [0.05, 0.2])),
                              sampler="grid", trials=1)
    res = _run(cfg)
    combos = [(t.hparams["optimizer"], t.hparams["batch_size"], t.hparams["learning_rate"])
              for t in res.trials]
    assert len(res.trials) == 8 and len(set(combos)) == 8


@pytest.mark.slow
def test_pbt_keeps_categorical_values_among_their_choices():
    cfg = dataclasses.replace(MIXED, space=(Param.categorical("lr", [0.3, 0.1, 0.01]),
                                            Param.float("weight_decay", 1e-6, 1e-2)),
                              scheduler="pbt", pbt_interval=1)
    res = _run(cfg)
    seen = {e["hparams"]["learning_rate"] for t in res.trials for e in (t.lineage or [])}
    seen |= {t.hparams["learning_rate"] for t in res.trials}
    assert seen <= {0.3, 0.1, 0.01} and any(t.lineage for t in res.trials)


CLI_TINY = ["--epochs", "2", "--hidden", "8", "--batch-size", "10", "--train-size", "50",
            "--source", "sample", "--no-compile-cache", "--quiet", "--cpu-devices", "1",
            "--no-plot"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--space", "optimizer=sgd,sgd"], "--space optimizer: choice 'sgd' given twice"),
        (["--space", "lr=1:5:int"], "--space learning_rate: a float hyperparameter"),
        (["--trials", "0"], "--trials must be a positive integer"),
        (["--sampler", "grid", "--space", "lr=1e-3:1e-1"], "--space learning_rate: a grid"),
    ],
)
def test_cli_errors_name_the_options(argv, words, capsys, tmp_path):
    from jaxch6.cli import main

    code = main(["sweep", *argv, "--out", str(tmp_path / "o"), "--no-compile-cache",
                 "--cpu-devices", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and "\n" not in err


@pytest.mark.slow
def test_cli_grid_over_optimizers_and_listed_rates(capsys, tmp_path):
    from jaxch6.cli import main

    out = tmp_path / "g"
    code = main(["sweep", *CLI_TINY, "--sampler", "grid", "--space", "optimizer=sgd,adam",
                 "--space", "lr=0.1,0.01", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    records = store.read_trials(out)
    assert sorted((r["hparams"]["optimizer"], r["hparams"]["learning_rate"]) for r in records) \
        == [("adam", 0.01), ("adam", 0.1), ("sgd", 0.01), ("sgd", 0.1)]
    assert ("optimizer:adam, learning_rate:0.1" in stdout
            or "optimizer:adam, learning_rate:0.01" in stdout)
    assert store.read_summary(out)["config"]["sampler"] == "grid"
