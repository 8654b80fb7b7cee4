"""What the scan structure of the book's search costs in compile time, on the CPU (issue 14.3).

The program is the book's search (784-100x6-10 ReLU, He init, SGD, batch 100, 50 epochs x 4
steps, accuracy on 400 + 100 rows after the first step of each epoch) as
``jit(vmap(train, in_axes=(0, 0, None)))`` over 2 and over 100 lanes. Variants:

- ``library``: :func:`jaxch6.train.make_train_fn` as it is;
- ``nested``: the same loop written here: a scan over epochs whose body takes one step,
  evaluates, then scans the remaining 3 steps;
- ``nested, inner unrolled``: the inner scan with ``unroll=True``;
- ``nested, inner + epochs x2 unrolled``: also ``unroll=2`` on the epoch scan;
- ``eval outside``: the epoch scan only trains, returning the parameters after each epoch's
  first step; all 50 evaluations run after it, batched (``vmap`` over the epochs);
- ``eval outside, inner unrolled``: both.

Each is lowered and compiled ahead of time (no persistent cache), timed in wall seconds and in
the process's CPU seconds (all threads; less sensitive to other jobs on a shared machine); one
2-lane call is also run (median of 3) and its accuracies compared with ``nested``'s. Writes
``experiments/results/bench_compile.{json,md}``::

    python experiments/bench_compile.py [--lanes 2,100] [--out experiments/results] [--quick]

``--quick`` (a smoke test of this script: 2 epochs, 2 lanes, the library's program and
``nested`` only) writes ``bench_compile_quick.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

BOOK_NET = (784, *(100,) * 6, 10)
N_TRAIN, N_VAL, BATCH, EPOCHS = 400, 100, 100, 50
VARIANTS = {  # name: (inner unroll, epoch unroll, evaluation outside the epoch scan)
    "nested": (1, 1, False),
    "nested, inner unrolled": (True, 1, False),
    "nested, inner + epochs x2 unrolled": (True, 2, False),
    "eval outside": (1, 1, True),
    "eval outside, inner unrolled": (True, 1, True),
}


def make_variant(inner_unroll, epoch_unroll, eval_outside: bool):
    """The book's training of one trial with the given scan structure: train(key, hp, data)."""
    import jax
    import jax.numpy as jnp

    from jaxch6 import mlp

    ipe = N_TRAIN // BATCH

    def train(key, hp, data):
        x_tr, t_tr, x_ev, t_ev = data
        x_all, t_all = jnp.concatenate([x_tr, x_ev]), jnp.concatenate([t_tr, t_ev])
        k_init, k_batch = jax.random.split(key)
        params, state = mlp.init(BOOK_NET, key=k_init, weight_init="he")
        lr, wd = hp["learning_rate"], hp["weight_decay"]
        grad = jax.value_and_grad(mlp.loss, has_aux=True)

        def step(p, idx):
            xb, tb = x_tr[idx], t_tr[idx]
            _, g = grad(p, state, xb, tb, train=True, weight_decay=wd)
            p = jax.tree.map(lambda a, b: a - lr * b, p, g)
            return p, mlp.loss(p, state, xb, tb, weight_decay=wd)[0]  # the Trainer's loss

        def evaluate(p):
            hit = jnp.argmax(mlp.apply(p, state, x_all, train=False)[0], -1) == t_all
            return jnp.mean(hit[:N_TRAIN]), jnp.mean(hit[N_TRAIN:])

        def epoch(p, e):
            idx = jax.vmap(lambda i: jax.random.randint(
                jax.random.fold_in(k_batch, i), (BATCH,), 0, N_TRAIN))(e * ipe + jnp.arange(ipe))
            p, l0 = step(p, idx[0])
            first = p if eval_outside else evaluate(p)
            p, ls = jax.lax.scan(step, p, idx[1:], unroll=inner_unroll)
            return p, (jnp.concatenate([l0[None], ls]), first)

        _, (losses, first) = jax.lax.scan(epoch, params, jnp.arange(EPOCHS), unroll=epoch_unroll)
        train_acc, val_acc = jax.vmap(evaluate)(first) if eval_outside else first
        return losses.reshape(-1), train_acc, val_acc

    return train


def library_fn():
    from jaxch6.train import TrainConfig, make_train_fn

    fn = make_train_fn(TrainConfig(hidden_sizes=BOOK_NET[1:-1], epochs=EPOCHS), N_TRAIN, N_VAL)

    def train(key, hp, data):
        h = fn(key, hp, data)
        return h.loss, h.train_acc, h.eval_acc

    return train


def measure(name, train, lanes, data, reference=None) -> dict:
    """Lower + compile time of jit(vmap(train)) over ``lanes``; for 2 lanes also run it."""
    import jax
    import numpy as np

    keys = jax.random.split(jax.random.key(0), lanes)
    rng = np.random.default_rng(0)
    hp = {"learning_rate": (10 ** rng.uniform(-3, -2, lanes)).astype(np.float32),
          "weight_decay": (10 ** rng.uniform(-8, -4, lanes)).astype(np.float32)}
    program = jax.jit(jax.vmap(train, in_axes=(0, 0, None)))
    t0 = time.perf_counter()
    lowered = program.lower(keys, hp, data)
    t1, c1 = time.perf_counter(), time.process_time()
    compiled = lowered.compile()
    t2, c2 = time.perf_counter(), time.process_time()
    row = {"variant": name, "lanes": lanes, "lower_s": t1 - t0, "compile_s": t2 - t1,
           "compile_cpu_s": c2 - c1, "load_1min": os.getloadavg()[0]}
    if lanes <= 2:
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            out = jax.block_until_ready(compiled(keys, hp, data))
            runs.append(time.perf_counter() - t)
        row["run_s"] = sorted(runs)[1]
        row["val_acc"] = np.asarray(out[2]).tolist()
        if reference is not None:
            row["max_val_acc_diff_vs_nested"] = float(np.max(np.abs(
                np.asarray(out[2]) - np.asarray(reference))))
    print(f"{name:>36} {lanes:>4} lanes: lower {row['lower_s']:.2f} s, compile "
          f"{row['compile_s']:.2f} s (CPU {row['compile_cpu_s']:.2f} s)"
          + (f", run {row['run_s']:.2f} s" if "run_s" in row else ""), flush=True)
    return row


def render_md(res: dict) -> str:
    lines = [f"Compile time of the book's search program on the CPU ({res['device']}, jax "
             f"{res['jax_version']}, {res['cpu_count']} cores, load average "
             f"{res['load_before'][0]:.1f} before / {res['load_after'][0]:.1f} after; shared "
             f"machine: compare rows of one run only).", "",
             "| structure | lanes | lower s | compile s | compile CPU s | run s (2 lanes) | max "
             "val-acc diff vs nested |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        run = f"{r['run_s']:.2f}" if "run_s" in r else "—"
        diff = r.get("max_val_acc_diff_vs_nested")
        lines.append(f"| {r['variant']} | {r['lanes']} | {r['lower_s']:.2f} | "
                     f"{r['compile_s']:.2f} | {r['compile_cpu_s']:.2f} | {run} | "
                     f"{'—' if diff is None else f'{diff:.2f}'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lanes", default="2,100")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--quick", action="store_true", help="tiny settings (a smoke test)")
    args = p.parse_args(argv)
    if args.quick:
        global EPOCHS
        EPOCHS, args.lanes = 2, "2"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import numpy as np

    from jaxch6.train import Data

    jax.config.update("jax_enable_compilation_cache", False)
    jax.jit(lambda v: jax.lax.scan(lambda c, _: (c @ c, None), v, length=3)[0]).lower(
        np.eye(8, dtype=np.float32)).compile()  # warm the compiler up before timing
    from jaxch6 import data as jdata

    x, t = jdata.load("mnist", source="sample").train  # the embedded sample: offline
    x, t = x[: N_TRAIN + N_VAL].astype(np.float32), t[: N_TRAIN + N_VAL].astype(np.int32)
    data = jax.device_put(Data(x[:N_TRAIN], t[:N_TRAIN], x[N_TRAIN:], t[N_TRAIN:]))
    res = {"device": jax.devices()[0].device_kind, "jax_version": jax.__version__,
           "cpu_count": os.cpu_count(), "load_before": os.getloadavg(), "rows": []}
    chosen = {"nested": VARIANTS["nested"]} if args.quick else VARIANTS
    variants = {"library": library_fn(), **{k: make_variant(*v) for k, v in chosen.items()}}
    for lanes in (int(n) for n in args.lanes.split(",")):
        ref = None
        for name in ("nested", *[n for n in variants if n != "nested"]):
            row = measure(name, variants[name], lanes, data, ref)
            ref = row.get("val_acc") if name == "nested" else ref
            res["rows"].append(row)
    res["load_after"] = os.getloadavg()
    os.makedirs(args.out, exist_ok=True)
    stem = "bench_compile_quick" if args.quick else "bench_compile"
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(args.out, stem + ".md"), "w") as f:
        f.write(render_md(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
