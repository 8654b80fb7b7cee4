"""Optuna bookkeeping per trial, with an engine that does no work: the old driver (its own
trainer loop, before Optuna became a scheduler on the shared run loop) and the current one, side
by side in one run, on one storage.

Per trial: ask (in batches of 256), 2 suggestions, a heartbeat, user attributes and tell; the
trainer (old) or engine (new) returns 20 epochs of constant curves at once, without a pruner.
In the ``new+rungs`` runs (new only) the trials run in rungs 1, 3, 9, 20 epochs with a pruner
that never prunes: one report and one ``should_prune`` per rung. A first batch warms up each
study; the next N trials are timed; old and new alternate ``--rounds`` times.

    python experiments/bench_optuna_bookkeeping.py [sqlite | postgresql://...] [N] [--rounds R]
    python experiments/bench_optuna_bookkeeping.py sqlite 256 --count
    python experiments/bench_optuna_bookkeeping.py sqlite 256 --pruners --rounds 1

``--pruners`` times ``new+rungs`` with a threshold (never prunes), median and Hyperband pruner,
each rung judged at once (``prune_batch``) and, as before it, one ``should_prune`` per trial.

``--count`` runs each driver once and prints, per timed trial, the database transactions
(SQLAlchemy ``commit`` events) and the calls of each public ``RDBStorage`` method with their mean
wall time (a ``suggest_*`` writes through a method Optuna keeps private, so it is counted only
among the transactions).

The old driver is read from git (:data:`OLD`, the last commit with it) into private modules.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

from jaxch6.sweep import optuna_driver as D
from jaxch6.sweep import optuna_storage as S
from jaxch6.sweep.space import BOOK_SPACE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _stand_in import StandInEngine  # noqa: E402 - the tests' NumPy engine

EPOCHS, BATCH = 20, 256
#: The last commit whose optuna_driver trained batches with its own EngineTrainer.
OLD = "341cfe4"
ROOT = Path(__file__).resolve().parents[1]


def null_engine() -> StandInEngine:
    """An engine that trains nothing: every lane's curves are the same constants."""
    def curves(lr, epochs):
        curve = np.linspace(0.1, 0.9, EPOCHS)[epochs]
        return {"train_acc": curve, "val_acc": curve, "diverged": np.zeros(len(lr), bool)}

    return StandInEngine(curves, chunk_size=4096)


def _train(hp, ids):
    """The old driver's trainer that does no work."""
    curve = np.tile(np.linspace(0.1, 0.9, EPOCHS), (len(ids), 1))
    return {"train_acc": curve, "val_acc": curve, "diverged": np.zeros(len(ids), bool)}


def old_driver():
    """The old optuna_driver (and the optuna_storage it used), from git at :data:`OLD`."""
    def load(name, path, replace=()):
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{OLD}:{path}"], check=True,
                              capture_output=True, text=True).stdout
        for a, b in replace:
            text = text.replace(a, b)
        module = types.ModuleType(name)
        sys.modules[name] = module
        exec(compile(text, f"{OLD}:{path}", "exec"), module.__dict__)  # noqa: S102
        return module

    storage = load("_old_optuna_storage", "jaxch6/sweep/optuna_storage.py")
    driver = load("_old_optuna_driver", "jaxch6/sweep/optuna_driver.py",
                  [("from jaxch6.sweep import optuna_storage as S",
                    "import _old_optuna_storage as S")])
    return driver, storage


def _study(driver, storage_module, url, pruner=None):
    storage = storage_module.make_storage(url, heartbeat_interval=30, grace_period=120)
    return driver.open_study(storage, f"bench-{time.time_ns()}",
                             driver.make_sampler("random", BOOK_SPACE, seed=0), pruner=pruner)


def per_trial_ms(which: str, url: str, n: int, old=None,
                 tallies: tuple[dict, ...] = (), pruner=None) -> tuple[float, float]:
    """Milliseconds of bookkeeping per trial, wall and this process's CPU (SQLite's work
    included; a database server's not): ``old``, ``new`` or ``new+rungs`` (with ``pruner``,
    default one that never prunes)."""
    if which == "old":
        driver, storage = old

        def work(study, total):
            driver.run_worker(study, _train, BOOK_SPACE, n_trials=total, batch_trials=BATCH)

        study = _study(driver, storage, url)
    else:
        import optuna

        rungs = (1, 3, 9, EPOCHS) if which == "new+rungs" else None
        never = (pruner or optuna.pruners.ThresholdPruner(lower=-1.0)) if rungs else None

        def work(study, total):
            D.run_worker(study, null_engine(), BOOK_SPACE, n_trials=total, batch_trials=BATCH,
                         epochs=EPOCHS, rungs=rungs)

        study = _study(D, S, url, pruner=never)
    work(study, BATCH)  # warm-up
    for tally in tallies:  # what --count gathers: from the timed trials only
        tally.clear()
    t0, c0 = time.perf_counter(), time.process_time()
    work(study, BATCH + n)
    return (time.perf_counter() - t0) / n * 1e3, (time.process_time() - c0) / n * 1e3


#: The public ``RDBStorage`` methods counted by ``--count``.
COUNTED = ("create_new_trial", "record_heartbeat", "set_trial_system_attr", "get_trial",
           "set_trial_user_attr", "set_trial_intermediate_value", "set_trial_state_values",
           "get_trial_number_from_id", "get_trial_id_from_study_id_trial_number",
           "get_all_trials")


@contextlib.contextmanager
def counting(counts: dict, seconds: dict):
    """Count commits of every SQLAlchemy engine and calls of :data:`COUNTED` into ``counts``,
    and the wall seconds spent in each of those calls into ``seconds``."""
    import optuna
    import sqlalchemy

    cls = optuna.storages.RDBStorage
    saved = {name: getattr(cls, name) for name in COUNTED}

    def wrap(name, method):
        def counted(self, *args, **kwargs):
            counts[name] = counts.get(name, 0) + 1
            t0 = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
        return counted

    def commit(_conn):
        counts["transactions"] = counts.get("transactions", 0) + 1

    for name, method in saved.items():
        setattr(cls, name, wrap(name, method))
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "commit", commit)
    try:
        yield
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "commit", commit)
        for name, method in saved.items():
            setattr(cls, name, method)


def count(url: str, n: int, old) -> None:
    """Print, per timed trial of each driver, its transactions and public storage calls."""
    print(f"calls per trial ({n} trials, batches of {BATCH}, {EPOCHS} epochs; old = {OLD}); "
          "each call's mean wall ms in brackets")
    for which in ("old", "new", "new+rungs"):
        counts: dict[str, int] = {}
        seconds: dict[str, float] = {}
        with counting(counts, seconds):
            per_trial_ms(which, url if url != "sqlite" else
                         f"sqlite:///{tempfile.mkdtemp()}/b.db", n, old, (counts, seconds))
        calls = ", ".join(
            f"{name} {counts[name] / n:.2f} ({seconds[name] / counts[name] * 1e3:.2f})"
            for name in COUNTED if name in counts)
        print(f"  {which:10s} transactions {counts.get('transactions', 0) / n:.2f}: {calls}")


#: ``--pruners``: the pruners timed, each made fresh per study.
PRUNERS = {
    "threshold": lambda optuna: optuna.pruners.ThresholdPruner(lower=-1.0),
    "median": lambda optuna: optuna.pruners.MedianPruner(),
    "hyperband": lambda optuna: optuna.pruners.HyperbandPruner(1, EPOCHS, 3),
}


@contextlib.contextmanager
def one_by_one():
    """A rung judged as before ``prune_batch``: ``trial.report`` and ``trial.should_prune``
    of each trial in turn (each of the pruner's reads re-reads the study)."""
    def each(_study, _storage, reported, step):
        return S.prune_each(reported, step)

    saved, S.prune_batch = S.prune_batch, each
    try:
        yield
    finally:
        S.prune_batch = saved


def pruners(storage: str, n: int, rounds: int) -> None:
    """Time ``new+rungs`` with each of :data:`PRUNERS`, a rung judged at once
    (``prune_batch``) and one trial at a time (:func:`one_by_one`), alternating."""
    import optuna

    results: dict[tuple[str, str], list] = {}
    for _ in range(rounds):
        for name, make in PRUNERS.items():
            for way in ("at once", "each"):
                url = storage if storage != "sqlite" else f"sqlite:///{tempfile.mkdtemp()}/b.db"
                with one_by_one() if way == "each" else contextlib.nullcontext():
                    ms = per_trial_ms("new+rungs", url, n, pruner=make(optuna))
                results.setdefault((name, way), []).append(ms)
    print(f"ms per trial with rungs 1, 3, 9, {EPOCHS} (wall / CPU; {n} trials, batches of "
          f"{BATCH}; {rounds} rounds)")
    for (name, way), ms in results.items():
        wall, cpu = zip(*ms, strict=True)
        print(f"  {name:9s} {way:7s} " + "  ".join(f"{w:6.1f}/{c:5.1f}" for w, c in ms)
              + f"   (median {np.median(wall):.1f} / {np.median(cpu):.1f})")


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("storage", nargs="?", default="sqlite")
    p.add_argument("n", nargs="?", type=int, default=512)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--count", action="store_true",
                   help="count transactions and storage calls per trial instead of timing")
    p.add_argument("--pruners", action="store_true",
                   help="time rungs with each pruner, judged at once and one trial at a time")
    args = p.parse_args(argv)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "[I ...] A new study" lines
    if args.pruners:
        pruners(args.storage, args.n, args.rounds)
        return
    old = old_driver()
    if args.count:
        count(args.storage, args.n, old)
        return
    results: dict[str, list[tuple[float, float]]] = {"old": [], "new": [], "new+rungs": []}
    for _ in range(args.rounds):
        for which in results:
            url = (args.storage if args.storage != "sqlite"
                   else f"sqlite:///{tempfile.mkdtemp()}/b.db")
            results[which].append(per_trial_ms(which, url, args.n, old))
    kind = "sqlite" if args.storage == "sqlite" else S.redact(args.storage)
    print(f"{kind}: ms per trial, wall / CPU of this process ({args.n} trials, batches of "
          f"{BATCH}, {EPOCHS} epochs; {args.rounds} rounds, old = {OLD})")
    for which, ms in results.items():
        wall, cpu = zip(*ms, strict=True)
        print(f"  {which:10s} " + "  ".join(f"{w:6.1f}/{c:5.1f}" for w, c in ms)
              + f"   (median {np.median(wall):.1f} / {np.median(cpu):.1f})")


if __name__ == "__main__":
    main(sys.argv[1:])
