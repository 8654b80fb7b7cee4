"""Tests of jaxch6.train: book semantics of a step, learning on real MNIST digits, vmap ≡ loop,
divergence flags and lane isolation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxch6 import mlp, optimizers
from jaxch6.errors import ConfigError, DataError
from jaxch6.train import Data, History, TrainConfig, default_hparams, make_train_fn, train

SMALL = TrainConfig(hidden_sizes=(50, 50), epochs=5)
TINY = TrainConfig(hidden_sizes=(20,), epochs=2)  # variants: a small graph compiles fast


@pytest.fixture(scope="module")
def data(mnist_test_set):
    x, t = mnist_test_set
    return Data(x[:1000], t[:1000], x[1000:1500], t[1000:1500])


@pytest.mark.slow
def test_learns_real_mnist_digits(data):
    h = train(jax.random.key(0), {"learning_rate": 0.1, "weight_decay": 0.0}, data, SMALL)
    assert isinstance(h, History)
    assert h.loss.shape == (50,) and h.train_acc.shape == (5,) and h.eval_acc.shape == (5,)
    assert not bool(h.diverged)
    assert float(h.eval_acc[-1]) > 0.6  # chance is 0.1
    assert float(h.train_acc[-1]) > float(h.train_acc[0]) + 0.3
    assert float(jnp.mean(h.loss[-10:])) < 0.5 * float(jnp.mean(h.loss[:5]))


@pytest.mark.slow
def test_first_step_matches_book_trainer_semantics(data):
    """loss[0] = eval-mode loss of batch 0 after one SGD step; accuracies after that step."""
    key, lr = jax.random.key(3), 0.05
    h = train(key, {"learning_rate": lr, "weight_decay": 1e-3}, data, SMALL)

    @jax.jit
    def first_step(key, d):
        k_init, k_batch, _ = jax.random.split(key, 3)
        params, state = mlp.init((784, 50, 50, 10), key=k_init, weight_init="he")
        idx = jax.random.randint(jax.random.fold_in(k_batch, 0), (100,), 0, 1000)
        xb, tb = d.x_train[idx], d.t_train[idx]
        grads, state = jax.grad(mlp.loss, has_aux=True)(params, state, xb, tb, train=True,
                                                        weight_decay=1e-3)
        params = jax.tree.map(lambda p, g: p - lr * g, params, grads)
        after, _ = mlp.loss(params, state, xb, tb, weight_decay=1e-3)
        return (after, mlp.accuracy(params, state, d.x_train, d.t_train),
                mlp.accuracy(params, state, d.x_eval, d.t_eval))

    after, train_acc, eval_acc = first_step(key, data)
    np.testing.assert_allclose(h.loss[0], after, rtol=1e-5)
    np.testing.assert_allclose(h.train_acc[0], train_acc, atol=1e-6)
    np.testing.assert_allclose(h.eval_acc[0], eval_acc, atol=1e-6)


@pytest.mark.slow
def test_record_loss_and_eval_position(data):
    key, hp = jax.random.key(1), {"learning_rate": 0.1}
    book = train(key, hp, data, TINY)
    before = train(key, hp, data, TINY._replace(record_loss="before_update"))
    none = train(key, hp, data, TINY._replace(record_loss="none", eval_position="end"))
    # before_update[i] is the training-mode loss at the parameters before step i: it lags.
    assert np.all(np.isfinite(before.loss)) and np.all(np.isnan(none.loss))
    assert not np.allclose(book.loss, before.loss)
    np.testing.assert_allclose(book.train_acc, before.train_acc)  # same trajectory
    assert not bool(none.diverged)
    # "end" evaluates after step 10·(e+1) − 1, "book" after step 10·e: a different epoch grid.
    assert not np.allclose(book.train_acc, none.train_acc)


@pytest.mark.slow
def test_vmap_over_learning_rates_equals_separate_runs(data, x64):
    config = TINY._replace(dtype="float64")
    data64 = Data(*(np.asarray(a, np.float64) if a.dtype.kind == "f" else a for a in data))
    lrs = jnp.array([0.01, 0.03, 0.1, 0.3])
    fn = jax.jit(jax.vmap(make_train_fn(config, 1000, 500), in_axes=(None, 0, None)))
    hv = fn(jax.random.key(7), {"learning_rate": lrs}, data64)
    assert hv.loss.shape == (4, 20) and hv.loss.dtype == jnp.float64
    for i, lr in enumerate(lrs):
        hs = train(jax.random.key(7), {"learning_rate": lr}, data64, config)
        np.testing.assert_allclose(hv.loss[i], hs.loss, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(hv.train_acc[i], hs.train_acc)
        np.testing.assert_array_equal(hv.eval_acc[i], hs.eval_acc)
    assert len(set(np.round(np.asarray(hv.loss[:, -1]), 6))) == 4


@pytest.mark.slow
def test_diverged_flag_and_lane_isolation(data):
    """lr=10 with weight decay 3 (W ← (1 − lr·λ)W − …: |1 − 30| > 1, W grows geometrically) ends in
    NaN; lr=0.01 does not; the NaN lane leaves the other lanes exactly as they are without it.
    (lr=10 without weight decay stays finite on this small network.)
    """
    fn = jax.jit(jax.vmap(make_train_fn(TINY, 1000, 500), in_axes=(None, 0, None)))
    hp = {"learning_rate": jnp.array([0.01, 10.0, 0.1, 10.0]),
          "weight_decay": jnp.array([0.0, 3.0, 0.0, 0.0])}
    h = fn(jax.random.key(0), hp, data)
    assert h.diverged.tolist() == [False, True, False, False]
    assert np.isnan(h.loss[1, -1]) and np.all(np.isfinite(h.loss[jnp.array([0, 2, 3])]))
    benign = {"learning_rate": hp["learning_rate"].at[1].set(0.01),
              "weight_decay": hp["weight_decay"].at[1].set(0.0)}
    hb = fn(jax.random.key(0), benign, data)
    assert not bool(hb.diverged.any())
    for i in (0, 2, 3):
        np.testing.assert_array_equal(hb.loss[i], h.loss[i])
        np.testing.assert_array_equal(hb.eval_acc[i], h.eval_acc[i])


@pytest.mark.slow
def test_vmap_over_keys_and_every_hparam_of_adam_with_bn_and_dropout(data):
    config = TINY._replace(epochs=1, optimizer="adam", use_batchnorm=True, use_dropout=True,
                            dropout_form="inverted", record_loss="before_update")
    hp = default_hparams(config)
    assert set(hp) == {"learning_rate", "beta1", "beta2", "eps", "weight_decay",
                       "dropout_ratio", "init_scale"}
    batched = {k: jnp.array([v, v * 0.5]) for k, v in hp.items()}
    batched["learning_rate"] = jnp.array([0.01, 0.001])
    batched["beta2"] = jnp.array([0.999, 0.99])
    keys = jax.random.split(jax.random.key(0), 2)
    fn = jax.jit(jax.vmap(make_train_fn(config, 1000, 500), in_axes=(0, 0, None)))
    h = fn(keys, batched, data)
    assert h.loss.shape == (2, 10) and not bool(h.diverged.any())
    assert np.all(np.isfinite(h.loss)) and float(jnp.abs(h.loss[0] - h.loss[1]).max()) > 1e-3
    assert float(jnp.mean(h.loss[0, -3:])) < float(jnp.mean(h.loss[0, :3]))


def test_default_hparams_follow_the_book():
    assert default_hparams(TrainConfig()) == {
        "learning_rate": 0.01, "weight_decay": 0.0, "init_scale": 1.0}
    hp = default_hparams(TrainConfig(optimizer="momentum", use_dropout=True))
    assert hp == {"learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.0,
                  "dropout_ratio": 0.5, "init_scale": 1.0}
    assert default_hparams(TrainConfig(optimizer="adadelta"))["learning_rate"] == 1.0
    assert set(optimizers.HYPERPARAMETERS["adam"]) <= set(default_hparams(
        TrainConfig(optimizer="adam")))


@pytest.mark.slow
def test_errors_are_one_line(data):
    key = jax.random.key(0)
    cases = [
        (ConfigError, lambda: make_train_fn(SMALL._replace(record_loss="x"), 10, 10)),
        (ConfigError, lambda: make_train_fn(SMALL._replace(optimizer="lbfgs"), 10, 10)),
        (ConfigError, lambda: make_train_fn(SMALL._replace(epochs=0), 10, 10)),
        (ConfigError, lambda: train(key, {"lr": 0.1}, data, SMALL)),
        (ConfigError, lambda: train(key, {"dropout_ratio": 1.5}, data,
                                    SMALL._replace(use_dropout=True))),
        (ConfigError, lambda: train(key, {"learning_rate": -1.0}, data, SMALL)),
        (DataError, lambda: make_train_fn(SMALL, 999, 500)(key, {}, data)),
    ]
    for exc, call in cases:
        with pytest.raises(exc) as info:
            call()
        assert "\n" not in str(info.value)


def test_iterations_per_epoch_is_floor_with_minimum_one(data):
    for n, epochs, steps in ((250, 2, 4), (30, 3, 3), (1000, 5, 50)):  # max(n // 100, 1)
        small = Data(data.x_train[:n], data.t_train[:n], data.x_eval[:50], data.t_eval[:50])
        fn = make_train_fn(TINY._replace(epochs=epochs), n, 50)
        h = jax.eval_shape(fn, jax.random.key(0), {"learning_rate": 0.1}, small)
        assert h.loss.shape == (steps,) and h.eval_acc.shape == (epochs,) and h.diverged.shape == ()
