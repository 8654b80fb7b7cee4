"""Tests of jaxch6.mlp: structure, forward/loss/accuracy and autodiff against the NumPy port of
the book's MultiLayerNetExtend with its hand-written backward (float64), errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxch6 import mlp
from jaxch6.errors import ConfigError
from jaxch6.reference.network_np import MultiLayerNetExtend

SIZES = (12, 9, 7, 5)
# jitted once per configuration: much faster than op-by-op dispatch of many small float64 ops
APPLY = jax.jit(mlp.apply, static_argnames=("train", "dropout_form"))
VALUE_AND_GRAD = jax.jit(jax.value_and_grad(mlp.loss, has_aux=True),
                         static_argnames=("train", "dropout_form"))


def _batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, SIZES[0])), rng.integers(0, SIZES[-1], n)


def _pair(activation="relu", use_batchnorm=True, weight_decay=0.0, seed=0):
    """A JAX network and the book's network holding the same float64 parameters."""
    params, state = mlp.init(SIZES, key=jax.random.key(seed), activation=activation,
                             use_batchnorm=use_batchnorm, dtype=jnp.float64)
    net = MultiLayerNetExtend(SIZES[0], list(SIZES[1:-1]), SIZES[-1], activation=activation,
                              weight_decay_lambda=weight_decay, use_batchnorm=use_batchnorm,
                              rng=np.random.default_rng(seed))
    net.set_params({k: np.asarray(v) for k, v in params.items()})
    return params, state, net


@pytest.mark.slow
def test_init_structure_names_and_state():
    params, state = mlp.init(SIZES, key=jax.random.key(0), use_batchnorm=True)
    assert list(params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2",
                            "W3", "b3"]
    assert params["W1"].shape == (12, 9) and params["W3"].shape == (7, 5)
    assert params["W1"].dtype == jnp.float32
    np.testing.assert_array_equal(params["gamma2"], 1.0)
    assert not np.any(params["b1"]) and not np.any(params["beta1"])
    assert sorted(state.bn) == ["mean1", "mean2", "var1", "var2"]
    assert not any(np.any(v) for v in state.bn.values())
    assert state.activation == "relu" and len(jax.tree.leaves(state)) == 4
    params, state = mlp.init(SIZES, key=jax.random.key(0))
    assert sorted(params) == ["W1", "W2", "W3", "b1", "b2", "b3"] and state.bn == {}
    assert mlp.n_hidden(params) == 2


@pytest.mark.slow
def test_init_std_and_traced_scale():
    p, _ = mlp.init((1000, 200, 10), key=jax.random.key(0), weight_init="xavier")
    assert float(p["W1"].std()) == pytest.approx(1 / np.sqrt(1000), rel=0.01)
    assert float(p["W2"].std()) == pytest.approx(1 / np.sqrt(200), rel=0.05)
    stds = jax.jit(jax.vmap(lambda s: mlp.init(
        (1000, 200, 10), key=jax.random.key(0), weight_init=0.01, init_scale=s)[0]["W1"].std()))(
        jnp.array([1.0, 3.0]))
    np.testing.assert_allclose(stds, [0.01, 0.03], rtol=0.01)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("use_batchnorm", [True, False])
@pytest.mark.slow
def test_forward_loss_and_gradient_match_the_books_network(x64, activation, use_batchnorm):
    params, state, net = _pair(activation, use_batchnorm, weight_decay=0.03)
    x, t = _batch()
    logits, new_state = APPLY(params, state, x, train=True)
    np.testing.assert_allclose(logits, net.predict(x, train_flg=True), rtol=1e-12, atol=1e-13)

    (value, st), grads = VALUE_AND_GRAD(params, state, x, t, train=True, weight_decay=0.03)
    ref = net.gradient(x, t)  # hand-written backward, train_flg=True (running stats updated)
    np.testing.assert_allclose(value, net.loss(x, t, train_flg=True), rtol=1e-13)
    assert sorted(grads) == sorted(ref)
    # The book's SoftmaxWithLoss backward is (y - t)/N: it ignores the 1e-7 inside the log,
    # a relative difference of about 1e-7 / y_t (y_t of a random network can be ~1e-3).
    for k in ref:
        scale = float(np.max(np.abs(ref[k])))
        np.testing.assert_allclose(grads[k], ref[k], rtol=0, atol=1e-4 * scale + 1e-15, err_msg=k)
    # a fresh book network after one gradient() pass: same running statistics as ours
    fresh = _pair(activation, use_batchnorm, weight_decay=0.03)[2]
    fresh.gradient(x, t)
    if use_batchnorm:
        for l in (1, 2):
            layer = fresh.layers[f"BatchNorm{l}"]
            np.testing.assert_allclose(st.bn[f"mean{l}"], layer.running_mean, rtol=1e-13)
            np.testing.assert_allclose(st.bn[f"var{l}"], layer.running_var, rtol=1e-13)
            np.testing.assert_allclose(new_state.bn[f"mean{l}"], st.bn[f"mean{l}"], rtol=1e-13)
    # eval-mode loss (the book's default train_flg=False) and accuracy, running statistics
    np.testing.assert_allclose(mlp.loss(params, st, x, t, weight_decay=0.03)[0],
                               fresh.loss(x, t), rtol=1e-12)
    np.testing.assert_allclose(mlp.accuracy(params, st, x, t), fresh.accuracy(x, t))


@pytest.mark.slow
def test_gradient_equals_hand_written_backward(x64):
    """jax.grad of mlp.loss is the book's backward, (y − t)/N through every layer, although the
    loss value keeps the book's 1e-7 inside the log (which the book's backward ignores)."""
    params, state, net = _pair("relu", True, weight_decay=0.1)
    x, t = _batch(8, 1)
    grads, _ = jax.jit(jax.grad(mlp.loss, has_aux=True), static_argnames="train")(
        params, state, x, t, train=True, weight_decay=0.1)
    ref = net.gradient(x, t)
    worst = max(float(np.max(np.abs(grads[k] - ref[k]))) for k in ref)
    assert worst < 1e-12


@pytest.mark.slow
def test_dropout_eval_matches_book_and_zero_ratio_is_identity(x64):
    params, state = mlp.init(SIZES, key=jax.random.key(1), dtype=jnp.float64)
    net = MultiLayerNetExtend(SIZES[0], list(SIZES[1:-1]), SIZES[-1], use_dropout=True,
                              dropout_ration=0.3, rng=np.random.default_rng(0))
    net.set_params({k: np.asarray(v) for k, v in params.items()})
    x, t = _batch()
    np.testing.assert_allclose(APPLY(params, state, x, train=False, dropout_ratio=0.3)[0],
                               net.predict(x), rtol=1e-13)
    plain = APPLY(params, state, x, train=True)[0]
    zero = APPLY(params, state, x, train=True, key=jax.random.key(0), dropout_ratio=0.0)[0]
    np.testing.assert_allclose(zero, plain, rtol=1e-15)
    a = APPLY(params, state, x, train=True, key=jax.random.key(0), dropout_ratio=0.5)[0]
    b = APPLY(params, state, x, train=True, key=jax.random.key(1), dropout_ratio=0.5)[0]
    assert not np.allclose(a, b)


@pytest.mark.slow
def test_weight_decay_on_weights_only_and_one_hot_labels(x64):
    params, state = mlp.init(SIZES, key=jax.random.key(2), use_batchnorm=True,
                             dtype=jnp.float64)
    params = jax.tree.map(lambda p: p + 0.5, params)  # nonzero b, beta
    g = jax.grad(mlp.weight_penalty)(params, 0.2)
    for k, v in g.items():
        np.testing.assert_allclose(v, 0.2 * params[k] if k.startswith("W") else 0, err_msg=k)
    total = sum(float(np.sum(np.asarray(params[k]) ** 2)) for k in ("W1", "W2", "W3"))
    np.testing.assert_allclose(mlp.weight_penalty(params, 0.2), 0.1 * total, rtol=1e-14)
    x, t = _batch()
    one_hot = jax.nn.one_hot(t, SIZES[-1])
    np.testing.assert_array_equal(mlp.loss(params, state, x, t)[0],
                                  mlp.loss(params, state, x, one_hot)[0])
    logits = jnp.log(jnp.array([[0.7, 0.2, 0.1]]))
    np.testing.assert_allclose(mlp.cross_entropy(logits, jnp.array([1])), -np.log(0.2 + 1e-7))


@pytest.mark.slow
def test_one_sample_batch_norm_is_degenerate(x64):
    """The book's single-sample check: batch norm outputs β exactly (variance 0), so no gradient
    reaches anything before it; β = 0 puts every ReLU input on the kink, where backprop (book and
    autodiff) gives 0 and the central difference 1/2 of the one-sided slope."""
    params, state = mlp.init(SIZES, key=jax.random.key(0), use_batchnorm=True,
                             dtype=jnp.float64)
    x, t = _batch(1)
    _, grads = VALUE_AND_GRAD(params, state, x, t, train=True)
    for k in grads:
        assert np.any(np.asarray(grads[k])) == (k == "b3"), k

    @jax.jit
    def f(beta2):
        return mlp.loss({**params, "beta2": beta2}, state, x, t, train=True)[0]

    h, e = 1e-4, jnp.eye(7)
    central = np.array([(f(h * e[j]) - f(-h * e[j])) / (2 * h) for j in range(7)])
    right = np.array([(f(h * e[j]) - f(0 * e[j])) / h for j in range(7)])
    assert np.abs(central).mean() > 1e-3
    np.testing.assert_allclose(central, right / 2, rtol=1e-3, atol=1e-12)


@pytest.mark.slow
def test_jit_and_vmap_over_params():
    keys = jax.random.split(jax.random.key(0), 3)
    params, state = jax.jit(jax.vmap(lambda k: mlp.init(SIZES, key=k, use_batchnorm=True)))(keys)
    x, t = _batch()
    x = jnp.asarray(x, jnp.float32)
    f = jax.jit(jax.vmap(lambda p, s: mlp.loss(p, s, x, t, train=True)))
    values, new_state = f(params, state)
    assert values.shape == (3,) and new_state.bn["mean1"].shape == (3, 9)
    single = mlp.loss(jax.tree.map(lambda a: a[1], params),
                      jax.tree.map(lambda a: a[1], state), x, t, train=True)[0]
    np.testing.assert_allclose(values[1], single, rtol=1e-6)


@pytest.mark.slow
def test_errors_are_one_line_config_errors():
    params, state = mlp.init(SIZES, key=jax.random.key(0))
    x, t = _batch()
    cases = [
        lambda: mlp.init((784,), key=jax.random.key(0)),
        lambda: mlp.init((784, 0, 10), key=jax.random.key(0)),
        lambda: mlp.init(SIZES, key=jax.random.key(0), activation="elu"),
        lambda: mlp.init(SIZES, key=jax.random.key(0), weight_init="kaiming"),
        lambda: mlp.apply(params, state, x[:, :5], train=False),
        lambda: mlp.apply(params, state, x[0], train=False),
        lambda: mlp.apply(params, state, x, train=True, dropout_ratio=0.5),
        lambda: mlp.apply(params, {}, x, train=False),
        lambda: mlp.loss(params, state, x, t[:3]),
    ]
    for call in cases:
        with pytest.raises(ConfigError) as info:
            call()
        assert "\n" not in str(info.value)


@pytest.mark.slow
def test_confidently_wrong_gradient_does_not_vanish():
    """The book's backward is (y − t)/N whatever y_t is; differentiating the 1e-7 inside the log
    would instead scale it by y_t/(y_t + 1e-7) ≈ 1e-6 here (the reviewer's repro)."""
    logits = jnp.array([[30.0, 0.0, 0.0]])
    g = jax.grad(mlp.cross_entropy)(logits, jnp.array([1]))
    y = jax.nn.softmax(logits)
    np.testing.assert_allclose(g, y - jnp.array([[0.0, 1.0, 0.0]]), atol=1e-7)
    assert float(g[0, 0]) > 0.99
    np.testing.assert_allclose(mlp.cross_entropy(logits, jnp.array([1])),
                               -np.log(np.exp(-30.0) + 1e-7), rtol=1e-6)
