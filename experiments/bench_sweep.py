"""Benchmark of the book's hyperparameter search: the whole `jaxch6 sweep` command, its phases,
and the vmapped sweep vs a loop vs the book's NumPy.

All in one run, on the same data (the first 500 training digits, split 400 / 100 with the
seed) and the same configuration (784-100x6-10 ReLU, He init, SGD, batch 100, 50 epochs,
lr = 10^U(-6,-2), weight decay = 10^U(-8,-4)):

(whole command) ``jaxch6 sweep`` run as a user runs it, a new process each time with its
    output to a pipe: cold compilation cache, then twice warm cache and warm with
    ``--no-plot`` (the figures' cost is the difference of each pair); then
    ``--trials 300`` with random search and with successive halving (warm). Per process: the
    wall, when its first output line came, and the phases its ``summary.json`` reports;
(phases) import times (jax, jaxch6, matplotlib: a new process each, median of 3) and, in this
    process, ``jaxch6.sweep.run(config, out=...)``'s data, compile, run, plan/store/manifest
    and the figures (:func:`jaxch6.plots.write_sweep_figures`; and as the command draws them,
    by its helper process, in a new process: median of 3), warm cache, with the seconds
    JAX spent tracing, lowering and compiling or loading programs inside ``sweep.run``
    (``jax.monitoring``'s time spans, overlaps counted once);
(a) ``jaxch6.sweep.run``: all trials as lanes of one compiled ``jit(vmap(...))`` program,
    sharded over the local devices (cold: no persistent compilation cache; then warm: the
    same shapes again with the cache, data loaded and records written);
(b) the same JAX training function, ``jax.jit`` once, called in a Python loop one trial at a
    time (dispatched round-robin to the devices, so every core is busy);
(c) a NumPy float64 port of the book's ``MultiLayerNetExtend`` + ``Trainer``
    (``jaxch6.reference.network_np``): its sequential algorithm on a subset of the trials,
    extrapolated linearly to the full count (the table says so).

Also: the float32 matmul ceiling measured the way the sweep uses the machine (every device,
on the CPU one single-threaded device per core, multiplying its own n×n matrices at once;
n = 128 … 2048, best of 7 per size; the best size is the ceiling), the achieved GFLOP/s and
its % of that ceiling, and the sweep's wall time against the number of trials.

    python experiments/bench_sweep.py [--trials 100] [--scaling 1,10,100,1000]
        [--halving-trials 300] [--no-commands] [--quick]

writes experiments/results/bench_sweep.{json,md,png} (``--quick``: tiny settings, files named
``bench_sweep_quick.*``). Precision: float32 throughout (the CPU has no TF32/bf16 path here),
so the sweep's ranking is that of a full-fp32 run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def nominal_flops(layer_sizes, *, steps, batch, epochs, n_eval_rows):
    """The book's work per trial: a training step is forward + backward ≈ 3 forward passes of
    its batch; each epoch's evaluation is one forward pass of all train and validation rows."""
    macs = sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:], strict=False))
    fwd = 2 * macs
    return {"train": 3 * fwd * batch * steps, "eval": fwd * n_eval_rows * epochs}


def executed_flops(layer_sizes, inputs_used, *, steps, batch, epochs, n_eval_rows):
    """The JAX programs' actual work per trial: the first layer sees only the ``inputs_used``
    nonzero columns, and its input gradient is never formed (x is data, not a parameter)."""
    used = (inputs_used, *layer_sizes[1:])
    macs = sum(a * b for a, b in zip(used[:-1], used[1:], strict=False))
    dx = sum(a * b for a, b in zip(used[1:-1], used[2:], strict=False))
    return {"train": 2 * (2 * macs + dx) * batch * steps, "eval": 2 * macs * n_eval_rows * epochs}


PEAK_SIZES = (128, 256, 512, 1024, 2048)


def measure_peak(jax, jnp, sizes=PEAK_SIZES, reps=7):
    """float32 GEMM ceiling as the sweep uses the machine: every local device (on the CPU one
    single-threaded device per core) multiplies its own n×n matrices at the same time; per
    size the best of ``reps`` timed calls (each call several products, so that small sizes are
    not timed by dispatch). Returns ``(best GFLOP/s over the sizes, {n: GFLOP/s})``."""
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devs = jax.local_devices()
    mesh = Mesh(np.asarray(devs), ("d",))
    per_size = {}
    for n in sizes:
        inner = max(1, (512 // n) ** 3)  # about the work of one 512×512 product or more
        a = jax.device_put(jnp.full((len(devs), n, n), 1.0 / n, jnp.float32),
                           NamedSharding(mesh, PartitionSpec("d")))

        def products(a, inner=inner):
            return jax.lax.fori_loop(0, inner, lambda _, x: x @ a, a)

        f = jax.jit(products)
        f(a).block_until_ready()
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            f(a).block_until_ready()
            best = min(best, time.perf_counter() - t)
        per_size[n] = 2 * n**3 * inner * len(devs) / best / 1e9
    return max(per_size.values()), per_size


def time_command(argv, out_dir, *, cache=None) -> dict:
    """Run ``jaxch6 sweep ARGV --out OUT_DIR`` as a user does (a new Python process, output to a
    pipe: plain progress lines) and time it: the process wall, when its first output line came,
    and the phases it reports in ``summary.json``. ``cache``: the compilation cache directory
    (None: none)."""
    import subprocess

    cmd = [sys.executable, "-m", "jaxch6", "sweep", *argv, "--out", str(out_dir)]
    cmd += ["--no-compile-cache"] if cache is None else ["--compile-cache", str(cache)]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first, compiling, last, lines = None, None, None, []
    for line in proc.stdout:
        last = time.perf_counter() - t0
        first = last if first is None else first
        if compiling is None and line.startswith("compiling"):
            compiling = last
        lines.append(line.rstrip())
    code = proc.wait()
    wall = time.perf_counter() - t0
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {code}:\n" + "\n".join(lines[-20:]))
    with open(os.path.join(out_dir, "summary.json")) as f:
        timings = json.load(f)["timings"]
    return {"argv": " ".join(argv) or "(defaults)", "wall_seconds": wall,
            "first_output_seconds": first, "first_output_line": lines[0] if lines else "",
            "compiling_line_seconds": compiling, "after_last_line_seconds": wall - (last or 0),
            "load_1min": load, **{k: timings[k] for k in ("data_seconds", "compile_seconds",
                                                             "run_seconds")},
            "in_process_wall_seconds": timings.get("wall_seconds")}


def bench_commands(base_argv, halving_trials, work) -> list[dict]:
    """The whole command: cold cache, then twice warm cache and warm without figures; then (when
    ``halving_trials``) successive halving against random search over that many trials, both
    warm. ``work`` is a scratch directory."""
    cache = os.path.join(work, "cache")
    rows = []
    runs = iter(range(100))

    def one(label, argv, **kw):
        r = {"case": label, **time_command(argv, os.path.join(work, f"run{next(runs)}"), **kw)}
        rows.append(r)
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v
                          for k, v in r.items()}), flush=True)

    one("cold compilation cache", base_argv, cache=cache)
    for again in ("", " (again)"):  # two pairs: the figures' cost is a difference of two runs
        one("warm compilation cache" + again, base_argv, cache=cache)
        one("warm, --no-plot" + again, [*base_argv, "--no-plot"], cache=cache)
    if halving_trials:
        n = ["--trials", str(halving_trials)]
        for label, argv in (("random", n), ("halving", [*n, "--scheduler", "halving"])):
            one(f"{label}, {halving_trials} trials (fill cache)", [*base_argv, *argv],
                cache=cache)
            rows.pop()  # the first of each fills the cache for its shapes
            one(f"{label}, {halving_trials} trials, warm", [*base_argv, *argv], cache=cache)
    return rows


def import_seconds() -> dict:
    """Seconds a new process spends importing ``jax`` and then ``jaxch6.sweep`` (median of 3)."""
    import subprocess

    code = ("import time; t=time.perf_counter(); import jax; a=time.perf_counter(); "
            "import jaxch6.sweep, jaxch6.commands.sweep; b=time.perf_counter(); "
            "import matplotlib.figure, matplotlib.backends.backend_agg; c=time.perf_counter(); "
            "print(a-t, b-a, c-b)")
    runs = sorted((tuple(float(x) for x in subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
        for _ in range(3)), key=sum)
    jax_s, jaxch6_s, mpl_s = runs[1]
    return {"jax": jax_s, "jaxch6": jaxch6_s, "matplotlib": mpl_s}


def in_process_phases(sweep, config, work):
    """``sweep.run(config, out=...)`` as the command runs it (data loaded, every record
    written), then the figures: (result, wall of the run call, {phase: seconds})."""
    from jaxch6.plots import write_sweep_figures

    out = os.path.join(work, "phases")
    with jax_spans() as spans:
        t0 = time.perf_counter()
        res = sweep.run(config, out=out, figures=False)
        wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    write_sweep_figures(res, out)
    figures = time.perf_counter() - t1
    tm = res.timings
    known = tm["data_seconds"] + tm["compile_seconds"] + tm["run_seconds"]
    return res, wall, {"data": tm["data_seconds"], "compile": tm["compile_seconds"],
                       "run": tm["run_seconds"], "plan, store and manifest": wall - known,
                       "figures": figures, HELPER: helper_figure_seconds(out, work),
                       "jax": spans}


#: The phase of the figures as ``jaxch6 sweep`` draws them (by its helper process).
HELPER = "figures by the command's helper process"


def helper_figure_seconds(run_dir, work) -> float | None:
    """Seconds :meth:`jaxch6.commands.figure_process.Helper.write` takes to write the figures
    of ``run_dir`` in a new process that started the helper before loading it and waited 2 s
    (the helper ready, as after training), median of 3; None where no helper can start."""
    import subprocess

    code = ("import sys, time; from jaxch6 import sweep; "
            "from jaxch6.commands import figure_process; h = figure_process.start(); "
            "r = sweep.load(sys.argv[1]); time.sleep(2.0); t = time.perf_counter(); "
            "h is not None and h.write(r, sys.argv[2]); "
            "print(time.perf_counter() - t if h is not None else 'none')")
    out = os.path.join(work, "helper-figures")
    os.makedirs(out, exist_ok=True)
    runs = [subprocess.run([sys.executable, "-c", code, str(run_dir), out], capture_output=True,
                           text=True, check=True).stdout.strip() for _ in range(3)]
    return None if "none" in runs else sorted(float(x) for x in runs)[1]


#: JAX's compile-path events (``jax.monitoring``) timed inside ``sweep.run``, by the phase name
#: the tables give them.
JAX_EVENTS = {"/jax/core/compile/jaxpr_trace_duration": "tracing to jaxprs",
              "/jax/core/compile/jaxpr_to_mlir_module_duration": "lowering to MLIR",
              "/jax/core/compile/backend_compile_duration": "XLA compile or cache load"}


@contextlib.contextmanager
def jax_spans():
    """Within the block, the seconds JAX spends in each of :data:`JAX_EVENTS`, as the union
    of its time spans (nested traces and programs compiled side by side in threads are counted
    once); filled in when the block ends."""
    from jax import monitoring

    spans, out = {k: [] for k in JAX_EVENTS}, {}

    def listen(event, start, end, **_):
        if event in spans:
            spans[event].append((start, end))

    monitoring.register_event_time_span_listener(listen)
    try:
        yield out
    finally:
        monitoring.unregister_event_time_span_listener(listen)
        out.update({JAX_EVENTS[k]: _union(v) for k, v in spans.items()})


def _union(intervals) -> float:
    """Total length of the union of ``(start, end)`` intervals."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(intervals):
        total += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    return total


def bench_loop(jax, config, data, n_trials):
    """(b): jit(train_fn) once; one call per trial, round-robin over the devices."""
    import numpy as np

    from jaxch6.sweep.keys import trial_keys
    from jaxch6.sweep.space import sample
    from jaxch6.sweep.task import drop_zero_columns
    from jaxch6.train import Data, make_train_fn

    pruned, kw = drop_zero_columns(Data(*data))
    fn = jax.jit(make_train_fn(config.train_config(), len(data[0]), len(data[2]),
                               n_features=int(np.shape(data[0])[1]), **kw))
    ids = list(range(n_trials))
    values = sample(config.space, ids, seed=config.seed)
    kd = trial_keys(config.seed, ids)
    devs = jax.local_devices()
    placed = [jax.device_put(pruned, d) for d in devs]

    def args(i):
        d = devs[i % len(devs)]
        key = jax.random.fold_in(jax.random.wrap_key_data(jax.device_put(kd[i], d)), 1)
        hp = {k: jax.device_put(np.float32(v[i]), d) for k, v in values.items()}
        return key, hp, placed[i % len(devs)]

    t0 = time.perf_counter()
    for d in range(len(devs)):  # compile (and run) once per device
        jax.block_until_ready(fn(*args(d)))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    outs = [fn(*args(i)) for i in ids]
    jax.block_until_ready(outs)
    run_s = time.perf_counter() - t0
    final = [float(o.eval_acc[-1]) for o in outs]
    return {"compile_seconds": compile_s, "run_seconds": run_s, "final_val_acc": final}


def bench_numpy(config, data, n_trials):
    """(c): the book's MultiLayerNetExtend + Trainer in NumPy float64, sequentially."""
    import numpy as np

    from jaxch6.reference.network_np import MultiLayerNetExtend, Trainer
    from jaxch6.sweep.space import sample

    x_tr, t_tr, x_val, t_val = (np.asarray(a) for a in data)
    x_tr, x_val = x_tr.astype(np.float64), x_val.astype(np.float64)
    values = sample(config.space, range(n_trials), seed=config.seed)
    finals = []
    t0 = time.perf_counter()
    for i in range(n_trials):
        rng = np.random.default_rng(1000 + i)
        net = MultiLayerNetExtend(784, list(config.hidden), 10, weight_init_std="relu",
                                  weight_decay_lambda=float(values["weight_decay"][i]), rng=rng)
        trainer = Trainer(net, x_tr, t_tr, x_val, t_val, epochs=config.epochs,
                          mini_batch_size=config.batch_size, optimizer="sgd",
                          optimizer_param={"lr": float(values["learning_rate"][i])}, rng=rng)
        trainer.train()
        finals.append(float(trainer.test_acc_list[-1]))
    return {"seconds": time.perf_counter() - t0, "final_val_acc": finals}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--loop-trials", type=int, default=None, help="(b)'s trials (default all)")
    p.add_argument("--numpy-trials", type=int, default=3, help="(c)'s measured subset")
    p.add_argument("--scaling", default="1,10,100,1000", help="trial counts for wall vs N")
    p.add_argument("--cpu-devices", default="auto", help="as jaxch6 sweep --cpu-devices")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--halving-trials", type=int, default=300,
                   help="whole command: halving vs random search over this many trials (0: skip)")
    p.add_argument("--no-commands", action="store_true",
                   help="skip timing the jaxch6 sweep process (in-process phases only)")
    p.add_argument("--quick", action="store_true", help="tiny settings (seconds): a smoke test")
    p.add_argument("--render", metavar="JSON", help="only rewrite the .md/.png of a saved run")
    p.add_argument("--time-to-quality", action="store_true",
                   help="random search vs halving, hyperband and PBT over seeds "
                        "(time_to_quality.py)")
    p.add_argument("--seeds", type=int, default=5, help="time to quality: seeds 0..N-1")
    p.add_argument("--schedulers", default="random,halving,hyperband,pbt",
                   help="time to quality: the schedulers (random first)")
    p.add_argument("--book-trials", type=int, default=1000,
                   help="time to quality: book case (0: skip it)")
    p.add_argument("--fashion-trials", type=int, default=None,
                   help="time to quality: Fashion-MNIST case (0: skip it; default "
                        "time_to_quality.FASHION_TRIALS)")
    p.add_argument("--ttq-halving", default=None, metavar="FACTOR,R,ETA",
                   help="time to quality: halving's trials as a multiple of random search's, "
                        "its first rung and eta (default time_to_quality.HALVING)")
    p.add_argument("--ttq-stem", default=None,
                   help="time to quality: output file name without suffix "
                        "(default time_to_quality)")
    args = p.parse_args()
    if args.render:
        return render(args.render)

    from jaxch6.sweep.devices import configure_cpu_devices

    configure_cpu_devices(args.cpu_devices)  # before JAX starts
    if args.time_to_quality:
        sys.path.insert(0, HERE)
        from time_to_quality import FASHION_TRIALS, bench

        halving = None
        if args.ttq_halving:
            try:
                f, r, eta = args.ttq_halving.split(",")
                halving = {"factor": float(f), "min_epochs": int(r), "eta": int(eta)}
            except ValueError:
                p.error(f"--ttq-halving takes FACTOR,R,ETA (e.g. 2,2,3), got {args.ttq_halving!r}")
        schedulers = tuple(x.strip() for x in args.schedulers.split(",") if x.strip())
        if schedulers[:1] != ("random",):
            p.error("--schedulers must start with random (the target comes from it)")
        bench(args.quick, args.out, executed_flops, seeds=args.seeds, schedulers=schedulers,
              book_trials=args.book_trials, stem=args.ttq_stem, halving=halving,
              fashion_trials=FASHION_TRIALS if args.fashion_trials is None
              else args.fashion_trials)
        return None
    import dataclasses
    import tempfile

    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxch6 import sweep

    epochs = 2 if args.quick else 50
    trials = 4 if args.quick else args.trials
    scaling = [4] if args.quick else [int(s) for s in args.scaling.split(",") if s]
    hidden = (16, 16) if args.quick else (100,) * 6  # quick: a small net compiles in seconds
    config = sweep.SweepConfig(trials=trials, epochs=epochs, seed=0, hidden=hidden).validate()
    data, data_info = sweep.load_data(config)
    sizes = (784, *config.hidden, 10)
    steps = epochs * max(config.n_train // config.batch_size, 1)
    fl = nominal_flops(sizes, steps=steps, batch=config.batch_size, epochs=epochs,
                       n_eval_rows=config.n_train + config.n_val)
    per_trial = fl["train"] + fl["eval"]
    load = [os.getloadavg()[0]]

    quick_argv = ["--trials", "4", "--epochs", "2", "--hidden", "16x2"]
    commands = []
    if not args.no_commands:
        with tempfile.TemporaryDirectory() as work:
            commands = bench_commands(quick_argv if args.quick else [],
                                      9 if args.quick else args.halving_trials, work)
    imports = import_seconds()
    load.append(os.getloadavg()[0])

    peak, peak_sizes = measure_peak(jax, jnp, (128, 256) if args.quick else PEAK_SIZES)
    print(f"float32 matmul peak over {jax.local_device_count()} device(s): {peak:.1f} GFLOP/s "
          f"(per size: {', '.join(f'{n}: {g:.0f}' for n, g in peak_sizes.items())})", flush=True)

    rows = []

    def row(method, n, wall, compile_s, run_s, note=""):
        r = {"method": method, "trials": n, "wall_seconds": wall, "compile_seconds": compile_s,
             "run_seconds": run_s, "trials_per_second": n / run_s if run_s else None,
             "gflops_per_second": per_trial * n / run_s / 1e9 if run_s else None,
             "percent_of_peak": 100 * per_trial * n / run_s / 1e9 / peak if run_s else None,
             "note": note}
        rows.append(r)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}),
              flush=True)
        return r

    # (a) the vmapped sweep, cold then warm (persistent compilation cache)
    t0 = time.perf_counter()
    res = sweep.run(config, data=data)
    wall = time.perf_counter() - t0
    tm = res.timings
    row("(a) vmapped sweep, cold", trials, wall, tm["compile_seconds"], tm["run_seconds"])
    sweep_final = [t.final_val_acc for t in res.trials]
    load.append(os.getloadavg()[0])

    # (b) Python loop over jitted single trials
    n_loop = min(args.loop_trials or trials, trials)
    t0 = time.perf_counter()
    loop = bench_loop(jax, config, data, n_loop)
    wall = time.perf_counter() - t0
    scale = trials / n_loop
    row("(b) loop over jit(train)", trials, wall * scale, loop["compile_seconds"],
        loop["run_seconds"] * scale,
        "" if scale == 1 else f"{n_loop} trials measured, extrapolated x{scale:g}")
    loop_matches = int(np.sum(np.isclose(loop["final_val_acc"], sweep_final[:n_loop],
                                         atol=1e-6)))
    load.append(os.getloadavg()[0])

    # (c) the book's NumPy float64 code
    n_np = max(1, min(args.numpy_trials, trials))
    npb = bench_numpy(config, data, n_np)
    scale = trials / n_np
    row("(c) book NumPy float64", trials, npb["seconds"] * scale, 0.0, npb["seconds"] * scale,
        f"{n_np} trials measured, extrapolated linearly x{scale:g}")
    load.append(os.getloadavg()[0])

    # wall time against N (the vmapped sweep, cold compile each: the shapes change; before the
    # persistent cache is switched on below)
    curve = []
    for n in scaling:
        if n == trials:  # (a) itself
            r, wall = res, rows[0]["wall_seconds"]
        else:
            cfg_n = dataclasses.replace(config, trials=n).validate()
            t0 = time.perf_counter()
            r = sweep.run(cfg_n, data=data)
            wall = time.perf_counter() - t0
        curve.append({"trials": n, "wall_seconds": wall, "chunk_size": r.info["chunk_size"],
                      "compile_seconds": r.timings["compile_seconds"],
                      "run_seconds": r.timings["run_seconds"]})
        print(json.dumps(curve[-1]), flush=True)
    load.append(os.getloadavg()[0])

    with tempfile.TemporaryDirectory() as cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
        sweep.run(config, data=data)  # fills the cache
        res_w, wall_w, phases = in_process_phases(sweep, config, cache)
    phases["import"] = imports
    row("(a) vmapped sweep, warm cache", trials, wall_w, res_w.timings["compile_seconds"],
        res_w.timings["run_seconds"], "compile = loading the cached program; data loaded, "
        "results written to a run directory; figures timed apart")
    load.append(os.getloadavg()[0])

    ex = executed_flops(sizes, res.info.get("input_columns_used") or 784, steps=steps,
                        batch=config.batch_size, epochs=epochs,
                        n_eval_rows=config.n_train + config.n_val)
    ex_trial = ex["train"] + ex["eval"]
    for r in rows:
        if not r["method"].startswith("(c)") and r["run_seconds"]:
            r["executed_gflops_per_second"] = ex_trial * r["trials"] / r["run_seconds"] / 1e9
            r["executed_percent_of_peak"] = 100 * r["executed_gflops_per_second"] / peak
    numpy_row = next(x for x in rows if x["method"].startswith("(c)"))
    for r in rows:
        r["speedup_vs_numpy"] = numpy_row["wall_seconds"] / r["wall_seconds"]
    result = {
        "config": config.to_dict(), "data": data_info, "jax_version": jax.__version__,
        "devices": f"{jax.local_device_count()} x {jax.local_devices()[0].device_kind}",
        "xla_flags": os.environ.get("XLA_FLAGS", ""), "cpu_count": os.cpu_count(),
        "load_average_during": load, "peak_gflops_jnp_dot_f32": peak,
        "peak_gflops_by_size": peak_sizes,
        "nominal_gflop_per_trial": {k: v / 1e9 for k, v in fl.items()},
        "executed_gflop_per_trial": {k: v / 1e9 for k, v in ex.items()},
        "input_columns_used": res.info.get("input_columns_used"),
        "rows": rows, "wall_vs_trials": curve,
        "loop_final_val_acc_equal_to_sweep": f"{loop_matches}/{n_loop}",
        "best_val_acc": {"sweep": max(sweep_final),
                         "numpy_subset": max(npb["final_val_acc"])},
        "quick": args.quick, "commands": commands, "phases": phases,
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    os.makedirs(args.out, exist_ok=True)
    name = "bench_sweep_quick" if args.quick else "bench_sweep"
    with open(os.path.join(args.out, f"{name}.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    md = markdown(result)
    with open(os.path.join(args.out, f"{name}.md"), "w") as f:
        f.write(md)
    plot(result, os.path.join(args.out, f"{name}.png"))
    print(md)


def render(path) -> None:
    """Rewrite ``<name>.md`` and ``<name>.png`` beside a saved ``<name>.json``."""
    with open(path) as f:
        r = json.load(f)
    if "executed_gflop_per_trial" not in r:  # saved before the executed count existed
        c = r["config"]
        sizes = (784, *c["hidden"], 10)
        n_train = c["train_size"] - int(c["train_size"] * c["val_fraction"])
        steps = c["epochs"] * max(n_train // c["batch_size"], 1)
        ex = executed_flops(sizes, r["input_columns_used"] or 784, steps=steps,
                            batch=c["batch_size"], epochs=c["epochs"], n_eval_rows=c["train_size"])
        r["executed_gflop_per_trial"] = {k: v / 1e9 for k, v in ex.items()}
        ex_trial = sum(ex.values())
        for x in r["rows"]:
            if not x["method"].startswith("(c)"):
                x["executed_gflops_per_second"] = ex_trial * x["trials"] / x["run_seconds"] / 1e9
                x["executed_percent_of_peak"] = (100 * x["executed_gflops_per_second"]
                                                 / r["peak_gflops_jnp_dot_f32"])
        with open(path, "w") as f:
            json.dump(r, f, indent=1)
            f.write("\n")
    base = os.path.splitext(path)[0]
    with open(base + ".md", "w") as f:
        f.write(markdown(r))
    plot(r, base + ".png")
    print(markdown(r))


def markdown(r) -> str:
    lines = [
        f"Default search ({r['rows'][0]['trials']} trials, {r['config']['epochs']} epochs), "
        f"{r['devices']}, jax {r['jax_version']}; float32 matmul peak "
        f"{r['peak_gflops_jnp_dot_f32']:.0f} GFLOP/s measured in the same run; nominal "
        f"{sum(r['nominal_gflop_per_trial'].values()):.1f} GFLOP per trial; load average "
        f"{min(r['load_average_during']):.1f}–{max(r['load_average_during']):.1f} "
        f"(shared machine){'; measured ' + r['measured_at'] if r.get('measured_at') else ''}.",
        "",
        "| method | wall s | compile s | run s | trials/s | speed-up vs NumPy | nominal GFLOP/s "
        "| executed GFLOP/s (% of peak) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["rows"]:
        note = f" ({x['note']})" if x["note"] else ""
        executed = x.get("executed_gflops_per_second")
        executed = (f"{executed:.0f} ({x['executed_percent_of_peak']:.0f}%)" if executed
                    else f"{x['gflops_per_second']:.0f} ({x['percent_of_peak']:.0f}%)")
        lines.append(
            f"| {x['method']}{note} | {x['wall_seconds']:.1f} | {x['compile_seconds']:.2f} | "
            f"{x['run_seconds']:.1f} | {x['trials_per_second']:.2f} | "
            f"{x['speedup_vs_numpy']:.1f}× | {x['gflops_per_second']:.0f} | {executed} |"
        )
    lines += ["", "| trials | wall s | compile s | run s | chunk |", "|---:|---:|---:|---:|---:|"]
    for c in r["wall_vs_trials"]:
        lines.append(f"| {c['trials']} | {c['wall_seconds']:.1f} | {c['compile_seconds']:.2f} | "
                     f"{c['run_seconds']:.1f} | {c['chunk_size']} |")
    lines.append("")
    nom = sum(r["nominal_gflop_per_trial"].values())
    exe = sum(r["executed_gflop_per_trial"].values())
    lines.append(
        f"Nominal GFLOP/s counts the book's work ({nom:.1f} GFLOP per trial: 784 inputs, a "
        "training step = 3 forward passes). The JAX programs execute "
        f"{exe:.1f} GFLOP per trial: they skip the {784 - (r['input_columns_used'] or 784)} "
        "input columns that are zero in all 500 digits and never form the input's gradient; "
        "the NumPy code executes the nominal work. The loop's final accuracies equal the "
        f"sweep's for {r['loop_final_val_acc_equal_to_sweep']} trials; everything is float32 "
        "(NumPy: float64)."
    )
    by_size = r.get("peak_gflops_by_size")
    if by_size:
        lines += ["", "float32 matmul peak per size (every device multiplying its own n×n "
                  "matrices at once, best of 7): " + ", ".join(
                      f"{n}: {g:.0f}" for n, g in by_size.items()) + " GFLOP/s."]
    lines += markdown_commands(r)
    return "\n".join(lines) + "\n"


def markdown_commands(r) -> list[str]:
    """The whole command's table, its ratios, and the in-process phases."""
    rows = r.get("commands") or []
    lines = []
    if rows:
        lines += ["", "Whole command: `jaxch6 sweep` as a user runs it (a new process, output "
                  "to a pipe), one after another in the same run. *Outside `sweep.run`*: the "
                  "process wall minus the library call's own wall (process start, imports, "
                  "figures, the printed report, exit):", "",
                  "| command | process wall s | first output line s | `compiling…` line s "
                  "| data s | compile s | run s | outside `sweep.run` s | exit after the last "
                  "line s | wall / run | load |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for c in rows:
            outside = c["wall_seconds"] - c["in_process_wall_seconds"]
            lines.append(f"| {c['case']}: `jaxch6 sweep {c['argv']}` | {c['wall_seconds']:.1f} "
                         f"| {c['first_output_seconds']:.2f} | {_num(c, 'compiling_line_seconds')}"
                         f" | {c['data_seconds']:.2f} | "
                         f"{c['compile_seconds']:.2f} | {c['run_seconds']:.1f} | {outside:.1f} | "
                         f"{_num(c, 'after_last_line_seconds')} | "
                         f"{c['wall_seconds'] / c['run_seconds']:.2f} | {c['load_1min']:.1f} |")
        by = {c["case"]: c for c in rows}
        warm = by["warm compilation cache"]
        book = next(x for x in r["rows"] if x["method"].startswith("(c)"))
        lines += ["", *_figure_cost_lines(by),
                  f"- the book's sequential algorithm (row (c)) / the warm process: "
                  f"{book['wall_seconds'] / warm['wall_seconds']:.1f}×",
                  "- first output line " + _span([c["first_output_seconds"] for c in rows])
                  + " s after the process started (goal: about 1 s); the `compiling…` line "
                  + _span([c.get("compiling_line_seconds") for c in rows]) + " s"]
        halving = [c for c in rows if c["case"].startswith("halving")]
        random = [c for c in rows if c["case"].startswith("random")]
        if halving and random:
            lines.append(f"- {halving[0]['case']} / {random[0]['case']}: process wall "
                         f"{halving[0]['wall_seconds']:.1f} / {random[0]['wall_seconds']:.1f} s "
                         f"= {halving[0]['wall_seconds'] / random[0]['wall_seconds']:.0%} "
                         f"(goal ≤ 30 %); run phase "
                         f"{halving[0]['run_seconds'] / random[0]['run_seconds']:.0%}")
    ph = r.get("phases")
    if ph:
        imp = ph["import"]
        lines += ["", "In-process phases of the same search (warm cache; imports in a new "
                  "process, median of 3):", "", "| phase | seconds |", "|---|---:|"]
        lines += [f"| import {k} | {v:.2f} |" for k, v in imp.items()]
        lines += [f"| {k} | {ph[k]:.2f} |" for k in ("data", "compile", "run",
                                                     "plan, store and manifest", "figures")]
        if ph.get(HELPER) is not None:
            lines.append(f"| {HELPER} (a new process, median of 3) | {ph[HELPER]:.2f} |")
        lines += [f"| JAX inside `sweep.run`: {k} | {v:.2f} |"
                  for k, v in (ph.get("jax") or {}).items()]
    return lines


def _figure_cost_lines(by) -> list[str]:
    """The warm process against its run phase, and what the figures add: warm with figures −
    warm with ``--no-plot``, per pair of runs (older results have one pair), as process walls
    and as time outside ``sweep.run`` (the same difference without the two training phases'
    run-to-run spread)."""
    pairs = [(by[w], by[b]) for w, b in (("warm compilation cache", "warm, --no-plot"),
                                          ("warm compilation cache (again)",
                                           "warm, --no-plot (again)")) if w in by and b in by]

    def outside(c):
        return c["wall_seconds"] - c["in_process_wall_seconds"]

    walls = [w["wall_seconds"] - b["wall_seconds"] for w, b in pairs]
    outs = [outside(w) - outside(b) for w, b in pairs]
    ratios = [w["wall_seconds"] / w["run_seconds"] for w, _ in pairs]
    return ["- warm process wall / its own run phase: "
            + ", ".join(f"{x:.2f}×" for x in ratios) + " (goal ≤ 1.15×)",
            "- figures add " + ", ".join(f"{x:.2f}" for x in walls) + " s (process wall, warm "
            "with figures − warm with `--no-plot`, per pair of runs; goal ≤ 0.5 s); outside "
            "`sweep.run`: " + ", ".join(f"{x:.2f}" for x in outs) + " s"]


def _span(values) -> str:
    """``min–max`` of the recorded ``values`` ("—" if none)."""
    xs = [v for v in values if v is not None]
    return f"{min(xs):.2f}–{max(xs):.2f}" if xs else "—"


def _num(row, key) -> str:
    """``row[key]`` to two decimals, "—" where the run did not record it."""
    return "—" if row.get(key) is None else f"{row[key]:.2f}"


def plot(r, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [c["trials"] for c in r["wall_vs_trials"]]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(n, [c["wall_seconds"] for c in r["wall_vs_trials"]], "o-", label="vmapped sweep (wall)")
    ax.plot(n, [c["run_seconds"] for c in r["wall_vs_trials"]], "o--", label="vmapped sweep (run)")
    by = {x["method"]: x for x in r["rows"]}
    for method, style in (("(b) loop over jit(train)", ":"), ("(c) book NumPy float64", "-.")):
        x = by[method]  # compile once, then the measured seconds per trial
        ax.plot(n, [x["compile_seconds"] + x["run_seconds"] / x["trials"] * k for k in n], style,
                label=method[4:] + " (compile + linear)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("trials")
    ax.set_ylabel("seconds")
    ax.set_title(f"Book search, {r['devices']}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
