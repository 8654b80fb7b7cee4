"""``jaxch6 sweep show DIR``, ``export-optuna DIR`` and ``evaluate DIR``: work on a sweep that
ran.

Sub-actions of the ``sweep`` command (``jaxch6 sweep [options]`` still runs a sweep). Standard
library only at import time.
"""

from __future__ import annotations

import argparse
import sys

from jaxch6.errors import ConfigError

SHOW_HELP = "print the ranking of a sweep directory and re-render its figures"
EXPORT_HELP = "write a finished sweep into an Optuna study (for optuna-dashboard)"
EVALUATE_HELP = "measure the best saved trials of a sweep on the test split"


def add_actions(p: argparse.ArgumentParser) -> None:
    """Add ``show``, ``export-optuna`` and ``evaluate`` as optional sub-actions of
    ``jaxch6 sweep``."""
    from jaxch6.sweep.optuna_storage import CONNECT_TIMEOUT_S

    actions = p.add_subparsers(dest="action", metavar="[ACTION]", required=False,
                               title="actions on an existing sweep (instead of running one)")
    show = actions.add_parser("show", help=SHOW_HELP, description=SHOW_HELP + ": the book's "
                              "'Best-k(val acc:...) | learning_rate:...' lines, then top20.png, "
                              "scatter.png, parallel.png (rungs.png, pbt.png) and trials.csv "
                              "written again into DIR.")
    show.add_argument("dir", metavar="DIR", help="a sweep's (or an Optuna worker's) --out")
    show.add_argument("--top", type=int, default=20,
                      help="how many best trials to print (default %(default)s)")
    show.add_argument("--no-plot", action="store_true",
                      help="only print; write no file (default: write trials.csv and the "
                           "figures again)")
    show.set_defaults(_run=run_show)
    export = actions.add_parser(
        "export-optuna", help=EXPORT_HELP,
        description=EXPORT_HELP + ": one Optuna trial per sweep trial (params, final "
        "validation accuracy, per-epoch intermediate values; trials stopped early PRUNED).")
    export.add_argument("dir", metavar="DIR", help="a finished sweep's --out")
    export.add_argument("--storage", required=True, metavar="URL",
                        help="sqlite:///FILE or postgresql://USER:PASSWORD@HOST:PORT/DB "
                             "(required)")
    export.add_argument("--study", default=None, metavar="NAME",
                        help="the new study's name (default: DIR's name)")
    export.add_argument("--storage-timeout", type=float, default=CONNECT_TIMEOUT_S,
                        metavar="S",
                        help="seconds to wait for the storage's database server to answer "
                             "(default %(default)s)")
    export.set_defaults(_run=run_export)
    evaluate = actions.add_parser(
        "evaluate", help=EVALUATE_HELP,
        description=EVALUATE_HELP + ": validation data chose the hyperparameters; the test "
        "split measures the chosen networks once (the book's test digits of the source the "
        "sweep used, or a task's test data). Written to DIR/test.json, apart from the ranking.")
    evaluate.add_argument("dir", metavar="DIR", help="a finished sweep's --out (with --save-best)")
    evaluate.add_argument("--top", type=int, default=None, metavar="K",
                          help="how many of the best saved trials (default: all saved)")
    evaluate.add_argument("--data", default=None, metavar="FILE.npz",
                          help="a task's test data (default: the task's load_data)")
    evaluate.set_defaults(_run=run_evaluate)


def run_show(args) -> int:
    from jaxch6.sweep import load

    if args.top < 0:
        raise ConfigError(f"--top must be >= 0, got {args.top}")
    from jaxch6.sweep import store

    result = load(args.dir)
    if not result.trials:
        raise ConfigError(f"{args.dir}: no trial is recorded there ({store.TRIALS} is missing "
                          "or empty)")
    status = result.info.get("status", "unknown")
    sched = result.info.get("scheduler")
    name = sched.get("name") if isinstance(sched, dict) else result.config.scheduler
    kind = "Optuna study export" if result.info.get("kind") == "optuna" else f"{name} sweep"
    print(f"{args.dir}: {kind}, {len(result.trials)} trials ({status}), "
          f"{sum(t.diverged for t in result.trials)} diverged")
    print("=========== Hyper-Parameter Optimization Result ===========")
    for line in result.ranking_lines(args.top):
        print(line)
    if not args.no_plot:
        from jaxch6.plots import write_sweep_figures

        try:
            held = store.lock(args.dir)  # a running sweep owns its directory: no writes
        except ConfigError as exc:
            print(f"jaxch6 sweep show: wrote nothing: {exc}", file=sys.stderr)
            return 0
        with held:
            written = [result.write_csv().name, *write_sweep_figures(result)]
        print(f"wrote {args.dir}/: {', '.join(written)}")
    return 0


def run_export(args) -> int:
    from jaxch6.commands import signals
    from jaxch6.sweep.export import to_optuna
    from jaxch6.sweep.secrets import redact

    def cut_short() -> str:
        return (f"jaxch6 sweep export-optuna: interrupted before the study was complete; "
                f"export {args.dir} again (it replaces the unfinished study)")

    study = signals.run_interruptible(
        lambda stop: to_optuna(args.dir, args.storage, args.study,
                               timeout=args.storage_timeout, stop=stop), cut_short)
    n = len(study.get_trials(deepcopy=False))
    print(f"exported {n} trials of {args.dir} to study {study.study_name!r} in "
          f"{redact(args.storage)}")
    return 0


def run_evaluate(args) -> int:
    from jaxch6.sweep import load
    from jaxch6.sweep.task import load_npz

    if args.top is not None and args.top < 1:
        raise ConfigError(f"--top must be >= 1, got {args.top}")
    result = load(args.dir)
    test = load_npz(args.data) if args.data is not None else None
    report = result.evaluate(test, k=args.top)
    obj = report["objective"]
    label = "val acc" if obj == "val_acc" else obj
    print(f"{args.dir}: the best {len(report['trials'])} saved trial(s) on the test split "
          "(chosen by validation)")
    for row in report["trials"]:
        scores = ", ".join(f"{k}:{v!r}" for k, v in row["test"].items())
        print(f"Best-{row['rank']} trial {row['id']} ({label}:{row['val']!r}) | {scores}")
    print(f"wrote {args.dir}/test.json")
    return 0
