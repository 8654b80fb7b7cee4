"""Population-based training (Jaderberg et al. 2017), synchronous.

A population of ``trials`` members trains in intervals of ``interval`` epochs. At the end of
each interval (before the last epoch) the members are ranked by validation accuracy (mean over
repeats; diverged last; ties by id); each member of the bottom quartile copies the whole run
state (parameters, optimizer state, batch-norm statistics) of a member of the top quartile
(*exploit*) and perturbs its hyperparameters (*explore*): each float value is multiplied by 0.8
or 1.2, or, with probability ``resample``, drawn afresh from its range; every value stays within
its range. A categorical value (numeric choices, e.g. ``lr=0.1,0.01``) is drawn afresh among its
choices with probability ``resample`` and otherwise kept. Names that change the network or the
optimizer (:data:`jaxch6.sweep.params.STATIC`) cannot be searched by PBT: a copied run state
keeps its structure (:meth:`jaxch6.sweep.SweepConfig.validate` refuses them). The copy
continues with a fresh training key (:func:`jaxch6.sweep.keys.child_key`).

Every decision is drawn from ``numpy.random.default_rng((seed, epoch, member))``, and every
copy is recorded in the member's lineage (epoch, parent, new values), so a run is reproducible
and a member's hyperparameter schedule can be replayed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from jaxch6.errors import ConfigError
from jaxch6.sweep.params import STATIC, Param
from jaxch6.sweep.records import Trial, rank_at
from jaxch6.sweep.schedulers.base import Copy, Step, setting, settings_of
from jaxch6.sweep.space import draw, values_from_uniforms

FACTORS = (0.8, 1.2)


@dataclasses.dataclass(frozen=True)
class PBTSettings:
    """Population-based training's settings."""

    pbt_interval: int = setting(5, "epochs between exploit/explore")


class PopulationBasedTraining:
    """Synchronous PBT over ``space`` (see the module docstring).

    Args:
        space: the searched parameters; explore keeps each value inside its range.
        trials: population size (at least 4, so that a quartile holds a member).
        epochs: epochs each member trains in all.
        seed: the sweep's seed.
        interval: epochs between exploit/explore decisions.
        quantile: the fraction that copies (bottom) and is copied (top).
        resample: probability of drawing a value afresh instead of perturbing it.
        sampler: how the first population is drawn (``"random"`` or ``"grid"``).
        schedule: the learning-rate schedule (which names a trial's optimizer uses).

    Raises:
        ConfigError: fewer than 4 trials, ``interval`` outside ``[1, epochs]``, or
            ``quantile``/``resample`` out of range.
    """

    name, help = "pbt", "population-based training"
    Settings = PBTSettings
    figure, unit, adaptive, keeps_final, copies_states = "pbt", "round", True, True, True

    @classmethod
    def from_config(cls, config) -> PopulationBasedTraining:
        """From a :class:`jaxch6.sweep.SweepConfig` (``pbt_interval``; ``trials`` is the
        population)."""
        s = settings_of(cls, config)
        return cls(config.space, trials=config.trials, epochs=config.epochs, seed=config.seed,
                   interval=s.pbt_interval, sampler=config.sampler, schedule=config.schedule)

    @classmethod
    def check_config(cls, config, trials: int) -> int:
        """An interval within the epochs, no static names searched, a population of 4."""
        s = settings_of(cls, config)
        if s.pbt_interval > config.epochs:
            raise ConfigError(f"pbt_interval ({s.pbt_interval}) exceeds epochs "
                              f"({config.epochs})")
        static = [p.name for p in config.space if p.name in STATIC]
        if static:
            raise ConfigError(f"space {static[0]}: pbt cannot search it (a copied run state "
                              "keeps its network and optimizer); use random, halving or "
                              "hyperband")
        if trials < 4:
            raise ConfigError(f"pbt needs a population (trials) of at least 4, got {trials}")
        return trials

    @property
    def total_trials(self) -> int:
        """The population."""
        return self.trials

    def rounds_info(self, trials: Mapping[int, Trial]) -> list[dict[str, Any]]:
        """None: its intervals are in :meth:`settings`."""
        return []

    def notes(self) -> list[str]:
        """None."""
        return []

    def kept_states(self, repeats: int, keep_final: bool) -> int:
        """The run states of two intervals: an interval keeps every member's state (each
        ``repeats``; the last interval only with ``keep_final``), and the states it started
        from are dropped once it ends."""
        stored = len(self.boundaries()) - 1 + bool(keep_final)
        return min(stored, 2) * self.trials * repeats

    def __init__(self, space, *, trials: int, epochs: int, seed: int, interval: int = 5,
                 quantile: float = 0.25, resample: float = 0.25, sampler: str = "random",
                 schedule: str = "constant"):
        if trials < 4:
            raise ConfigError(f"pbt needs a population (trials) of at least 4, got {trials}")
        if not 1 <= interval <= epochs:
            raise ConfigError(f"pbt interval must be in [1, epochs={epochs}], got {interval}")
        if not 0 < quantile <= 0.5 or not 0 <= resample <= 1:
            raise ConfigError("pbt quantile must be in (0, 0.5] and resample in [0, 1]")
        self.space, self.trials, self.epochs, self.seed = tuple(space), trials, epochs, seed
        self.interval, self.quantile, self.resample = interval, quantile, resample
        self.sampler, self.schedule = sampler, schedule

    def boundaries(self) -> list[int]:
        """The epochs where intervals end: ``interval, 2·interval, …, epochs``."""
        return [*range(self.interval, self.epochs, self.interval), self.epochs]

    def next(self, trials: Mapping[int, Trial]) -> Step | None:
        """The next interval's step (:meth:`jaxch6.sweep.schedulers.base.Scheduler.next`)."""
        ids = range(self.trials)
        start = 0
        for stop in self.boundaries():
            todo = [i for i in ids if i not in trials or trials[i].epochs < stop]
            if todo:
                return self._step(trials, start, stop, todo)
            start = stop
        return None

    def _step(self, trials, start: int, stop: int, todo: list[int]) -> Step:
        keep = stop < self.epochs
        label = f"epochs {start}..{stop} of {self.epochs}, population {self.trials}"
        if start == 0:
            new = draw(self.space, todo, seed=self.seed, sampler=self.sampler,
                       schedule=self.schedule)
            return Step(0, stop, new=new, keep=keep, label=label)
        exploit = self.exploit(trials, start)
        copies = tuple(exploit[i] for i in todo if i in exploit)
        cont = tuple(i for i in todo if i not in exploit)
        return Step(start, stop, cont=cont, copies=copies, keep=keep, label=label)

    def exploit(self, trials: Mapping[int, Trial], epoch: int) -> dict[int, Copy]:
        """Decide the copies made at ``epoch``.

        Each member of the bottom ``quantile`` copies a member of the top ``quantile`` chosen
        at random, with :meth:`explore`'d hyperparameters.

        Args:
            trials: trial id to its record (the whole population).
            epoch: the interval boundary.

        Returns:
            Bottom member id to its :class:`Copy`.
        """
        population = [trials[i] for i in range(self.trials)]
        ranked = rank_at(population, epoch)
        q = max(1, math.floor(self.quantile * len(ranked)))
        top, bottom = ranked[:q], ranked[-q:]
        out = {}
        for member in bottom:
            rng = np.random.default_rng((self.seed, epoch, member.id))
            parent = top[int(rng.integers(len(top)))]
            hp = self.explore(parent.hparams_before(epoch), rng)
            out[member.id] = Copy(member.id, parent.id, hp)
        return out

    def explore(self, hparams: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """Perturb or resample each searched value.

        A float value is drawn afresh with probability ``resample``, else multiplied by 0.8 or
        1.2 and clipped into its range; a categorical value is drawn afresh among its choices
        with probability ``resample`` and otherwise kept.

        Args:
            hparams: the parent's hyperparameters.
            rng: the random generator of this decision.

        Returns:
            The child's hyperparameters.
        """
        out = dict(hparams)
        for p in (Param(*q) for q in self.space):
            if p.kind != "float":
                if rng.random() < self.resample:
                    out[p.name] = p.choices[int(rng.integers(len(p.choices)))]
                continue
            if rng.random() < self.resample:
                out[p.name] = float(values_from_uniforms([p], rng.random((1, 1)))[p.name][0])
            else:
                v = float(hparams[p.name]) * FACTORS[int(rng.integers(2))]
                out[p.name] = float(np.clip(v, p.low, np.nextafter(p.high, p.low)))
        return out

    def settings(self) -> dict[str, Any]:
        """The scheduler's settings, for ``summary.json``."""
        return {"name": self.name, "population": self.trials, "epochs": self.epochs,
                "interval": self.interval, "quantile": self.quantile,
                "resample": self.resample, "factors": list(FACTORS)}

    def stop_epochs(self) -> tuple[int, ...]:
        """Every epoch count a step advances by (the engine compiles one program, of
        their greatest common divisor)."""
        b = [0, *self.boundaries()]
        return tuple(sorted({y - x for x, y in zip(b, b[1:], strict=False)}))
