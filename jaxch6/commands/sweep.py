"""``jaxch6 sweep``: the book's hyperparameter search (random, a scheduler's, or an Optuna
study's) as vectorised, compiled programs.

A thin layer over :func:`jaxch6.sweep.run` / :func:`jaxch6.sweep.resume` (with ``--sampler``,
:func:`jaxch6.sweep.optuna.run`). Standard library only at import time; JAX and matplotlib are
imported inside :func:`run`.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from jaxch6 import names
from jaxch6.cache import default_directory, disable_compile_cache, enable_compile_cache
from jaxch6.commands.flags import flag_words
from jaxch6.commands.signals import check as check_signal
from jaxch6.commands.signals import run_interruptible
from jaxch6.errors import ConfigError
from jaxch6.names import listing
from jaxch6.sweep.config_file import PYTHON_TASK
from jaxch6.sweep.devices import configure_cpu_devices

HELP = "hyperparameter random search: many trials as one compiled, vmapped program"
DESCRIPTION = """\
The book's hyperparameter search (ch06/hyperparameter_optimization.py) as vmapped trials.

With no options: the first 500 training digits of MNIST (the embedded sample offline), 20% held
out for validation (400 / 100), a 784-100x6-10 ReLU network with He init, SGD, batch 100, 50
epochs, 100 trials of learning_rate = 10^U(-6,-2) and weight_decay = 10^U(-8,-4). Prints the
book's "Best-k(val acc:...) | learning_rate:..., weight_decay:..." ranking and writes
trials.jsonl, trials.csv, summary.json and the figures (top20.png, scatter.png, parallel.png;
rungs.png for halving and hyperband, pbt.png for pbt) to --out.

examples:
  jaxch6 sweep
  jaxch6 sweep --trials 1000 --rounds 3 --keep 20
  jaxch6 sweep --optimizer momentum --space lr=1e-4:1e-1 --space momentum=0.5:0.99:lin
  jaxch6 sweep --resume runs/sweep-20240101-120000
  jaxch6 sweep show runs/sweep-20240101-120000 --top 5
  jaxch6 sweep export-optuna runs/sweep-20240101-120000 --storage sqlite:///sweeps.db
"""

DEFAULT_CACHE = default_directory()


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``jaxch6 sweep`` (its actions ``show`` and ``export-optuna`` too)."""
    _search_arguments(p.add_argument_group("search"))
    _network_arguments(p.add_argument_group("network and training"))
    _data_arguments(p.add_argument_group("data"))
    _run_arguments(p.add_argument_group("run"))
    from jaxch6.commands import sweep_optuna

    sweep_optuna.add_arguments(p)  # --sampler, --batch-trials, --storage, --study, ...

    from jaxch6.commands.sweep_actions import add_actions

    add_actions(p)  # jaxch6 sweep show DIR | export-optuna DIR


def _search_arguments(s) -> None:
    s.add_argument("--space", action="append", metavar="NAME=LOW:HIGH[:log|:lin]|NAME=A,B,..",
                   default=None,
                   help="a searched hyperparameter: a float range (default log), an int range "
                        "LOW:HIGH:int[:log], or choices A,B,... (repeatable). Float names: the "
                        "optimizer's (learning_rate or lr, momentum, beta1, ...), "
                        "weight_decay, dropout_ratio, init_scale; choices also for optimizer, "
                        "activation, batchnorm (on,off), batch_size, hidden (100x6,50/50), "
                        "width (int range too): each combination compiles once. Default: the "
                        "book's lr=1e-6:1e-2 weight_decay=1e-8:1e-4")
    s.add_argument("--trials", type=int, default=100,
                   help="trials per round; for pbt the population (default 100)")
    _scheduler_arguments(s)
    s.add_argument("--repeats", type=int, default=1,
                   help="training keys per trial; ranking uses the mean (default 1)")
    s.add_argument("--save-best", type=int, default=0, metavar="K",
                   help="save the best K trials' run states under DIR/models/ (default 0)")
    s.add_argument("--seed", type=int, default=0,
                   help="seed of sampling, training and the split (default %(default)s)")
    s.add_argument("--top", type=int, default=20,
                   help="how many best trials to print (default %(default)s)")


def _scheduler_arguments(s) -> None:
    """``--scheduler`` and each scheduler's settings, from the registry."""
    from jaxch6.sweep import schedulers

    s.add_argument("--scheduler", default="random",
                   help=" | ".join(f"{name} ({cls.help})" for name, cls in
                                   schedulers.SCHEDULERS.items()) + " (default %(default)s)")
    for field, users in schedulers.options():
        s.add_argument("--" + field.name.replace("_", "-"), type=int, default=field.default,
                       help=f"{'/'.join(users)}: {field.metadata['help']} "
                            "(default %(default)s)")


def _network_arguments(n) -> None:
    n.add_argument("--optimizer", default="sgd",
                   help=f"{listing(names.OPTIMIZERS)} (default %(default)s)")
    n.add_argument("--hidden", default="100x6",
                   help="hidden sizes, e.g. 100x6 or 100,50 (default %(default)s)")
    n.add_argument("--activation", default="relu",
                   help=f"{listing(names.ACTIVATIONS)} (default %(default)s)")
    n.add_argument("--init", default="he",
                   help=f"weight init: {', '.join(names.INITIALIZERS)} or a number (the "
                        "std) (default %(default)s)")
    n.add_argument("--batchnorm", action="store_true",
                   help="batch normalisation (default off)")
    n.add_argument("--dropout", action="store_true",
                   help="dropout, ratio 0.5 unless searched (default off)")
    n.add_argument("--epochs", type=int, default=50,
                   help="training epochs of a trial; halving/hyperband: of the last rung "
                        "(default %(default)s)")
    n.add_argument("--batch-size", type=int, default=100,
                   help="mini-batch size of every step (default %(default)s)")
    n.add_argument("--schedule", default="constant",
                   help=f"learning-rate schedule: {listing(names.SCHEDULES)} (its numbers "
                        "are searchable, e.g. "
                        "--space warmup_fraction=0.01:0.3:lin) (default %(default)s)")
    n.add_argument("--precision", default="fp32",
                   help=f"matmul precision: {listing(names.PRECISIONS)} (default %(default)s)")


def _data_arguments(d) -> None:
    d.add_argument("--dataset", default="mnist",
                   help=f"{listing(names.DATASETS)} (default %(default)s)")
    d.add_argument("--source", default="auto",
                   help=f"{listing(names.SOURCES)} (default %(default)s)")
    d.add_argument("--data-dir", default=None,
                   help="IDX files or tfds data directory (default: $JAXCH6_DATA_DIR; see "
                        "jaxch6.data)")
    d.add_argument("--train-size", type=int, default=500,
                   help="first N training digits used (default %(default)s, the book's)")
    d.add_argument("--val-fraction", type=float, default=0.2,
                   help="fraction of them held out for validation (default %(default)s, the "
                        "book's)")


def _run_arguments(r) -> None:
    r.add_argument("--config", metavar="FILE", default=None,
                   help="read options from a TOML file whose keys are option names "
                        "(trials = 200, batch_size = 50, batchnorm = true, space = "
                        "[\"lr=1e-4:1e-1\"]); options given here override the file's. Every "
                        "run directory holds its sweep.toml (default: none)")
    r.add_argument("--task", default=None, metavar="MODULE:NAME",
                   help="sweep your own model: a jaxch6.sweep.Task or a function returning one "
                        "(imported like module:app in ASGI servers; the network options do "
                        "not apply; default: the book's network)")
    r.add_argument("--data", default=None, metavar="FILE.npz",
                   help="the task's data: named arrays ('train/x' nests as data['train']['x']) "
                        "(default: the task's load_data)")
    r.add_argument("--out", default=None,
                   help="output directory (default ./runs/sweep-YYYYmmdd-HHMMSS)")
    r.add_argument("--resume", metavar="DIR", default=None,
                   help="finish the interrupted sweep in DIR (its config is read from there; "
                        "default: start a new sweep)")
    r.add_argument("--chunk-size", type=int, default=None,
                   help="trials per compiled call (default: from memory and devices); "
                        "results do not depend on it")
    r.add_argument("--lanes", type=int, default=None,
                   help="trials per vmap group (default: from the trial's footprint and the "
                        "platform; 2 for the book's net on the CPU). Part of the results' "
                        "definition, like the platform")
    r.add_argument("--no-compile-cache", action="store_true",
                   help="do not use JAX's persistent compilation cache, nor the traced "
                   "programs kept in it, whatever the environment sets (default: use them)")
    r.add_argument("--compile-cache", default=str(DEFAULT_CACHE), metavar="DIR",
                   help="persistent compilation cache directory (default %(default)s)")
    r.add_argument("--cpu-devices", default="auto", metavar="N|auto",
                   help="on the CPU, run N single-threaded JAX devices and shard trials over "
                        "them (auto: one per core, at least 2; results are identical for every "
                        "N >= 2). Ignored when XLA_FLAGS already sets a host device count "
                        "(default %(default)s)")
    r.add_argument("--no-plot", action="store_true",
                   help="skip the figures (top20.png, scatter.png, parallel.png, ...) "
                        "(default: write them)")
    r.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="also write TensorBoard event files under DIR: a run per trial, its "
                        "metrics per epoch, its hyperparameters in the HParams view (needs "
                        "jaxch6[tensorboard]; default: none)")
    r.add_argument("--quiet", action="store_true",
                   help="no progress bar or progress lines (default: show progress)")


#: Options a config file cannot set (the file itself, and the actions' positional words).
NOT_IN_FILES = ("config", "action")


def expand_argv(argv: list[str]) -> list[str]:
    """``argv`` (the words after ``jaxch6 sweep``) with the options of ``--config FILE``
    put before them, so that the command line's own come later and win.

    Raises:
        ConfigError: an unreadable or invalid file, an unknown key, or a value of the wrong
            kind (one line naming the file and the key).
    """
    path = _config_path(argv)
    if path is None:
        return argv
    import tomllib

    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: not valid TOML ({exc})") from None
    return _file_tokens(table, argv, path) + argv


def _config_path(argv: list[str]) -> str | None:
    for i, word in enumerate(argv):
        if word == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith("--config="):
            return word.partition("=")[2]
    return None


def _file_tokens(table: dict, argv: list[str], path: str) -> list[str]:
    """The command-line words that say what ``table`` (a parsed config file) says."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    defaults = {k: v for k, v in vars(parser.parse_args([])).items() if k not in NOT_IN_FILES}
    words: list[str] = []
    for key, value in table.items():
        if key == PYTHON_TASK:
            if not any(w == "--task" or w.startswith("--task=") for w in argv):
                raise ConfigError(f"--config {path}: its task {value!r} was given from Python: "
                                  "pass --task MODULE:NAME (and --data) to run it from the "
                                  "command line")
            continue
        name = key.replace("-", "_")
        if name not in defaults:
            raise ConfigError(f"--config {path}: unknown option {key!r} (keys are the options' "
                              f"names: {', '.join(sorted(defaults))})")
        flag = "--" + name.replace("_", "-")
        words += _words(flag, value, defaults[name] is False, path, key, argv)
    return words


def _words(flag: str, value, is_flag: bool, path: str, key: str, argv: list[str]) -> list[str]:
    def bad(kind: str) -> ConfigError:
        return ConfigError(f"--config {path}: {key} must be {kind}, got {value!r}")

    if is_flag:
        if not isinstance(value, bool):
            raise bad("true or false")
        return [flag] if value else []
    if flag == "--space":
        if any(w == flag or w.startswith(flag + "=") for w in argv):
            return []  # the command line's --space replaces the file's
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise bad('a list of --space texts (["lr=1e-4:1e-1", ...])')
        return [f"{flag}={v}" for v in values]
    if flag == "--hidden" and isinstance(value, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise bad("a text like \"100x6\" or a list of layer sizes")
        value = ",".join(str(v) for v in value)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise bad("a number or a text")
    return [f"{flag}={value}"]


def build_config(args):
    """A validated :class:`jaxch6.sweep.SweepConfig` from parsed arguments (ConfigError, its
    field names given as the options: ``--trials``, ``--space lr``)."""
    try:
        return _build_config(args)
    except ConfigError as exc:
        raise ConfigError(flag_words(str(exc))) from None


def _build_config(args):
    from jaxch6.sweep import BOOK_SPACE, SweepConfig, parse_hidden, parse_param, schedulers

    space = tuple(parse_param(s) for s in args.space) if args.space else BOOK_SPACE
    init: str | float = args.init
    try:
        init = float(args.init)
    except ValueError:
        pass
    config = SweepConfig(
        space=space,
        trials=args.trials,
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
        scheduler=args.scheduler,
        **{field.name: getattr(args, field.name) for field, _ in schedulers.options()},
        repeats=args.repeats,
        save_best=args.save_best,
        schedule=args.schedule,
        precision=args.precision,
        sampler="grid" if getattr(args, "sampler", None) == "grid" else "random",
        task=getattr(args, "task", None),  # a task's --space is checked against the task
    )
    return config.validate()


#: Options that define a run: refused next to --resume (the run's own come from its manifest),
#: besides the schedulers' settings (:func:`jaxch6.sweep.schedulers.options`).
RUN_OPTIONS = ("space", "trials", "scheduler", "repeats",
               "save_best", "seed", "optimizer", "hidden", "activation", "init",
               "batchnorm", "dropout", "epochs", "batch_size", "schedule", "precision",
               "dataset", "source", "data_dir", "train_size", "val_fraction", "chunk_size",
               "lanes", "out", "sampler", "task")


def _optuna_options() -> dict:
    """The Optuna study's own options (``--sampler`` aside) and their defaults."""
    from jaxch6.commands import sweep_optuna

    parser = argparse.ArgumentParser(add_help=False)
    sweep_optuna.add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    defaults.pop("sampler")
    return defaults


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_resume_options(args) -> None:
    """Refuse options that would change a resumed run, or that it would ignore (one line
    naming the first)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    from jaxch6.sweep import schedulers

    given = given_options(args)
    for name in (*RUN_OPTIONS, *(f.name for f, _ in schedulers.options()), *_optuna_options()):
        if (name in given) if given is not None else \
                getattr(args, name, None) != parser.get_default(name):
            raise ConfigError(f"--resume takes no {_flag(name)}: a resumed sweep keeps the "
                              f"options recorded in {args.resume}/manifest.json")


def given_options(args, *, typed: bool = False) -> set[str] | None:
    """The options ``args.argv`` gives (on the command line or through ``--config``; with
    ``typed``, ``args.typed``: on the command line only), even at their default values; None
    without them (``args`` not made by the command line)."""
    words = getattr(args, "typed" if typed else "argv", None)
    if words is None:
        return None
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    # every name preset to None: argparse then applies no default, and a given option (never
    # None once parsed) overwrites its None
    unset = argparse.Namespace(**dict.fromkeys(vars(parser.parse_args([]))))
    return {k for k, v in vars(parser.parse_args(words, namespace=unset)).items()
            if v is not None}


def check_ignored_options(args) -> None:
    """Refuse a combination in which an option would be silently ignored (one line)."""
    if getattr(args, "out", None) == "":
        raise ConfigError("--out must name a directory, got ''")
    if getattr(args, "no_compile_cache", False) and args.compile_cache != str(DEFAULT_CACHE):
        raise ConfigError("--compile-cache DIR does not apply with --no-compile-cache")
    if getattr(args, "resume", None) is not None:
        return
    typed = given_options(args, typed=True) or set()
    if getattr(args, "task", None) is not None:
        _check_book_options(args, typed)
    _check_scheduler_options(args, typed)
    if getattr(args, "sampler", None) in (None, "grid"):  # the sweep's own sampling
        for name, default in _optuna_options().items():
            if getattr(args, name, default) != default:
                raise ConfigError(f"{_flag(name)} is an option of an Optuna study: it needs "
                                  "--sampler random|tpe|cmaes|qmc (without one the sweep "
                                  "samples its trials itself)")
    elif getattr(args, "scheduler", "random") != "random":
        raise ConfigError(f"--scheduler {args.scheduler} works with the sweep's own sampling, "
                          f"not with --sampler {args.sampler} (an Optuna study stops trials "
                          "early with --pruner)")


def _check_book_options(args, typed: set[str]) -> None:
    """Refuse an option of the book's network or data typed with ``--task`` (one line; a
    config file's, e.g. an older task run's sweep.toml that spells out the defaults, is a
    record and gives way)."""
    from jaxch6.sweep.config import BOOK_FIELDS

    for name in BOOK_FIELDS:
        if name in typed:
            raise ConfigError(f"{_flag(name)} is an option of the book's network and data: "
                              f"it does not apply to --task {args.task}")


def _check_scheduler_options(args, typed: set[str]) -> None:
    """Refuse a scheduler's setting typed on the command line that the run would not read:
    the chosen scheduler's are read, and an Optuna pruner's rungs read ``min_epochs`` and
    ``eta`` (settings with an ``only`` note are the config's own check; a config file's are a
    record of its run and give way)."""
    from jaxch6.sweep import schedulers

    scheduler = getattr(args, "scheduler", "random")
    optuna = getattr(args, "sampler", None) not in (None, "grid")
    pruning = optuna and getattr(args, "pruner", None) not in (None, "none")
    if scheduler not in schedulers.SCHEDULERS:
        return  # the config names it
    for field, users in schedulers.options():
        if field.name not in typed or scheduler in users or field.metadata["only"] \
                or (pruning and field.name in ("min_epochs", "eta")):
            continue
        by = f"--sampler {args.sampler} without --pruner" if optuna else \
            f"--scheduler {scheduler}"
        raise ConfigError(f"{_flag(field.name)} is a setting of {' and '.join(users)}: "
                          f"{by} does not read it")


def check_numbers(args) -> None:
    """Range-check the numeric options that no config checks (one line naming the option)."""
    def positive(flag, value, *, allow_zero=False):
        low = 0 if allow_zero else 1
        if value is not None and not value >= low:
            raise ConfigError(f"{flag} must be an integer >= {low}, got {value}")

    positive("--top", args.top, allow_zero=True)
    positive("--batch-trials", getattr(args, "batch_trials", None))
    positive("--max-retry", getattr(args, "max_retry", None), allow_zero=True)
    positive("--heartbeat-interval", getattr(args, "heartbeat_interval", None))
    positive("--grace-period", getattr(args, "grace_period", None))
    timeout = getattr(args, "storage_timeout", None)
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"--storage-timeout must be a finite number of seconds > 0, "
                          f"got {timeout}")
    if args.init.strip().lower().lstrip("+-") in ("inf", "infinity", "nan"):
        raise ConfigError(f"--init must be an initializer name or a finite std > 0, "
                          f"got {args.init!r}")


def run(args) -> int:
    wall0 = time.perf_counter()
    check_numbers(args)
    check_ignored_options(args)
    try:
        configure_cpu_devices(args.cpu_devices)  # before anything imports JAX
    except ConfigError as exc:
        raise ConfigError(f"--{str(exc).replace('cpu_devices', 'cpu-devices', 1)}") from None
    check_signal()
    if getattr(args, "sampler", None) not in (None, "grid"):  # an Optuna worker
        return _optuna_worker(args)
    if args.top < 0:
        raise ConfigError(f"--top must be >= 0, got {args.top}")
    if args.resume is None:
        config = build_config(args)
        if config.sampler == "grid" and config.trials != args.trials \
                and "trials" in (given_options(args, typed=True) or ()):  # a file's gives way
            raise ConfigError(f"--sampler grid runs every point of its grid ({config.trials} "
                              f"trials): --trials {args.trials} does not apply")
        out = Path(args.out or f"runs/sweep-{time.strftime('%Y%m%d-%H%M%S')}")
    else:
        check_resume_options(args)
        config, out = None, Path(args.resume)  # the run's own config, from its manifest
    result = _run_sweep(args, config, out)
    report(result, args.top, wall0)
    print(f"wrote {out}/: {', '.join(written_files(result, resumed=args.resume is not None))}")
    return 0


def written_files(result, *, resumed: bool = False) -> list[str]:
    """The files a sweep wrote into its run directory, in the order they are written (a
    resumed run keeps its manifest and sweep.toml)."""
    from jaxch6.sweep import store
    from jaxch6.sweep.config_file import CONFIG_FILE
    from jaxch6.sweep.tables import CSV

    written = [] if resumed else [store.MANIFEST, CONFIG_FILE]
    written += [store.TRIALS, store.SUMMARY]
    if result.models:
        written.append(f"models/ ({len(result.models)} trials)")
    return [*written, CSV, *result.info.get("figures", [])]


def _compile_cache(args) -> None:
    """JAX's persistent compilation cache (and the traced programs kept in it) in
    ``--compile-cache``, or off with ``--no-compile-cache`` whatever the environment sets."""
    if args.no_compile_cache:
        disable_compile_cache()
    else:
        enable_compile_cache(args.compile_cache)


def _run_sweep(args, config, out: Path):
    """Run (or resume) the sweep, then write its figures."""
    _compile_cache(args)
    check_signal()
    from jaxch6 import sweep
    from jaxch6.commands import figure_process
    from jaxch6.progress import make as make_progress

    check_signal()
    # a lane is a trial unless trials have several repeats
    repeats = config.repeats if args.resume is None else 0
    bar = make_progress(args.quiet, unit="trial" if repeats == 1 else "lane")
    progress = _Announcing(bar)
    track = _tensorboard(args.tensorboard, new=args.resume is None)
    task, data = _task_and_data(args)

    def work(stop):
        if args.resume is None:
            result = sweep.run(config, out=out, progress=progress, top=max(args.top, 20),
                               stop=stop, figures=False, track=track, task=task, data=data)
        else:
            result = sweep.resume(out, progress=progress, top=max(args.top, 20), stop=stop,
                                  figures=False, track=track, data=data)
        if not args.no_plot and result.trials:
            from jaxch6.plots import write_sweep_figures

            result.info["figures"] = (write_sweep_figures(result, out) if helper is None
                                      else helper.write(result, out))
        return result

    # matplotlib is imported by a helper process while this one imports JAX
    helper = None if args.no_plot else figure_process.start()
    try:
        return run_interruptible(work, lambda: interrupted_line(out))
    finally:
        if helper is not None:
            helper.close()
        if bar is not None:
            bar.close()
        if track is not None:
            track.close()


def _optuna_worker(args) -> int:
    """``jaxch6 sweep --sampler …``: one worker of an Optuna study, on the book's network or
    ``--task``, tracked with ``--tensorboard``."""
    from jaxch6.commands import sweep_optuna

    config = build_config(args)
    task, data = _task_and_data(args)
    _compile_cache(args)
    track = _tensorboard(args.tensorboard)
    try:
        return sweep_optuna.run(args, config=config, task=task, data=data, track=track)
    finally:
        if track is not None:
            track.close()


def _task_and_data(args):
    """The ``--task`` object (None: the book's network) and the ``--data`` file (the run
    loads it and records it in the run directory's ``sweep.toml``)."""
    from jaxch6.sweep.task import import_task

    if args.data is not None and args.task is None and args.resume is None:
        raise ConfigError("--data is a task's data: give --task MODULE:NAME too")
    task = import_task(args.task) if args.task is not None else None
    return task, args.data


def _tensorboard(logdir, *, new: bool = False):
    """``--tensorboard DIR``'s tracker (None without it); ConfigError without the extra, for
    a path that is not a directory, and for a ``new`` sweep (not resumed, not an Optuna worker)
    in a directory that already holds trial runs (another sweep's: they would mix)."""
    if logdir is None:
        return None
    from jaxch6.sweep.tracking import TensorBoardTracker

    where = Path(logdir)
    if where.exists() and not where.is_dir():
        raise ConfigError(f"--tensorboard {logdir}: not a directory")
    if new and where.is_dir() and any(p.name.startswith("trial-") for p in where.iterdir()):
        raise ConfigError(f"--tensorboard {logdir}: already holds trial runs (another sweep's "
                          "would mix with this one's); give a new or empty directory")

    try:
        return TensorBoardTracker(logdir)
    except ImportError as exc:
        raise ConfigError(f"--tensorboard: {exc}") from None


class _Announcing:
    """The progress reporter ``bar`` (or none), whose ``announce`` prints the data and device
    lines on standard output (even ``--quiet``: they are the run's record, not progress)."""

    def __init__(self, bar):
        self.bar = bar

    def __getattr__(self, name: str):
        """The reporter's other methods, as if it were the reporter."""
        if name == "bar" or self.bar is None:
            raise AttributeError(name)
        return getattr(self.bar, name)

    def __call__(self, p) -> None:
        if self.bar is not None:
            self.bar(p)

    def announce(self, lines) -> None:
        """The data and device lines, on standard output before training."""
        for line in lines:
            print(line, flush=True)


def interrupted_line(out: Path) -> str:
    """What an interrupted sweep says: the trials on disk and how to finish."""
    from jaxch6.sweep import store

    if not (out / store.MANIFEST).exists():
        return f"jaxch6 sweep: interrupted before anything was recorded in {out}"
    try:
        n = len(store.read_trials(out, updates=True))
    except ConfigError:
        n = "some"
    return (f"jaxch6 sweep: interrupted: {n} trials recorded; finish with "
            f"jaxch6 sweep --resume {out}")


def report(result, top: int, wall0: float) -> None:
    """Print each round, timings and the ranking (the data and device lines came before
    training, through the reporter's ``announce``)."""
    from jaxch6.sweep import schedulers
    from jaxch6.sweep.params import space_from_dicts
    from jaxch6.sweep.records import format_space

    info, tm, cfg = result.info, result.timings, result.config
    for line in info.get("warnings", []):
        print(f"warning: {line}", file=sys.stderr)
    for rd in result.rounds:
        if "best_val_acc" in rd:
            print(f"round {rd['round'] + 1}/{cfg.rounds}: "
                  f"{format_space(space_from_dicts(rd['space']))}"
                  f"  best val acc {rd['best_val_acc']!r}, {rd['n_diverged']} diverged")
    sched = info.get("scheduler", {})
    if schedulers.describe(sched.get("name"))["adaptive"]:
        epochs = sum(t.epochs for t in result.trials) * cfg.repeats
        print(f"scheduler {sched['name']}: {len(result.trials)} trials, {epochs} lane-epochs "
              f"trained ({epochs / max(len(result.trials) * cfg.epochs * cfg.repeats, 1):.0%} "
              "of training every trial fully)")
    print(f"compile {tm['compile_seconds']:.2f} s, run {tm['run_seconds']:.2f} s "
          f"({tm['trials_run']} trials, {tm['trials_per_second']:.1f} trials/s), "
          f"wall {time.perf_counter() - wall0:.2f} s")
    print("=========== Hyper-Parameter Optimization Result ===========")
    for line in result.ranking_lines(top):
        print(line)
