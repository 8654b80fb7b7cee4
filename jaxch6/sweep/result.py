"""What a sweep returns: every trial, the ranking, timings, and the best run states."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from jaxch6.sweep.config import SweepConfig
from jaxch6.sweep.records import Trial, format_trial, rank


@dataclasses.dataclass
class SweepResult:
    """A sweep's outcome.

    Attributes:
        config: the sweep's configuration.
        trials: every trial, by id.
        rounds: each round's ranges and best (random search) — empty for other schedulers.
        timings: data, compile and run seconds, trials per second, wall seconds.
        info: devices, lanes, chunk size, data source, scheduler settings.
        out_dir: the run directory (None when nothing was written).
        models: the saved best trials' run states (trial id to a list of
            :class:`jaxch6.train.RunState`, one per repeat), when ``save_best > 0``.
    """

    config: SweepConfig
    trials: list[Trial]
    rounds: list[dict[str, Any]]
    timings: dict[str, float]
    info: dict[str, Any]
    out_dir: Path | None = None
    models: dict[int, list[Any]] = dataclasses.field(default_factory=dict)

    @property
    def ranked(self) -> list[Trial]:
        """Every trial, best first (:func:`jaxch6.sweep.records.rank`)."""
        return rank(self.trials)

    def best(self, k: int = 1) -> list[Trial]:
        """The ``k`` best trials."""
        return self.ranked[:k]

    def ranking_lines(self, k: int = 20) -> list[str]:
        """The book's ``Best-i(val acc:…) | lr:…`` lines of the ``k`` best trials."""
        return [format_trial(i + 1, t) for i, t in enumerate(self.ranked[:k])]

    def best_states(self, k: int = 1) -> dict[int, list[Any]]:
        """The run states of the ``k`` best trials among those saved (``save_best``)."""
        saved = [t for t in self.ranked if t.id in self.models][:k]
        return {t.id: self.models[t.id] for t in saved}
