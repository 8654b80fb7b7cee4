"""Vectorised hyperparameter random search: many trials as one compiled program.

The book's search (``ch06/hyperparameter_optimization.py``) as an API::

    from jaxch6.sweep import SweepConfig, Param, run

    result = run(SweepConfig(trials=100, seed=0), out="runs/book")   # the book's defaults
    for line in result.ranking_lines(5):
        print(line)            # Best-1(val acc:0.86) | lr:0.0071..., weight decay:3.2e-07
    best = result.best(1)[0]   # Trial(id, round, hparams, train_acc, val_acc, diverged)

Modules: :mod:`~jaxch6.sweep.space` (ranges, sampling, narrowing), :mod:`~jaxch6.sweep.config`
(:class:`SweepConfig`), :mod:`~jaxch6.sweep.engine` (the vmapped, sharded, chunked program),
:mod:`~jaxch6.sweep.store` (``trials.jsonl`` / ``summary.json``), :mod:`~jaxch6.sweep.runner`
(:func:`run`, :func:`resume`).
"""

from jaxch6.sweep.config import SweepConfig, parse_hidden
from jaxch6.sweep.runner import (
    Progress,
    SweepResult,
    Trial,
    format_trial,
    load_data,
    rank,
    resume,
    run,
)
from jaxch6.sweep.space import (
    BOOK_SPACE,
    Param,
    check_space,
    narrow,
    parse_param,
    sample,
    searchable_names,
    trial_keys,
)

__all__ = [
    "BOOK_SPACE",
    "Param",
    "Progress",
    "SweepConfig",
    "SweepResult",
    "Trial",
    "check_space",
    "format_trial",
    "load_data",
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
