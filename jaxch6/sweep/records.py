"""A trial's record: its hyperparameters, its measured curves, how far it was trained.

One :class:`Trial` per trial id (a configuration of hyperparameters); with ``repeats > 1`` it
holds each repeat's curves and their mean, which is what ranking and schedulers use.

A trial ranks by its task's *objective* (the book's: validation accuracy, maximised): its
per-epoch values are :attr:`Trial.val_acc` (the field keeps the book's name in
``trials.jsonl``; a task's record also names its ``objective`` and ``direction``), and
``direction="min"`` ranks the smallest first everywhere (schedulers included).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

STATUSES = ("running", "stopped", "complete")


@dataclasses.dataclass
class Trial:
    """One trial: hyperparameters and per-epoch metrics (mean over repeats).

    Attributes:
        id: the trial id (its hyperparameters and keys derive from it and the seed).
        round: the round (random search) or bracket (hyperband) it belongs to.
        hparams: the hyperparameters in effect at its last epoch.
        train_acc: training accuracy after each epoch trained (mean over repeats; the
            ``train_acc`` metric of a task, empty when it records none).
        val_acc: the objective after each epoch trained (mean over repeats): the book's
            validation accuracy, or the task's ``objective`` metric.
        diverged: a repeat's loss or parameters became NaN or infinite.
        status: ``"running"`` (its run state is kept to continue), ``"stopped"`` (stopped
            early by a scheduler) or ``"complete"`` (trained every epoch).
        rung: the rung of successive halving where it stopped or completed (None otherwise).
        repeats: each repeat's ``{"train_acc", "val_acc", "diverged"}`` (only when > 1).
        lineage: population-based training's events, ``{"epoch", "parent", "hparams"}``:
            the hyperparameters (and for ``parent`` not None, the run state of that trial)
            taken at that epoch; the first event is the start.
        metrics: a task's other recorded metrics, name to per-epoch values (None for none).
        objective: the name of the metric :attr:`val_acc` holds.
        direction: ``"max"`` or ``"min"``: which objective value is better.
    """

    id: int
    round: int
    hparams: dict[str, Any]
    train_acc: list[float]
    val_acc: list[float]
    diverged: bool
    status: str = "complete"
    rung: int | None = None
    repeats: list[dict[str, Any]] | None = None
    lineage: list[dict[str, Any]] | None = None
    metrics: dict[str, list[float]] | None = None
    objective: str = "val_acc"
    direction: str = "max"

    @property
    def epochs(self) -> int:
        """Epochs trained."""
        return len(self.val_acc)

    @property
    def final_val_acc(self) -> float:
        """The objective after the last epoch trained (NaN before any)."""
        return self.val_acc[-1] if self.val_acc else float("nan")

    @property
    def val_acc_std(self) -> float | None:
        """Standard deviation of the final validation accuracy over repeats (None for one)."""
        if not self.repeats:
            return None
        return float(np.std([r["val_acc"][-1] for r in self.repeats]))

    def val_acc_at(self, epoch: int) -> float:
        """The objective after ``epoch`` epochs (1-based)."""
        return self.val_acc[epoch - 1]

    def hparams_before(self, epoch: int) -> dict[str, Any]:
        """The hyperparameters in effect just before ``epoch`` (PBT: from the lineage)."""
        if not self.lineage:
            return dict(self.hparams)
        current = self.lineage[0]["hparams"]
        for event in self.lineage:
            if event["epoch"] < epoch:
                current = event["hparams"]
        return dict(current)

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready line ``trials.jsonl`` holds (read back by :meth:`from_record`)."""
        rec = {
            "id": self.id,
            "round": self.round,
            "hparams": self.hparams,
            "final_val_acc": self.final_val_acc if self.val_acc else None,
            "diverged": self.diverged,
            "epochs": self.epochs,
            "status": self.status,
            "rung": self.rung,
            "train_acc": self.train_acc,
            "val_acc": self.val_acc,
        }
        if self.repeats:
            rec["repeats"] = self.repeats
            rec["val_acc_std"] = self.val_acc_std
        if self.lineage:
            rec["lineage"] = self.lineage
        if self.metrics:
            rec["metrics"] = self.metrics
        if (self.objective, self.direction) != ("val_acc", "max"):
            rec["objective"], rec["direction"] = self.objective, self.direction
        return rec

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Trial:
        """Rebuild a trial from its :meth:`to_record` line.

        Args:
            rec: the record (a parsed line of ``trials.jsonl``).

        Returns:
            The :class:`Trial`.
        """
        return cls(
            id=int(rec["id"]),
            round=int(rec["round"]),
            hparams={k: _value(v) for k, v in rec["hparams"].items()},
            train_acc=[float(a) for a in rec["train_acc"]],
            val_acc=[float(a) for a in rec["val_acc"]],
            diverged=bool(rec["diverged"]),
            status=str(rec.get("status", "complete")),
            rung=rec.get("rung"),
            repeats=rec.get("repeats"),
            lineage=rec.get("lineage"),
            metrics=rec.get("metrics"),
            objective=str(rec.get("objective", "val_acc")),
            direction=str(rec.get("direction", "max")),
        )


def _value(v):
    """A recorded value: a string or bool as is, an int (an int parameter) as an int, any
    other number as a float."""
    return v if isinstance(v, str | bool | int) else float(v)


def study_value(trial: Trial, epoch: int | None = None) -> float:
    """The value an Optuna study holds for ``trial``: its objective after ``epoch`` epochs
    (default: the last trained); for a diverged trial or a value that is not finite the worst,
    0.0 when maximising (an accuracy's least) or infinity when minimising, so that it ranks
    last there as in :func:`rank`.

    Args:
        trial: the trial.
        epoch: the epoch (1-based; None: its last).

    Returns:
        The value, a float.
    """
    worst = 0.0 if trial.direction == "max" else float("inf")
    value = trial.final_val_acc if epoch is None else trial.val_acc_at(epoch)
    return worst if trial.diverged or not np.isfinite(value) else float(value)


def rank(trials: Sequence[Trial]) -> list[Trial]:
    """Sort trials best first.

    Trained longest first (a scheduler's survivors), then by the final objective (the book's
    validation accuracy, mean over repeats; largest first, or smallest for ``direction
    "min"``); diverged trials and non-finite values last; ties by id.

    Args:
        trials: the trials.

    Returns:
        A new list, best first.
    """
    return sorted(trials, key=lambda t: (t.diverged, -t.epochs, _loss(t, t.final_val_acc), t.id))


def best_records(trials: Sequence[Trial], top: int) -> list[dict[str, Any]]:
    """The ``top`` best trials (:func:`rank`) as ``summary.json`` lists them: each record
    (:meth:`Trial.to_record`) with its ``rank``, from 1."""
    return [t.to_record() | {"rank": i + 1} for i, t in enumerate(rank(trials)[:top])]


def rank_at(trials: Sequence[Trial], epoch: int) -> list[Trial]:
    """Sort trials best first by the objective after ``epoch`` epochs (its direction).

    Args:
        trials: trials trained at least ``epoch`` epochs.
        epoch: the epoch compared (1-based).

    Returns:
        A new list, best first (diverged last, ties by id).
    """
    return sorted(trials, key=lambda t: (t.diverged, _loss(t, t.val_acc_at(epoch)), t.id))


def _loss(trial: Trial, x: float) -> float:
    """The sort key of an objective value: smaller is better; non-finite values last."""
    if not np.isfinite(x):
        return float("inf")
    return -x if trial.direction == "max" else x


def format_trial(rank_index: int, trial: Trial) -> str:
    """Format a trial as the book's line.

    Args:
        rank_index: its 1-based rank.
        trial: the trial.

    Returns:
        e.g. ``Best-1(val acc:0.78) | learning_rate:0.0058…, weight_decay:1.2e-06`` (a
        task's objective by its name: ``Best-1(val_loss:0.31) | …``), with notes on repeats,
        early stopping and divergence. Hyperparameters go by the names ``--space`` takes,
        the names of the figures and of ``trials.csv``'s ``hp.NAME`` columns.
    """
    hp = ", ".join(f"{k}:{v if isinstance(v, str) else repr(v)}"
                   for k, v in trial.hparams.items())
    flags = ""
    if trial.repeats:
        flags += f" (std {trial.val_acc_std:.3g} over {len(trial.repeats)} repeats)"
    if trial.status == "stopped":
        flags += f" (stopped after {trial.epochs} epochs)"
    if trial.diverged:
        flags += " (diverged)"
    label = "val acc" if trial.objective == "val_acc" else trial.objective
    return f"Best-{rank_index}({label}:{trial.final_val_acc!r}) | {hp}{flags}"


def format_space(space) -> str:
    """Format a search space on one line.

    Args:
        space: the parameters.

    Returns:
        e.g. ``learning_rate 1e-06..0.01 (log), weight_decay 1e-08..0.0001 (log)``; an int
        range reads ``batch_size 16..128 (int, lin)``, choices ``optimizer {sgd, adam}``.
    """
    from jaxch6.sweep.params import Param

    def one(p) -> str:
        p = Param(*p)
        if p.kind == "categorical":
            return f"{p.name} {{{', '.join(map(str, p.choices))}}}"
        if p.kind == "int":
            return f"{p.name} {p.low}..{p.high} (int, {p.scale})"
        return f"{p.name} {p.low:.3g}..{p.high:.3g} ({p.scale})"

    return ", ".join(one(p) for p in space)
