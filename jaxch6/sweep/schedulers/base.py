"""What every scheduler shares: the :class:`Step` it returns and the interface it offers.

A scheduler answers one question, "given what has been measured, what runs next": its
:meth:`Scheduler.next` takes every trial recorded so far (:class:`jaxch6.sweep.records.Trial`,
with the epochs each was trained and its curves) and returns the next :class:`Step`, or None
when the sweep is done. Schedulers hold no JAX and no hidden progress: each decision is a
function of the records and the config, so a resumed sweep replays them exactly and a step
lists only the trials that still have to run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from jaxch6.sweep.records import Trial


@dataclasses.dataclass(frozen=True)
class Copy:
    """Population-based training's exploit: ``child`` continues from ``parent``'s run state
    (as it stands at the step's ``start``) with the hyperparameters ``hparams``."""

    child: int
    parent: int
    hparams: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Step:
    """Train trials from epoch ``start`` to epoch ``stop``.

    Attributes:
        start: the epoch every listed trial stands at (0 for ``new``).
        stop: the epoch they reach.
        new: fresh trials, id to hyperparameters (started from their own keys).
        cont: trials that continue from their kept run states.
        copies: trials that continue from another trial's run state (PBT).
        keep: whether the run states after the step are kept (the trials may continue).
        round: the round or bracket, recorded with new trials.
        rung: the rung of successive halving this step trains to (None otherwise).
        label: a short description for progress output.
    """

    start: int
    stop: int
    new: Mapping[int, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    cont: tuple[int, ...] = ()
    copies: tuple[Copy, ...] = ()
    keep: bool = False
    round: int = 0
    rung: int | None = None
    label: str = ""

    @property
    def epochs(self) -> int:
        """The epochs the step trains, ``stop - start``."""
        return self.stop - self.start

    @property
    def size(self) -> int:
        """The lanes the step trains (new, continuing and copied trials)."""
        return len(self.new) + len(self.cont) + len(self.copies)


class Scheduler(Protocol):
    """The interface of every scheduler."""

    #: the scheduler's name (``"random"``, ``"halving"``, ...).
    name: str

    def next(self, trials: Mapping[int, Trial]) -> Step | None:
        """Plan the next step from every trial recorded so far.

        Args:
            trials: trial id to its record.

        Returns:
            The next :class:`Step`, or None when the sweep is done.
        """

    def settings(self) -> dict[str, Any]:
        """The scheduler's settings and plan, for ``summary.json``."""

    def stop_epochs(self) -> tuple[int, ...]:
        """Every number of epochs a step may advance by (the engine compiles one program, of
        their greatest common divisor)."""


def members_at(trials: Mapping[int, Trial], ids, epoch: int) -> list[Trial]:
    """Select the recorded trials among ``ids`` that were trained at least ``epoch`` epochs.

    Args:
        trials: trial id to its record.
        ids: the candidates.
        epoch: the least number of epochs.

    Returns:
        The trials, in the order of ``ids``.
    """
    return [trials[i] for i in ids if i in trials and trials[i].epochs >= epoch]
