"""Sweep your own model, Flax: a small CNN on Fashion-MNIST under successive halving.

The model is a Flax Linen module (extra ``jaxch6[flax]``); the task is built with
:func:`jaxch6.sweep.from_step` from one optax AdamW step and one evaluation. Successive halving
searches learning rate x weight decay x width (the convolutions' channels: a static choice, one
compiled program per width) and ranks by validation accuracy. The data comes from the
project's loaders (:func:`jaxch6.data.load`, Fashion-MNIST; a validation split of the training
images); the best saved trials are measured once on the test split at the end::

    python experiments/own_model_cnn.py [--quick] [--out DIR]

writes ``DIR/own_model_cnn[_quick].json`` (the ranking and the test accuracies).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

BATCH = 64


def load(n_train: int, n_val: int, n_test: int, seed: int = 0):
    """Fashion-MNIST as NHWC float images and int labels: ``({"train", "val"}, test)``."""
    from jaxch6 import data as D

    loaded = D.load("fashion_mnist", flatten=False, log=lambda line: None)
    (x, t), (xt, tt) = loaded.train, loaded.test
    x = np.transpose(x[: n_train + n_val], (0, 2, 3, 1)).astype(np.float32)
    t = np.asarray(t[: n_train + n_val], np.int32)
    (x_tr, t_tr), (x_val, t_val) = D.validation_split(x, t, n_val / (n_train + n_val),
                                                      seed=seed)
    test = {"x": np.transpose(xt[:n_test], (0, 2, 3, 1)).astype(np.float32),
            "t": np.asarray(tt[:n_test], np.int32)}
    return {"train": {"x": x_tr, "t": t_tr}, "val": {"x": x_val, "t": t_val}}, test


def make_task(n_train: int, n_val: int, n_test: int):
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import optax

    from jaxch6.sweep import Param, Task, from_step

    class CNN(nn.Module):
        width: int

        @nn.compact
        def __call__(self, x):
            for mult in (1, 2):
                x = nn.relu(nn.Conv(self.width * mult, (3, 3))(x))
                x = nn.avg_pool(x, (2, 2), strides=(2, 2))
            return nn.Dense(10)(x.reshape(x.shape[0], -1))

    def optimizer(hp):
        return optax.adamw(hp["learning_rate"], weight_decay=hp["weight_decay"])

    def init(key, hp):
        params = CNN(int(hp["width"])).init(key, jnp.zeros((1, 28, 28, 1)))["params"]
        return {"params": params, "opt": optimizer(hp).init(params)}

    def loss(params, width, batch):
        logits = CNN(width).apply({"params": params}, batch["x"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["t"]).mean()

    def update(state, batch, hp, key):
        grads = jax.grad(loss)(state["params"], int(hp["width"]), batch)
        updates, opt = optimizer(hp).update(grads, state["opt"], state["params"])
        return {"params": optax.apply_updates(state["params"], updates), "opt": opt}

    def evaluate(state, hp, split):
        logits = CNN(int(hp["width"])).apply({"params": state["params"]}, split["x"])
        return {"val_acc": jnp.mean(jnp.argmax(logits, -1) == split["t"]).astype(jnp.float32),
                "val_loss": optax.softmax_cross_entropy_with_integer_labels(
                    logits, split["t"]).mean()}

    init_state, advance, reseed = from_step(init, update, evaluate, batch_size=BATCH)
    return Task("fashion-cnn", init_state, advance, "val_acc", "max", reseed=reseed,
                metrics=("val_loss",), static=("width",),
                space=(Param.float("learning_rate", 1e-4, 1e-2),
                       Param.float("weight_decay", 1e-5, 1e-1),
                       Param.categorical("width", [8, 16])),
                evaluate=lambda s, hp, test: evaluate(s["model"], hp, test),
                load_data=lambda: load(n_train, n_val, n_test))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="6 trials, 2 epochs on 256 training images")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args(argv)
    from jaxch6.sweep import SweepConfig, run

    if args.quick:
        sizes, config = (256, 128, 256), SweepConfig(trials=6, epochs=2, min_epochs=1,
                                                     scheduler="halving", save_best=1)
    else:
        sizes, config = (8000, 2000, 10000), SweepConfig(trials=27, epochs=9, min_epochs=1,
                                                         scheduler="halving", save_best=3)
    task = make_task(*sizes)
    data, test = task.load_data()
    t0 = time.perf_counter()
    result = run(config, task=task, data=data, progress=False)
    wall = time.perf_counter() - t0
    report = result.evaluate(test, task=task)
    out = {"quick": args.quick, "n_train": sizes[0], "n_val": sizes[1], "n_test": sizes[2],
           "trials": len(result.trials), "epochs": config.epochs, "wall_seconds": wall,
           "ranking": result.ranking_lines(5), "test": report["trials"]}
    os.makedirs(args.out, exist_ok=True)
    name = "own_model_cnn" + ("_quick" if args.quick else "")
    with open(os.path.join(args.out, name + ".json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)
    for line in out["ranking"][:3]:
        print(line)
    for row in report["trials"]:
        print(f"trial {row['id']}: val acc {row['val']:.4f}, test acc "
              f"{row['test']['val_acc']:.4f} (test split, once)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
