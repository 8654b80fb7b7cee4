"""Successive halving and Hyperband (Jamieson & Talwalkar 2016; Li et al. 2018), synchronous.

Successive halving with ``n`` trials, minimum ``r`` epochs and factor ``η``: rungs at
``r, rη, rη², …`` epochs, and a last rung at ``epochs``; every trial is trained to the first
rung, then at each rung only the best ``max(1, ⌊n / η^k⌋)`` by validation accuracy there
(mean over repeats; diverged last; ties by id) continue to the next. Their run states are kept
between rungs, so a survivor is never retrained.

Hyperband runs brackets ``s = s_max … 0`` (``s_max = ⌊log_η(epochs / r)⌋``): bracket ``s`` is
successive halving of ``⌈(s_max + 1) η^s / (s + 1)⌉`` fresh trials from ``epochs · η^-s``
epochs (rounded, at least ``r``); then again from ``s_max``, as many brackets as ``trials``
asks. All brackets run at once: each step trains, side by side as the lanes of one step, the
unfinished rungs of every bracket that train the fewest epochs (brackets of one shape in
lockstep, and rungs of different shapes that reach the same epochs together).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from jaxch6.errors import ConfigError
from jaxch6.sweep.records import Trial, rank_at
from jaxch6.sweep.schedulers.base import (
    FromConfig,
    SideBySide,
    Step,
    members_at,
    setting,
    settings_of,
)
from jaxch6.sweep.space import draw


@dataclasses.dataclass(frozen=True)
class HalvingSettings:
    """Successive halving's and Hyperband's settings."""

    min_epochs: int = setting(1, "epochs of the first rung")
    eta: int = setting(3, "keep the best 1/eta at each rung", minimum=2)

    def check(self, config) -> None:
        """ConfigError when ``min_epochs`` exceeds ``config.epochs``."""
        if self.min_epochs > config.epochs:
            raise ConfigError(f"min_epochs ({self.min_epochs}) exceeds epochs ({config.epochs})")


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

    def pending(self, trials: Mapping[int, Trial]) -> tuple[int, list[int]] | None:
        """The first rung with work left and the ids still to train to it, or None when the
        bracket is done."""
        for k, stop in enumerate(self.rungs):
            members = self.members(trials, k)
            todo = [i for i in members if i not in trials or trials[i].epochs < stop]
            if todo:
                return k, todo
        return None

    def epochs_of(self, k: int) -> int:
        """The epochs rung ``k``'s step trains (from the rung below)."""
        return self.rungs[k] - (self.rungs[k - 1] if k else 0)

    def step(self, trials: Mapping[int, Trial], k: int, todo: list[int], new_values) -> Step:
        """The step that trains ``todo`` to rung ``k`` (see :meth:`pending`).

        Args:
            trials: trial id to its record.
            k: the rung.
            todo: the ids still to train to it.
            new_values: draws the hyperparameters of a list of new trial ids.
        """
        stop, last = self.rungs[k], k == len(self.rungs) - 1
        n = len(self.members(trials, k))
        label = (f"bracket {self.index + 1}, " if self.index else "") + \
            f"rung {k + 1}/{len(self.rungs)}: {n} trial{'s' * (n != 1)} to " \
            f"{stop} epoch{'s' * (stop != 1)}"
        if k == 0:
            return Step(0, stop, new=new_values(todo), keep=not last, round=self.index,
                        rung=k, label=label)
        return Step(self.rungs[k - 1], stop, cont=tuple(todo), keep=not last,
                    round=self.index, rung=k, label=label)

    def next(self, trials: Mapping[int, Trial], new_values) -> Step | None:
        """The bracket's next step: its first rung's unfinished work (:meth:`step`), or None
        when the bracket is done.

        Args:
            trials: trial id to its record.
            new_values: draws the hyperparameters of a list of new trial ids.
        """
        todo = self.pending(trials)
        return None if todo is None else self.step(trials, *todo, new_values)


class _Sampling(FromConfig):
    Settings = HalvingSettings
    figure, adaptive, keeps_final, copies_states = "rungs", True, True, False

    def __init__(self, space, seed: int, sampler: str = "random", schedule: str = "constant"):
        self.space, self.seed = tuple(space), seed
        self.sampler, self.schedule = sampler, schedule

    def new_values(self, ids):
        return draw(self.space, ids, seed=self.seed, sampler=self.sampler,
                    schedule=self.schedule)

    @classmethod
    def check_config(cls, config, trials: int) -> int:
        """``min_epochs`` at most ``epochs``; the trials planned are ``trials``."""
        settings_of(cls, config).check(config)
        return trials

    def rounds_info(self, trials: Mapping[int, Trial]) -> list[dict[str, Any]]:
        """None: its brackets are in :meth:`settings`."""
        return []

    def notes(self) -> list[str]:
        """None."""
        return []

    def kept_states(self, repeats: int, keep_final: bool) -> int:
        """Every run state it ever keeps: each bracket's members of every rung below the last
        (and of the last with ``keep_final``), times ``repeats``. A rung's blocks are dropped
        only once no survivor needs them, and brackets side by side share blocks, so the
        states kept at once are bounded by all of them, not by two rungs."""
        return repeats * sum(b.survivors(k) for b in self.brackets
                             for k in range(len(b.rungs) - (not keep_final)))

    def stop_epochs(self) -> tuple[int, ...]:
        """Every epoch count a step advances by (the engine compiles one program, of
        their greatest common divisor)."""
        out: set[int] = set()
        for b in self.brackets:
            r = b.rungs
            out |= {r[0], *(y - x for x, y in zip(r, r[1:], strict=False))}
        return tuple(sorted(out))


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

    name, unit, help = "halving", "round", "successive halving"

    def __init__(self, space, *, trials: int, epochs: int, seed: int, min_epochs: int = 1,
                 eta: int = 3, sampler: str = "random", schedule: str = "constant"):
        super().__init__(space, seed, sampler, schedule)
        self.epochs, self.min_epochs, self.eta = epochs, min_epochs, eta
        self.bracket = Bracket(range(trials), rungs(min_epochs, eta, epochs), eta)
        self.brackets = [self.bracket]

    @property
    def total_trials(self) -> int:
        """The trials of the first rung."""
        return len(self.bracket.ids)

    def next(self, trials: Mapping[int, Trial]) -> Step | None:
        """The next step (:meth:`jaxch6.sweep.schedulers.base.Scheduler.next`)."""
        return self.bracket.next(trials, self.new_values)

    def settings(self) -> dict[str, Any]:
        """The scheduler's settings and plan, for ``summary.json``."""
        b = self.bracket
        return {"name": self.name, "min_epochs": self.min_epochs, "eta": self.eta,
                "epochs": self.epochs, "rungs": list(b.rungs),
                "survivors": [b.survivors(k) for k in range(len(b.rungs))]}


class Hyperband(_Sampling):
    """Hyperband's brackets, one successive halving each, as many as ``trials`` asks.

    One Hyperband iteration is the brackets ``s = s_max … 0`` (``s_max = floor(log_eta(epochs /
    min_epochs))``): bracket ``s`` starts ``ceil((s_max + 1) eta^s / (s + 1))`` trials at
    ``max(min_epochs, round(epochs eta^-s))`` epochs. Brackets follow in that order, iteration
    after iteration, while the total stays nearest to ``trials`` (at least one bracket; None:
    one iteration): a bracket is never cut, so the total may differ from ``trials``
    (:meth:`notes` says so in one line). Every step trains, side by side, the unfinished rungs
    of all brackets that train the fewest epochs (:meth:`next`): brackets of one ``s`` go in
    lockstep, and brackets of different ``s`` share the steps whose rungs train as many epochs.

    Args:
        space: the search space.
        epochs: the epochs of every bracket's last rung.
        seed: the sweep's seed.
        min_epochs: the smallest first rung.
        eta: the factor between rungs.
        trials: the trials asked for (None: one iteration).
        sampler: ``"random"`` (Hyperband's counts are its own: no grid).
        schedule: the learning-rate schedule.

    Raises:
        ConfigError: impossible rungs (:func:`rungs`).
    """

    name, unit, help = "hyperband", "bracket", "brackets of successive halving"

    def __init__(self, space, *, epochs: int, seed: int, min_epochs: int = 1, eta: int = 3,
                 trials: int | None = None, sampler: str = "random",
                 schedule: str = "constant"):
        super().__init__(space, seed, sampler, schedule)
        rungs(min_epochs, eta, epochs)  # validates
        self.epochs, self.min_epochs, self.eta, self.asked = epochs, min_epochs, eta, trials
        s_max = int(math.floor(math.log(epochs / min_epochs, eta) + 1e-9))
        shapes = [(math.ceil((s_max + 1) * eta**s / (s + 1)),
                   rungs(max(min_epochs, round(epochs * eta**-s)), eta, epochs))
                  for s in range(s_max, -1, -1)]
        self.brackets, first = [], 0
        while True:
            n, rung_epochs = shapes[len(self.brackets) % len(shapes)]
            done = (len(self.brackets) >= len(shapes) if trials is None
                    else first + n / 2 > trials)
            if self.brackets and done:
                break
            self.brackets.append(Bracket(range(first, first + n), rung_epochs, eta,
                                         len(self.brackets)))
            first += n
        self.shapes = len(shapes)
        self.trials = first

    @property
    def total_trials(self) -> int:
        """The trials of all its brackets."""
        return self.trials

    @classmethod
    def check_config(cls, config, trials: int) -> int:
        """No grid sampler (Hyperband's counts are its own); ``trials`` is what is asked."""
        settings_of(cls, config).check(config)
        if config.sampler == "grid":
            raise ConfigError("sampler grid: hyperband sets its own trial counts; use "
                              "random, halving or pbt")
        return trials

    def notes(self) -> list[str]:
        """One line when the whole brackets hold another number of trials than asked."""
        if self.asked is None or self.asked == self.trials:
            return []
        return [f"hyperband runs {self.trials} trials in {len(self.brackets)} whole brackets "
                f"(the nearest to the {self.asked} asked)"]

    def next(self, trials: Mapping[int, Trial]) -> SideBySide | None:
        """The next step (:meth:`jaxch6.sweep.schedulers.base.Scheduler.next`): of every
        bracket's unfinished rung, those that train the fewest epochs, side by side.

        Brackets are independent (each ranks its own trials), so any order gives every trial
        the same numbers; fewest epochs first lets the longer rungs of different brackets meet
        and share the engine's calls (with rungs ``r ηᵏ``, brackets reach the same epochs).
        """
        pending = [(b, todo) for b in self.brackets if (todo := b.pending(trials))]
        if not pending:
            return None
        epochs = min(b.epochs_of(k) for b, (k, _) in pending)
        parts = tuple(b.step(trials, k, todo, self.new_values) for b, (k, todo) in pending
                      if b.epochs_of(k) == epochs)
        if len(parts) == 1:
            return SideBySide(parts, parts[0].label)
        n = sum(p.size for p in parts)
        rounds = ", ".join(str(p.round + 1) for p in parts)
        return SideBySide(parts, f"brackets {rounds} side by side: {n} trials, "
                                 f"{epochs} epoch{'s' * (epochs != 1)} each")

    def settings(self) -> dict[str, Any]:
        """The scheduler's settings and plan, for ``summary.json``."""
        return {"name": self.name, "min_epochs": self.min_epochs, "eta": self.eta,
                "epochs": self.epochs, "trials": self.trials, "trials_asked": self.asked,
                "brackets": [{"trial_ids": [b.ids.start, b.ids.stop], "rungs": list(b.rungs),
                              "survivors": [b.survivors(k) for k in range(len(b.rungs))]}
                             for b in self.brackets]}

