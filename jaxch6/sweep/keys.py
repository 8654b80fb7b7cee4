"""Every key a sweep folds: a trial's base key, its sampling uniforms, its lanes' training keys
and a population-based-training child's key (see :mod:`jaxch6.sweep.space` for how the uniforms
become values).

Trial ``i`` of a sweep with seed ``s``: ``fold_in(key(s), i)`` is its base key; its
hyperparameters are drawn from ``fold_in(base, 0)`` and it trains with ``fold_in(base, 1)``
(a repeat ``r >= 1`` folds ``r`` in once more); a PBT child continues with keys folded from
``fold_in(key(s), 2)``. So a trial's values and training never depend on how trials are
batched, chunked or placed on devices.

The keys are computed in NumPy with the Threefry-2x32 hash of JAX's default PRNG
(``threefry2x32``, partitionable): ``key(s)`` is ``(s >> 32, s & 0xFFFFFFFF)``, ``fold_in(k, d)``
is ``threefry2x32(k, (0, d))`` and a float32 ``uniform(k)`` takes the 23 high bits of the XOR
of ``threefry2x32(k, (0, 0))``'s two words as the mantissa of a float in [1, 2), less 1: the
same bits as ``jax.random`` (``tests/test_keys.py`` checks them against JAX), without tracing
and compiling a program for a few hundred hashes. The keys are Threefry keys whatever JAX's
default PRNG (``jax_default_prng_impl``): :func:`wrap` (and :data:`IMPL`) make them typed keys
of that implementation, so a sweep's values and training keys do not change with the setting.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxch6.names import KEY_IMPL as IMPL

__all__ = ["IMPL", "child_key", "lane_keys", "shape_key", "trial_keys", "uniforms", "wrap"]


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _threefry2x32(key: np.ndarray, x0, x1) -> np.ndarray:
    """Threefry-2x32 (20 rounds) of the counters ``(x0, x1)`` under ``key`` (``(..., 2)``
    uint32), broadcast; returns ``(..., 2)`` uint32."""
    k0, k1 = key[..., 0], key[..., 1]
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x = [np.asarray(x0, np.uint32) + ks[0], np.asarray(x1, np.uint32) + ks[1]]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x[0] = x[0] + x[1]
            x[1] = (x[1] << np.uint32(r)) | (x[1] >> np.uint32(32 - r))
            x[1] = x[0] ^ x[1]
        x[0] = x[0] + ks[(i + 1) % 3]
        x[1] = x[1] + ks[(i + 2) % 3] + np.uint32(i + 1)
    return np.stack(np.broadcast_arrays(*x), axis=-1)


def _seed_key(seed: int) -> np.ndarray:
    """``jax.random.key(seed)``'s data for ``0 <= seed < 2**32``."""
    return np.array([[int(seed) >> 32, int(seed) & 0xFFFFFFFF]], np.uint32)


def _fold_in(key: np.ndarray, data) -> np.ndarray:
    """``jax.random.fold_in`` of each ``data`` (uint32) into ``key`` (broadcast)."""
    return _threefry2x32(key, np.uint32(0), np.asarray(data, np.uint32))


def _uniform(key: np.ndarray) -> np.ndarray:
    """``jax.random.uniform(key)`` (float32 in [0, 1)) of each key."""
    bits = _threefry2x32(key, np.uint32(0), np.uint32(0))
    bits = bits[..., 0] ^ bits[..., 1]
    one = np.array(1.0, np.float32).view(np.uint32)
    return ((bits >> np.uint32(9)) | one).view(np.float32) - np.float32(1.0)


def trial_keys(seed: int, trial_ids: Sequence[int]):
    """Each trial's base key, ``fold_in(key(seed), i)``.

    Returns:
        Raw key data of shape ``(n, 2)`` uint32.
    """
    ids = np.asarray(trial_ids, dtype=np.uint32).reshape(-1)
    return _fold_in(_seed_key(seed), ids)


def uniforms(seed: int, trial_ids: Sequence[int], n_params: int) -> np.ndarray:
    """(n_trials, n_params) float32 uniforms in [0, 1) from each trial's sampling key."""
    base = trial_keys(seed, trial_ids)
    if len(base) == 0:
        return np.zeros((0, n_params), np.float32)
    sample_keys = _fold_in(base, np.uint32(0))[:, None, :]
    return _uniform(_fold_in(sample_keys, np.arange(n_params, dtype=np.uint32)[None, :]))


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
    base = trial_keys(seed, trial_ids)
    if len(base) == 0:
        return np.zeros((0, 2), np.uint32)
    reps = np.zeros(len(base), np.uint32) if repeats is None else np.asarray(repeats, np.uint32)
    keys = _fold_in(base, np.uint32(1))
    return np.where((reps > 0)[:, None], _fold_in(keys, reps), keys)


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
    k = _fold_in(_seed_key(seed), np.uint32(2))
    for v in (parent, epoch, child, *([repeat] if repeat else [])):
        k = _fold_in(k, np.uint32(int(v)))
    return k[0]


def wrap(key_data):
    """A typed JAX key (:data:`IMPL`) from raw key data ``(..., 2)`` uint32 (a NumPy or traced
    array), whatever JAX's default PRNG implementation."""
    import jax

    return jax.random.wrap_key_data(key_data, impl=IMPL)


def shape_key():
    """An abstract typed key of :data:`IMPL` (a ``jax.ShapeDtypeStruct``), to trace a task's
    ``init`` with ``jax.eval_shape``."""
    import jax

    return jax.eval_shape(lambda: jax.random.key(0, impl=IMPL))
