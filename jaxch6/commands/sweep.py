"""``jaxch6 sweep``: the book's hyperparameter random search as one vectorised, compiled program.

A thin layer over :func:`jaxch6.sweep.run` / :func:`jaxch6.sweep.resume`. Standard library only
at import time; JAX and matplotlib are imported inside :func:`run`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from jaxch6.errors import ConfigError

HELP = "hyperparameter random search: many trials as one compiled, vmapped program"
DESCRIPTION = """\
The book's hyperparameter search (ch06/hyperparameter_optimization.py) as vmapped trials.

With no options: the first 500 training digits of MNIST (the embedded sample offline), 20% held
out for validation (400 / 100), a 784-100x6-10 ReLU network with He init, SGD, batch 100, 50
epochs, 100 trials of lr = 10^U(-6,-2) and weight decay = 10^U(-8,-4). Prints the book's
"Best-k(val acc:...) | lr:..., weight decay:..." ranking and writes trials.jsonl, summary.json
and top20.png to --out.

examples:
  jaxch6 sweep
  jaxch6 sweep --trials 1000 --rounds 3 --keep 20
  jaxch6 sweep --optimizer momentum --space lr=1e-4:1e-1 --space momentum=0.5:0.99:lin
  jaxch6 sweep --resume runs/sweep-20240101-120000
"""

DEFAULT_CACHE = Path.home() / ".cache" / "jaxch6" / "jax-compile-cache"


def add_arguments(p: argparse.ArgumentParser) -> None:
    s = p.add_argument_group("search")
    s.add_argument("--space", action="append", metavar="NAME=LOW:HIGH[:log|:lin]", default=None,
                   help="a searched hyperparameter and its range (repeatable; default log). "
                        "Names: the optimizer's (learning_rate or lr, momentum, beta1, ...) and "
                        "weight_decay, dropout_ratio, init_scale. Default: the book's "
                        "lr=1e-6:1e-2 weight_decay=1e-8:1e-4")
    s.add_argument("--trials", type=int, default=100, help="trials per round (default 100)")
    s.add_argument("--rounds", type=int, default=1,
                   help="rounds; after each, the ranges narrow to the best --keep trials' span")
    s.add_argument("--keep", type=int, default=10, help="trials that set the next round's ranges")
    s.add_argument("--seed", type=int, default=0, help="seed of sampling, training and the split")
    s.add_argument("--top", type=int, default=20, help="how many best trials to print (20)")

    n = p.add_argument_group("network and training")
    n.add_argument("--optimizer", default="sgd",
                   help="sgd | momentum | nesterov | adagrad | rmsprop | adadelta | adam")
    n.add_argument("--hidden", default="100x6", help="hidden sizes, e.g. 100x6 or 100,50")
    n.add_argument("--activation", default="relu", help="relu | sigmoid | tanh")
    n.add_argument("--init", default="he",
                   help="weight init: he, xavier, glorot_normal, ... or a number (the std)")
    n.add_argument("--batchnorm", action="store_true", help="batch normalisation")
    n.add_argument("--dropout", action="store_true", help="dropout (ratio 0.5 unless searched)")
    n.add_argument("--epochs", type=int, default=50)
    n.add_argument("--batch-size", type=int, default=100)

    d = p.add_argument_group("data")
    d.add_argument("--dataset", default="mnist", help="mnist | fashion_mnist")
    d.add_argument("--source", default="auto", help="auto | sample | idx | tfds")
    d.add_argument("--data-dir", default=None, help="IDX files or tfds data directory")
    d.add_argument("--train-size", type=int, default=500,
                   help="first N training digits used (book: 500)")
    d.add_argument("--val-fraction", type=float, default=0.2,
                   help="fraction of them held out for validation (book: 0.2)")

    r = p.add_argument_group("run")
    r.add_argument("--out", default=None,
                   help="output directory (default ./runs/sweep-YYYYmmdd-HHMMSS)")
    r.add_argument("--resume", metavar="DIR", default=None,
                   help="finish the interrupted sweep in DIR (its config is read from there)")
    r.add_argument("--chunk-size", type=int, default=None,
                   help="trials per compiled call (default: from memory and devices); "
                        "results do not depend on it")
    r.add_argument("--lanes", type=int, default=None,
                   help="trials per vmap group (default: from the trial's footprint and the "
                        "platform; 2 for the book's net on the CPU). Part of the results' "
                        "definition, like the platform")
    r.add_argument("--no-compile-cache", action="store_true",
                   help="do not use JAX's persistent compilation cache")
    r.add_argument("--compile-cache", default=str(DEFAULT_CACHE), metavar="DIR",
                   help="persistent compilation cache directory (default %(default)s)")
    r.add_argument("--cpu-devices", default="auto", metavar="N|auto",
                   help="on the CPU, run N single-threaded JAX devices and shard trials over "
                        "them (auto: one per core, at least 2; results are identical for every "
                        "N >= 2). Ignored when XLA_FLAGS already sets a host device count")
    r.add_argument("--no-plot", action="store_true", help="skip top20.png")
    r.add_argument("--quiet", action="store_true", help="no progress bar")

    from jaxch6.sweep.optuna_driver import add_optuna_arguments

    add_optuna_arguments(p)  # --sampler, --batch-trials, --storage, --study, --retry-failed, ...


def build_config(args):
    """A validated :class:`jaxch6.sweep.SweepConfig` from parsed arguments (ConfigError)."""
    from jaxch6.sweep import BOOK_SPACE, SweepConfig, parse_hidden, parse_param

    space = tuple(parse_param(s) for s in args.space) if args.space else BOOK_SPACE
    init: str | float = args.init
    try:
        init = float(args.init)
    except ValueError:
        pass
    config = SweepConfig(
        space=space,
        trials=args.trials,
        rounds=args.rounds,
        keep=args.keep,
        seed=args.seed,
        optimizer=args.optimizer,
        hidden=parse_hidden(args.hidden),
        activation=args.activation,
        init=init,
        batchnorm=args.batchnorm,
        dropout=args.dropout,
        batch_size=args.batch_size,
        epochs=args.epochs,
        train_size=args.train_size,
        val_fraction=args.val_fraction,
        dataset=args.dataset,
        source=args.source,
        data_dir=args.data_dir,
        chunk_size=args.chunk_size,
        lanes=args.lanes,
    )
    return config.validate()


def configure_cpu_devices(spec: str) -> int | None:
    """Before JAX starts: on the CPU, make ``N`` host devices with single-threaded kernels
    (``--xla_force_host_platform_device_count=N --xla_cpu_multi_thread_eigen=false
    intra_op_parallelism_threads=1``), so each core trains its own share of every chunk with no
    cross-thread synchronisation inside the many small matmuls. Measured on 2 cores: 15-27% less
    wall time than one 2-thread device. Single-threaded kernels also make the arithmetic the
    same for every N >= 2 (a multi-threaded matmul may split its sums differently), so a
    trial's result does not depend on ``--cpu-devices``. N = 1 compiles without XLA's SPMD
    pipeline, whose different pass order rewrites a division into a multiplication by the
    reciprocal: last-bit differences that 200 SGD steps can turn into a different accuracy in
    a few trials; so "auto" uses at least 2 devices, also on one core. Returns N, or None where
    nothing was changed (JAX already running, or XLA_FLAGS already choosing a device count)."""
    if spec == "auto":  # one per core, at least 2 (see below)
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        n = max(2, n or 1)
    else:
        try:
            n = int(spec)
        except ValueError:
            raise ConfigError(f"--cpu-devices must be a positive integer or 'auto', got {spec!r}"
                              ) from None
        if n < 1:
            raise ConfigError(f"--cpu-devices must be a positive integer or 'auto', got {spec!r}")
    flags = os.environ.get("XLA_FLAGS", "")
    if "jax" in sys.modules or "xla_force_host_platform_device_count" in flags:
        return None
    os.environ["XLA_FLAGS"] = (
        f"{flags} --xla_force_host_platform_device_count={n} "
        "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    ).strip()
    return n


def enable_compile_cache(directory: str) -> None:
    """Turn on JAX's persistent compilation cache in ``directory`` (any program compiling in
    0.2 s or more is stored; a repeated sweep of the same shapes loads it instead)."""
    import jax

    os.makedirs(directory, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


class ProgressBar:
    """A plain-text progress bar on stderr, redrawn per chunk (one line per chunk off a tty)."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.open = False

    def __call__(self, p) -> None:
        from jaxch6.sweep.runner import format_space

        if p.round_start:
            self.close()
            print(f"round {p.round + 1}/{p.rounds}: {format_space(p.space)}", file=self.stream)
            return
        filled = int(self.width * p.done / max(p.total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        line = (f"[{bar}] {p.done}/{p.total} trials  {p.trials_per_second:.1f} trials/s  "
                f"{p.run_seconds:.1f} s")
        if self.tty:
            self.stream.write("\r" + line)
            self.open = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False


def run(args) -> int:
    wall0 = time.perf_counter()
    configure_cpu_devices(args.cpu_devices)  # before anything imports JAX
    if getattr(args, "sampler", None):  # an Optuna worker (jaxch6.sweep.optuna_driver)
        from jaxch6.sweep.optuna_driver import run_optuna

        return run_optuna(args)
    if args.resume is None:
        config = build_config(args)
        out = Path(args.out or f"runs/sweep-{time.strftime('%Y%m%d-%H%M%S')}")
    else:
        out = Path(args.resume)
        if not (out / "summary.json").exists():
            raise ConfigError(f"--resume {out}: no summary.json there (not a sweep directory)")
    if args.top < 0:
        raise ConfigError(f"--top must be >= 0, got {args.top}")

    if not args.no_compile_cache:
        enable_compile_cache(args.compile_cache)
    import jax

    from jaxch6 import sweep

    bar = None if args.quiet else ProgressBar()
    try:
        if args.resume is None:
            result = sweep.run(config, out=out, progress=bar, top=max(args.top, 20))
        else:
            result = sweep.resume(out, progress=bar, top=max(args.top, 20))
    finally:
        if bar is not None:
            bar.close()

    info, tm, cfg = result.info, result.timings, result.config
    data = info["data"]
    print(f"data: {data['dataset']} from source {data['source']!r} "
          f"({data.get('location', '')}): {data['n_train']} train / {data['n_val']} validation")
    print(f"devices: {info['device_count']} x {info['device_kind']} ({info['backend']}), "
          f"chunk {info['chunk_size']} trials in groups of {info['lanes']}, "
          f"jax {jax.__version__}")
    for rd in result.rounds:
        from jaxch6.sweep.runner import format_space
        from jaxch6.sweep.space import space_from_dicts

        print(f"round {rd['round'] + 1}/{cfg.rounds}: {format_space(space_from_dicts(rd['space']))}"
              f"  best val acc {rd['best_val_acc']!r}, {rd['n_diverged']} diverged")
    print(f"compile {tm['compile_seconds']:.2f} s, run {tm['run_seconds']:.2f} s "
          f"({tm['trials_run']} trials, {tm['trials_per_second']:.1f} trials/s), "
          f"wall {time.perf_counter() - wall0:.2f} s")
    print("=========== Hyper-Parameter Optimization Result ===========")
    for line in result.ranking_lines(args.top):
        print(line)
    written = ["trials.jsonl", "summary.json"]
    if not args.no_plot and result.trials:
        from jaxch6.plots import sweep_top_grid

        sweep_top_grid(result.ranked, out / "top20.png",
                       title=f"{len(result.trials)} trials, best val acc "
                             f"{result.ranked[0].final_val_acc!r}")
        written.append("top20.png")
    print(f"wrote {out}/: {', '.join(written)}")
    return 0
