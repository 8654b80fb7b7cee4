"""Schedulers: given what has been measured, what runs next (one module each).

- :mod:`~jaxch6.sweep.schedulers.random`: the book's random search, with narrowing rounds;
- :mod:`~jaxch6.sweep.schedulers.halving`: successive halving and Hyperband;
- :mod:`~jaxch6.sweep.schedulers.pbt`: population-based training.

Optuna's samplers and pruners ride the same run loop through :mod:`jaxch6.sweep.optuna`.
"""

from __future__ import annotations

from jaxch6.errors import ConfigError
from jaxch6.sweep.schedulers.base import Copy, Scheduler, Step
from jaxch6.sweep.schedulers.halving import Hyperband, SuccessiveHalving, rungs
from jaxch6.sweep.schedulers.pbt import PopulationBasedTraining
from jaxch6.sweep.schedulers.random import RandomSearch

#: The schedulers by name.
SCHEDULERS = ("random", "halving", "hyperband", "pbt")

__all__ = ["SCHEDULERS", "Copy", "Hyperband", "PopulationBasedTraining", "RandomSearch",
           "Scheduler", "Step", "SuccessiveHalving", "make", "rungs"]


def make(config) -> Scheduler:
    """Build the scheduler a :class:`jaxch6.sweep.SweepConfig` names, with its settings.

    Args:
        config: the sweep's settings (``scheduler`` and the fields that scheduler reads).

    Returns:
        A :class:`Scheduler`.

    Raises:
        ConfigError: an unknown scheduler or impossible settings.
    """
    common = {"epochs": config.epochs, "seed": config.seed,
              "schedule": getattr(config, "schedule", "constant")}
    sampler = getattr(config, "sampler", "random")
    if config.scheduler == "random":
        return RandomSearch(config.space, trials=config.trials, rounds=config.rounds,
                            keep=config.keep, sampler=sampler, **common)
    if config.scheduler == "halving":
        return SuccessiveHalving(config.space, trials=config.trials, min_epochs=config.min_epochs,
                                 eta=config.eta, sampler=sampler, **common)
    if config.scheduler == "hyperband":
        return Hyperband(config.space, min_epochs=config.min_epochs, eta=config.eta, **common)
    if config.scheduler == "pbt":
        return PopulationBasedTraining(config.space, trials=config.trials,
                                       interval=config.pbt_interval, sampler=sampler, **common)
    raise ConfigError(f"unknown scheduler {config.scheduler!r} (choose from "
                      f"{', '.join(SCHEDULERS)})")
