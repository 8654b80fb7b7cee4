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

from jaxch6.errors import ConfigError
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


@dataclasses.dataclass(frozen=True)
class SideBySide:
    """Steps that train the same number of epochs, run as one: their lanes share the engine's
    calls (a lane's result does not depend on its neighbours, so each trial's numbers are
    those of its step run alone).

    Each part keeps its own ``start``, ``stop``, ``keep``, ``rung`` and ``round``, and speaks
    for its own round only: a running trial of the part's round that stands at the part's
    ``start`` and does not continue stops (a plain :class:`Step` stops every such trial).

    Attributes:
        parts: the steps, each of the same :attr:`Step.epochs` and of its own round.
        label: a short description for progress output.

    Raises:
        ValueError: no parts, parts of different epochs, or two parts of one round.
    """

    parts: tuple[Step, ...]
    label: str = ""

    def __post_init__(self):
        if not self.parts or len({p.epochs for p in self.parts}) != 1:
            raise ValueError("side by side: one or more steps of the same epochs")
        if len({p.round for p in self.parts}) != len(self.parts):
            raise ValueError("side by side: one step a round")

    @property
    def epochs(self) -> int:
        """The epochs every part trains."""
        return self.parts[0].epochs

    @property
    def size(self) -> int:
        """The lanes of all parts."""
        return sum(p.size for p in self.parts)


class Scheduler(Protocol):
    """The interface of every scheduler (a class registered in
    :data:`jaxch6.sweep.schedulers.SCHEDULERS`)."""

    #: the scheduler's name (``"random"``, ``"halving"``, ...) and a few words on it.
    name: str
    help: str
    #: its settings: a frozen dataclass of :func:`setting` fields, each a
    #: :class:`jaxch6.sweep.SweepConfig` field and a command-line option.
    Settings: type
    #: the figure it adds to a sweep's (``"rungs"``, ``"pbt"`` or None), and what its trials'
    #: ``round`` counts there (``"round"`` or ``"bracket"``).
    figure: str | None
    unit: str
    #: True when it decides from measurements while trials train (the command line then reports
    #: its compute against training every trial fully).
    adaptive: bool
    #: True when a trial may continue from another trial's run state (so it cannot search a
    #: static choice: a copied run state keeps its program).
    copies_states: bool
    #: True when a complete trial's run state may be kept to save it (False: the best trials are
    #: trained again to save them, as each trains in one step).
    keeps_final: bool

    @classmethod
    def from_config(cls, config) -> Scheduler:
        """Build it from a :class:`jaxch6.sweep.SweepConfig` (its settings' fields, the space,
        trials, epochs, seed, sampler and schedule)."""

    @classmethod
    def check_config(cls, config, trials: int) -> int:
        """Refuse what it cannot do with ``config`` (ConfigError, one line naming the field);
        return the trials it plans from ``trials`` (the sampler's count)."""

    @property
    def total_trials(self) -> int:
        """The trials it records in all (every round or bracket)."""

    def kept_states(self, repeats: int, keep_final: bool) -> int:
        """The most run states the run loop keeps on the host at once
        (:class:`jaxch6.sweep.pool.StatePool`'s blocks, a block counted whole while any of its
        rows is needed), for the memory plan (:func:`jaxch6.sweep.plan.host_bytes_needed`).

        Args:
            repeats: training keys per trial (a run state each).
            keep_final: complete trials' run states are kept too (to save the best).
        """

    def next(self, trials: Mapping[int, Trial]) -> Step | SideBySide | None:
        """Plan the next step from every trial recorded so far.

        Args:
            trials: trial id to its record.

        Returns:
            The next :class:`Step` (or :class:`SideBySide` steps), or None when the sweep is
            done.
        """

    def settings(self) -> dict[str, Any]:
        """The scheduler's settings and plan, for ``summary.json``."""

    def rounds_info(self, trials: Mapping[int, Trial]) -> list[dict[str, Any]]:
        """Its rounds so far, for ``summary.json`` (empty when it has none)."""

    def stop_epochs(self) -> tuple[int, ...]:
        """Every number of epochs a step may advance by (the engine compiles one program, of
        their greatest common divisor)."""

    def notes(self) -> list[str]:
        """Lines the user should read before the run (e.g. trials rounded to whole brackets)."""


class FromConfig:
    """:meth:`from_config` for a scheduler whose constructor takes the space, then ``trials``,
    ``epochs``, ``seed``, ``sampler``, ``schedule`` and each field of its settings by name."""

    @classmethod
    def from_config(cls, config):
        """From a :class:`jaxch6.sweep.SweepConfig`: its space, ``trials``, ``epochs``,
        ``seed``, ``sampler`` and ``schedule``, and the scheduler's settings
        (:func:`settings_of`)."""
        return cls(config.space, trials=config.trials, epochs=config.epochs, seed=config.seed,
                   sampler=config.sampler, schedule=config.schedule,
                   **dataclasses.asdict(settings_of(cls, config)))


def setting(default: Any, help: str, *, minimum: int = 1,  # noqa: A002 - argparse's word
            only: str | None = None) -> Any:
    """A field of a scheduler's settings dataclass: an integer of at least ``minimum``, with the
    help text of its command-line option (``--name-with-dashes``). ``only``: a few words on
    what it does; then any other value than the default is refused with another scheduler."""
    return dataclasses.field(default=default, metadata={"help": help, "minimum": minimum,
                                                        "only": only})


def settings_of(cls: type, config) -> Any:
    """``cls.Settings`` with the values ``config`` holds for its fields, each checked.

    Raises:
        ConfigError: ``"eta must be an integer >= 2, got 1"`` (one line naming the field).
    """
    values = {}
    for f in dataclasses.fields(cls.Settings):
        value = getattr(config, f.name)
        low = f.metadata["minimum"]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            need = "a positive integer" if low == 1 else f"an integer >= {low}"
            raise ConfigError(f"{f.name} must be {need}, got {value!r}")
        values[f.name] = value
    return cls.Settings(**values)


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
