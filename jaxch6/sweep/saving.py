"""Hand the winners back: the best trials' run states, in memory and under ``DIR/models/``.

States the run loop still holds (successive halving's and PBT's final lanes) are taken as they
are; a trial whose model an earlier call of a resumed run already saved (its file records the
same id, hyperparameters and curves) is read back from ``models/`` (its run state, in the
task's structure) instead of being trained again (a PBT trial could not
be: its hyperparameters changed during training); a random-search trial is trained again
from its id (bit-identical, by the lane-group rule) and its curves are checked against the
recorded ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxch6.errors import Jaxch6Error
from jaxch6.sweep.schedulers.base import Step


def save_best(result, loop, engine, out_dir) -> dict[int, list[Any]]:
    """The run states (one per repeat) of the ``config.save_best`` best complete trials,
    written under ``out_dir/models/`` when ``out_dir`` is given.

    Raises:
        Jaxch6Error: a retrained trial did not reproduce its recorded curves.
    """
    config = result.config
    best = [t for t in result.ranked if not t.diverged and t.status == "complete"][
        : config.save_best]  # a trial a scheduler stopped early has no final state
    models: dict[int, list[Any]] = {}
    for t in best:  # saved by an earlier call of a resumed run: read back, not trained again
        if all((t.id, r, t.epochs) not in loop.pool for r in range(config.repeats)):
            saved = _saved(out_dir, t, config.repeats, engine)
            if saved is not None:
                models[t.id] = saved
    missing = [t for t in best if t.id not in models
               and any((t.id, r, t.epochs) not in loop.pool for r in range(config.repeats))]
    if missing:
        _retrain(missing, loop, config.epochs)
    for t in best:
        if t.id in models:
            continue
        entries = [(t.id, r, t.epochs) for r in range(config.repeats)]
        batch = loop.pool.take(entries)
        states = [_row(batch, r) for r in range(config.repeats)]
        models[t.id] = states
        if out_dir is not None:
            _write(out_dir, t, states, engine, config)
    return models


def _saved(out_dir, trial, repeats: int, engine) -> list[Any] | None:
    """The trial's saved run states (one per repeat, in its group's structure) when every
    file is there and records exactly this trial (id, values, curves); else None."""
    import jax

    from jaxch6.errors import ConfigError
    from jaxch6.sweep.models import load_model
    from jaxch6.sweep.store import to_json_safe

    if out_dir is None:
        return None
    engine = engine.for_hparams(trial.hparams)
    like = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype),
                        engine.state_shape())
    out = []
    for r in range(repeats):
        try:
            model = load_model(out_dir, trial.id, r, like=like)
        except (ConfigError, OSError, ValueError, KeyError):
            return None
        rep = trial.repeats[r] if trial.repeats else {"val_acc": trial.val_acc,
                                                      "train_acc": trial.train_acc}
        meta, want = model.meta, to_json_safe({"trial": trial.id, "hparams": trial.hparams,
                                                "val_acc": rep["val_acc"],
                                                "train_acc": rep["train_acc"]})
        if any(to_json_safe(meta.get(k)) != v for k, v in want.items()):
            return None
        out.append(model.run_state)
    return out


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

    engine = engine.for_hparams(trial.hparams)  # a sweep over static choices: its group
    network = getattr(engine.task, "network", None)
    for r, state in enumerate(states):
        rep = trial.repeats[r] if trial.repeats else None
        meta = {"trial": trial.id, "repeat": r, "hparams": trial.hparams,
                "static": sorted(engine.static), "objective": trial.objective,
                "val_acc": rep["val_acc"] if rep else trial.val_acc,
                "train_acc": rep["train_acc"] if rep else trial.train_acc,
                "config": config.to_dict()}
        hp = {**{k: trial.hparams[k] for k in engine.hparam_names}, **engine.static}
        save_model(out_dir, trial.id, r, state, meta,
                   network(state, hp) if network is not None else None)
