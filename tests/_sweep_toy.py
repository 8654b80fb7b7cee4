"""A tiny task (:class:`jaxch6.sweep.Task`) standing in for the book's network in fast tests.

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


def toy_data(n_train=40, n_eval=20, features=6, seed=0) -> ToyData:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(features, 10))
    x = rng.normal(size=(n_train + n_eval, features)).astype(np.float32)
    t = np.argmax(x @ w + 0.5 * rng.normal(size=(n_train + n_eval, 10)), axis=1).astype(np.int32)
    return ToyData(x[:n_train], t[:n_train], x[n_train:], t[n_train:])


def toy_task(config=None, *, n_features=6, n_classes=10):
    """The toy as a task: ``config``'s batch size and optimizer (``"momentum"``: momentum SGD)
    unless searched (the book's static names are static here too)."""
    from jaxch6.sweep import SweepConfig, Task
    from jaxch6.sweep.space import STATIC, canonical_name

    config = config or SweepConfig()
    space = tuple(p._replace(name=canonical_name(p.name)) for p in config.space)

    def settings(hparams):
        return (int(hparams.get("batch_size", config.batch_size)),
                hparams.get("optimizer", config.optimizer) == "momentum")

    def init(key, hparams):
        _, momentum = settings(hparams)
        k_init, _ = jax.random.split(key)
        w = 0.1 * jax.random.normal(k_init, (n_features, n_classes))
        params = {"w": w, "v": jnp.zeros_like(w)} if momentum else {"w": w}
        return ToyState(params, jnp.zeros((), jnp.int32), jax.random.key_data(key),
                        jnp.array(True))

    def advance(state, hparams, data, epochs):
        bs, momentum = settings(hparams)
        n_train = data.x_train.shape[0]
        ipe = max(n_train // bs, 1)
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
        return new, {"train_acc": tr, "val_acc": ev, "loss": losses}

    return Task("toy", init, advance, "val_acc", "max", space=space,
                metrics=("train_acc",), static=STATIC,
                reseed=lambda s, key: s._replace(key=jax.random.key_data(key)),
                diverged=lambda s: ~s.finite,
                resolution={"train_acc": 40, "val_acc": 20})


def toy_train_fn(config):
    """The whole run as one function ``train(key, hparams, data) -> metrics`` (for the toy's
    default data: 40 training and 20 evaluation rows)."""
    task = toy_task(config)

    def train(key, hparams, data):
        return task.advance(task.init(key, hparams), hparams, data, config.epochs)[1]

    return train
