"""``jaxch6 sweep --sampler …``: the Optuna options and one worker of a study.

The work is :func:`jaxch6.sweep.optuna.run`; this module parses its options, checks the ones
only the command line has, and turns the library's argument names in error messages into the
options (:func:`jaxch6.commands.flags.flag_words`: ``study x: …`` → ``--study x: …``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxch6.commands.flags import flag_words
from jaxch6.commands.signals import run_interruptible
from jaxch6.errors import ConfigError
from jaxch6.names import PRUNERS, SAMPLERS
from jaxch6.sweep import optuna_driver as D
from jaxch6.sweep import optuna_storage as S
from jaxch6.sweep.optuna_driver import DEFAULT_STUDY


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The Optuna options of ``jaxch6 sweep``."""
    g = parser.add_argument_group(
        "Optuna (samplers, shared studies, many workers; needs jaxch6[optuna])"
    )
    g.add_argument("--sampler", choices=SAMPLERS, default=None,
                   help="drive trials through an Optuna study with this sampler: random (the "
                        "book's method, same trials as without --sampler), tpe, cmaes, qmc; "
                        "or grid: every combination of the --space choices, no study (default: "
                        "none, the sweep's own sampling)")
    g.add_argument("--pruner", choices=PRUNERS, default="none",
                   help="stop unpromising trials early: median (optuna MedianPruner) or "
                        "hyperband (HyperbandPruner from --min-epochs by --eta); trials train "
                        "in rungs --min-epochs, x--eta, ... and the pruner is asked after each "
                        "(default none)")
    g.add_argument("--batch-trials", type=int, default=None, metavar="K",
                   help="trials asked, trained as one vmapped program, and told at a time "
                        "(default: --chunk-size, or the engine's choice for the devices)")
    g.add_argument("--storage", default=None, metavar="URL",
                   help="study database: sqlite:///FILE (default: sqlite:///OUT/study.db) or "
                        "postgresql://USER:PASSWORD@HOST:PORT/DB for workers on many machines")
    g.add_argument("--storage-timeout", type=float, default=S.CONNECT_TIMEOUT_S, metavar="S",
                   help="seconds to wait for the storage's database server to answer "
                        "(default %(default)s)")
    g.add_argument("--study", default=DEFAULT_STUDY, metavar="NAME",
                   help="study name in the storage (default %(default)s); --trials is the "
                        "number of finished (COMPLETE or PRUNED) trials the study should end "
                        "with")
    g.add_argument("--retry-failed", action="store_true",
                   help="re-queue the trials of dead workers (same parameters) for any worker "
                        "(default off)")
    g.add_argument("--max-retry", type=int, default=3, metavar="N",
                   help="retries of one trial with --retry-failed (default 3)")
    g.add_argument("--heartbeat-interval", type=int, default=S.HEARTBEAT_INTERVAL_S, metavar="S",
                   help="seconds between heartbeats of running trials (default %(default)s)")
    g.add_argument("--optuna-logs", action="store_true",
                   help="show Optuna's own log lines ('[I ...] A new study created ...'; "
                        "default: only its warnings)")
    g.add_argument("--grace-period", type=int, default=S.GRACE_PERIOD_S, metavar="S",
                   help="a running trial with no heartbeat for S seconds belongs to a dead "
                        "worker and is failed (default %(default)s)")


def run(args, *, config, task=None, data=None, track=None) -> int:
    """``jaxch6 sweep --sampler …``: one worker of a study, through :func:`jaxch6.sweep.optuna.run`.

    ``config``: the sweep's :class:`~jaxch6.sweep.SweepConfig`, built by the caller (the
    command's ``build_config(args)``); the caller also enables the compilation cache. ``task``,
    ``data``: ``--task`` and ``--data`` (None: the book's network); ``track``: the
    ``--tensorboard`` tracker."""
    if getattr(args, "resume", None):
        raise ConfigError("--resume is for plain sweeps; an Optuna study resumes by running "
                          "the same --storage/--study again")
    if config.rounds > 1:
        raise ConfigError("--rounds narrows a plain random search; with --sampler use tpe, "
                          "cmaes or qmc to focus the search instead")
    optuna = S.require_optuna()
    verbosity = optuna.logging.get_verbosity()
    if not getattr(args, "optuna_logs", False):  # third-party log lines only when asked for
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return _run(args, config, task, data, track)
    except ConfigError as exc:
        raise ConfigError(flag_words(str(exc))) from None
    finally:
        optuna.logging.set_verbosity(verbosity)


def _run(args, config, task, data, track) -> int:
    from jaxch6.sweep import optuna as api
    from jaxch6.sweep.runner import configure

    config, task = configure(config, task)  # a task's declared space, for the sampler too

    batch = args.batch_trials
    if batch is not None and batch < 1:
        raise ConfigError(f"--batch-trials must be a positive integer, got {batch}")
    if args.max_retry is not None and args.max_retry < 0:
        raise ConfigError(f"--max-retry must be >= 0, got {args.max_retry}")
    S.check_study_name(args.study)
    if args.storage:  # its form, before the run directory is claimed
        S.storage_url(args.storage, files=False)
    out = Path(args.out or Path("runs") / f"study-{S.safe_path_component(args.study)}")
    url = args.storage or D.default_storage(out)  # checked once ``out`` exists (claimed)
    options = {"heartbeat_interval": args.heartbeat_interval,
               "timeout": getattr(args, "storage_timeout", S.CONNECT_TIMEOUT_S),
               "grace_period": args.grace_period, "retry_failed": args.retry_failed,
               "max_retry": args.max_retry}
    sampler = D.make_sampler(args.sampler, config.space, seed=config.seed)
    pruner = D.make_pruner(getattr(args, "pruner", None), config)
    quiet = getattr(args, "quiet", False)
    name = D.worker_name()

    def progress(p):
        if quiet:
            return
        if p.step_start:
            print(f"worker {name}: {p.label}", flush=True)
        else:
            print(f"{p.label}: {p.done}/{p.total} finished in the study; this worker ran "
                  f"{p.ran} trials in {p.run_seconds:.1f} s", flush=True)

    def work(stop):  # in a worker thread: the main thread stays free for the signal
        return api.run(config, storage=url, storage_options=options, study_name=args.study,
                       sampler=sampler, pruner=pruner, batch_trials=batch, out=out,
                       progress=progress, sampler_name=args.sampler,
                       poll_seconds=min(5.0, float(args.heartbeat_interval)),
                       top=max(getattr(args, "top", 20), 20), task=task, data=data,
                       track=track, options=_file_options(args), stop=stop)

    result = run_interruptible(work, lambda: (
        f"jaxch6 sweep: interrupted; run the same command again to continue study "
        f"{args.study!r} in {out}"))
    print("=========== Hyper-Parameter Optimization Result ===========")
    for line in result.ranking_lines(getattr(args, "top", 20)):
        print(line)
    written = ["manifest.json", "sweep.toml", "trials.jsonl", "trials.csv", "summary.json"]
    if not getattr(args, "no_plot", False) and result.trials:
        from jaxch6.plots import write_sweep_figures

        written += write_sweep_figures(result, out)
    print(f"this worker ran {result.timings.get('trials_run_by_this_worker', 0)} trials; wrote "
          f"{out}/: {', '.join(written)} (study {args.study!r}: "
          f"{len(result.trials)} finished)")
    return 0


def _file_options(args) -> dict:
    """The study's options a run directory's ``sweep.toml`` records beside the config, so that
    ``--config DIR/sweep.toml`` runs the same study again (the storage is left out: its URL
    may hold a password; give ``--storage`` beside ``--config`` to join a shared one)."""
    return {"sampler": args.sampler, "pruner": getattr(args, "pruner", "none"),
            "study": args.study, "batch_trials": args.batch_trials}
