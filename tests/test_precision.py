"""Tests of jaxch6.precision and the ``precision=`` keyword of layers.affine and mlp."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxch6 import layers, mlp, precision
from jaxch6.errors import ConfigError

SIZES = (64, 32, 32, 10)


def _net(seed=0, n=50):
    params, state = mlp.init(SIZES, key=jax.random.key(seed))
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(n, SIZES[0])), jnp.float32)
    t = jnp.asarray(rng.integers(0, SIZES[-1], n), jnp.int32)
    return params, state, x, t


def _old_loss(params, x, t, weight_decay):
    """mlp.loss as written before the precision keyword: plain ``@`` products."""
    h = x
    for l in (1, 2):
        h = layers.relu(h @ params[f"W{l}"] + params[f"b{l}"])
    logits = h @ params["W3"] + params["b3"]
    return mlp.cross_entropy(logits, t) + mlp.weight_penalty(params, weight_decay)


def _loss_and_grads(prec):
    params, state, x, t = _net()
    fn = jax.jit(jax.value_and_grad(
        lambda p: mlp.loss(p, state, x, t, train=True, weight_decay=1e-3, precision=prec)[0]))
    return fn(params)


@pytest.mark.slow
def test_names_and_unknown_precision_is_a_one_line_config_error():
    assert precision.PRECISIONS == ("fp32", "tf32", "bf16")
    assert precision.lax_precision("fp32") == jax.lax.Precision.HIGHEST
    assert precision.lax_precision("tf32") == jax.lax.Precision.HIGH
    assert precision.lax_precision("bf16") is None
    params, state, x, t = _net()
    for call in (lambda: precision.matmul(x, params["W1"], "fp16"),
                 lambda: layers.affine({"W": params["W1"], "b": params["b1"]}, x, precision="x"),
                 lambda: mlp.apply(params, state, x, train=False, precision="float32"),
                 lambda: mlp.loss(params, state, x, t, precision="FP32"),
                 lambda: mlp.accuracy(params, state, x, t, precision="bf8")):
        with pytest.raises(ConfigError, match="unknown precision") as e:
            call()
        assert "\n" not in str(e.value)


@pytest.mark.slow
def test_fp32_is_bit_identical_to_the_plain_matmul_code():
    params, state, x, t = _net()
    w = params["W1"]
    np.testing.assert_array_equal(precision.matmul(x, w, "fp32"), x @ w)
    np.testing.assert_array_equal(jax.jit(precision.matmul, static_argnums=2)(x, w, "fp32"),
                                  jax.jit(jnp.matmul)(x, w))
    value, grads = _loss_and_grads("fp32")
    ref_value, ref_grads = jax.jit(jax.value_and_grad(
        lambda p: _old_loss(p, x, t, 1e-3)))(params)
    assert value == ref_value
    for k in ref_grads:
        np.testing.assert_array_equal(grads[k], ref_grads[k], err_msg=k)
    # the keyword's default is fp32
    logits, _ = mlp.apply(params, state, x, train=False)
    np.testing.assert_array_equal(
        logits, mlp.apply(params, state, x, train=False, precision="fp32")[0])
    assert mlp.accuracy(params, state, x, t) == mlp.accuracy(params, state, x, t,
                                                             precision="fp32")


@pytest.mark.slow
@pytest.mark.skipif(jax.default_backend() != "cpu", reason="tf32 differs from fp32 on GPUs")
def test_tf32_is_float32_on_the_cpu():
    v32, g32 = _loss_and_grads("fp32")
    vtf, gtf = _loss_and_grads("tf32")
    assert v32 == vtf
    for k in g32:
        np.testing.assert_array_equal(g32[k], gtf[k])


@pytest.mark.slow
def test_bf16_is_close_to_fp32_and_keeps_float32_values_and_gradients():
    params, state, x, t = _net()
    l32, _ = mlp.apply(params, state, x, train=False)
    l16, _ = mlp.apply(params, state, x, train=False, precision="bf16")
    assert l16.dtype == jnp.float32
    rel = float(jnp.linalg.norm(l16 - l32) / jnp.linalg.norm(l32))
    assert 1e-4 < rel < 3e-2  # bfloat16 rounding: visible, small
    v32, g32 = _loss_and_grads("fp32")
    v16, g16 = _loss_and_grads("bf16")
    assert v16.dtype == jnp.float32 and float(v16) == pytest.approx(float(v32), rel=2e-2)
    for k in g32:
        assert g16[k].dtype == jnp.float32, k
        rel = float(jnp.linalg.norm(g16[k] - g32[k]) / jnp.linalg.norm(g32[k]))
        assert rel < 5e-2, (k, rel)


def test_bf16_products_forward_and_backward_take_bfloat16_operands():
    params, state, x, t = _net()
    jaxpr = jax.make_jaxpr(jax.grad(
        lambda p: mlp.loss(p, state, x, t, train=True, precision="bf16")[0]))(params)
    dots = [e for e in _eqns(jaxpr.jaxpr) if e.primitive.name == "dot_general"]
    # 3 forward products, 3 weight gradients, 2 input gradients (x itself needs none)
    assert len(dots) >= 8
    for e in dots:
        assert [v.aval.dtype for v in e.invars] == [jnp.bfloat16] * 2
        assert e.outvars[0].aval.dtype == jnp.float32


def _eqns(jaxpr):
    for e in jaxpr.eqns:
        yield e
        for sub in _sub_jaxprs(e.params):
            yield from _eqns(sub)


def _sub_jaxprs(params):
    for v in params.values():
        for item in v if isinstance(v, tuple | list) else (v,):
            inner = getattr(item, "jaxpr", item)
            if hasattr(inner, "eqns"):
                yield inner


@pytest.mark.slow
def test_matmul_batched_inputs_and_float64(x64):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(3, 5, 8)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(8, 4)), jnp.float32)
    out = precision.matmul(x, w, "bf16")
    assert out.shape == (3, 5, 4) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, x @ w, rtol=5e-2, atol=5e-2)
    gx, gw = jax.grad(lambda a, b: precision.matmul(a, b, "bf16").sum(), (0, 1))(x, w)
    np.testing.assert_allclose(gw, jnp.einsum("bnk,bnm->km", x, jnp.ones((3, 5, 4))),
                               rtol=2e-2, atol=5e-2)
    assert gx.shape == x.shape and gw.dtype == jnp.float32
    x64_, w64 = x.astype(jnp.float64), w.astype(jnp.float64)
    assert precision.matmul(x64_, w64, "bf16").dtype == jnp.float64
    assert jax.grad(lambda b: precision.matmul(x64_, b, "bf16").sum())(w64).dtype == jnp.float64
    np.testing.assert_array_equal(precision.matmul(x64_, w64, "fp32"), x64_ @ w64)
    with pytest.raises(ConfigError, match="w \\(n, m\\)"):
        precision.matmul(x, x, "bf16")


@pytest.mark.slow
@pytest.mark.parametrize("prec", precision.PRECISIONS)
def test_jit_and_vmap_over_networks(prec):
    params, state, x, t = _net()
    stacked = jax.vmap(lambda k: mlp.init(SIZES, key=k)[0])(jax.random.split(jax.random.key(3), 4))

    def one(p):
        (value, _), g = jax.value_and_grad(mlp.loss, has_aux=True)(
            p, state, x, t, train=True, weight_decay=jnp.float32(1e-4), precision=prec)
        return value, g, mlp.accuracy(p, state, x, t, precision=prec)

    values, grads, accs = jax.jit(jax.vmap(one))(stacked)
    assert values.shape == (4,) and accs.shape == (4,)
    assert grads["W1"].shape == (4, *params["W1"].shape) and grads["W1"].dtype == jnp.float32
    p0 = jax.tree.map(lambda a: a[0], stacked)
    v0, g0, _ = jax.jit(one)(p0)
    np.testing.assert_allclose(values[0], v0, rtol=1e-5)
    np.testing.assert_allclose(grads["W2"][0], g0["W2"], rtol=1e-4, atol=1e-6)
