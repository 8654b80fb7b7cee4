"""Tests of jaxch6.layers against formulas and the NumPy port of the book's layers (float64)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxch6 import layers
from jaxch6.errors import ConfigError
from jaxch6.reference import network_np as book


def _rand(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def test_affine_and_activations(x64):
    x, W, b = _rand((4, 3)), _rand((3, 5), 1), _rand((5,), 2)
    np.testing.assert_allclose(layers.affine({"W": W, "b": b}, x), x @ W + b, rtol=1e-15)
    z = jnp.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(layers.relu(z), [0.0, 0.0, 3.0])
    np.testing.assert_allclose(layers.sigmoid(z), 1 / (1 + np.exp(-np.asarray(z))), rtol=1e-15)
    np.testing.assert_allclose(layers.tanh(z), np.tanh(z), rtol=1e-15)
    # gradient at the kink is 0, like the book's Relu (mask x <= 0), not 0.5
    np.testing.assert_array_equal(jax.grad(lambda v: layers.relu(v).sum())(z), [0.0, 0.0, 1.0])


@pytest.mark.slow
def test_batch_norm_train_matches_book_forward_backward_and_running_stats(x64):
    x, dout = _rand((6, 4)) * 3 + 1, _rand((6, 4), 1)
    gamma, beta = _rand((4,), 2), _rand((4,), 3)
    params, stats = layers.batch_norm_init(4)
    assert not np.any(stats["mean"]) and not np.any(stats["var"])  # book: zeros, var too
    np.testing.assert_array_equal(params["gamma"], 1.0)
    params = {"gamma": jnp.asarray(gamma), "beta": jnp.asarray(beta)}

    ref = book.BatchNormalization(gamma.copy(), beta.copy())
    y_ref = ref.forward(x, train_flg=True)
    dx_ref = ref.backward(dout.copy())

    def f(p, x):
        y, s = layers.batch_norm(p, stats, x, train=True)
        return jnp.sum(y * dout), (y, s)

    (_, (y, s)), (gp, gx) = jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(params, x)
    np.testing.assert_allclose(y, y_ref, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(gx, dx_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gp["gamma"], ref.dgamma, rtol=1e-12)
    np.testing.assert_allclose(gp["beta"], ref.dbeta, rtol=1e-12)
    # batch statistics: mean 0, biased variance var / (var + 1e-6) before gamma/beta
    xn = (y - beta) / gamma
    np.testing.assert_allclose(xn.mean(0), 0, atol=1e-13)
    v = x.var(0)
    np.testing.assert_allclose(xn.var(0), v / (v + 1e-6), rtol=1e-12)
    # running averages: momentum 0.9 from zeros
    np.testing.assert_allclose(s["mean"], 0.1 * x.mean(0), rtol=1e-14)
    np.testing.assert_allclose(s["var"], 0.1 * v, rtol=1e-13)
    np.testing.assert_allclose(s["mean"], ref.running_mean, rtol=1e-14)
    _, s2 = layers.batch_norm(params, s, 2 * x, train=True)
    np.testing.assert_allclose(s2["mean"], 0.9 * 0.1 * x.mean(0) + 0.1 * 2 * x.mean(0),
                               rtol=1e-13)
    np.testing.assert_allclose(s2["var"], 0.9 * 0.1 * v + 0.1 * 4 * v, rtol=1e-13)


def test_batch_norm_eval_uses_running_stats_and_keeps_them(x64):
    stats = {"mean": jnp.array([1.0, -2.0]), "var": jnp.array([4.0, 0.25])}
    params = {"gamma": jnp.array([2.0, 1.0]), "beta": jnp.array([0.5, 0.0])}
    x = _rand((3, 2))
    y, s = layers.batch_norm(params, stats, x, train=False)
    expect = params["gamma"] * (x - stats["mean"]) / np.sqrt(stats["var"] + 1e-6) + params["beta"]
    np.testing.assert_allclose(y, expect, rtol=1e-14)
    assert s is stats
    ref = book.BatchNormalization(np.array([2.0, 1.0]), np.array([0.5, 0.0]),
                                  running_mean=np.array([1.0, -2.0]),
                                  running_var=np.array([4.0, 0.25]))
    np.testing.assert_allclose(y, ref.forward(x, train_flg=False), rtol=1e-14)


def test_batch_norm_statistics_carry_no_gradient():
    params, stats = layers.batch_norm_init(3)
    x = jnp.asarray(_rand((5, 3)), jnp.float32)
    g = jax.grad(lambda x: layers.batch_norm(params, stats, x, train=True)[1]["var"].sum())(x)
    assert not np.any(np.asarray(g))


@pytest.mark.slow
def test_dropout_book_and_inverted_forms(x64):
    x = jnp.asarray(np.abs(_rand((200, 50))) + 0.1)
    key = jax.random.key(5)
    yb = layers.dropout(x, ratio=0.3, train=True, key=key)
    yi = layers.dropout(x, ratio=0.3, train=True, key=key, form="inverted")
    kept = np.asarray(yb) != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.02)  # 10,000 draws: sd 0.005
    np.testing.assert_array_equal(np.asarray(yb)[kept], np.asarray(x)[kept])
    np.testing.assert_allclose(yi, yb / 0.7, rtol=1e-15)  # same key, same mask
    np.testing.assert_allclose(layers.dropout(x, ratio=0.3, train=False), 0.7 * x, rtol=1e-15)
    np.testing.assert_array_equal(
        layers.dropout(x, ratio=0.3, train=False, form="inverted"), x)
    # mask: u > ratio with u ~ U[0, 1) from the key
    u = jax.random.uniform(key, x.shape, x.dtype)
    np.testing.assert_array_equal(kept, np.asarray(u > 0.3))
    # backward = the book's dout * mask
    dout = _rand(x.shape, 1)
    g = jax.grad(lambda x: jnp.sum(layers.dropout(x, ratio=0.3, train=True, key=key) * dout))(x)
    ref = book.Dropout(0.3, rng=np.random.default_rng(0))
    ref.mask = kept
    np.testing.assert_array_equal(g, ref.backward(dout))


@pytest.mark.slow
def test_dropout_traced_ratio_and_errors():
    x = jnp.ones((1000, 10))
    fracs = jax.jit(jax.vmap(lambda r: jnp.mean(
        layers.dropout(x, ratio=r, train=True, key=jax.random.key(0)) == 0)))(
        jnp.array([0.1, 0.5, 0.9]))
    np.testing.assert_allclose(fracs, [0.1, 0.5, 0.9], atol=0.01)
    with pytest.raises(ConfigError):
        layers.dropout(x, ratio=0.5, train=True)
    with pytest.raises(ConfigError):
        layers.dropout(x, ratio=0.5, train=False, form="alpha")
