"""Tests of jaxch6.initializers: standard deviations, bounds, exact equality with JAX's
variance_scaling where the configuration is the same, traced scales, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxch6 import initializers as ini
from jaxch6.errors import ConfigError

KEY = jax.random.key(42)
VS = jax.nn.initializers.variance_scaling


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(784, 100), (50, 10)])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (ini.he_normal, VS(2.0, "fan_in", "normal")),
        (ini.xavier_normal, VS(1.0, "fan_in", "normal")),
        (ini.glorot_normal, VS(1.0, "fan_avg", "normal")),
        (ini.glorot_uniform, jax.nn.initializers.glorot_uniform()),
        (ini.he_uniform, jax.nn.initializers.he_uniform()),
    ],
)
def test_bit_equal_to_jax_variance_scaling(ours, theirs, shape, dtype):
    a, b = ours()(KEY, shape, dtype), theirs(KEY, shape, dtype)
    assert a.dtype == b.dtype == dtype
    np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))


def test_jax_he_normal_is_truncated_ours_is_not():
    ours = ini.he_normal()(KEY, (784, 100))
    theirs = jax.nn.initializers.he_normal()(KEY, (784, 100))
    assert not np.allclose(ours, theirs)
    bound = 2 * np.sqrt(2 / 784) / 0.87962566103423978
    assert float(jnp.abs(theirs).max()) <= bound + 1e-6 < float(jnp.abs(ours).max())


@pytest.mark.parametrize(
    ("spec", "std"),
    [
        ("he", np.sqrt(2 / 1000)),
        ("relu", np.sqrt(2 / 1000)),
        ("xavier", np.sqrt(1 / 1000)),
        ("Sigmoid", np.sqrt(1 / 1000)),
        ("glorot_normal", np.sqrt(2 / 1500)),
        (0.01, 0.01),
        (1, 1.0),
    ],
)
def test_normal_standard_deviations(spec, std):
    w = np.asarray(ini.get(spec)(KEY, (1000, 500)))
    assert abs(w.mean()) < 0.01 * std * 10
    assert w.std() == pytest.approx(std, rel=0.01)  # 500k draws: relative error ~0.1 %


@pytest.mark.parametrize(("spec", "bound"), [("glorot_uniform", np.sqrt(6 / 1500)),
                                             ("he_uniform", np.sqrt(6 / 1000))])
def test_uniform_bounds(spec, bound):
    w = np.asarray(ini.get(spec)(KEY, (1000, 500)))
    assert w.max() <= bound and w.min() >= -bound
    assert w.max() > 0.999 * bound and w.min() < -0.999 * bound
    assert w.std() == pytest.approx(bound / np.sqrt(3), rel=0.01)


@pytest.mark.slow
def test_zeros_and_scale():
    assert not np.any(np.asarray(ini.get("zeros")(KEY, (3, 4))))
    base = ini.get("he")(KEY, (20, 30))
    np.testing.assert_allclose(ini.get("he", scale=0.5)(KEY, (20, 30)), 0.5 * base, rtol=1e-6)
    np.testing.assert_allclose(ini.normal(0.1, scale=3.0)(KEY, (5, 5)),
                               3 * ini.normal(0.1)(KEY, (5, 5)), rtol=1e-6)


@pytest.mark.slow
def test_traced_std_and_scale_under_jit_and_vmap():
    def draw(std, scale):
        return ini.get(std, scale)(KEY, (200, 100)).std()

    stds = jax.jit(jax.vmap(draw))(jnp.array([0.01, 0.1]), jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(stds, [0.01, 0.2], rtol=0.02)
    he = jax.jit(lambda s: ini.get("he", s)(KEY, (200, 100)))(jnp.float32(2.0))
    np.testing.assert_allclose(he, 2 * ini.get("he")(KEY, (200, 100)), rtol=1e-6)


def test_keyword_key_and_errors():
    np.testing.assert_array_equal(ini.he_normal()(key=KEY, shape=(3, 2)),
                                  ini.he_normal()(KEY, (3, 2)))
    for bad in ("lecun", True, -0.1, None, "he "):
        with pytest.raises(ConfigError) as info:
            ini.get(bad)
        assert "\n" not in str(info.value)
    with pytest.raises(ConfigError):
        ini.he_normal()(KEY, (10,))
