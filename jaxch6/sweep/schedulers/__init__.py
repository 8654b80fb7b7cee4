"""Schedulers: given what has been measured, what runs next (one module each), and the registry
that maps a scheduler's name to its class and its settings.

- :mod:`~jaxch6.sweep.schedulers.random`: the book's random search, with narrowing rounds;
- :mod:`~jaxch6.sweep.schedulers.halving`: successive halving and Hyperband;
- :mod:`~jaxch6.sweep.schedulers.pbt`: population-based training.

Each class (:class:`~jaxch6.sweep.schedulers.base.Scheduler`) carries its ``Settings`` dataclass
(fields of :class:`jaxch6.sweep.SweepConfig` and command-line options, with their help), builds
itself from a config (``from_config``), refuses what it cannot do (``check_config``) and reports
its total trials, rounds or brackets and figure. Nothing outside this package branches on a
scheduler's name: a new scheduler is a class added to :data:`SCHEDULERS` (and its name to
:data:`jaxch6.names.SCHEDULERS`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jaxch6 import names
from jaxch6.errors import ConfigError
from jaxch6.sweep.schedulers.base import Copy, Scheduler, SideBySide, Step, settings_of
from jaxch6.sweep.schedulers.halving import Hyperband, SuccessiveHalving, rungs
from jaxch6.sweep.schedulers.pbt import PopulationBasedTraining
from jaxch6.sweep.schedulers.random import RandomSearch

#: The schedulers by name, in the order of :data:`jaxch6.names.SCHEDULERS`.
SCHEDULERS: dict[str, type] = {
    c.name: c for c in (RandomSearch, SuccessiveHalving, Hyperband, PopulationBasedTraining)}

__all__ = ["SCHEDULERS", "Copy", "Hyperband", "PopulationBasedTraining", "RandomSearch",
           "Scheduler", "SideBySide", "Step", "SuccessiveHalving", "check", "describe", "lookup",
           "make", "options", "rungs"]


def lookup(name: str) -> type:
    """The scheduler class registered as ``name``.

    Raises:
        ConfigError: an unknown name (one line listing the known ones).
    """
    names.choose("scheduler", name, tuple(SCHEDULERS))
    return SCHEDULERS[name]


def make(config) -> Scheduler:
    """Build the scheduler a :class:`jaxch6.sweep.SweepConfig` names, with its settings.

    Args:
        config: the sweep's settings (``scheduler`` and the fields its settings read).

    Returns:
        A :class:`Scheduler`.

    Raises:
        ConfigError: an unknown scheduler or impossible settings.
    """
    return lookup(config.scheduler).from_config(config)


def check(config, trials: int) -> int:
    """Check a config's scheduler settings: every registered scheduler's fields (types and
    ranges, whichever scheduler runs), a setting another scheduler owns left at its default
    where it says so, then the chosen scheduler's own checks.

    Args:
        config: the sweep's settings.
        trials: the trials its sampler plans (``trials``, or a grid's size).

    Returns:
        ``trials``, checked (the config's ``trials``; :attr:`Scheduler.total_trials` is the
        sweep's total).

    Raises:
        ConfigError: one line naming the field.
    """
    chosen = lookup(config.scheduler)
    own = {f.name for f in dataclasses.fields(chosen.Settings)}
    for cls in SCHEDULERS.values():
        settings_of(cls, config)
        for f in dataclasses.fields(cls.Settings):
            only = f.metadata["only"]
            if only and f.name not in own and getattr(config, f.name) != f.default:
                raise ConfigError(f"{f.name} ({only}) is for the {cls.name} scheduler, not "
                                  f"{config.scheduler!r}")
    return chosen.check_config(config, trials)


def options() -> list[tuple[dataclasses.Field, tuple[str, ...]]]:
    """Every settings field once, with the names of the schedulers that read it (for the
    command line's options and help)."""
    out: dict[str, tuple[dataclasses.Field, tuple[str, ...]]] = {}
    for name, cls in SCHEDULERS.items():
        for f in dataclasses.fields(cls.Settings):
            field, users = out.get(f.name, (f, ()))
            out[f.name] = (field, (*users, name))
    return list(out.values())


def describe(name: str) -> dict[str, Any]:
    """What the figures and reports need of a scheduler: ``figure``, ``unit`` and ``adaptive``
    (:class:`Scheduler`); an unknown or missing name (an Optuna study) gets none."""
    cls = SCHEDULERS.get(name)
    if cls is None:
        return {"figure": None, "unit": "round", "adaptive": False}
    return {"figure": cls.figure, "unit": cls.unit, "adaptive": cls.adaptive}
