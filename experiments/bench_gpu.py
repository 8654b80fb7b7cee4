"""The book's hyperparameter search on one accelerator, in fp32, tf32 and bf16 (issues 14, 20).

One command, sized to finish within ``--budget-s`` (default 480 s) on one GPU::

    PYTHONPATH=. python experiments/bench_gpu.py [--budget-s 480] [--out experiments/results]

measures, in one process, the product as users run it:

1. the matmul peak of each precision (a large ``jnp.matmul``; TFLOP/s);
2. the book's search (784-100x6-10 ReLU, He init, SGD, batch 100, 50 epochs x 4 steps,
   400 train / 100 validation rows, lr = 10^U(-6,-2), weight decay = 10^U(-8,-4)) with 1,000,
   10,000 and 100,000 trials in each precision, each one call of :func:`jaxch6.sweep.run`
   (``SweepConfig(trials=N, precision=P)``: the runtime's own planner picks the chunk and the
   lane groups, its own device set-up places them): wall, compile, run, chunk, lanes,
   executed TFLOP/s and % of that precision's peak;
3. the ``jaxch6 sweep`` process at ``--process-trials`` (default 10,000) in each precision
   (warm compilation cache, output to a pipe): process wall and its own run phase;
4. successive halving against random search at 10,000 trials (``--halving-precision``): each
   scheduler's wall time until its best trial is within 0.01 of random search's final best.

Rows that would overrun the budget are reported as skipped. It writes ``bench_gpu.json`` and
``bench_gpu.md`` under ``--out``. Without an accelerator it prints every row as "not measured",
writes nothing and exits 0; ``--cpu`` runs tiny sizes on the CPU instead, with the command
line's CPU device set-up (a smoke test of this script; its files are named ``bench_gpu_cpu.*``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from the source tree
sys.path.insert(0, HERE)  # bench_sweep, time_to_quality: the same timing code

PRECISIONS = ("fp32", "tf32", "bf16")
BOOK_NET = (784, *(100,) * 6, 10)
N_TRAIN, N_VAL, BATCH = 400, 100, 100


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget-s", type=float, default=480.0, help="wall budget of the whole run")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--trials", default="1000,10000,100000", help="trial counts of the search")
    p.add_argument("--process-trials", type=int, default=None,
                   help="trials of the timed jaxch6 sweep processes (default: the middle count)")
    p.add_argument("--halving-trials", type=int, default=None,
                   help="trials of halving vs random (default: the middle trial count)")
    p.add_argument("--halving-precision", default="tf32", choices=PRECISIONS)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--cpu", action="store_true", help="run on the CPU (tiny sizes: a smoke test)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.trials = [int(t) for t in args.trials.split(",") if t.strip()]
    if args.cpu and args.trials == [1000, 10000, 100000]:
        args.trials, args.epochs = [8], 3
    middle = args.trials[len(args.trials) // 2]
    args.halving_trials = args.halving_trials or middle
    args.process_trials = middle if args.process_trials is None else args.process_trials
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


def book_config(args, trials: int, precision: str, **kw):
    """The book's search as ``jaxch6 sweep`` runs it, with ``trials`` and ``precision``."""
    from jaxch6.sweep import SweepConfig

    return SweepConfig(trials=trials, epochs=args.epochs, seed=args.seed, precision=precision,
                       **kw).validate()


def search_row(precision, trials, data, args, peaks) -> dict:
    """One row: ``jaxch6.sweep.run`` of ``trials`` trials in ``precision`` (or why not)."""
    from time_to_quality import run_one

    from jaxch6 import sweep

    row = {"precision": precision, "trials": trials}
    try:
        r = run_one(sweep, book_config(args, trials, precision), data)
    except Exception as e:  # noqa: BLE001 - e.g. out of device memory: report, go on
        return {**row, "status": f"failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}"}
    tflops = flops_per_trial(args.epochs)["executed"] * trials / r["run_seconds"] / 1e12
    return {**row, "status": "measured", "chunk": r["chunk_size"], "lanes": r["lanes"],
            "wall_s": r["wall_seconds"], "compile_s": r["compile_seconds"],
            "run_s": r["run_seconds"], "trials_per_s": trials / r["run_seconds"],
            "executed_tflops": tflops, "pct_of_peak": 100 * tflops / peaks[precision],
            "best_val_acc": r["best"], "events": r["events"]}


def process_row(precision, trials, args, work) -> dict:
    """The ``jaxch6 sweep`` process (warm cache: a first process fills it)."""
    from bench_sweep import time_command

    argv = ["--trials", str(trials), "--precision", precision, "--epochs", str(args.epochs),
            "--seed", str(args.seed)]
    cache = os.path.join(work, "cache")
    try:
        time_command(argv, os.path.join(work, f"fill-{precision}-{trials}"), cache=cache)
        r = time_command(argv, os.path.join(work, f"run-{precision}-{trials}"), cache=cache)
    except RuntimeError as e:
        return {"precision": precision, "trials": trials,
                "status": f"failed: {str(e).splitlines()[-1][:160]}"}
    return {"precision": precision, "trials": trials, "status": "measured", **r}


def halving_row(args, data, rows) -> dict:
    """Successive halving vs random search at ``args.halving_trials``: time to random's final
    best − 0.01 (both timed from the start of ``jaxch6.sweep.run``)."""
    from time_to_quality import reached, run_one

    from jaxch6 import sweep

    prec, n = args.halving_precision, args.halving_trials
    random_row = next((r for r in rows if r["trials"] == n and r["precision"] == prec), {})
    if random_row.get("status") != "measured":
        return {"status": "not measured (no random row to compare)"}
    config = book_config(args, n, prec, scheduler="halving", min_epochs=max(1, args.epochs // 25))
    h = run_one(sweep, config, data)
    target = random_row["best_val_acc"] - 0.01
    hit_r, hit_h = reached(random_row["events"], target), reached(h["events"], target)
    return {"status": "measured", "precision": prec, "trials": n, "target_val_acc": target,
            "random_s": hit_r[0] if hit_r else None, "random_total_s": random_row["wall_s"],
            "halving_s": hit_h[0] if hit_h else None, "halving_total_s": h["wall_seconds"],
            "halving_best": h["best"]}


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
    from jaxch6 import sweep

    data, source = sweep.load_data(book_config(args, 1, "fp32"))
    peaks = measure_peaks(1024 if args.cpu else 8192)
    res = {"data": source, "peak_tflops": peaks, "rows": [], "processes": [], "halving": None,
           "gflop_per_trial": {k: v / 1e9 for k, v in flops_per_trial(args.epochs).items()}}
    rows = res["rows"]
    for trials in sorted(args.trials):
        for prec in PRECISIONS:
            if time.perf_counter() + estimate_s(trials, prec, rows) > deadline:
                rows.append({"precision": prec, "trials": trials, "status": "skipped (budget)"})
            else:
                rows.append(search_row(prec, trials, data, args, peaks))
            print(_row_line(rows[-1]), flush=True)
        if trials == args.halving_trials:
            if time.perf_counter() + estimate_s(trials, args.halving_precision, rows) > deadline:
                res["halving"] = {"status": "skipped (budget)"}
            else:
                res["halving"] = halving_row(args, data, rows)
            print(f"halving vs random: {res['halving']}", flush=True)
    with tempfile.TemporaryDirectory() as work:
        for prec in PRECISIONS:
            # a process compiles twice (fill + warm) and starts Python twice
            guess = 2 * estimate_s(args.process_trials, prec, rows) + 10
            if not args.process_trials or time.perf_counter() + guess > deadline:
                res["processes"].append({"precision": prec, "trials": args.process_trials,
                                         "status": "skipped (budget)"})
                continue
            res["processes"].append(process_row(prec, args.process_trials, args, work))
            print(f"process: {res['processes'][-1]}", flush=True)
    for r in rows:
        r.pop("events", None)
    return res


def _fmt(v, spec=".2f"):
    return "—" if v is None else format(v, spec)


def _row_line(r: dict) -> str:
    if r["status"] != "measured":
        return f"{r['precision']:>5} {r['trials']:>7} trials: {r['status']}"
    return (f"{r['precision']:>5} {r['trials']:>7} trials: wall {r['wall_s']:.1f} s (compile "
            f"{r['compile_s']:.1f}, run {r['run_s']:.1f}), {r['executed_tflops']:.2f} TFLOP/s "
            f"({r['pct_of_peak']:.0f}% of peak), best val acc {r['best_val_acc']:.2f}, "
            f"chunk {r['chunk']} in groups of {r['lanes']}")


def render_md(res: dict) -> str:
    """The results as a Markdown page."""
    peaks = res.get("peak_tflops") or {}
    gflop = res.get("gflop_per_trial", {}).get("executed", 0)
    lines = [f"Book search on {res['device']}, jax {res['jax_version']}, budget "
             f"{res['budget_s']:.0f} s (used {res.get('elapsed_s', 0):.0f} s); data: "
             f"{res.get('data', '—')}; executed {gflop:.1f} GFLOP per trial. Every row is one "
             "`jaxch6.sweep.run` call (its own planner and device set-up).", "",
             "| precision | matmul peak TFLOP/s |", "|---|---:|"]
    lines += [f"| {p} | {_fmt(peaks.get(p))} |" for p in PRECISIONS]
    lines += ["", "| precision | trials | chunk | lanes | wall s | compile s | run s | trials/s "
              "| executed TFLOP/s | % of peak | best val acc | status |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in res["rows"]:
        g = r.get
        lines.append(f"| {r['precision']} | {r['trials']} | {g('chunk', '—')} | "
                     f"{g('lanes', '—')} | {_fmt(g('wall_s'), '.1f')} | "
                     f"{_fmt(g('compile_s'), '.1f')} | {_fmt(g('run_s'), '.1f')} | "
                     f"{_fmt(g('trials_per_s'), '.0f')} | {_fmt(g('executed_tflops'))} | "
                     f"{_fmt(g('pct_of_peak'), '.0f')} | {_fmt(g('best_val_acc'))} | "
                     f"{r['status']} |")
    lines += ["", "| `jaxch6 sweep` process | trials | process wall s | first output s | "
              "run s | wall / run | status |", "|---|---:|---:|---:|---:|---:|---|"]
    for r in res.get("processes") or []:
        g = r.get
        ratio = g("wall_seconds") / g("run_seconds") if g("run_seconds") else None
        lines.append(f"| {r['precision']} | {r['trials']} | {_fmt(g('wall_seconds'), '.1f')} | "
                     f"{_fmt(g('first_output_seconds'), '.1f')} | "
                     f"{_fmt(g('run_seconds'), '.1f')} | {_fmt(ratio)} | {r['status']} |")
    h = res.get("halving") or {"status": "not measured"}
    lines += ["", "| halving vs random | target val acc | random to target s | random total s "
              "| halving to target s | halving total s | status |",
              "|---|---:|---:|---:|---:|---:|---|",
              f"| {h.get('trials', '—')} trials, {h.get('precision', '—')} | "
              f"{_fmt(h.get('target_val_acc'))} | {_fmt(h.get('random_s'), '.1f')} | "
              f"{_fmt(h.get('random_total_s'), '.1f')} | {_fmt(h.get('halving_s'), '.1f')} | "
              f"{_fmt(h.get('halving_total_s'), '.1f')} | {h['status']} |"]
    return "\n".join(lines) + "\n"


def not_measured(args) -> dict:
    rows = [{"precision": p, "trials": n, "status": "not measured (no accelerator)"}
            for n in args.trials for p in PRECISIONS]
    return {"rows": rows, "processes": [], "halving": {"status": "not measured (no accelerator)"}}


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    if args.cpu:
        os.environ["JAX_PLATFORMS"] = "cpu"
        from jaxch6.sweep.devices import configure_cpu_devices

        configure_cpu_devices("auto")  # the command line's set-up, before JAX starts
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
