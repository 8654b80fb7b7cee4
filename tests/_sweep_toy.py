"""A tiny stand-in for ``jaxch6.train.make_run`` (same contract) for fast sweep tests.

A linear model with squared error on one-hot targets (diverges for large learning rates),
trained by SGD (or, with ``optimizer="momentum"``, momentum SGD whose velocity is part of the
run state) on batches of ``batch_size`` drawn with replacement from its step count; compiles in
well under a second, so the engine's chunking, sharding, compaction and divergence handling and the
schedulers can be tested cheaply.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class ToyHistory(NamedTuple):
    loss: jax.Array
    train_acc: jax.Array
    eval_acc: jax.Array
    diverged: jax.Array


class ToyData(NamedTuple):
    x_train: np.ndarray
    t_train: np.ndarray
    x_eval: np.ndarray
    t_eval: np.ndarray


class ToyState(NamedTuple):
    params: dict
    step: jax.Array
    key: jax.Array
    finite: jax.Array


class ToyRun(NamedTuple):
    init: object
    advance: object
    network: object
    n_steps_per_epoch: int


def toy_data(n_train=40, n_eval=20, features=6, seed=0) -> ToyData:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(features, 10))
    x = rng.normal(size=(n_train + n_eval, features)).astype(np.float32)
    t = np.argmax(x @ w + 0.5 * rng.normal(size=(n_train + n_eval, 10)), axis=1).astype(np.int32)
    return ToyData(x[:n_train], t[:n_train], x[n_train:], t[n_train:])


def toy_make_run(config, n_train, n_eval, *, n_features, n_classes=10, **_):
    bs = config.batch_size
    ipe = max(n_train // bs, 1)
    momentum = getattr(config, "optimizer", "sgd") == "momentum"

    def init(key, hparams):
        kd = jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) \
            else key
        k_init, _ = jax.random.split(jax.random.wrap_key_data(kd))
        w = 0.1 * jax.random.normal(k_init, (n_features, n_classes))
        params = {"w": w, "v": jnp.zeros_like(w)} if momentum else {"w": w}
        return ToyState(params, jnp.zeros((), jnp.int32), kd, jnp.array(True))

    def advance(state, hparams, data, epochs):
        lr = hparams["learning_rate"]
        wd = hparams.get("weight_decay", 0.0)
        _, k_batch = jax.random.split(jax.random.wrap_key_data(state.key))

        def loss(w, x, t):
            err = x @ w - jax.nn.one_hot(t, n_classes)
            return 0.5 * jnp.mean(jnp.sum(err * err, axis=1)) + 0.5 * wd * jnp.sum(w * w)

        def acc(w, x, t):
            return jnp.mean((jnp.argmax(x @ w, axis=1) == t).astype(jnp.float32))

        def step(p, i):
            idx = jax.random.randint(jax.random.fold_in(k_batch, i), (bs,), 0, n_train)
            value, g = jax.value_and_grad(loss)(p["w"], data.x_train[idx], data.t_train[idx])
            if not momentum:
                return {"w": p["w"] - lr * g}, value
            v = hparams.get("momentum", 0.9) * p["v"] - lr * g
            return {"w": p["w"] + v, "v": v}, value

        def epoch(p, e):
            p, losses = jax.lax.scan(step, p, e * ipe + jnp.arange(ipe))
            w = p["w"]
            return p, (losses, acc(w, data.x_train, data.t_train), acc(w, data.x_eval, data.t_eval))

        first = state.step // ipe
        p, (losses, tr, ev) = jax.lax.scan(epoch, state.params, first + jnp.arange(epochs))
        w = p["w"]
        finite = state.finite & jnp.all(jnp.isfinite(w)) & jnp.all(jnp.isfinite(losses))
        new = ToyState(p, state.step + epochs * ipe, state.key, finite)
        return new, ToyHistory(losses.reshape(-1), tr, ev, ~finite)

    def network(state):
        return state.params, None

    return ToyRun(init, advance, network, ipe)


def toy_make_train_fn(config, n_train, n_eval):
    """The whole run as one function (the ``make_train_fn`` contract), from :func:`toy_make_run`."""

    def train(key, hparams, data):
        run = toy_make_run(config, n_train, n_eval, n_features=data.x_train.shape[1])
        return run.advance(run.init(key, hparams), hparams, data, config.epochs)[1]

    return train
