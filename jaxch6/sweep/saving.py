"""Hand the winners back: the best trials' run states, in memory and under ``DIR/models/``.

States the run loop still holds (successive halving's and PBT's final lanes) are taken as they
are; a random-search trial is trained again from its id (bit-identical, by the lane-group rule)
and its curves are checked against the recorded ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxch6.errors import Jaxch6Error
from jaxch6.sweep.schedulers.base import Step


def save_best(result, loop, engine, out_dir) -> dict[int, list[Any]]:
    """The run states (one per repeat) of the ``config.save_best`` best trials, written under
    ``out_dir/models/`` when ``out_dir`` is given.

    Raises:
        Jaxch6Error: a retrained trial did not reproduce its recorded curves.
    """
    config = result.config
    best = [t for t in result.ranked if not t.diverged][: config.save_best]
    missing = [t for t in best
               if any((t.id, r, t.epochs) not in loop.pool for r in range(config.repeats))]
    if missing:
        _retrain(missing, loop, config.epochs)
    models: dict[int, list[Any]] = {}
    for t in best:
        entries = [(t.id, r, t.epochs) for r in range(config.repeats)]
        batch = loop.pool.take(entries)
        states = [_row(batch, r) for r in range(config.repeats)]
        models[t.id] = states
        if out_dir is not None:
            _write(out_dir, t, states, engine, config)
    return models


def _retrain(trials, loop, epochs: int) -> None:
    scratch: dict = {}
    step = Step(0, epochs, new={t.id: t.hparams for t in trials}, keep=True,
                label=f"saving the best {len(trials)} trial(s)")
    loop.run_step(step, scratch, record=False)
    for t in trials:
        again = scratch[t.id]
        if again.val_acc != t.val_acc or again.train_acc != t.train_acc:
            raise Jaxch6Error(f"trial {t.id} trained again did not reproduce its recorded "
                              "curves; its model is not saved")


def _row(batch, r: int):
    import jax

    return jax.tree.map(lambda a: np.asarray(a)[r], batch)


def _write(out_dir, trial, states, engine, config) -> None:
    from jaxch6.sweep.models import save_model

    if hasattr(engine, "for_hparams"):  # a sweep over static choices: the trial's own group
        engine = engine.for_hparams(trial.hparams)
    for r, state in enumerate(states):
        params, bn = engine.run.network(state)
        meta = {"trial": trial.id, "repeat": r, "hparams": trial.hparams,
                "val_acc": trial.repeats[r]["val_acc"] if trial.repeats else trial.val_acc,
                "train_acc": trial.repeats[r]["train_acc"] if trial.repeats
                else trial.train_acc, "config": config.to_dict()}
        save_model(out_dir, trial.id, r, params, bn, state, meta)
