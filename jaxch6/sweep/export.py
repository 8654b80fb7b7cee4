"""A finished sweep as an Optuna study, so optuna-dashboard and ``optuna.visualization`` work
on it.

Written with Optuna's public API only: ``optuna.create_study`` (maximise; minimise for a
task whose objective is minimised), one
``optuna.trial.create_trial`` per trial and ``study.add_trials``:

- ``params``: the trial's hyperparameters (for population-based training: its final values);
  ``distributions`` from the sweep's space (``FloatDistribution(low, high, log=...)``;
  ``CategoricalDistribution`` for a space entry with ``choices``; ``IntDistribution`` for one
  whose ``kind``/``scale`` says int), widened to hold a value outside the range;
- ``value``: the final validation accuracy, or a task's objective (mean over repeats; for a
  diverged trial 0.0, as the Optuna driver tells it, or infinity when minimising);
  ``intermediate_values``: step ``e`` is that value after epoch ``e + 1`` (the driver's steps);
- ``state``: COMPLETE, or PRUNED for a trial a scheduler stopped early;
- ``user_attrs``: ``key_id`` (the sweep's trial id), ``round``, ``status``, ``rung``,
  ``diverged``, ``train_acc``, ``val_acc`` (and ``val_acc_std``, ``lineage``, a task's
  ``objective`` and other ``metrics`` when present);
  the study's ``jaxch6_config`` is the sweep's config.

Optuna is imported when called (extra ``jaxch6[optuna]``).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from typing import Any

from jaxch6.errors import ConfigError
from jaxch6.sweep.records import study_value


def _field(entry: Any, name: str, default: Any = None) -> Any:
    if isinstance(entry, Mapping):
        return entry.get(name, default)
    return getattr(entry, name, default)


def distribution(entry: Any, values=()):
    """The Optuna distribution of one space entry, widened to hold ``values``; with no
    ``values``, the distribution the Optuna driver suggests a :class:`jaxch6.sweep.Param` from.

    Args:
        entry: a :class:`jaxch6.sweep.Param` or its dict (``choices`` makes it categorical;
            ``kind`` or ``scale`` ``"int"`` an integer range; ``scale == "log"`` a log range).
        values: the values the sweep's trials took.

    Returns:
        A ``FloatDistribution``, ``IntDistribution`` or ``CategoricalDistribution``.
    """
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    values = [v for v in values if v is not None]
    choices = _field(entry, "choices")
    if choices is not None or any(isinstance(v, str | bool) for v in values):
        cats = list(choices or ())
        cats += [v for v in dict.fromkeys(values) if v not in cats]
        return CategoricalDistribution(cats)
    log = _field(entry, "scale") == "log" or bool(_field(entry, "log", False))
    nums = [float(v) for v in values]
    low = min([float(_field(entry, "low", min(nums, default=0.0))), *nums])
    high = max([float(_field(entry, "high", max(nums, default=1.0))), *nums])
    if "int" in (_field(entry, "kind"), _field(entry, "scale"), _field(entry, "type")):
        return IntDistribution(math.floor(low), math.ceil(high), log=log)
    return FloatDistribution(low, high, log=log)


def _finite(x: float, default: float = 0.0) -> float:
    return float(x) if x is not None and math.isfinite(x) else default


def frozen_trials(result) -> list:
    """The sweep's trials as Optuna ``FrozenTrial`` objects (``optuna.trial.create_trial``)."""
    import optuna
    from optuna.distributions import IntDistribution
    from optuna.trial import TrialState

    space = {_field(p, "name"): p for p in result.config.space}
    names = result.hparam_names
    dists = {n: distribution(space.get(n, {}),
                             [t.hparams.get(n) for t in result.trials]) for n in names}
    out = []
    for t in sorted(result.trials, key=lambda t: t.id):
        if t.status == "running" or not t.val_acc:
            continue
        params = {n: (int(v) if isinstance(dists[n], IntDistribution) else v)
                  for n, v in t.hparams.items()}
        attrs = {"key_id": t.id, "round": t.round, "status": t.status, "rung": t.rung,
                 "diverged": t.diverged, "train_acc": [_finite(a) for a in t.train_acc],
                 "val_acc": [_finite(a) for a in t.val_acc]}
        if t.repeats:
            attrs["val_acc_std"] = t.val_acc_std
        if t.lineage:
            attrs["lineage"] = t.lineage
        if t.objective != "val_acc":
            attrs.update(objective=t.objective, metrics=t.metrics)
        worst = 0.0 if t.direction == "max" else math.inf  # a diverged trial ranks last
        value = study_value(t)
        out.append(optuna.trial.create_trial(
            state=TrialState.PRUNED if t.status == "stopped" else TrialState.COMPLETE,
            value=value, params=params, distributions={n: dists[n] for n in params},
            user_attrs=attrs,
            intermediate_values={e: _finite(a, worst) for e, a in enumerate(t.val_acc)}))
    return out


def to_optuna(source, storage: str | os.PathLike, study_name: str | None = None, *,
              timeout: float | None = None, stop: threading.Event | None = None):
    """Write a finished sweep into a new Optuna study.

    A run directory is locked while it is read (a sweep still running there is refused) and
    must hold a finished sweep. The study is marked complete (user attribute
    ``jaxch6_export_complete``) only once every trial is in it: an export cut short (a signal,
    a lost connection) leaves a study without the mark, which the next export of that name
    replaces instead of refusing.

    Args:
        source: a run directory, or a :class:`jaxch6.sweep.SweepResult`.
        storage: an Optuna storage URL (``sqlite:///FILE``, ``postgresql://…``) or a file path
            (SQLite).
        study_name: the new study's name (default: the run directory's name, else
            ``jaxch6-export``).
        timeout: seconds to wait for a database server to connect and answer (default
            :data:`jaxch6.sweep.optuna_storage.CONNECT_TIMEOUT_S`, 10 s).
        stop: once set (``jaxch6 sweep export-optuna`` sets it on Ctrl-C or SIGTERM), no more
            trials are added: the study is returned without the complete mark.

    Returns:
        The ``optuna.study.Study``.

    Raises:
        ConfigError: Optuna is missing, the study exists already, the storage cannot be opened
            or reached in time (messages never show a password), the source is not a sweep, is
            in use by a running sweep, or is not finished.
    """
    from jaxch6.sweep import optuna_storage as S
    from jaxch6.sweep import store
    from jaxch6.sweep.result import SweepResult, load

    S.require_optuna()
    if isinstance(source, SweepResult):
        return _export(source, storage, study_name, timeout, stop)
    result = load(source)  # not a sweep directory: one line, before anything is created
    with store.lock(source):
        result = load(source)  # as it is now that no sweep can write it
        status = result.info.get("status")
        if result.info.get("kind", "sweep") == "sweep" and status != "complete":
            raise ConfigError(f"{source} holds an unfinished sweep (status {status}): finish it "
                              f"with jaxch6 sweep --resume {source} first")
        return _export(result, storage, study_name, timeout, stop)


#: Trials written per transaction; a ``stop`` is looked at between them.
EXPORT_BLOCK = 16


def _export(result, storage, study_name, timeout, stop=None):
    from jaxch6.sweep import optuna_storage as S

    optuna = S.require_optuna()
    if study_name is None:
        base = os.path.basename(os.path.normpath(result.out_dir)) if result.out_dir else ""
        study_name = base or "jaxch6-export"
    S.check_study_name(study_name)
    url = S.storage_url(str(storage))
    trials = frozen_trials(result)
    rdb = S.make_storage(url, grace_period=None,
                         timeout=S.CONNECT_TIMEOUT_S if timeout is None else timeout)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "[I ...] A new study created"
    try:
        with S.quiet_optuna():
            study = _new_study(optuna, rdb, url, study_name, _direction(result))
            study.set_user_attr("jaxch6_config", result.config.to_dict())
            study.set_user_attr("jaxch6_export", {"kind": result.info.get("kind", "sweep"),
                                                  "scheduler": _scheduler_name(result)})
            for start in range(0, len(trials), EXPORT_BLOCK):
                if stop is not None and stop.is_set():
                    return study  # cut short: no complete mark, the next export replaces it
                study.add_trials(trials[start:start + EXPORT_BLOCK])
            study.set_user_attr(COMPLETE, True)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return study


#: The user attribute an export sets once every trial is in the study.
COMPLETE = "jaxch6_export_complete"


def _new_study(optuna, rdb, url, study_name, direction: str = "maximize"):
    """A new study; an earlier export of that name cut short (no :data:`COMPLETE` mark) is
    deleted first."""
    from jaxch6.sweep import optuna_storage as S

    for attempt in range(2):
        try:
            return optuna.create_study(storage=rdb, study_name=study_name,
                                       direction=direction)
        except optuna.exceptions.DuplicatedStudyError:
            old = optuna.load_study(study_name=study_name, storage=rdb)
            partial = "jaxch6_export" in old.user_attrs and not old.user_attrs.get(COMPLETE)
            if attempt or not partial:
                raise ConfigError(f"study {study_name!r} already exists in {S.redact(url)}: "
                                  "choose another study name") from None
            optuna.delete_study(study_name=study_name, storage=rdb)
        except Exception as exc:  # noqa: BLE001 - a driver's error may hold the URL
            raise ConfigError(f"cannot open storage {S.redact(url)}: "
                              f"{S.scrub(str(exc).splitlines()[0] if str(exc) else '', url)}"
                              ) from None
    raise AssertionError("unreachable")


def _direction(result) -> str:
    """``"maximize"``, or ``"minimize"`` for a task whose objective is minimised."""
    direction = result.trials[0].direction if result.trials else "max"
    return "minimize" if direction == "min" else "maximize"


def _scheduler_name(result) -> str | None:
    sched = result.info.get("scheduler")
    return sched.get("name") if isinstance(sched, Mapping) else result.config.scheduler
