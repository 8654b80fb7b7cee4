"""What a sweep returns: every trial, the ranking, timings, and the best run states; and
:func:`load`, the same from a run directory on disk."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jaxch6.errors import ConfigError
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
        """The book's ``Best-i(val acc:…) | learning_rate:…`` lines of the ``k`` best trials."""
        return [format_trial(i + 1, t) for i, t in enumerate(self.ranked[:k])]

    def best_states(self, k: int = 1) -> dict[int, list[Any]]:
        """The run states of the ``k`` best trials among those saved (``save_best``)."""
        saved = [t for t in self.ranked if t.id in self.models][:k]
        return {t.id: self.models[t.id] for t in saved}

    def evaluate(self, test_data=None, task=None, k: int | None = None) -> dict[str, Any]:
        """Measure the ``k`` best saved trials on the test split, once
        (:func:`jaxch6.sweep.holdout.evaluate`; written to ``DIR/test.json``).

        Args:
            test_data: the held-out data (default: the book's test digits of the source the
                sweep used, or the test part of the task's ``load_data``).
            task: the task the sweep trained (default: the book's network, or the task's
                recorded import path).
            k: how many of the best saved trials (default: all saved).

        Returns:
            The report: per trial its validation objective and its test metrics.

        Raises:
            ConfigError: no saved trial, or a task without ``evaluate``.
        """
        from jaxch6.sweep import holdout

        task = holdout.task_of(self, task)
        if test_data is None:
            test_data = holdout.test_data_of(self, task)
        return holdout.evaluate(self, test_data, task, k)

    @property
    def hparam_names(self) -> list[str]:
        """The searched hyperparameters (the space's order), then any other a trial holds."""
        from jaxch6.sweep.tables import hparam_names

        return hparam_names(self.trials, _space_names(self.config))

    def rows(self) -> list[dict[str, Any]]:
        """One dict per trial (:func:`jaxch6.sweep.tables.trial_rows`), in id order."""
        from jaxch6.sweep.tables import trial_rows

        return trial_rows(self.trials, _space_names(self.config))

    def to_dataframe(self):
        """One row per trial, in id order: ``id``, ``rank``, ``round``, ``status``, ``epochs``,
        ``rung``, ``final_val_acc``, ``final_train_acc``, ``diverged``, ``val_acc_std`` and one
        ``hp.NAME`` column per hyperparameter (:mod:`jaxch6.sweep.tables`).

        Returns:
            A ``pandas.DataFrame``.

        Raises:
            ConfigError: pandas is not installed (``pip install 'jaxch6[pandas]'``).
        """
        from jaxch6.sweep.tables import to_dataframe

        return to_dataframe(self.trials, _space_names(self.config))

    def write_csv(self, path: str | os.PathLike | None = None) -> Path:
        """Write the table to ``path`` (default ``out_dir/trials.csv``); returns the path.

        Raises:
            ConfigError: no path and no run directory, or the file cannot be written.
        """
        from jaxch6.sweep.tables import CSV, write_csv

        if path is None:
            if self.out_dir is None:
                raise ConfigError("write_csv: the sweep has no run directory; give a path")
            path = Path(self.out_dir) / CSV
        return write_csv(path, self.trials, _space_names(self.config))


def _space_names(config: SweepConfig) -> list[str]:
    return [p["name"] if isinstance(p, Mapping) else p.name for p in config.space]


#: summary.json fields that are not part of :attr:`SweepResult.info`.
_NOT_INFO = ("config", "best", "rounds", "timings", "timings_total")


def _curve(values: Any) -> list[float]:
    return [math.nan if v is None else float(v) for v in values or ()]


def load(out_dir: str | os.PathLike) -> SweepResult:
    """The result of the sweep in ``out_dir`` (a plain sweep's or an Optuna worker's run
    directory: ``manifest.json``, ``trials.jsonl``, ``summary.json``).

    A trial recorded several times (a scheduler training it in steps) counts with its last
    record. The directory is only read (a running sweep's may be loaded: what it has recorded
    so far). Saved run states are not loaded (:func:`jaxch6.sweep.load_model` does).

    Args:
        out_dir: the run directory.

    Returns:
        A :class:`SweepResult` (``info`` holds the summary's fields, ``status`` included).

    Raises:
        ConfigError: not a run directory, or a manifest, summary or record that cannot be read.
    """
    from jaxch6.sweep import store

    out_dir = Path(out_dir)
    manifest = store.read_manifest(out_dir)
    try:
        config = SweepConfig.from_dict(manifest["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{out_dir}: manifest.json has no valid config ({exc})") from None
    records = store.read_trials(out_dir, updates=True)
    trials = []
    for rec in records:
        rec = {**rec, "val_acc": _curve(rec["val_acc"]), "train_acc": _curve(rec["train_acc"])}
        try:
            trials.append(Trial.from_record(rec))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{out_dir}/trials.jsonl: trial {rec.get('id')}: not a valid "
                              f"record ({exc})") from None
    try:
        summary = store.read_summary(out_dir)
    except ConfigError:
        if (out_dir / store.SUMMARY).exists():
            raise
        summary = {}
    info = {k: v for k, v in summary.items() if k not in _NOT_INFO}
    info.setdefault("kind", manifest["kind"])
    return SweepResult(config, trials, list(summary.get("rounds") or []),
                       dict(summary.get("timings") or {}), info, out_dir)
