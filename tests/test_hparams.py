"""Admissible hyperparameter ranges: concrete values in training, search ranges in sweeps."""

import jax
import numpy as np
import pytest

from jaxch6 import hparams
from jaxch6 import train as T
from jaxch6.errors import ConfigError
from jaxch6.sweep import Param, SweepConfig


@pytest.mark.parametrize("name", ["momentum", "decay_rate", "rho", "beta1", "beta2",
                                  "dropout_ratio"])
def test_unit_interval_hyperparameters(name):
    hparams.check_value(name, 0.0)
    hparams.check_value(name, np.array([0.5, 0.999]))
    for bad in (1.0, -0.1, 2.0, float("nan")):
        with pytest.raises(ConfigError, match=name):
            hparams.check_value(name, bad)
    hparams.check_range(name, 0.5, 1.0)  # U[0.5, 1) never reaches 1
    with pytest.raises(ConfigError, match="admissible"):
        hparams.check_range(name, 0.5, 1.5)


def test_training_refuses_concrete_out_of_range_values():
    x = np.random.default_rng(0).random((20, 8)).astype(np.float32)
    t = np.arange(20) % 10
    data = T.Data(x, t, x[:10], t[:10])
    cfg = dict(hidden_sizes=(4,), epochs=1, batch_size=10)
    for hp, opt in (({"momentum": 2.0}, "momentum"), ({"beta2": -3.0}, "adam"),
                    ({"eps": -1.0}, "adam"), ({"weight_decay": -1e-3}, "sgd")):
        with pytest.raises(ConfigError, match=next(iter(hp))):
            T.train(jax.random.key(0), hp, data, T.TrainConfig(optimizer=opt, **cfg))


def test_sweep_space_and_seed_are_checked():
    with pytest.raises(ConfigError, match="momentum"):
        SweepConfig(optimizer="momentum", space=(Param("momentum", 0.5, 3.0, "lin"),)).validate()
    SweepConfig(optimizer="momentum", space=(Param("momentum", 0.5, 0.99, "lin"),)).validate()
    for seed in (-1, 2**32, 1.5):
        with pytest.raises(ConfigError, match="seed must be an integer"):
            SweepConfig(seed=seed).validate()
