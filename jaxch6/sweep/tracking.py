"""Experiment tracking: every trial's per-epoch metrics, handed to your code as they are made.

``jaxch6.sweep.run(config, track=callback)`` calls ``callback`` with a :class:`TrialMetrics`
each time trials are recorded: after every chunk of lanes (the book's random search), every
rung (successive halving, hyperband) or every exploit/explore interval (population-based
training). Each call carries the epochs that trial has trained since the last call, one
``{metric name: value}`` dict per epoch (:func:`metric_curves` names them), and the trial's
status (``"running"``: it continues in a later step; ``"stopped"``: a scheduler stopped it;
``"complete"``). A trial a scheduler stops between steps is reported once more, with no new
epochs and status ``"stopped"``.

:class:`TensorBoardTracker` is such a callback: TensorBoard event files with one run per trial,
its metrics as scalars per epoch and its hyperparameters in TensorBoard's HParams view (extra
``jaxch6[tensorboard]``, tensorboardX). Any other tracker takes a few lines; MLflow, for one
(``docs/tracking.md`` has this and Weights & Biases):

```python
import mlflow

client = mlflow.MlflowClient()  # $MLFLOW_TRACKING_URI, e.g. sqlite:///mlflow.db
experiment = client.create_experiment("jaxch6-sweep")
runs = {}

def to_mlflow(m):
    if m.trial not in runs:
        runs[m.trial] = client.create_run(experiment, run_name=f"trial-{m.trial}").info.run_id
        for name, value in m.hparams.items():
            client.log_param(runs[m.trial], name, value)
    for epoch, values in zip(m.epochs, m.metrics):
        for name, value in values.items():
            client.log_metric(runs[m.trial], name, value, step=epoch)
    if m.status != "running":
        client.set_terminated(runs[m.trial])

result = jaxch6.sweep.run(config, track=to_mlflow)
```
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["TensorBoardTracker", "TrialMetrics", "metric_curves"]


@dataclasses.dataclass(frozen=True)
class TrialMetrics:
    """A trial's metrics of the epochs it trained since it was last reported.

    Attributes:
        trial: the trial id.
        round: its round (random search) or bracket (hyperband).
        hparams: its hyperparameters (for population-based training: those now in effect).
        epochs: the epoch numbers of ``metrics`` (1 for the first epoch of training).
        metrics: one ``{name: value}`` dict per epoch of ``epochs``
            (``train_acc``, ``val_acc``: see :func:`metric_curves`).
        status: ``"running"``, ``"stopped"`` or ``"complete"``.
        diverged: a repeat's loss or parameters became NaN or infinite.
    """

    trial: int
    round: int
    hparams: dict[str, Any]
    epochs: list[int]
    metrics: list[dict[str, float]]
    status: str
    diverged: bool


def metric_curves(trial) -> dict[str, list[float]]:
    """A recorded trial's per-epoch metrics by name: ``train_acc`` and ``val_acc`` (accuracy
    on the training and validation rows after each epoch, the mean over repeats); for a
    task's trial its objective and other recorded metrics by their names.

    Args:
        trial: a :class:`jaxch6.sweep.Trial`.

    Returns:
        ``{name: one value per epoch trained}``.
    """
    if trial.objective == "val_acc":
        return {"train_acc": list(trial.train_acc), "val_acc": list(trial.val_acc)}
    out = {"train_acc": list(trial.train_acc)} if trial.train_acc else {}
    return {**out, trial.objective: list(trial.val_acc),
            **{k: list(v) for k, v in (trial.metrics or {}).items()}}


class Reporter:
    """Turns batches of recorded trials into :class:`TrialMetrics` calls of ``callback``,
    each with only the epochs not reported before (the runner's part of ``track=``).

    Args:
        callback: called with each :class:`TrialMetrics`.
        trials: the trials already recorded (a resumed sweep's): their epochs count as
            reported.
    """

    def __init__(self, callback: Callable[[TrialMetrics], None], trials: Iterable = ()):
        self.callback = callback
        self.sent = {t.id: len(t.val_acc) for t in trials}

    def __call__(self, trials: Iterable) -> None:
        for t in trials:
            curves = metric_curves(t)
            start, end = self.sent.get(t.id, 0), len(t.val_acc)
            self.sent[t.id] = end
            metrics = [{k: float(v[e]) for k, v in curves.items()} for e in range(start, end)]
            self.callback(TrialMetrics(t.id, t.round, dict(t.hparams),
                                       list(range(start + 1, end + 1)), metrics, t.status,
                                       bool(t.diverged)))


class TensorBoardTracker:
    """A ``track=`` callback writing TensorBoard event files, one run per trial.

    Under ``logdir``, trial ``i`` is the run ``trial-{i:05d}``: each metric of
    :func:`metric_curves` is a scalar series with the epoch as its step, and the trial's
    hyperparameters and final metrics appear in TensorBoard's HParams view (written with
    tensorboardX's ``hparams`` summaries when the trial is first reported; its session ends
    when the trial is complete or stopped). View with ``tensorboard --logdir LOGDIR``.

    Needs the extra ``jaxch6[tensorboard]`` (tensorboardX). Call :meth:`close` (or use it as
    a context manager) when the sweep ends, so that every file is flushed.

    Args:
        logdir: the directory of the runs (created if missing).

    Raises:
        ImportError: tensorboardX is not installed (the message names the extra).

    Example:
        ```python
        from jaxch6.sweep.tracking import TensorBoardTracker

        with TensorBoardTracker("runs/tb") as tb:
            result = jaxch6.sweep.run(config, track=tb)
        ```
    """

    def __init__(self, logdir: str | os.PathLike):
        try:
            from tensorboardX import SummaryWriter  # noqa: F401
        except ImportError:
            raise ImportError("TensorBoardTracker needs tensorboardX: "
                              "pip install 'jaxch6[tensorboard]'") from None
        self.logdir = Path(logdir)
        self._writers: dict[int, Any] = {}

    def __call__(self, m: TrialMetrics) -> None:
        """Write one :class:`TrialMetrics` report."""
        writer = self._writers.get(m.trial)
        if writer is None:
            writer = self._open(m)
        for epoch, values in zip(m.epochs, m.metrics, strict=True):
            for name, value in values.items():
                writer.add_scalar(name, value, global_step=epoch)
        if m.status != "running":
            from tensorboardX.summary import hparams

            _, _, session_end = hparams(_hparam_values(m.hparams), {})
            writer.file_writer.add_summary(session_end)
            writer.close()
            del self._writers[m.trial]

    def _open(self, m: TrialMetrics):
        from tensorboardX import SummaryWriter
        from tensorboardX.summary import hparams

        writer = SummaryWriter(logdir=str(self.logdir / f"trial-{m.trial:05d}"))
        names = m.metrics[0] if m.metrics else {"train_acc": 0.0, "val_acc": 0.0}
        experiment, session_start, _ = hparams(_hparam_values(m.hparams), dict(names))
        writer.file_writer.add_summary(experiment)
        writer.file_writer.add_summary(session_start)
        self._writers[m.trial] = writer
        return writer

    def close(self) -> None:
        """Flush and close the runs still open (trials of an interrupted sweep)."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def __enter__(self) -> TensorBoardTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _hparam_values(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameters as TensorBoard takes them: numbers as floats, others as text."""
    out: dict[str, Any] = {}
    for k, v in hparams.items():
        if isinstance(v, bool) or isinstance(v, str):
            out[k] = v
        else:
            try:
                out[k] = float(v)
            except (TypeError, ValueError):
                out[k] = str(v)
    return out
