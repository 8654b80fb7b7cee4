"""The sweep's keys (jaxch6.sweep.keys), computed in NumPy: the same bits as ``jax.random``'s
own functions (the definitions in the module's docstring)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxch6.sweep.keys import child_key, lane_keys, trial_keys, uniforms

SEEDS = (0, 7, 2**31 - 1, 2**32 - 1)
IDS = [0, 1, 5, 63, 1000, 2**31 + 3]


def _base(seed, i):
    return jax.random.fold_in(jax.random.key(seed), i)


def _sample(seed, i, j):
    key = jax.random.fold_in(jax.random.fold_in(_base(seed, i), 0), j)
    return np.float32(jax.jit(jax.random.uniform)(key))


def test_trial_keys_are_jax_fold_ins_of_the_seed():
    for seed in SEEDS:
        got = trial_keys(seed, IDS)
        assert got.shape == (len(IDS), 2) and got.dtype == np.uint32
        want = [np.asarray(jax.random.key_data(_base(seed, i))) for i in IDS]
        np.testing.assert_array_equal(got, want)
    assert trial_keys(0, []).shape == (0, 2)


@pytest.mark.slow
def test_uniforms_are_each_trials_sampling_draws():
    for seed in SEEDS:
        got = uniforms(seed, IDS, 3)
        assert got.shape == (len(IDS), 3) and got.dtype == np.float32
        want = [[_sample(seed, i, j) for j in range(3)] for i in IDS]
        np.testing.assert_array_equal(got, want)
        assert ((got >= 0) & (got < 1)).all()
    assert uniforms(0, [], 2).shape == (0, 2)


def test_uniforms_of_many_trials_equal_jax_random_uniform():
    """A vmapped JAX program over 500 trials x 4 parameters: every float equal."""
    ids = np.arange(500, dtype=np.uint32)

    def one(i):
        k = jax.random.fold_in(_base(123, i), 0)
        return jax.vmap(lambda j: jax.random.uniform(jax.random.fold_in(k, j)))(
            np.arange(4, dtype=np.uint32))

    np.testing.assert_array_equal(uniforms(123, ids, 4), np.asarray(jax.jit(jax.vmap(one))(ids)))


@pytest.mark.slow
def test_lane_keys_are_the_trials_training_keys_and_repeats_fold_once_more():
    for seed in SEEDS:
        got = lane_keys(seed, IDS, [0, 1, 2, 0, 3, 1])
        for row, (i, r) in enumerate(zip(IDS, [0, 1, 2, 0, 3, 1], strict=True)):
            k = jax.random.fold_in(_base(seed, i), 1)
            if r:
                k = jax.random.fold_in(k, r)
            np.testing.assert_array_equal(got[row], jax.random.key_data(k))
    assert lane_keys(0, []).shape == (0, 2)
    np.testing.assert_array_equal(lane_keys(7, [3, 4]), lane_keys(7, [3, 4], [0, 0]))


def test_child_key_folds_parent_epoch_child_and_repeat():
    for repeat in (0, 2):
        k = jax.random.fold_in(jax.random.key(9), 2)
        for v in (4, 10, 17, *([repeat] if repeat else [])):
            k = jax.random.fold_in(k, v)
        got = child_key(9, 4, 10, 17, repeat)
        assert got.shape == (2,) and got.dtype == np.uint32
        np.testing.assert_array_equal(got, jax.random.key_data(k))
