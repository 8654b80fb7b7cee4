"""A tiny stand-in for ``jaxch6.train.make_train_fn`` (same contract) for fast sweep tests.

A linear model with squared error on one-hot targets (diverges for large learning rates),
trained by SGD on batches drawn with replacement; compiles in well under a
second, so the engine's chunking, sharding and divergence handling can be tested cheaply.
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


def toy_data(n_train=40, n_eval=20, features=6, seed=0) -> ToyData:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(features, 10))
    x = rng.normal(size=(n_train + n_eval, features)).astype(np.float32)
    t = np.argmax(x @ w + 0.5 * rng.normal(size=(n_train + n_eval, 10)), axis=1).astype(np.int32)
    return ToyData(x[:n_train], t[:n_train], x[n_train:], t[n_train:])


def toy_make_train_fn(config, n_train, n_eval):
    bs, epochs = config.batch_size, config.epochs
    ipe = max(n_train // bs, 1)

    def train(key, hparams, data):
        lr = hparams["learning_rate"]
        wd = hparams.get("weight_decay", 0.0)
        k_init, k_batch = jax.random.split(key)
        w = 0.1 * jax.random.normal(k_init, (data.x_train.shape[1], 10))

        def loss(w, x, t):
            err = x @ w - jax.nn.one_hot(t, 10)
            return 0.5 * jnp.mean(jnp.sum(err * err, axis=1)) + 0.5 * wd * jnp.sum(w * w)

        def acc(w, x, t):
            return jnp.mean((jnp.argmax(x @ w, axis=1) == t).astype(jnp.float32))

        def step(w, i):
            idx = jax.random.randint(jax.random.fold_in(k_batch, i), (bs,), 0, n_train)
            value, g = jax.value_and_grad(loss)(w, data.x_train[idx], data.t_train[idx])
            return w - lr * g, value

        def epoch(w, e):
            w, losses = jax.lax.scan(step, w, e * ipe + jnp.arange(ipe))
            return w, (losses, acc(w, data.x_train, data.t_train), acc(w, data.x_eval, data.t_eval))

        w, (losses, tr, ev) = jax.lax.scan(epoch, w, jnp.arange(epochs))
        diverged = ~(jnp.all(jnp.isfinite(w)) & jnp.all(jnp.isfinite(losses)))
        return ToyHistory(losses.reshape(-1), tr, ev, diverged)

    return train
