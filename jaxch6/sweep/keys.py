"""Every key a sweep folds: a trial's base key, its sampling uniforms, its lanes' training keys
and a population-based-training child's key (see :mod:`jaxch6.sweep.space` for how the uniforms
become values).

Trial ``i`` of a sweep with seed ``s``: ``fold_in(key(s), i)`` is its base key; its
hyperparameters are drawn from ``fold_in(base, 0)`` and it trains with ``fold_in(base, 1)``
(a repeat ``r >= 1`` folds ``r`` in once more); a PBT child continues with keys folded from
``fold_in(key(s), 2)``. So a trial's values and training never depend on how trials are
batched, chunked or placed on devices.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["child_key", "lane_keys", "trial_keys", "uniforms"]


def trial_keys(seed: int, trial_ids: Sequence[int]):
    """Each trial's base key, ``fold_in(key(seed), i)``.

    Returns:
        Raw key data of shape ``(n, 2)`` uint32.
    """
    import jax

    ids = np.asarray(trial_ids, dtype=np.uint32)
    base = jax.random.key(int(seed))
    keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(ids)
    return np.asarray(jax.random.key_data(keys))


def _run(fn, *args) -> np.ndarray:
    """``jax.jit(fn)(*args)`` as a NumPy array, on the CPU compiled without LLVM's optimisations.

    A key program is ``threefry``'s integer arithmetic and the exact conversion of 23 random
    bits to a float in [0, 1): the same bits at any optimisation level, compiled several times
    faster (tested against the default compilation).
    """
    import jax

    options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
    return np.asarray(jax.jit(fn).lower(*args).compile(options)(*args))


def uniforms(seed: int, trial_ids: Sequence[int], n_params: int) -> np.ndarray:
    """(n_trials, n_params) float32 uniforms in [0, 1) from each trial's sampling key."""
    import jax

    ids = np.asarray(trial_ids, dtype=np.uint32)
    if len(ids) == 0:
        return np.zeros((0, n_params), np.float32)

    def one(i):
        sample_key = jax.random.fold_in(jax.random.fold_in(jax.random.key(int(seed)), i), 0)
        return jax.vmap(lambda j: jax.random.uniform(jax.random.fold_in(sample_key, j)))(
            np.arange(n_params, dtype=np.uint32)
        )

    return _run(jax.vmap(one), ids)


def lane_keys(seed: int, trial_ids: Sequence[int], repeats: Sequence[int] | None = None):
    """The training keys of lanes.

    Trial ``i``'s key is ``fold_in(fold_in(key(seed), i), 1)``; its repeat ``r >= 1`` folds
    ``r`` in once more (repeat 0 is the trial's own key, so one repeat is the plain sweep).

    Args:
        seed: the sweep's seed.
        trial_ids: each lane's trial.
        repeats: each lane's repeat (default: all 0).

    Returns:
        Raw key data ``(n, 2)`` uint32.
    """
    import jax

    ids = np.asarray(trial_ids, dtype=np.uint32)
    reps = np.zeros(len(ids), np.uint32) if repeats is None else np.asarray(repeats, np.uint32)
    if len(ids) == 0:
        return np.zeros((0, 2), np.uint32)

    def one(i, r):
        k = jax.random.fold_in(jax.random.fold_in(jax.random.key(int(seed)), i), 1)
        k = jax.lax.cond(r > 0, lambda: jax.random.fold_in(k, r), lambda: k)
        return jax.random.key_data(k)

    return _run(jax.vmap(one), ids, reps)


def child_key(seed: int, parent: int, epoch: int, child: int, repeat: int = 0) -> np.ndarray:
    """The training key a population-based-training child continues with.

    When the child copies ``parent``'s run state at ``epoch``, its key is ``fold_in`` of the
    parent's id, the epoch and the child's id into ``fold_in(key(seed), 2)`` (and the repeat,
    for ``repeat >= 1``), so a PBT run is reproducible.

    Args:
        seed: the sweep's seed.
        parent: the trial whose state is copied.
        epoch: the epoch of the copy.
        child: the trial that continues.
        repeat: the lane's repeat.

    Returns:
        Raw key data ``(2,)`` uint32.
    """
    import jax

    k = jax.random.fold_in(jax.random.key(int(seed)), 2)
    for v in (parent, epoch, child, *([repeat] if repeat else [])):
        k = jax.random.fold_in(k, int(v))
    return np.asarray(jax.random.key_data(k))
