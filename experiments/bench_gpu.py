"""The book's hyperparameter search on one accelerator, in fp32, tf32 and bf16 (issue 14).

One command, sized to finish within ``--budget-s`` (default 480 s) on one GPU::

    PYTHONPATH=. python experiments/bench_gpu.py [--budget-s 480] [--out experiments/results]

measures, in one process:

1. the matmul peak of each precision (a large ``jnp.matmul``; TFLOP/s);
2. the book's search (784-100x6-10 ReLU, He init, SGD, batch 100, 50 epochs x 4 steps,
   400 train / 100 validation rows, lr = 10^U(-6,-2), weight decay = 10^U(-8,-4)) with 1,000,
   10,000 and 100,000 trials in each precision: wall, compile, run, executed TFLOP/s and % of
   that precision's peak. The program is ``jax.jit(jax.vmap(make_train_fn(...), in_axes=(0, 0,
   None)))`` over a lane group whose width comes from :func:`jaxch6.sweep.plan.plan_for_devices`
   (the device's memory), called once per group;
3. successive halving against random search at 10,000 trials: time to reach the same
   validation accuracy.

Rows that would overrun the budget are reported as skipped. It writes ``bench_gpu.json`` and
``bench_gpu.md`` under ``--out``. Without an accelerator it prints every row as "not measured",
writes nothing and exits 0; ``--cpu`` runs tiny sizes on the CPU instead (a smoke test of this
script; its files are named ``bench_gpu_cpu.*``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from the source tree

PRECISIONS = ("fp32", "tf32", "bf16")
BOOK_NET = (784, *(100,) * 6, 10)
N_TRAIN, N_VAL, BATCH = 400, 100, 100


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget-s", type=float, default=480.0, help="wall budget of the whole run")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--trials", default="1000,10000,100000", help="trial counts of the search")
    p.add_argument("--halving-trials", type=int, default=None,
                   help="trials of halving vs random (default: the middle trial count)")
    p.add_argument("--halving-precision", default="tf32", choices=PRECISIONS)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--cpu", action="store_true", help="run on the CPU (tiny sizes: a smoke test)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.trials = [int(t) for t in args.trials.split(",") if t.strip()]
    if args.cpu and args.trials == [1000, 10000, 100000]:
        args.trials = [16]
    if args.halving_trials is None:
        args.halving_trials = args.trials[len(args.trials) // 2]
    return args


def flops_per_trial(epochs: int, steps_per_epoch: int = N_TRAIN // BATCH) -> dict:
    """Matmul FLOPs of one trial. ``nominal``: the book's count (a step = 3 forward passes of
    its batch, an epoch's evaluation = 1 forward pass of all rows). ``executed``: what the
    program runs: forward, weight gradients, input gradients of every layer but the first,
    the loss of the batch after the update (the Trainer records it), and the evaluation."""
    macs = sum(a * b for a, b in zip(BOOK_NET[:-1], BOOK_NET[1:], strict=False))
    dx = sum(a * b for a, b in zip(BOOK_NET[1:-1], BOOK_NET[2:], strict=False))
    steps = epochs * steps_per_epoch
    evals = 2 * macs * (N_TRAIN + N_VAL) * epochs
    return {"nominal": 3 * 2 * macs * BATCH * steps + evals,
            "executed": 2 * (3 * macs + dx) * BATCH * steps + evals}


def load_data(seed: int):
    """400 / 100 rows of the embedded MNIST sample (random data if it cannot be loaded)."""
    import numpy as np

    try:
        from jaxch6 import data as jdata

        loaded = jdata.load("mnist", source="sample")
        x, t = loaded.train
        source = loaded.describe()
    except Exception as e:  # noqa: BLE001 - the benchmark needs data of the right shape only
        rng = np.random.default_rng(seed)
        x = rng.random((N_TRAIN + N_VAL, 784), dtype=np.float32)
        t = rng.integers(0, 10, N_TRAIN + N_VAL)
        source = f"random data ({type(e).__name__}: {e})"
    order = np.random.default_rng(seed).permutation(N_TRAIN + N_VAL)
    x = np.asarray(x[: N_TRAIN + N_VAL], np.float32)[order]
    t = np.asarray(t[: N_TRAIN + N_VAL], np.int32)[order]
    return (x[:N_TRAIN], t[:N_TRAIN], x[N_TRAIN:], t[N_TRAIN:]), source


def measure_peaks(n: int) -> dict:
    """TFLOP/s of an n x n x n matmul per precision (best of several timed calls)."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    fns = {
        "fp32": (jax.jit(lambda a: jnp.matmul(a, a, precision=jax.lax.Precision.HIGHEST)), a),
        "tf32": (jax.jit(lambda a: jnp.matmul(a, a, precision=jax.lax.Precision.HIGH)), a),
        "bf16": (jax.jit(lambda a: jnp.matmul(a, a, preferred_element_type=jnp.float32)),
                 a.astype(jnp.bfloat16)),
    }
    peaks = {}
    for name, (f, x) in fns.items():
        f(x).block_until_ready()
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            outs = [f(x) for _ in range(5)]
            jax.block_until_ready(outs)
            best = min(best, (time.perf_counter() - t0) / 5)
        peaks[name] = 2 * n**3 / best / 1e12
    return peaks


def make_program(precision: str, epochs: int):
    """jit(vmap(train)) of the book's search in a precision (None if TrainConfig lacks it)."""
    import jax

    from jaxch6.train import TrainConfig, make_train_fn

    kw = {}
    if "precision" in TrainConfig._fields:
        kw["precision"] = precision
    elif precision != "fp32":
        return None
    config = TrainConfig(hidden_sizes=BOOK_NET[1:-1], epochs=epochs, batch_size=BATCH, **kw)
    return jax.jit(jax.vmap(make_train_fn(config, N_TRAIN, N_VAL), in_axes=(0, 0, None)))


def sample(trials: int, seed: int):
    """The book's ranges: lr = 10^U(-6,-2), weight decay = 10^U(-8,-4), per trial."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return {"learning_rate": 10 ** rng.uniform(-6, -2, trials).astype(np.float32),
            "weight_decay": 10 ** rng.uniform(-8, -4, trials).astype(np.float32)}


def lanes_for(trials: int) -> int:
    import jax

    from jaxch6.sweep.plan import per_trial_bytes, plan_for_devices

    tb = per_trial_bytes(BOOK_NET, batch_size=BATCH, n_eval_rows=N_TRAIN + N_VAL,
                         optimizer_slots=0)
    return plan_for_devices(trials, tb, [jax.devices()[0]]).lanes


def run_search(program, ids, hparams, data, seed: int, lanes: int, deadline: float) -> dict:
    """Train trials ``ids`` (keys fold_in(key(seed), id)) in groups of ``lanes``; returns
    compile/run seconds, the final validation accuracies and the best-so-far timeline."""
    import jax
    import numpy as np

    key = jax.random.key(seed)

    def args(lo):
        sel = np.resize(np.arange(lo, min(lo + lanes, len(ids))), lanes)  # pad: repeat
        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(np.asarray(ids)[sel])
        return keys, {k: v[sel] for k, v in hparams.items()}, data

    t0 = time.perf_counter()
    compiled = program.lower(*args(0)).compile()
    compile_s = time.perf_counter() - t0
    t0, finals, timeline, pending = time.perf_counter(), [], [], None
    starts = list(range(0, len(ids), lanes))
    for lo in [*starts, None]:
        handle = compiled(*args(lo)) if lo is not None else None
        if pending is not None:
            p_lo, out = pending
            acc = np.asarray(out.eval_acc[:, -1])[: min(lanes, len(ids) - p_lo)]
            finals.append(np.where(np.asarray(out.diverged)[: len(acc)], np.nan, acc))
            timeline.append((time.perf_counter() - t0 + compile_s, float(np.nanmax(
                np.concatenate(finals), initial=0.0))))
        pending = (lo, handle) if lo is not None else None
        if time.perf_counter() > deadline:
            raise TimeoutError("budget exhausted")
    return {"compile_s": compile_s, "run_s": time.perf_counter() - t0,
            "final_val_acc": np.concatenate(finals), "timeline": timeline}


def search_row(precision, trials, data, args, programs, peaks, deadline) -> dict:
    """One row: the search of ``trials`` trials in ``precision``, or why it was not measured."""
    row = {"precision": precision, "trials": trials}
    program = programs.setdefault((precision, args.epochs),
                                  make_program(precision, args.epochs))
    if program is None:
        return {**row, "status": "not measured (TrainConfig has no precision field)"}
    lanes = lanes_for(trials)
    try:
        r = run_search(program, list(range(trials)), sample(trials, args.seed), data, args.seed,
                       lanes, deadline)
    except TimeoutError:
        return {**row, "status": "skipped (budget)"}
    except Exception as e:  # noqa: BLE001 - e.g. out of device memory: report, go on
        return {**row, "status": f"failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}"}
    work = flops_per_trial(args.epochs)["executed"] * trials
    tflops = work / r["run_s"] / 1e12
    import numpy as np

    return {**row, "status": "measured", "lanes": lanes, "wall_s": r["compile_s"] + r["run_s"],
            "compile_s": r["compile_s"], "run_s": r["run_s"], "trials_per_s": trials / r["run_s"],
            "executed_tflops": tflops, "pct_of_peak": 100 * tflops / peaks[precision],
            "best_val_acc": float(np.nanmax(r["final_val_acc"], initial=0.0)),
            "diverged": int(np.isnan(r["final_val_acc"]).sum()), "timeline": r["timeline"]}


def halving(trials, data, args, programs, deadline, eta=4) -> dict:
    """Successive halving with rungs of 50/16, 50/4 and 50 epochs, keeping the best 1/eta of
    each rung. Each rung retrains its survivors from scratch with the same keys (the program
    has no checkpoints), so a survivor's first epochs repeat those of the rung before (up to
    the last bits that differ between lane widths); the wall time includes that repeated
    work and every rung's compilation."""
    import numpy as np

    prec = args.halving_precision
    rungs = [max(1, round(args.epochs / eta**2)), max(1, round(args.epochs / eta)), args.epochs]
    ids, hp_all = np.arange(trials), sample(trials, args.seed)
    t0, out = time.perf_counter(), {"rungs": []}
    for r, epochs in enumerate(rungs):
        program = programs.setdefault((prec, epochs), make_program(prec, epochs))
        res = run_search(program, list(ids), {k: v[ids] for k, v in hp_all.items()}, data,
                         args.seed, lanes_for(len(ids)), deadline)
        acc = np.nan_to_num(res["final_val_acc"], nan=-1.0)
        out["rungs"].append({"epochs": epochs, "trials": len(ids), "compile_s": res["compile_s"],
                             "run_s": res["run_s"]})
        if r < len(rungs) - 1:
            keep = max(1, len(ids) // eta)
            ids = ids[np.argsort(-acc, kind="stable")[:keep]]
    out.update(precision=prec, wall_s=time.perf_counter() - t0,
               best_val_acc=float(acc.max()), epochs=rungs)
    return out


def quality_row(random_row: dict, halv: dict) -> dict:
    """Time for each method to first reach halving's best accuracy."""
    target = halv["best_val_acc"]
    reached = [t for t, best in random_row.get("timeline", []) if best >= target]
    t_random = reached[0] if reached else None
    return {"target_val_acc": target, "random_s": t_random, "random_best": random_row.get(
        "best_val_acc"), "halving_s": halv["wall_s"],
        "speedup": t_random / halv["wall_s"] if t_random else None, "halving": halv}


def estimate_s(trials: int, precision: str, rows: list) -> float:
    """Seconds a row will take, from the largest measured row of the precision (scaled by
    trials) and its compile time; 0 when nothing is measured yet."""
    done = [r for r in rows if r["precision"] == precision and r["status"] == "measured"]
    if not done:
        return 0.0
    ref = max(done, key=lambda r: r["trials"])
    return ref["compile_s"] + ref["run_s"] * trials / ref["trials"]


def measure(args, deadline: float) -> dict:
    """Every measurement, largest trial counts last, skipping what would overrun the budget."""
    import jax

    from jaxch6.train import Data

    data, source = load_data(args.seed)
    data = jax.device_put(Data(*data))
    peaks = measure_peaks(1024 if args.cpu else 8192)
    res = {"data": source, "peak_tflops": peaks, "rows": [], "halving": None,
           "gflop_per_trial": {k: v / 1e9 for k, v in flops_per_trial(args.epochs).items()}}
    programs, rows = {}, res["rows"]
    for trials in sorted(args.trials):
        for prec in sorted(PRECISIONS, key=lambda p: estimate_s(trials, p, rows)):
            if time.perf_counter() + estimate_s(trials, prec, rows) > deadline:
                rows.append({"precision": prec, "trials": trials, "status": "skipped (budget)"})
                continue
            rows.append(search_row(prec, trials, data, args, programs, peaks, deadline))
            print(_row_line(rows[-1]), flush=True)
        if trials == args.halving_trials:
            res["halving"] = _halving_row(args, data, programs, rows, deadline)
    return res


def _halving_row(args, data, programs, rows, deadline) -> dict:
    random_row = next((r for r in rows if r["trials"] == args.halving_trials
                       and r["precision"] == args.halving_precision), {})
    if random_row.get("status") != "measured":
        return {"status": "not measured (no random row to compare)"}
    # halving trains about 3 * trials * 50/16 epoch-units (eta = 4): under half of random's
    if time.perf_counter() + 0.6 * random_row["wall_s"] > deadline:
        return {"status": "skipped (budget)"}
    try:
        halv = halving(args.halving_trials, data, args, programs, deadline)
    except TimeoutError:
        return {"status": "skipped (budget)"}
    row = {"status": "measured", **quality_row(random_row, halv)}
    print(f"halving vs random at {args.halving_trials} trials: {row}", flush=True)
    return row


def _fmt(v, spec=".2f"):
    return "—" if v is None else format(v, spec)


def _row_line(r: dict) -> str:
    if r["status"] != "measured":
        return f"{r['precision']:>5} {r['trials']:>7} trials: {r['status']}"
    return (f"{r['precision']:>5} {r['trials']:>7} trials: wall {r['wall_s']:.1f} s (compile "
            f"{r['compile_s']:.1f}, run {r['run_s']:.1f}), {r['executed_tflops']:.2f} TFLOP/s "
            f"({r['pct_of_peak']:.0f}% of peak), best val acc {r['best_val_acc']:.2f}, "
            f"{r['lanes']} lanes")


def render_md(res: dict) -> str:
    """The results as a Markdown page."""
    peaks = res.get("peak_tflops") or {}
    gflop = res.get("gflop_per_trial", {}).get("executed", 0)
    lines = [f"Book search on {res['device']}, jax {res['jax_version']}, budget "
             f"{res['budget_s']:.0f} s (used {res.get('elapsed_s', 0):.0f} s); data: "
             f"{res.get('data', '—')}; executed {gflop:.1f} GFLOP per trial.", "",
             "| precision | matmul peak TFLOP/s |", "|---|---:|"]
    lines += [f"| {p} | {_fmt(peaks.get(p))} |" for p in PRECISIONS]
    lines += ["", "| precision | trials | lanes | wall s | compile s | run s | trials/s | "
              "executed TFLOP/s | % of peak | best val acc | status |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in res["rows"]:
        g = r.get
        lines.append(f"| {r['precision']} | {r['trials']} | {g('lanes', '—')} | "
                     f"{_fmt(g('wall_s'), '.1f')} | {_fmt(g('compile_s'), '.1f')} | "
                     f"{_fmt(g('run_s'), '.1f')} | {_fmt(g('trials_per_s'), '.0f')} | "
                     f"{_fmt(g('executed_tflops'))} | {_fmt(g('pct_of_peak'), '.0f')} | "
                     f"{_fmt(g('best_val_acc'))} | {r['status']} |")
    h = res.get("halving") or {"status": "not measured"}
    lines += ["", "| halving vs random | target val acc | random s | halving s | speed-up | "
              "status |", "|---|---:|---:|---:|---:|---|",
              f"| time to quality | {_fmt(h.get('target_val_acc'))} | "
              f"{_fmt(h.get('random_s'), '.1f')} | {_fmt(h.get('halving_s'), '.1f')} | "
              f"{_fmt(h.get('speedup'), '.1f')} | {h['status']} |"]
    return "\n".join(lines) + "\n"


def not_measured(args) -> dict:
    rows = [{"precision": p, "trials": n, "status": "not measured (no accelerator)"}
            for n in args.trials for p in PRECISIONS]
    return {"rows": rows, "halving": {"status": "not measured (no accelerator)"}}


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    if args.cpu:
        os.environ["JAX_PLATFORMS"] = "cpu"
    import jax

    backend = jax.default_backend()
    dev = jax.devices()[0]
    info = {"device": f"{jax.device_count()} x {dev.device_kind} ({backend})",
            "jax_version": jax.__version__, "budget_s": args.budget_s, "cpu_smoke": args.cpu}
    if backend == "cpu" and not args.cpu:
        res = {**info, **not_measured(args)}
        for r in res["rows"]:
            print(_row_line(r))
        print("halving vs random: not measured (no accelerator); nothing written")
        return 0
    res = {**info, **measure(args, t_start + args.budget_s)}
    res["elapsed_s"] = time.perf_counter() - t_start
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "bench_gpu_cpu" if args.cpu else "bench_gpu")
    with open(stem + ".json", "w") as f:
        json.dump(res, f, indent=1, default=float)
    with open(stem + ".md", "w") as f:
        f.write(render_md(res))
    print(f"wrote {stem}.json, {stem}.md ({res['elapsed_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
