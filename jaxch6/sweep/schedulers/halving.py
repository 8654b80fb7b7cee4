"""Successive halving and Hyperband (Jamieson & Talwalkar 2016; Li et al. 2018), synchronous.

Successive halving with ``n`` trials, minimum ``r`` epochs and factor ``η``: rungs at
``r, rη, rη², …`` epochs, and a last rung at ``epochs``; every trial is trained to the first
rung, then at each rung only the best ``max(1, ⌊n / η^k⌋)`` by validation accuracy there
(mean over repeats; diverged last; ties by id) continue to the next. Their run states are kept
between rungs, so a survivor is never retrained.

Hyperband runs brackets ``s = s_max … 0`` (``s_max = ⌊log_η(epochs / r)⌋``): bracket ``s`` is
successive halving of ``⌈(s_max + 1) η^s / (s + 1)⌉`` fresh trials from ``epochs · η^-s``
epochs (rounded, at least ``r``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from jaxch6.errors import ConfigError
from jaxch6.sweep.records import Trial, rank_at
from jaxch6.sweep.schedulers.base import Step, members_at
from jaxch6.sweep.space import draw


def rungs(min_epochs: int, eta: int, epochs: int) -> tuple[int, ...]:
    """The rungs of successive halving: ``(r, rη, rη², …, epochs)``.

    Args:
        min_epochs: ``r``, the first rung.
        eta: ``η``, the factor between rungs (an integer >= 2).
        epochs: the last rung.

    Returns:
        Every rung ``r ηᵏ`` below ``epochs``, then ``epochs``.

    Raises:
        ConfigError: ``min_epochs`` outside ``[1, epochs]`` or ``eta < 2``.
    """
    if not 1 <= min_epochs <= epochs:
        raise ConfigError(f"min_epochs must be in [1, epochs={epochs}], got {min_epochs}")
    if eta < 2:
        raise ConfigError(f"eta must be an integer >= 2, got {eta}")
    out, e = [], min_epochs
    while e < epochs:
        out.append(e)
        e *= eta
    return (*out, epochs)


class Bracket:
    """One successive-halving run over the trial ids ``ids`` (a plan, no state).

    Rung ``k`` trains the best ``max(1, len(ids) // eta**k)`` trials of rung ``k - 1`` to
    ``rung_epochs[k]`` epochs.

    Args:
        ids: the bracket's trial ids.
        rung_epochs: the epochs of each rung (:func:`rungs`).
        eta: the factor between rungs.
        index: the bracket's index (its round).
    """

    def __init__(self, ids: range, rung_epochs: tuple[int, ...], eta: int, index: int = 0):
        self.ids, self.rungs, self.eta, self.index = ids, rung_epochs, eta, index

    def survivors(self, k: int) -> int:
        """How many trials train to rung ``k``: ``max(1, len(ids) // eta**k)``."""
        return max(1, len(self.ids) // self.eta**k)

    def members(self, trials: Mapping[int, Trial], k: int) -> list[int] | None:
        """The ids trained to rung ``k``, or None while rung ``k - 1`` is unfinished."""
        if k == 0:
            return list(self.ids)
        below = members_at(trials, self.members(trials, k - 1) or (), self.rungs[k - 1])
        if len(below) < self.survivors(k - 1):
            return None
        return [t.id for t in rank_at(below, self.rungs[k - 1])[: self.survivors(k)]]

    def next(self, trials: Mapping[int, Trial], new_values) -> Step | None:
        """The bracket's next step.

        Args:
            trials: trial id to its record.
            new_values: draws the hyperparameters of a list of new trial ids.

        Returns:
            The first rung's unfinished work as a :class:`Step`, or None when done.
        """
        for k, stop in enumerate(self.rungs):
            members = self.members(trials, k)
            todo = [i for i in members if i not in trials or trials[i].epochs < stop]
            if not todo:
                continue
            start = 0 if k == 0 else self.rungs[k - 1]
            last = k == len(self.rungs) - 1
            label = (f"bracket {self.index + 1}, " if self.index else "") + \
                f"rung {k + 1}/{len(self.rungs)}: {len(members)} trials to {stop} epochs"
            if k == 0:
                return Step(0, stop, new=new_values(todo), keep=not last, round=self.index,
                            rung=k, label=label)
            return Step(start, stop, cont=tuple(todo), keep=not last, round=self.index,
                        rung=k, label=label)
        return None


class _Sampling:
    def __init__(self, space, seed: int, sampler: str = "random", schedule: str = "constant"):
        self.space, self.seed = tuple(space), seed
        self.sampler, self.schedule = sampler, schedule

    def new_values(self, ids):
        return draw(self.space, ids, seed=self.seed, sampler=self.sampler,
                    schedule=self.schedule)


class SuccessiveHalving(_Sampling):
    """Synchronous successive halving of ``trials`` trials (see the module docstring).

    Args:
        space: the search space.
        trials: the trials of the first rung.
        epochs: the epochs of the last rung.
        seed: the sweep's seed.
        min_epochs: the epochs of the first rung.
        eta: the factor between rungs (each keeps the best ``1/eta``).
        sampler: ``"random"`` or ``"grid"``.
        schedule: the learning-rate schedule.

    Raises:
        ConfigError: impossible rungs (:func:`rungs`).
    """

    name = "halving"

    def __init__(self, space, *, trials: int, epochs: int, seed: int, min_epochs: int = 1,
                 eta: int = 3, sampler: str = "random", schedule: str = "constant"):
        super().__init__(space, seed, sampler, schedule)
        self.epochs, self.min_epochs, self.eta = epochs, min_epochs, eta
        self.bracket = Bracket(range(trials), rungs(min_epochs, eta, epochs), eta)

    def next(self, trials: Mapping[int, Trial]) -> Step | None:
        """The next step (:meth:`jaxch6.sweep.schedulers.base.Scheduler.next`)."""
        return self.bracket.next(trials, self.new_values)

    def settings(self) -> dict[str, Any]:
        """The scheduler's settings and plan, for ``summary.json``."""
        b = self.bracket
        return {"name": self.name, "min_epochs": self.min_epochs, "eta": self.eta,
                "epochs": self.epochs, "rungs": list(b.rungs),
                "survivors": [b.survivors(k) for k in range(len(b.rungs))]}

    def stop_epochs(self) -> tuple[int, ...]:
        """Every epoch count a step advances by (the engine compiles one program, of
        their greatest common divisor)."""
        r = self.bracket.rungs
        return tuple(sorted({r[0], *(b - a for a, b in zip(r, r[1:], strict=False))}))


class Hyperband(_Sampling):
    """Hyperband's brackets, one successive halving each, run one after the other.

    With ``s_max = floor(log_eta(epochs / min_epochs))``, bracket ``s = s_max … 0`` starts
    ``ceil((s_max + 1) eta^s / (s + 1))`` trials at ``max(min_epochs, round(epochs eta^-s))``
    epochs.

    Args:
        space: the search space.
        epochs: the epochs of every bracket's last rung.
        seed: the sweep's seed.
        min_epochs: the smallest first rung.
        eta: the factor between rungs.
        trials: ignored (Hyperband's brackets fix the number of trials).
        schedule: the learning-rate schedule.

    Raises:
        ConfigError: impossible rungs (:func:`rungs`).
    """

    name = "hyperband"

    def __init__(self, space, *, epochs: int, seed: int, min_epochs: int = 1, eta: int = 3,
                 trials: int | None = None, schedule: str = "constant"):
        super().__init__(space, seed, "random", schedule)
        rungs(min_epochs, eta, epochs)  # validates
        self.epochs, self.min_epochs, self.eta = epochs, min_epochs, eta
        s_max = int(math.floor(math.log(epochs / min_epochs, eta) + 1e-9))
        self.brackets, first = [], 0
        for index, s in enumerate(range(s_max, -1, -1)):
            n = math.ceil((s_max + 1) * eta**s / (s + 1))
            r = max(min_epochs, round(epochs * eta**-s))
            ids = range(first, first + n)
            self.brackets.append(Bracket(ids, rungs(r, eta, epochs), eta, index))
            first += n
        self.trials = first

    def next(self, trials: Mapping[int, Trial]) -> Step | None:
        """The next step (:meth:`jaxch6.sweep.schedulers.base.Scheduler.next`)."""
        for b in self.brackets:
            step = b.next(trials, self.new_values)
            if step is not None:
                return step
        return None

    def settings(self) -> dict[str, Any]:
        """The scheduler's settings and plan, for ``summary.json``."""
        return {"name": self.name, "min_epochs": self.min_epochs, "eta": self.eta,
                "epochs": self.epochs, "trials": self.trials,
                "brackets": [{"trial_ids": [b.ids.start, b.ids.stop], "rungs": list(b.rungs),
                              "survivors": [b.survivors(k) for k in range(len(b.rungs))]}
                             for b in self.brackets]}

    def stop_epochs(self) -> tuple[int, ...]:
        """Every epoch count a step advances by (the engine compiles one program, of
        their greatest common divisor)."""
        out = set()
        for b in self.brackets:
            r = b.rungs
            out |= {r[0], *(y - x for x, y in zip(r, r[1:], strict=False))}
        return tuple(sorted(out))
