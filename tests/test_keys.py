"""The sweep's keys (jaxch6.sweep.keys): compiled fast, the same bits as JAX's default
compilation and as the definitions in the module's docstring."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxch6.sweep.keys import lane_keys, trial_keys, uniforms

SEEDS = (0, 7, 2**31 - 1, 2**32 - 1)
IDS = [0, 1, 5, 63, 1000, 2**31 + 3]


def _sample(seed, i, j):
    key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), i), 0),
                             j)
    return np.float32(jax.jit(jax.random.uniform)(key))


@pytest.mark.slow
def test_uniforms_are_each_trials_sampling_draws():
    for seed in SEEDS:
        got = uniforms(seed, IDS, 3)
        assert got.shape == (len(IDS), 3) and got.dtype == np.float32
        want = [[_sample(seed, i, j) for j in range(3)] for i in IDS[:3]]
        np.testing.assert_array_equal(got[:3], want)
        assert ((got >= 0) & (got < 1)).all()
    assert uniforms(0, [], 2).shape == (0, 2)


@pytest.mark.slow
def test_lane_keys_are_the_trials_training_keys_and_repeats_fold_once_more():
    for seed in SEEDS:
        got = lane_keys(seed, IDS, [0, 1, 2, 0, 3, 1])
        base = trial_keys(seed, IDS)
        for row, (i, r) in enumerate(zip(IDS, [0, 1, 2, 0, 3, 1], strict=True)):
            k = jax.random.fold_in(jax.random.wrap_key_data(base[row]), 1)
            if r:
                k = jax.random.fold_in(k, r)
            np.testing.assert_array_equal(got[row], jax.random.key_data(k))
            assert i == IDS[row]
    assert lane_keys(0, []).shape == (0, 2)
