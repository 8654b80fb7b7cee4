"""Sweep your own model, pure JAX: a small MLP regressor minimising a mean squared error.

A :class:`jaxch6.sweep.Task` built with :func:`jaxch6.sweep.from_step` from one training step
and one evaluation. The step uses an optax optimizer (AdamW) with a schedule (linear warm-up,
then cosine decay) and gradient clipping by global norm, whose ``clip_norm`` is a
hyperparameter the book's network does not have. A random search over learning rate x weight
decay x clip norm ranks the trials by their validation MSE, smallest first; the best one is
measured once on the test split.

In the same run it times the sweep against a Python loop over ``jax.jit`` of the same training
(one compiled function, called once per trial with the same hyperparameters and keys), in two
rounds (each side first once), and writes both to
``experiments/results/own_model_regression.json`` (``_256.json`` for ``--trials 256``;
``--out``)::

    python experiments/own_model_regression.py [--quick] [--trials N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

FEATURES = 8
EPOCHS = 20
BATCH = 32


def make_data(n_train=2048, n_val=512, n_test=512, seed=0):
    """A smooth nonlinear target with noise: ``({"train", "val"}, test)`` dicts of x, y."""
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    y = (np.sin(2 * x[:, 0]) + 0.5 * x[:, 1] ** 2 - x[:, 2] * x[:, 3]
         + 0.1 * rng.normal(size=n)).astype(np.float32)[:, None]
    cut = (n_train, n_train + n_val)
    part = [{"x": x[s], "y": y[s]} for s in (slice(0, cut[0]), slice(*cut), slice(cut[1], n))]
    return {"train": part[0], "val": part[1]}, part[2]


def make_task(epochs=EPOCHS, n_train=2048):
    import jax
    import jax.numpy as jnp
    import optax

    from jaxch6.sweep import Param, Task, from_step

    steps = epochs * (n_train // BATCH)

    def optimizer(hp):
        warmup = max(steps // 10, 1)  # linear warm-up, then cosine decay (traced peak)
        schedule = optax.join_schedules(
            [optax.linear_schedule(0.0, hp["learning_rate"], warmup),
             optax.cosine_decay_schedule(hp["learning_rate"], steps - warmup)], [warmup])
        return optax.chain(optax.clip_by_global_norm(hp["clip_norm"]),
                           optax.adamw(schedule, weight_decay=hp["weight_decay"]))

    def forward(params, x):
        for i, layer in enumerate(params):
            x = x @ layer["w"] + layer["b"]
            if i < len(params) - 1:
                x = jax.nn.gelu(x)
        return x

    def init(key, hp):
        sizes = (FEATURES, 64, 64, 1)
        keys = jax.random.split(key, len(sizes) - 1)
        params = [{"w": jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), "b": jnp.zeros(b)}
                  for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)]
        return {"params": params, "opt": optimizer(hp).init(params)}

    def mse(params, split):
        return jnp.mean((forward(params, split["x"]) - split["y"]) ** 2)

    def update(state, batch, hp, key):
        grads = jax.grad(mse)(state["params"], batch)
        updates, opt = optimizer(hp).update(grads, state["opt"], state["params"])
        return {"params": optax.apply_updates(state["params"], updates), "opt": opt}

    def evaluate(state, hp, split):
        return {"val_mse": mse(state["params"], split)}

    init_state, advance, reseed = from_step(init, update, evaluate, batch_size=BATCH)
    return Task("regression", init_state, advance, "val_mse", "min", reseed=reseed,
                space=(Param.float("learning_rate", 1e-4, 3e-2),
                       Param.float("weight_decay", 1e-6, 1e-1),
                       Param.float("clip_norm", 0.1, 10.0)),
                evaluate=lambda s, hp, test: evaluate(s["model"], hp, test),
                load_data=make_data)


def python_loop(task, config, data, hparams: dict[int, dict]) -> dict:
    """The same training, one trial per call of one ``jax.jit`` function, in a Python loop."""
    import jax

    from jaxch6.sweep.keys import lane_keys

    @jax.jit
    def train(key_data, hp, data):
        key = jax.random.wrap_key_data(key_data)
        _, metrics = task.advance(task.init(key, hp), hp, data, config.epochs)
        return metrics["val_mse"]

    ids = sorted(hparams)
    keys = lane_keys(config.seed, ids)
    as_arrays = [{k: np.float32(v) for k, v in hparams[i].items()} for i in ids]
    t0 = time.perf_counter()
    data = jax.device_put(data)
    compiled = train.lower(keys[0], as_arrays[0], data).compile()
    compile_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    finals = [float(compiled(k, hp, data)[-1]) for k, hp in zip(keys, as_arrays, strict=True)]
    end = time.perf_counter()
    return {"wall_seconds": end - t0, "compile_seconds": compile_s, "run_seconds": end - t1,
            "best_val_mse": min(finals), "final_val_mse": dict(zip(ids, finals, strict=True))}


def timed_sweep(task, config, data) -> tuple[dict, object]:
    """The sweep, timed: wall (including compilation), compile and run seconds."""
    from jaxch6.sweep import run

    t0 = time.perf_counter()
    result = run(config, task=task, data=data, progress=False)
    wall = time.perf_counter() - t0
    return {"wall_seconds": wall, "compile_seconds": result.timings["compile_seconds"],
            "run_seconds": result.timings["run_seconds"], "lanes": result.info["lanes"],
            "chunk_size": result.info["chunk_size"],
            "best_val_mse": result.ranked[0].final_val_acc}, result


def compare(task, config, data) -> list[dict]:
    """Two rounds in one process, the sweep first and then the loop first, the same trials
    (hyperparameters and keys) on both sides; each round's wall and run-phase ratios. Both
    sides first run once untimed on 2 trials of 1 epoch (other programs), so neither pays the
    process's first imports and traces."""
    import dataclasses

    small = dataclasses.replace(config, trials=2, epochs=1)
    _, warm = timed_sweep(make_task(1), small, data)
    python_loop(make_task(1), small, data, {t.id: t.hparams for t in warm.trials})
    rounds = []
    for sweep_first in (True, False):
        if sweep_first:
            sweep, result = timed_sweep(task, config, data)
        loop = python_loop(task, config, data, {t.id: t.hparams for t in result.trials})
        if not sweep_first:
            sweep, result = timed_sweep(task, config, data)
        finals = loop.pop("final_val_mse")
        gap = max(abs(t.final_val_acc - finals[t.id]) for t in result.trials)
        rounds.append({"order": "sweep, loop" if sweep_first else "loop, sweep",
                       "sweep": sweep, "python_loop_over_jit": loop,
                       "max_abs_difference_final_val_mse": gap,
                       "wall_ratio_loop_over_sweep": loop["wall_seconds"] / sweep["wall_seconds"],
                       "run_ratio_loop_over_sweep": loop["run_seconds"] / sweep["run_seconds"]})
    return rounds


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 trials, 4 epochs")
    parser.add_argument("--trials", type=int, default=64, help="trials (default 64)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args(argv)
    import dataclasses

    import jax

    from jaxch6.sweep import SweepConfig, run

    trials, epochs = (16, 4) if args.quick else (args.trials, EPOCHS)
    data, test = make_data()
    task = make_task(epochs)
    config = SweepConfig(trials=trials, epochs=epochs, seed=0)
    load_before = _load()
    rounds = compare(task, config, data)
    load_after = _load()
    result = run(dataclasses.replace(config, save_best=1), task=task, data=data, progress=False)
    best = result.ranked[0]
    report = {
        "device": f"{jax.devices()[0].device_kind} x {len(jax.devices())}",
        "trials": trials, "epochs": epochs, "quick": args.quick,
        "load_average_before": load_before, "load_average_after": load_after,
        "rounds": rounds,
        "best": {"id": best.id, "val_mse": best.final_val_acc, "hparams": best.hparams,
                 "test": result.evaluate(test, task=task, k=1)["trials"][0]["test"]},
    }
    os.makedirs(args.out, exist_ok=True)
    name = "own_model_regression" + ("_quick" if args.quick else "")
    if args.trials != 64 and not args.quick:
        name += f"_{args.trials}"
    with open(os.path.join(args.out, name + ".json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    for r in rounds:
        s, lp = r["sweep"], r["python_loop_over_jit"]
        print(f"{r['order']}: sweep {s['wall_seconds']:.2f} s (compile "
              f"{s['compile_seconds']:.2f}, run {s['run_seconds']:.2f}) vs Python loop over "
              f"jit {lp['wall_seconds']:.2f} s (compile {lp['compile_seconds']:.2f}, run "
              f"{lp['run_seconds']:.2f}): wall {r['wall_ratio_loop_over_sweep']:.2f}x, run "
              f"{r['run_ratio_loop_over_sweep']:.2f}x")
    print(f"load average {load_before} -> {load_after}; best val_mse "
          f"{best.final_val_acc:.4f}, test {report['best']['test']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
