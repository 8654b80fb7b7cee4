"""Vectorised hyperparameter search: many trainings as one compiled program, with schedulers
that stop losing trials early and hand back the winners.

The book's search (``ch06/hyperparameter_optimization.py``) as an API:

```python
from jaxch6.sweep import SweepConfig, run

result = run(SweepConfig(trials=100, seed=0), out="runs/book")   # the book's defaults
for line in result.ranking_lines(5):
    print(line)            # Best-1(val acc:0.86) | learning_rate:0.0071..., weight_decay:3.2e-07
best = result.best(1)[0]   # Trial(id, round, hparams, train_acc, val_acc, diverged, ...)

halving = run(SweepConfig(trials=300, scheduler="halving", min_epochs=2, save_best=3))
model = halving.models[halving.best(1)[0].id][0]    # its jaxch6.train.RunState
```

Your own model: a :class:`Task` (``init``, ``advance``, an objective and its direction, the
declared hyperparameters) goes through the same engine and schedulers: ``run(config,
task=my_task, data=my_data)``; :func:`from_step` builds a task's ``advance`` from one training
step and one evaluation (see docs/own_model.md).

Modules, one job each: :mod:`~jaxch6.sweep.task` (the task contract; the book's network as one),
:mod:`~jaxch6.sweep.book` (the book's data split, test digits and lane estimate),
:mod:`~jaxch6.sweep.params` (what a space holds: ranges and choices, their names, checks and
parsing), :mod:`~jaxch6.sweep.space` (sampling, grids, narrowing), :mod:`~jaxch6.sweep.keys`
(keys), :mod:`~jaxch6.sweep.config` (:class:`SweepConfig`), :mod:`~jaxch6.sweep.engine` (lanes
of run states: vmapped, sharded, chunked programs), :mod:`~jaxch6.sweep.schedulers` (random,
halving, hyperband, PBT), :mod:`~jaxch6.sweep.loop` (the run loop all drivers share),
:mod:`~jaxch6.sweep.pool` (run states kept between steps), :mod:`~jaxch6.sweep.store` (the run
directory), :mod:`~jaxch6.sweep.models` (saved winners), :mod:`~jaxch6.sweep.runner`
(:func:`run`, :func:`resume`).
"""

from jaxch6.sweep.config import SweepConfig, parse_hidden
from jaxch6.sweep.keys import trial_keys
from jaxch6.sweep.loop import Progress
from jaxch6.sweep.models import SavedModel, load_model, load_state
from jaxch6.sweep.params import BOOK_SPACE, Param, check_space, parse_param, searchable_names
from jaxch6.sweep.records import Trial, format_trial, rank
from jaxch6.sweep.result import SweepResult, load
from jaxch6.sweep.runner import load_data, resume, run
from jaxch6.sweep.schedulers import SCHEDULERS
from jaxch6.sweep.space import narrow, sample
from jaxch6.sweep.task import Task, TaskError, book_task, from_step


def __getattr__(name: str):
    """``Data`` (:class:`jaxch6.train.Data`, what ``run(data=...)`` takes) without importing
    JAX when the package is imported."""
    if name == "Data":
        from jaxch6.train import Data

        return Data
    raise AttributeError(f"module 'jaxch6.sweep' has no attribute {name!r}")


__all__ = [
    "BOOK_SPACE",
    "Data",
    "SCHEDULERS",
    "Param",
    "Progress",
    "SavedModel",
    "SweepConfig",
    "SweepResult",
    "Task",
    "TaskError",
    "Trial",
    "book_task",
    "check_space",
    "format_trial",
    "from_step",
    "load",
    "load_data",
    "load_model",
    "load_state",
    "narrow",
    "parse_hidden",
    "parse_param",
    "rank",
    "resume",
    "run",
    "sample",
    "searchable_names",
    "trial_keys",
]
