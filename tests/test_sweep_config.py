"""SweepConfig: the book's defaults, validation (one-line ConfigErrors), serialisation."""

from __future__ import annotations

import dataclasses

import pytest

from jaxch6.errors import ConfigError
from jaxch6.sweep import BOOK_SPACE, Param, SweepConfig, parse_hidden


def test_defaults_are_the_books_search():
    c = SweepConfig().validate()
    assert (c.trials, c.epochs, c.batch_size, c.train_size) == (100, 50, 100, 500)
    assert (c.n_train, c.n_val) == (400, 100)
    assert c.hidden == (100,) * 6 and c.activation == "relu" and c.init == "he"
    assert c.optimizer == "sgd" and c.space == BOOK_SPACE
    tc = c.train_config()
    assert tc.hidden_sizes == (100,) * 6 and tc.weight_init == "he" and tc.epochs == 50
    assert tc.record_loss == "none"


def test_roundtrip_through_dict():
    c = SweepConfig(space=(Param("lr", 1e-4, 1e-1), Param("momentum", 0.5, 0.9, "lin")),
                    optimizer="momentum", hidden=(20, 10), rounds=3, keep=4, seed=7).validate()
    d = c.to_dict()
    assert d["space"][0] == {"name": "learning_rate", "low": 1e-4, "high": 0.1, "scale": "log"}
    assert SweepConfig.from_dict(d) == c
    with pytest.raises(ConfigError, match="unknown sweep config fields: bogus"):
        SweepConfig.from_dict({**d, "bogus": 1})


@pytest.mark.parametrize(
    "change, words",
    [
        ({"trials": 0}, "trials must be a positive integer"),
        ({"epochs": -1}, "epochs must be a positive integer"),
        ({"chunk_size": 0}, "chunk_size must be a positive integer"),
        ({"rounds": 2, "keep": 1}, "keep must be between 2 and trials"),
        ({"rounds": 2, "keep": 101}, "keep must be between 2 and trials"),
        ({"val_fraction": 1.0}, "val_fraction must be a number in (0, 1)"),
        ({"train_size": 3}, "leaves an empty training or validation set"),
        ({"activation": "gelu"}, "unknown activation 'gelu'"),
        ({"dataset": "cifar"}, "unknown dataset 'cifar'"),
        ({"init": "orthogonal"}, "unknown initializer 'orthogonal'"),
        ({"init": -0.1}, "a numeric init is the normal's std"),
        ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
        ({"space": (Param("dropout_ratio", 0.1, 0.5, "lin"),)}, "dropout_ratio: needs dropout"),
        ({"space": (Param("momentum", 0.1, 0.5, "lin"),)}, "not a hyperparameter"),
        ({"init": float("inf")}, "a numeric init is the normal's std"),
        ({"val_fraction": float("nan")}, "val_fraction must be a number in (0, 1)"),
        ({"seed": -1}, "seed must be an integer in [0, 2**32)"),
        ({"lanes": 0}, "lanes must be a positive integer"),
        ({"save_best": -1}, "save_best must be an integer >= 0"),
        ({"hidden": (8, 0)}, "hidden needs positive layer sizes"),
    ],
)
def test_validation_errors(change, words):
    with pytest.raises(ConfigError) as exc:
        dataclasses.replace(SweepConfig(), **change).validate()
    assert words in str(exc.value) and "\n" not in str(exc.value)
    assert "--" not in str(exc.value)  # fields, not command-line flags


def test_parse_hidden():
    assert parse_hidden("100x6") == (100,) * 6
    assert parse_hidden("100,50") == (100, 50)
    assert parse_hidden("100x2,50") == (100, 100, 50)
    for bad in ("", "a", "100x", "0,5"):
        with pytest.raises(ConfigError, match="hidden"):
            parse_hidden(bad)
