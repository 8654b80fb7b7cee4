"""jaxch6.names: the one vocabulary. Each implementation offers exactly the names listed there,
the config and the command line import it without JAX, hidden-layer sizes parse once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jaxch6 import names
from jaxch6.errors import ConfigError


def test_every_implementation_offers_exactly_the_listed_names():
    import jax.numpy as jnp

    from jaxch6 import initializers, layers, optimizers, precision, schedules, train
    from jaxch6.data import loader
    from jaxch6.sweep import schedulers

    assert tuple(optimizers.OPTIMIZERS) == names.OPTIMIZERS
    for rule, hp in names.OPTIMIZER_HYPERPARAMETERS.items():
        assert tuple(optimizers.DEFAULTS[rule]) == hp
    assert tuple(layers.ACTIVATIONS) == names.ACTIVATIONS
    assert tuple(initializers.NAMES) == names.INITIALIZERS
    assert precision.PRECISIONS == names.PRECISIONS
    assert tuple(schedules.DEFAULTS) == names.SCHEDULES
    assert (train.RECORD_LOSS, train.DTYPES) == (names.RECORD_LOSS, names.DTYPES)
    assert set(loader.DATASETS) == set(names.DATASETS)
    assert set(loader.SOURCES) == set(names.SOURCES)
    assert tuple(schedulers.SCHEDULERS) == names.SCHEDULERS
    # the slots a lane's memory is planned for: the parameter-shaped buffers of each state
    params = {"w": jnp.zeros((3, 5)), "b": jnp.zeros(5)}
    for rule, slots in names.OPTIMIZER_SLOTS.items():
        state = optimizers.get_optimizer(rule).init(params)
        shaped = [x for x in __import__("jax").tree.leaves(state) if getattr(x, "ndim", 0) > 0]
        assert len(shaped) == 2 * slots, rule


def test_config_and_command_line_import_no_jax():
    code = ("import sys, jaxch6.names, jaxch6.sweep.config, jaxch6.commands.sweep; "
            "print('jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_hidden_layers_parse_once():
    from jaxch6.sweep import parse_hidden
    from jaxch6.sweep.space import hidden_sizes

    assert names.parse_layers("100x2,50") == names.parse_layers("100x2/50") == (100, 100, 50)
    assert parse_hidden("100x6") == hidden_sizes("100x6") == (100,) * 6
    for bad, needle in (("100x0x", "is not like"), ("", "is not like"), ("0", "sizes >= 1"),
                        ("100x99999999999", "reduce the layer count")):
        with pytest.raises(ConfigError, match=needle):
            names.parse_layers(bad)
    with pytest.raises(ConfigError, match="^hidden '5x1001' has 1001 layers"):
        parse_hidden("5x1001")
    with pytest.raises(ConfigError, match="^space hidden: choice 'x'"):
        hidden_sizes("x")
    with pytest.raises(ConfigError, match="activation: unknown activation 'elu' \\(choose "
                                          "from relu, sigmoid, tanh\\)"):
        names.choose("activation", "elu", names.ACTIVATIONS)
