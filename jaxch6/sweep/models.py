"""Saved run states of a sweep's best trials: ``DIR/models/trial-ID[-rR].npz``.

The format is a tree-structured NumPy archive, readable without jaxch6
(``dict(np.load(path))``): each leaf of the trial's run state (any pytree: a task's state, the
book's :class:`jaxch6.train.RunState`) is stored under ``state/`` + its path in the tree
(dict keys, sequence indices and field names joined by ``/``: ``state/params/W1``,
``state/opt_state/0/mu/W1``), and ``meta`` (a JSON string) lists those paths in tree order
with the trial id, repeat, hyperparameters, recorded curves and the sweep's config. A saved
book network also holds ``network/params/...`` (:func:`jaxch6.mlp.init`'s layout) and
``network/bn/...`` (its batch-norm statistics), what :func:`jaxch6.mlp.apply` takes.

:func:`load_state` rebuilds the exact pytree (its NamedTuples, optax states and dicts) from a
*template* with the same structure (e.g. ``jax.eval_shape`` of the task's ``init``), checking
every path and shape, so the loaded state continues training with the same task; this is the
restore-into-a-target pattern of Flax's ``from_state_dict`` and Orbax's restore arguments.
Without a template, :func:`load_model` returns the state as nested dicts of its paths.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxch6.errors import ConfigError
from jaxch6.sweep import keys

MODELS = "models"
STATE, NETWORK = "state/", "network/"


class SavedModel(NamedTuple):
    """A saved trial.

    Attributes:
        run_state: its run state: the exact pytree when loaded with a template
            (:func:`load_state`), else nested dicts keyed by the state's path entries.
        meta: trial id, repeat, hyperparameters, recorded curves, the state's paths, config.
        params: the book network's parameters in :func:`jaxch6.mlp.init`'s layout (None for a
            task): ``mlp.apply(model.params, model.state, x, train=False)``.
        state: the book network's batch-norm statistics (:class:`jaxch6.mlp.MLPState`).
        step: optimizer steps taken (the book's; None for a task).
    """

    run_state: Any
    meta: dict
    params: dict | None = None
    state: Any = None
    step: int | None = None


def model_path(out_dir, trial_id: int, repeat: int = 0) -> Path:
    for name, value in (("trial id", trial_id), ("repeat", repeat)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ConfigError(f"a saved model's {name} must be an integer >= 0, got {value!r}")
    suffix = f"-r{repeat}" if repeat else ""
    return Path(out_dir) / MODELS / f"trial-{int(trial_id)}{suffix}.npz"


def path_name(path) -> str:
    """A pytree path as ``a/0/b``: dict keys, sequence indices, attribute names."""
    parts = []
    for entry in path:
        for attr in ("key", "idx", "name"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
        else:
            parts.append(str(entry))
    return "/".join(parts)


def save_model(out_dir, trial_id: int, repeat: int, state, meta: dict,
               network: tuple[dict, Any] | None = None) -> Path:
    """Write one run state (and, for the book's network, its ``(params, MLPState)``).

    Returns:
        The file written (atomically, :func:`jaxch6.sweep.store.write_file`).
    """
    import jax

    flat = jax.tree_util.tree_flatten_with_path(state)[0]
    arrays = {STATE + path_name(p): np.asarray(leaf) for p, leaf in flat}
    meta = {**meta, "paths": [path_name(p) for p, _ in flat]}
    if network is not None:
        params, bn = network
        arrays.update({f"{NETWORK}params/{k}": np.asarray(v) for k, v in params.items()})
        arrays.update({f"{NETWORK}bn/{k}": np.asarray(v) for k, v in bn.bn.items()})
        meta["activation"] = bn.activation
    arrays["meta"] = np.asarray(json.dumps(meta))
    from jaxch6.sweep import store

    path = model_path(out_dir, trial_id, repeat)
    store.subdir(path.parent)
    return store.write_file(path, lambda f: np.savez(f, **arrays))


def load_model(out_dir, trial_id: int, repeat: int = 0, *, like=None) -> SavedModel:
    """The saved run state of a trial of the sweep in ``out_dir``.

    Args:
        out_dir: the sweep's run directory.
        trial_id: the trial.
        repeat: which of its repeats.
        like: a pytree with the run state's structure (arrays or ``jax.ShapeDtypeStruct``):
            the state comes back in that structure (see :func:`load_state`).

    Example:
        ```python
        model = jaxch6.sweep.load_model("runs/sweep-1", 17)
        logits, _ = jaxch6.mlp.apply(model.params, model.state, x, train=False)
        ```

    Raises:
        ConfigError: no model of that trial was saved (``save_best``), or ``like`` does not
            match the saved paths and shapes.
    """
    import jax.numpy as jnp

    from jaxch6.mlp import MLPState

    path = model_path(out_dir, trial_id, repeat)
    if not path.exists():
        raise ConfigError(f"{path}: no saved model of trial {trial_id} (sweeps save the best "
                          "trials with save_best)")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            leaves = {p: z[STATE + p] for p in meta["paths"]}
            net = {k[len(NETWORK):]: jnp.asarray(z[k]) for k in z.files
                   if k.startswith(NETWORK)}
        activation, step = (meta["activation"], int(leaves["step"])) if net else (None, None)
    except (OSError, ValueError, KeyError, TypeError, EOFError, RecursionError,
            zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path}: not a saved model of jaxch6 ({type(exc).__name__})") from None
    run_state = _fill(like, leaves, path) if like is not None else nest(leaves)
    if not net:
        return SavedModel(run_state, meta)
    params = {k[7:]: v for k, v in net.items() if k.startswith("params/")}
    bn = MLPState(bn={k[3:]: v for k, v in net.items() if k.startswith("bn/")},
                  activation=activation)
    return SavedModel(run_state, meta, params, bn, step)


def load_state(out_dir, trial_id: int, task, repeat: int = 0):
    """A saved trial's run state as the task's exact pytree, ready to ``task.advance``.

    Args:
        out_dir: the sweep's run directory.
        trial_id: the trial.
        task: the :class:`jaxch6.sweep.Task` the sweep trained (its ``init`` gives the
            structure, traced abstractly with the trial's hyperparameters).
        repeat: which of its repeats.

    Returns:
        The run state (NumPy leaves in the task's structure).

    Raises:
        ConfigError: no such saved trial, or a structure that does not match.
    """
    import jax

    meta = load_model(out_dir, trial_id, repeat).meta
    hp = meta["hparams"]
    static = {k: v for k, v in hp.items() if k in meta.get("static", ())}
    traced = {k: v for k, v in hp.items() if k not in static}
    like = jax.eval_shape(lambda k, h: task.init(k, task.with_defaults({**h, **static})),
                          keys.shape_key(),
                          jax.tree.map(np.asarray, traced))
    return load_model(out_dir, trial_id, repeat, like=like).run_state


def _fill(like, leaves: dict[str, np.ndarray], path: Path):
    import jax

    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    names = [path_name(p) for p, _ in flat]
    if sorted(names) != sorted(leaves):
        missing = sorted(set(names) ^ set(leaves))
        raise ConfigError(f"{path}: the saved state's paths differ from the template's "
                          f"({', '.join(missing[:3])})")
    out = []
    for name, (_, ref) in zip(names, flat, strict=True):
        a = leaves[name]
        if tuple(a.shape) != tuple(np.shape(ref)):
            raise ConfigError(f"{path}: {name} has shape {a.shape}, the template "
                              f"{tuple(np.shape(ref))}")
        out.append(a)
    return jax.tree.unflatten(treedef, out)


def nest(leaves: Mapping[str, Any]) -> dict:
    """Nested dicts from ``/``-separated leaf names (``{"a/b": x}`` → ``{"a": {"b": x}}``):
    the tree a saved winner's or a ``--data`` file's named arrays stand for.

    Args:
        leaves: leaf name to value.

    Returns:
        The nested dicts.
    """
    out: dict = {}
    for name, a in leaves.items():
        node = out
        *head, last = name.split("/")
        for part in head:
            node = node.setdefault(part, {})
        node[last] = a
    return out
