"""The configuration of a sweep: what is searched, on which network, data and training.

The defaults are the book's search (``ch06/hyperparameter_optimization.py``): the first 500
training digits, 20% held out for validation (400 / 100), a 784-100×6-10 ReLU network with He
initialisation, SGD, batch 100 drawn with replacement, 50 epochs, 100 trials of
``lr = 10^U(-6, -2)`` and ``weight_decay = 10^U(-8, -4)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from jaxch6 import names
from jaxch6.errors import ConfigError
from jaxch6.names import parse_layers
from jaxch6.sweep import schedulers
from jaxch6.sweep.params import BOOK_SPACE, Param, check_param, check_space, space_from_dicts
from jaxch6.sweep.space import grid_size

#: The fields of the book's network and its data: they do not apply to a task (which trains
#: its own model on its own data); the command line refuses them with ``--task``.
BOOK_FIELDS = ("optimizer", "hidden", "activation", "init", "batchnorm", "dropout",
               "batch_size", "schedule", "precision", "dataset", "source", "data_dir",
               "train_size", "val_fraction")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """Everything that defines a sweep's results (plus ``chunk_size``, which does not).

    Two sweeps with equal configs (on the same platform) produce identical trials, whatever
    ``chunk_size`` and the device count. ``lanes``: trials per ``vmap`` group, which the
    results do depend on in the last bits (None: from the trial's memory footprint and the
    platform, :func:`jaxch6.sweep.plan.plan_sweep`). ``chunk_size=None``: trials per
    compiled call from the lanes and devices (the same planner).
    ``rounds > 1`` narrows the ranges after each round to the span of the ``keep`` best trials.
    ``record_loss`` defaults to ``"none"``: a sweep ranks by accuracy and detects divergence from
    the parameters, so the book's extra loss forward pass after each update is skipped.
    ``skip_zero_inputs``: input columns that are zero in every row of the sweep's data (blank
    border pixels: 212 of 784 in the book's 500 digits) are left out of the first layer's
    matmuls; the network and its training are unchanged (see ``jaxch6.train.make_train_fn``'s
    ``input_columns``) up to float rounding.

    ``scheduler``: ``"random"`` (the book's search; ``rounds``/``keep`` narrow),
    ``"halving"`` (successive halving from ``min_epochs`` by factor ``eta``), ``"hyperband"``
    (its brackets) or ``"pbt"`` (population-based training, exploit/explore every
    ``pbt_interval`` epochs); see :mod:`jaxch6.sweep.schedulers`. ``repeats``: training keys
    per trial (ranking uses the mean). ``save_best``: how many of the best trials' run states
    are saved under ``models/``. ``schedule``: the learning rate's schedule
    (:mod:`jaxch6.schedules`). ``precision``: ``"fp32"``, ``"tf32"`` or ``"bf16"`` matmuls.

    ``space`` may hold categorical and int parameters (:class:`jaxch6.sweep.params.Param`):
    a searched static name (optimizer, activation, batchnorm, batch_size, hidden, width)
    overrides the field of the same meaning per trial, and each distinct combination trains as
    its own compiled program (:mod:`jaxch6.sweep.groups`); pbt refuses static names.
    ``sampler``: ``"random"`` (each trial's values from its key) or ``"grid"`` (trial ``i`` is
    the ``i``-th point of the grid of choices and int ranges; ``trials`` becomes the grid's
    size; not with hyperband or narrowing rounds).

    ``task``: None for the book's network, else the name (or ``module:name`` import path) of
    the :class:`jaxch6.sweep.Task` the sweep trains; its space's names are the task's (checked
    against it by :func:`jaxch6.sweep.run`), categorical ones static, and the network fields
    (optimizer, hidden, dataset, ...) do not apply.
    """

    space: tuple[Param, ...] = BOOK_SPACE
    trials: int = 100
    rounds: int = 1
    keep: int = 10
    seed: int = 0
    optimizer: str = "sgd"
    hidden: tuple[int, ...] = (100,) * 6
    activation: str = "relu"
    init: str | float = "he"
    batchnorm: bool = False
    dropout: bool = False
    batch_size: int = 100
    epochs: int = 50
    train_size: int = 500
    val_fraction: float = 0.2
    dataset: str = "mnist"
    source: str = "auto"
    data_dir: str | None = None
    chunk_size: int | None = None
    lanes: int | None = None
    record_loss: str = "none"
    dtype: str = "float32"
    skip_zero_inputs: bool = True
    scheduler: str = "random"
    min_epochs: int = 1
    eta: int = 3
    pbt_interval: int = 5
    repeats: int = 1
    save_best: int = 0
    schedule: str = "constant"
    precision: str = "fp32"
    sampler: str = "random"
    task: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "space", tuple(
            Param(**p) if isinstance(p, Mapping) else Param(*p) for p in self.space))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    # -- validation -------------------------------------------------------------------------
    def validate(self) -> SweepConfig:
        """Check every field; return a copy with the space in canonical form (and, for the
        grid sampler, ``trials`` set to the grid's size).

        Raises:
            ConfigError: one line naming the field (``trials``, ``space lr``, ...).
        """
        self._check_numbers()
        self._check_names()
        if self.task is not None:
            space = tuple(check_param(p) for p in self.space)
        else:
            space = check_space(self.space, self.optimizer, schedule=self.schedule,
                                dropout=self.dropout)
        trials = self._check_sampling(space)
        return dataclasses.replace(self, space=space, trials=trials)

    def _check_numbers(self) -> None:
        for name in ("trials", "epochs", "batch_size", "train_size", "repeats"):
            _positive(name, getattr(self, name))
        for name in ("chunk_size", "lanes"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        if not _is_int(self.seed) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be an integer in [0, 2**32), got {self.seed!r}")
        if not _is_int(self.save_best) or self.save_best < 0:
            raise ConfigError(f"save_best must be an integer >= 0, got {self.save_best!r}")
        vf = self.val_fraction
        if isinstance(vf, bool) or not isinstance(vf, int | float) or not 0.0 < vf < 1.0:
            raise ConfigError(f"val_fraction must be a number in (0, 1), got {vf!r}")
        if self.n_val < 1 or self.n_train < 1:
            raise ConfigError(f"train_size {self.train_size} with val_fraction {vf} leaves an "
                              "empty training or validation set")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden needs positive layer sizes, got {self.hidden}")
        for name in ("batchnorm", "dropout", "skip_zero_inputs"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        self._check_init()

    def _check_init(self) -> None:
        if isinstance(self.init, str):
            if self.init not in names.INITIALIZERS:
                raise ConfigError(
                    f"init: unknown initializer {self.init!r} "
                    f"(choose from {', '.join(sorted(names.INITIALIZERS))} or a number, the "
                    "normal's std)"
                )
        elif (isinstance(self.init, bool) or not isinstance(self.init, int | float)
              or not (math.isfinite(self.init) and self.init > 0)):
            raise ConfigError(f"init: a numeric init is the normal's std, a finite number > 0; "
                              f"got {self.init!r}")
        elif self.dtype in names.DTYPES:  # weights are std·N(0, 1) in the dtype: finite there
            import numpy as np

            largest = float(np.finfo(self.dtype).max) / 16  # 16: beyond any normal draw
            if self.init > largest:
                raise ConfigError(f"init: std {self.init!r} makes weights beyond the largest "
                                  f"{self.dtype} ({largest:.3g} at most)")

    def _check_names(self) -> None:
        names.choose("activation", self.activation, names.ACTIVATIONS)
        names.choose("dataset", self.dataset, names.DATASETS)
        names.choose("source", self.source, names.SOURCES)
        names.choose("record_loss", self.record_loss, names.RECORD_LOSS)
        names.choose("dtype", self.dtype, names.DTYPES)
        names.choose("scheduler", self.scheduler, names.SCHEDULERS)
        names.choose("precision", self.precision, names.PRECISIONS)
        names.choose("sampler", self.sampler, names.OWN_SAMPLERS)

    def _check_sampling(self, space) -> int:
        """The trials the sampler plans; the scheduler refuses what it cannot do
        (:func:`jaxch6.sweep.schedulers.check`)."""
        trials = grid_size(space) if self.sampler == "grid" else self.trials
        return schedulers.check(dataclasses.replace(self, space=space), trials)

    @property
    def n_val(self) -> int:
        return int(self.train_size * float(self.val_fraction))

    @property
    def n_train(self) -> int:
        return self.train_size - self.n_val

    @property
    def total_trials(self) -> int:
        """Trials the sweep plans in all (every round or bracket: its scheduler's
        ``total_trials``)."""
        return schedulers.make(self).total_trials

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["space"] = [p.to_dict() for p in self.space]
        d["hidden"] = list(self.hidden)
        if d["task"] is None:  # the book's network: as written before tasks existed
            del d["task"]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SweepConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ConfigError(f"unknown sweep config fields: {', '.join(sorted(unknown))}")
        kw = dict(d)
        if "space" in kw:
            kw["space"] = space_from_dicts(kw["space"])
        if "hidden" in kw:
            kw["hidden"] = tuple(kw["hidden"])
        return cls(**kw)

    def train_config(self):
        """The :class:`jaxch6.train.TrainConfig` of one trial (static: fixes the program)."""
        from jaxch6.train import TrainConfig

        return TrainConfig(
            hidden_sizes=self.hidden,
            activation=self.activation,
            weight_init=self.init,
            use_batchnorm=self.batchnorm,
            use_dropout=self.dropout,
            optimizer=self.optimizer,
            batch_size=self.batch_size,
            epochs=self.epochs,
            record_loss=self.record_loss,
            dtype=self.dtype,
            schedule=self.schedule,
            precision=self.precision,
        )


def parse_hidden(text: str) -> tuple[int, ...]:
    """``"100x6"`` → (100,)*6; ``"100,50"`` → (100, 50); ``"100x2,50"`` → (100, 100, 50)
    (:func:`jaxch6.names.parse_layers`; ConfigError names ``hidden``)."""
    try:
        return parse_layers(text)
    except ConfigError as exc:
        raise ConfigError(f"hidden {exc}") from None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(name: str, value) -> None:
    if not _is_int(value) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
