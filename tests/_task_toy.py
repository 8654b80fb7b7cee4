"""Small tasks written as a user would (:class:`jaxch6.sweep.Task`, :func:`from_step`): a
linear softmax classifier on image-shaped inputs ``(N, 4, 4, 1)`` with 3 one-hot classes, a
dict state without a ``key`` field of its own, minimising the validation cross-entropy, with a
hyperparameter the book does not have (``label_smoothing``) and an optional static choice.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxch6.sweep import Param, Task, from_step

N_CLASSES = 3
SHAPE = (4, 4, 1)
SPACE = (Param.float("learning_rate", 1e-2, 3.0),
         Param.float("weight_decay", 1e-6, 1e-2),
         Param.float("label_smoothing", 0.0, 0.2, log=False))


def make_data(n_train=48, n_val=24, n_test=24, seed=0):
    """``(data, test)``: dicts of ``{"x": (N, 4, 4, 1) floats, "y": (N, 3) one-hot}``."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(int(np.prod(SHAPE)), N_CLASSES))
    n = n_train + n_val + n_test
    x = rng.normal(size=(n, *SHAPE)).astype(np.float32)
    y = np.eye(N_CLASSES, dtype=np.float32)[np.argmax(x.reshape(n, -1) @ w, axis=1)]
    part = {"train": slice(0, n_train), "val": slice(n_train, n_train + n_val),
            "test": slice(n_train + n_val, n)}
    split = {k: {"x": x[s], "y": y[s]} for k, s in part.items()}
    return {"train": split["train"], "val": split["val"]}, {"val": split["test"]}


def _logits(params, x, activation):
    h = x.reshape(x.shape[0], -1)
    if activation == "tanh":
        h = jnp.tanh(h)
    return h @ params["w"] + params["b"]


def _scores(params, hparams, split):
    logits = _logits(params, split["x"], hparams.get("activation", "linear"))
    loss = -jnp.mean(jnp.sum(split["y"] * jax.nn.log_softmax(logits), axis=-1))
    acc = jnp.mean(jnp.argmax(logits, -1) == jnp.argmax(split["y"], -1))
    return {"val_loss": loss, "val_acc": acc.astype(jnp.float32)}


def make_task(space=SPACE, batch_size=8):
    def init(key, hparams):
        return {"w": 0.01 * jax.random.normal(key, (int(np.prod(SHAPE)), N_CLASSES)),
                "b": jnp.zeros(N_CLASSES)}

    def update(params, batch, hparams, key):
        ls = hparams.get("label_smoothing", 0.0)
        target = batch["y"] * (1 - ls) + ls / N_CLASSES

        def loss(p):
            logits = _logits(p, batch["x"], hparams.get("activation", "linear"))
            return -jnp.mean(jnp.sum(target * jax.nn.log_softmax(logits), axis=-1))

        g = jax.grad(loss)(params)
        lr, wd = hparams["learning_rate"], hparams["weight_decay"]
        return jax.tree.map(lambda p, g: p - lr * (g + wd * p), params, g)

    init_state, advance, reseed = from_step(init, update, lambda s, hp, d: _scores(s, hp, d),
                                            batch_size=batch_size)

    def evaluate(state, hparams, data):
        return _scores(state["model"], hparams, data["val"])

    return Task("linear3", init_state, advance, "val_loss", "min", space=space,
                defaults={"weight_decay": 0.0, "label_smoothing": 0.0},
                metrics=("val_acc",), reseed=reseed, evaluate=evaluate,
                load_data=lambda: make_data())


def make_task_with_activation():
    return make_task(space=(*SPACE[:2], Param.categorical("activation", ["linear", "tanh"])))
