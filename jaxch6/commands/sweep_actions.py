"""``jaxch6 sweep show DIR`` and ``jaxch6 sweep export-optuna DIR``: work on a sweep that ran.

Sub-actions of the ``sweep`` command (``jaxch6 sweep [options]`` still runs a sweep). Standard
library only at import time.
"""

from __future__ import annotations

import argparse
import sys

from jaxch6.errors import ConfigError

SHOW_HELP = "print the ranking of a sweep directory and re-render its figures"
EXPORT_HELP = "write a finished sweep into an Optuna study (for optuna-dashboard)"


def add_actions(p: argparse.ArgumentParser) -> None:
    """Add ``show`` and ``export-optuna`` as optional sub-actions of ``jaxch6 sweep``."""
    actions = p.add_subparsers(dest="action", metavar="[ACTION]", required=False,
                               title="actions on an existing sweep (instead of running one)")
    show = actions.add_parser("show", help=SHOW_HELP, description=SHOW_HELP + ": the book's "
                              "'Best-k(val acc:...) | lr:...' lines, then top20.png, "
                              "scatter.png, parallel.png (rungs.png, pbt.png) and trials.csv "
                              "written again into DIR.")
    show.add_argument("dir", metavar="DIR", help="a sweep's (or an Optuna worker's) --out")
    show.add_argument("--top", type=int, default=20,
                      help="how many best trials to print (default %(default)s)")
    show.add_argument("--no-plot", action="store_true", help="only print; write no file")
    show.set_defaults(_run=run_show)
    export = actions.add_parser(
        "export-optuna", help=EXPORT_HELP,
        description=EXPORT_HELP + ": one Optuna trial per sweep trial (params, final "
        "validation accuracy, per-epoch intermediate values; trials stopped early PRUNED).")
    export.add_argument("dir", metavar="DIR", help="a finished sweep's --out")
    export.add_argument("--storage", required=True, metavar="URL",
                        help="sqlite:///FILE or postgresql://USER:PASSWORD@HOST:PORT/DB")
    export.add_argument("--study", default=None, metavar="NAME",
                        help="the new study's name (default: DIR's name)")
    export.add_argument("--storage-timeout", type=float, default=10.0, metavar="S",
                        help="seconds to wait for the storage's database server to answer "
                             "(default %(default)s)")
    export.set_defaults(_run=run_export)


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
    from jaxch6.sweep.export import to_optuna
    from jaxch6.sweep.secrets import redact

    study = to_optuna(args.dir, args.storage, args.study, timeout=args.storage_timeout)
    n = len(study.get_trials(deepcopy=False))
    print(f"exported {n} trials of {args.dir} to study {study.study_name!r} in "
          f"{redact(args.storage)}")
    return 0
