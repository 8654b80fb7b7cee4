"""Tests of jaxch6.gradcheck and `jaxch6 gradcheck`: the central difference against exact
gradients, autodiff of the batch-norm network against it, the command's output and status."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxch6 import gradcheck
from jaxch6.cli import main
from jaxch6.errors import ConfigError


def _cubic(p):
    return jnp.sum(p["a"] ** 3) + jnp.sum(jnp.sin(p["b"]["c"]))


def test_numerical_gradient_is_the_central_difference(x64):
    p = {"a": jnp.array([[1.0, -2.0], [0.5, 3.0]]), "b": {"c": jnp.array([0.1, 1.2, -0.7])}}
    g = gradcheck.numerical_gradient(_cubic, p)
    # central difference of x³: 3x² + h², exactly up to rounding
    np.testing.assert_allclose(g["a"], 3 * p["a"] ** 2 + 1e-8, rtol=1e-9)
    np.testing.assert_allclose(g["b"]["c"], np.cos(p["b"]["c"]), rtol=1e-8)
    diffs = gradcheck.check(_cubic, p)
    assert set(diffs) == {"['a']", "['b']['c']"}
    assert diffs["['a']"] == pytest.approx(1e-8, rel=1e-2)  # the h² term (+ rounding)


@pytest.mark.slow
def test_autodiff_matches_numerical_on_a_batch_norm_network(x64):
    """Small network, so the test stays fast; the book's 784-100-100-10 runs in the command.

    By default the numerical side differentiates the loss backprop differentiates (no 1e-7
    inside the log): agreement to 1e-7. With the book's loss value (``ce_eps=1e-7``, which the
    book's backward and ours ignore) the book's own extra difference shows.
    """
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(8, 20)), rng.integers(0, 10, 8)
    diffs = gradcheck.book_network_check(x, t, key=jax.random.key(0), sizes=(20, 16, 16, 10))
    assert list(diffs) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2",
                           "W3", "b3"]
    assert max(diffs.values()) < 1e-7
    book = gradcheck.book_network_check(x, t, key=jax.random.key(0), sizes=(20, 16, 16, 10),
                                        ce_eps=1e-7)
    assert max(book.values()) > 1e-8 + max(diffs.values())  # the ignored 1e-7 shows
    assert min(diffs.values()) >= 0
    # and a wrong gradient is caught: the check can fail
    bad = gradcheck.check(_Bad(), {"w": jnp.array([1.0, 2.0])})
    assert bad["w"] > 0.1


class _Bad:
    """f(w) = Σ w² with a custom (wrong) derivative w."""

    def __call__(self, p):
        return _half_grad(p["w"])


@jax.custom_jvp
def _half_grad(w):
    return jnp.sum(w**2)


@_half_grad.defjvp
def _half_grad_jvp(primals, tangents):
    (w,), (dw,) = primals, tangents
    return jnp.sum(w**2), jnp.sum(w * dw)


@pytest.mark.slow
def test_real_digits_and_errors(mnist_test_set):
    x, t = mnist_test_set
    diffs = gradcheck.book_network_check(x[:10], t[:10], key=jax.random.key(1),
                                         sizes=(784, 8, 10))
    assert max(diffs.values()) < gradcheck.TOLERANCE
    assert not jax.config.jax_enable_x64  # float64 only for the duration of the check
    with pytest.raises(ConfigError):
        gradcheck.book_network_check(x[:1], t[:1], key=jax.random.key(0), sizes=(784, 8, 10))
    with pytest.raises(ConfigError):
        gradcheck.book_network_check(x[:3, :100], t[:3], key=jax.random.key(0))


@pytest.mark.slow
def test_one_sample_without_batch_norm_is_fine(x64):
    x = np.random.default_rng(1).normal(size=(1, 6))
    diffs = gradcheck.book_network_check(x, np.array([2]), key=jax.random.key(0),
                                         sizes=(6, 5, 3), use_batchnorm=False)
    assert max(diffs.values()) < 1e-9


@pytest.mark.slow
def test_command_prints_a_table_and_exits_0(capsys):
    rc = main(["gradcheck", "--hidden", "6", "--samples", "10"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "784-6-10" in out and "OK: all below 1e-06" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in
            (["W1"], ["b1"], ["gamma1"], ["beta1"], ["W2"], ["b2"])]
    assert [r[0] for r in rows] == ["W1", "b1", "gamma1", "beta1", "W2", "b2"]
    assert all(float(r[1]) < 1e-6 for r in rows)


def test_command_rejects_one_sample_with_batch_norm(capsys):
    assert main(["gradcheck", "--samples", "1", "--hidden", "4"]) == 2
    assert "batch norm needs a batch of >= 2" in capsys.readouterr().err
