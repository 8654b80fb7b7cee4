"""Saved run states of a sweep's best trials: ``DIR/models/trial-ID[-rR].npz``.

Each file is a plain NumPy archive, loadable in one line (``dict(np.load(path))``): the
network's parameters as ``params/W1``, ``params/b1``, …, the batch-norm statistics as
``bn/mean1``, …, the optimizer state's leaves as ``opt_state/0``, ``opt_state/1``, …, the step
count and key, and ``meta`` (a JSON string: trial id, repeat, hyperparameters, recorded
accuracies, the network's activation and the training config). :func:`load_model` returns what
:func:`jaxch6.mlp.apply` needs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxch6.errors import ConfigError

MODELS = "models"


class SavedModel(NamedTuple):
    """A saved trial: ``mlp.apply(model.params, model.state, x, train=False)`` evaluates it.

    Attributes:
        params: the parameters in :func:`jaxch6.mlp.init`'s layout.
        state: the batch-norm statistics as a :class:`jaxch6.mlp.MLPState`.
        opt_state_leaves: the optimizer state's leaves, in tree order.
        step: optimizer steps taken.
        meta: trial id, repeat, hyperparameters, recorded accuracies, config.
    """

    params: dict
    state: Any
    opt_state_leaves: list
    step: int
    meta: dict


def model_path(out_dir, trial_id: int, repeat: int = 0) -> Path:
    suffix = f"-r{repeat}" if repeat else ""
    return Path(out_dir) / MODELS / f"trial-{int(trial_id)}{suffix}.npz"


def save_model(out_dir, trial_id: int, repeat: int, params: dict, bn: Any, state,
               meta: dict) -> Path:
    """Write one run state (network parameters already in ``mlp.init``'s layout)."""
    import jax

    arrays = {f"params/{k}": np.asarray(v) for k, v in params.items()}
    arrays.update({f"bn/{k}": np.asarray(v) for k, v in bn.bn.items()})
    for j, leaf in enumerate(jax.tree.leaves(state.opt_state)):
        arrays[f"opt_state/{j}"] = np.asarray(leaf)
    arrays["step"] = np.asarray(state.step)
    arrays["key"] = np.asarray(state.key)
    arrays["meta"] = np.asarray(json.dumps({**meta, "activation": bn.activation}))
    from jaxch6.sweep import store

    path = model_path(out_dir, trial_id, repeat)
    store.subdir(path.parent)
    return store.write_file(path, lambda f: np.savez(f, **arrays))


def load_model(out_dir, trial_id: int, repeat: int = 0) -> SavedModel:
    """The saved run state of a trial of the sweep in ``out_dir``.

    Example:
        ```python
        model = jaxch6.sweep.load_model("runs/sweep-1", 17)
        logits, _ = jaxch6.mlp.apply(model.params, model.state, x, train=False)
        ```

    Raises:
        ConfigError: no model of that trial was saved (``save_best``).
    """
    import jax.numpy as jnp

    from jaxch6.mlp import MLPState

    path = model_path(out_dir, trial_id, repeat)
    if not path.exists():
        raise ConfigError(f"{path}: no saved model of trial {trial_id} (sweeps save the best "
                          "trials with save_best)")
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        params = {k[7:]: jnp.asarray(z[k]) for k in z.files if k.startswith("params/")}
        bn = {k[3:]: jnp.asarray(z[k]) for k in z.files if k.startswith("bn/")}
        n_opt = sum(k.startswith("opt_state/") for k in z.files)
        opt = [jnp.asarray(z[f"opt_state/{j}"]) for j in range(n_opt)]
        step = int(z["step"])
    return SavedModel(params, MLPState(bn=bn, activation=meta["activation"]), opt, step, meta)
