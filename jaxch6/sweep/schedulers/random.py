"""The book's random search, with its step 3 (narrow the ranges, search again) as rounds.

Round ``r`` holds trials ``r·T … (r+1)·T − 1`` (``T`` = trials per round), each trained for
every epoch. Round ``r > 0`` samples from the ranges narrowed to the span of round ``r − 1``'s
``keep`` best non-diverged trials (:func:`jaxch6.sweep.space.narrow`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from jaxch6.errors import ConfigError
from jaxch6.sweep.records import Trial, rank
from jaxch6.sweep.schedulers.base import FromConfig, Step, setting, settings_of
from jaxch6.sweep.space import draw, narrow


@dataclasses.dataclass(frozen=True)
class RandomSettings:
    """The random search's settings."""

    rounds: int = setting(1, "rounds; after each, the ranges narrow to the best --keep "
                             "trials' span", only="narrowing")
    keep: int = setting(10, "trials that set the next round's ranges")


class RandomSearch(FromConfig):
    """Random search over ``space`` in ``rounds`` rounds of ``trials`` trials.

    Args:
        space: the searched parameters (:class:`jaxch6.sweep.params.Param`).
        trials: trials per round.
        epochs: epochs each trial is trained.
        seed: the sweep's seed (sampling).
        rounds: rounds; each after the first narrows the ranges.
        keep: trials that set the next round's ranges.
        sampler: ``"random"`` or ``"grid"`` (:func:`jaxch6.sweep.space.draw`).
        schedule: the learning-rate schedule (which names a trial's optimizer uses).
    """

    name, help = "random", "the book's search"
    Settings = RandomSettings
    figure, unit, adaptive, keeps_final, copies_states = None, "round", False, False, False

    def __init__(self, space, *, trials: int, epochs: int, seed: int, rounds: int = 1,
                 keep: int = 10, sampler: str = "random", schedule: str = "constant"):
        self.space, self.trials, self.epochs = tuple(space), trials, epochs
        self.seed, self.rounds, self.keep = seed, rounds, keep
        self.sampler, self.schedule = sampler, schedule

    @classmethod
    def check_config(cls, config, trials: int) -> int:
        """Narrowing needs ``2 <= keep <= trials`` and the random sampler."""
        s = settings_of(cls, config)
        if s.rounds > 1 and not 2 <= s.keep <= config.trials:
            raise ConfigError(f"keep must be between 2 and trials ({config.trials}) to narrow, "
                              f"got {s.keep}")
        if s.rounds != 1 and config.sampler == "grid":
            raise ConfigError("sampler grid: rounds (narrowing) needs random sampling")
        return trials

    @property
    def total_trials(self) -> int:
        """``trials`` per round times ``rounds``."""
        return self.trials * self.rounds

    def notes(self) -> list[str]:
        """None."""
        return []

    def kept_states(self, repeats: int, keep_final: bool) -> int:
        """None: every trial trains to the end in one step, and the best are trained again to
        save them."""
        return 0

    def round_ids(self, r: int) -> range:
        """The trial ids of round ``r``: ``r·trials … (r + 1)·trials - 1``."""
        return range(r * self.trials, (r + 1) * self.trials)

    def round_space(self, trials: Mapping[int, Trial], r: int):
        """Round ``r``'s ranges: the space narrowed to the ``keep`` best of each earlier round.

        Args:
            trials: trial id to its record (every trial of the earlier rounds).
            r: the round.

        Returns:
            The round's parameters.
        """
        space = self.space
        for prev in range(r):
            done = [trials[i] for i in self.round_ids(prev)]
            best = [t for t in rank(done) if not t.diverged][: self.keep]
            space = narrow(space, [t.hparams for t in best])
        return space

    def next(self, trials: Mapping[int, Trial]) -> Step | None:
        """The next round's unrecorded trials as a :class:`Step`, or None when done."""
        for r in range(self.rounds):
            todo = [i for i in self.round_ids(r) if i not in trials]
            if todo:
                new = draw(self.round_space(trials, r), todo, seed=self.seed,
                           sampler=self.sampler, schedule=self.schedule)
                return Step(0, self.epochs, new=new, round=r,
                            label=f"round {r + 1}/{self.rounds}")
        return None

    def rounds_info(self, trials: Mapping[int, Trial]) -> list[dict[str, Any]]:
        """Describe each round so far, for ``summary.json``.

        Args:
            trials: trial id to its record.

        Returns:
            One dict a round: its ranges, trial ids and, once complete, its best validation
            accuracy and number of diverged trials.
        """
        out = []
        for r in range(self.rounds):
            ids = self.round_ids(r)
            done = [trials[i] for i in ids if i in trials]
            info = {"round": r, "space": [p.to_dict() for p in self.round_space(trials, r)],
                    "trial_ids": [ids.start, ids.stop]}
            if len(done) == len(ids):
                info["best_val_acc"] = rank(done)[0].final_val_acc
                info["n_diverged"] = sum(t.diverged for t in done)
            out.append(info)
            if len(done) < len(ids):
                break
        return out

    def settings(self) -> dict[str, Any]:
        """The scheduler's settings, for ``summary.json``."""
        return {"name": self.name, "rounds": self.rounds, "keep": self.keep,
                "trials_per_round": self.trials, "epochs": self.epochs}

    def stop_epochs(self) -> tuple[int, ...]:
        """Every epoch count a step advances by: only ``epochs``."""
        return (self.epochs,)
