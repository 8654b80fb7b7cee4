"""Optuna-driven sweeps from Python: your own sampler, pruner or study, the sweep engine's
batched training, a :class:`~jaxch6.sweep.SweepResult` back.


```python
import optuna
from jaxch6.sweep import SweepConfig
from jaxch6.sweep import optuna as jo

result = jo.run(SweepConfig(trials=200, epochs=20, min_epochs=2, eta=3),
                sampler=optuna.samplers.TPESampler(constant_liar=True),
                pruner=optuna.pruners.MedianPruner(), batch_trials=50)
print(result.ranking_lines(5))
```

Batches of ``batch_trials`` trials are asked, trained as vmapped lanes on the run loop every
sweep shares and told (:class:`jaxch6.sweep.optuna_driver.StudyScheduler`; several workers may
share a study through an RDB storage). Without a pruner each trial trains ``config.epochs``
epochs at once. With one, trials train in rungs of successive halving (``config.min_epochs``,
×``config.eta``, …, ``config.epochs``): each rung's objective is reported (step = the index of
the rung's last epoch, from 0; the whole curve is a user attribute), the pruner is asked
after every rung but the last (the decisions of ``trial.should_prune()``, from one read of the
study per rung: :func:`jaxch6.sweep.optuna_storage.prune_batch`), pruned trials are told
PRUNED and only the survivors' run states train on. ``n_trials`` counts COMPLETE and PRUNED
trials. The objective is the final validation accuracy, maximised (0.0 if diverged), or a
task's objective in its direction (a ``minimize`` study for ``"min"``).

Suggestions, reports, pruning, user attributes and ``tell`` go through Optuna's public API
(``trial.suggest_*``, ``trial.report``, the pruner's ``prune``, ``trial.set_user_attr``,
``study.tell`` and the sampler's ``after_trial``); the batch ask and tell, heartbeats and
re-queued trials use storage methods Optuna documents as library-internal, all in
:mod:`jaxch6.sweep.optuna_storage` (its docstring lists them and why). No private Optuna module
or name is used.

``jaxch6 sweep --sampler …`` (:func:`jaxch6.commands.sweep_optuna.run`) calls :func:`run`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxch6.errors import ConfigError
from jaxch6.sweep import optuna_driver as D
from jaxch6.sweep import optuna_storage as S
from jaxch6.sweep import runner, store
from jaxch6.sweep.config import SweepConfig
from jaxch6.sweep.config_file import CONFIG_FILE, to_toml
from jaxch6.sweep.loop import Progress
from jaxch6.sweep.result import SweepResult
from jaxch6.sweep.tracking import TrialMetrics

__all__ = ["rungs_for", "run"]


def rungs_for(config: SweepConfig) -> tuple[int, ...]:
    """The epochs after which a pruner is asked: ``min_epochs``, ×``eta``, …, ``epochs``."""
    from jaxch6.sweep.schedulers.halving import rungs

    return rungs(min(config.min_epochs, config.epochs), config.eta, config.epochs)


def run(
    config: SweepConfig | None = None,
    *,
    study=None,
    storage=None,
    study_name: str | None = None,
    sampler=None,
    pruner=None,
    n_trials: int | None = None,
    batch_trials: int | None = None,
    out: str | os.PathLike | None = None,
    data=None,
    task=None,
    devices: Sequence | None = None,
    progress: Callable[[Progress], None] | bool | None = None,
    storage_options: Mapping[str, Any] | None = None,
    sampler_name: str | None = None,
    poll_seconds: float = 2.0,
    top: int = 20,
    command_line: Sequence[str] | None = None,
    track: Callable[[TrialMetrics], None] | None = None,
    options: Mapping[str, Any] | None = None,
    stop: Any = None,
) -> SweepResult:
    """Run (one worker of) an Optuna-driven sweep.

    Args:
        config: what to train and the search space (default: the book's search).
        study: an ``optuna.Study`` to work on (direction maximize); else one is created or
            loaded from ``storage``/``study_name`` with ``sampler`` and ``pruner``.
        storage: an Optuna storage object, or a URL (``sqlite:///FILE``,
            ``postgresql://…``), opened with :func:`jaxch6.sweep.optuna_storage.make_storage`
            (heartbeats, stale-trial handling) after ``out`` is claimed; None: in memory.
        study_name: the study's name (default ``jaxch6-sweep`` with a storage).
        sampler: an ``optuna.samplers.BaseSampler`` (default: the book's random search,
            :func:`jaxch6.sweep.optuna_driver.book_random_sampler`).
        pruner: an ``optuna.pruners.BasePruner``; None trains every trial to the end. (A
            given ``study`` keeps its own pruner: any but ``NopPruner`` means rungs.)
        n_trials: finished (COMPLETE or PRUNED) trials the study should hold (default
            ``config.trials``).
        batch_trials: trials asked, trained together and told at a time (default: the
            engine's chunk size).
        out: a run directory (kind ``"optuna"``): new or empty, or one an earlier worker of
            this study wrote (its manifest is re-checked); locked while running.
        data: as in :func:`jaxch6.sweep.run` (the book's arrays, or a task's pytree).
        task: a :class:`jaxch6.sweep.Task` (or a function returning one) to sweep instead
            of the book's network, as in :func:`jaxch6.sweep.run`; the study optimises its
            objective in its direction.
        devices: the devices to shard lanes over (default: all local devices).
        progress: called with a :class:`~jaxch6.sweep.loop.Progress` at the start and after
            each batch (``done``/``total``: finished trials of the study / ``n_trials``);
            True: a progress bar on stderr (as :func:`jaxch6.sweep.run`'s); False/None: none.
        storage_options: keyword arguments of ``make_storage`` when ``storage`` is a URL.
        sampler_name: recorded in the summary (e.g. the command's ``--sampler``).
        poll_seconds: wait between looks at a study whose remaining trials run elsewhere.
        top: how many of the best trials ``summary.json`` lists.
        command_line: recorded in the manifest (default ``sys.argv``).
        track: called with every trial's new per-epoch metrics as they are produced, as in
            :func:`jaxch6.sweep.run` (e.g. a :class:`jaxch6.sweep.tracking.TensorBoardTracker`).
        options: the command line's study options (``sampler``, ``pruner``, ``study``,
            ``batch_trials``) that ``sweep.toml`` records beside the config, so that
            ``jaxch6 sweep --config OUT/sweep.toml`` runs the study again.
        stop: a ``threading.Event``; once set, the worker stops before its next step or after
            its chunk in flight, puts its batch's unfinished trials back in the queue and
            raises :class:`jaxch6.sweep.loop.Interrupted`.

    Returns:
        A :class:`SweepResult` holding every finished trial of the study (pruned ones with
        status ``"stopped"``); ``timings["trials_run_by_this_worker"]`` counts this call's.

    Raises:
        ConfigError: an invalid config or argument, a run directory in use or of another
            kind, a study started with another config or other data.
    """
    wall0 = time.perf_counter()
    config, task = runner.configure(config, task)
    optuna = S.require_optuna()
    n_trials = _check_arguments(config, study, storage, sampler, pruner, study_name, n_trials,
                                batch_trials)
    direction = task.direction if task is not None else "max"
    out_dir = Path(out) if out is not None else None
    with contextlib.ExitStack() as stack:
        if out_dir is not None:
            stack.enter_context(store.lock(out_dir))
        report = stack.enter_context(_progress(progress))
        recorded = None
        if out_dir is not None:
            resume = (out_dir / store.MANIFEST).exists()
            recorded = store.claim(out_dir, "optuna", resume=resume)
            _check_recorded(out_dir, recorded, config, study, storage, study_name)
        study, url = _study(config, study, storage, study_name, sampler, pruner,
                            storage_options, direction)
        setup = _prepare(study, config, data, task, devices, batch_trials)
        batch = batch_trials or setup.engine.chunk_size
        pruning = not isinstance(study.pruner, optuna.pruners.NopPruner)
        rungs = rungs_for(config) if pruning else None
        info = _info(study, setup.info, url, sampler_name, rungs, batch, n_trials)
        summary, warnings = _open_dir(out_dir, recorded, setup, info, command_line, options)
        reporter = _Reporter(study, out_dir, summary, report, n_trials, top)
        reporter.report({}, True)
        timings: dict[str, Any] = {}
        mine = D.run_worker(study, setup.engine, config.space, n_trials=n_trials,
                            batch_trials=batch, epochs=config.epochs, seed=config.seed,
                            repeats=config.repeats, rungs=rungs, poll_seconds=poll_seconds,
                            on_batch=reporter.on_batch, record=_tracker(track), loop=timings,
                            stop=stop)
        return _finish(study, setup, out_dir, summary, info, warnings, mine, top, timings,
                       wall0)


@contextlib.contextmanager
def _progress(progress):
    """The reporter ``progress`` names: True a progress bar (closed after), False/None none."""
    if progress is not True:
        yield progress or None
        return
    from jaxch6.progress import TqdmProgress

    bar = TqdmProgress(unit="trial")
    try:
        yield bar
    finally:
        bar.close()


def _study(config, study, storage, study_name, sampler, pruner, storage_options, direction):
    """``(study, url or None)``: the given study, checked, or the one :func:`_open` opens."""
    if study is None:
        return _open(config, storage, study_name, sampler, pruner, storage_options, direction)
    D.check_study(study, config, direction)
    return study, None


def _prepare(study, config, data, task, devices, batch_trials):
    """The engine and data (:func:`jaxch6.sweep.runner.prepare`) in the study's pinned lane
    width; the study's data and lane width pinned on its first worker."""
    import jax
    import optuna

    pinned = study.user_attrs.get("jaxch6_pin") or {}
    pruning = not isinstance(study.pruner, optuna.pruners.NopPruner)  # keeps a batch's states
    setup = runner.prepare(config, data, task, devices, lanes=pinned.get("lanes"),
                           chunk_size=batch_trials, kept_batches=2 if pruning else 0)
    setup.info["pin"] = {"data_sha256": store.data_fingerprint(jax.tree.leaves(setup.data)),
                         "lanes": int(setup.info["lanes"])}
    if setup.config.task and ":" in setup.config.task:  # a task by import path: its source
        from jaxch6.sweep.task import fingerprint

        setup.info["pin"]["task_sha256"] = fingerprint(setup.config.task)
    D.pin_study(study, setup.info["pin"], study.study_name)
    return setup


def _tracker(track):
    """The run loop's ``record`` for ``track`` (None: none)."""
    if track is None:
        return None
    from jaxch6.sweep.tracking import Reporter

    return Reporter(track)


def _check_arguments(config, study, storage, sampler, pruner, study_name, n_trials,
                     batch_trials) -> int:
    """The number of trials the study should hold; ConfigError for contradictory arguments."""
    if study is not None and (storage is not None or sampler is not None or pruner is not None
                              or study_name is not None):
        raise ConfigError("pass either a study or storage/study_name/sampler/pruner, not both")
    n_trials = config.trials if n_trials is None else int(n_trials)
    if n_trials < 1:
        raise ConfigError(f"n_trials must be positive, got {n_trials}")
    if batch_trials is not None and batch_trials < 1:
        raise ConfigError(f"batch_trials must be positive, got {batch_trials}")
    return n_trials


def _info(study, setup_info, url, sampler_name, rungs, batch, n_trials) -> dict[str, Any]:
    """Devices and data (the set-up's) and the study's settings, for the summary."""
    info = {k: v for k, v in setup_info.items() if k != "pin"}
    return {**info,
            "optuna": {"study": study.study_name, "storage": S.redact(url) if url else None,
                       "sampler": sampler_name or type(study.sampler).__name__,
                       "pruner": type(study.pruner).__name__,
                       "rungs": list(rungs) if rungs else None,
                       "batch_trials": batch, "n_trials": n_trials,
                       "worker": D.worker_name()}}


def _check_recorded(out_dir, recorded, config, study, storage, study_name) -> None:
    """Before any study is opened or created: refuse a directory that holds another study's
    worker, or a worker of another config (the directory's files would mix two studies)."""
    if recorded is None:
        return
    name = study.study_name if study is not None else study_name
    if name is None and storage is not None:
        name = D.DEFAULT_STUDY
    theirs = recorded.get("study")
    if name is not None and theirs is not None and theirs != name:
        raise ConfigError(f"{out_dir} holds a worker of study {theirs!r}, not {name!r}: give "
                          "another --out (one directory per study)")
    try:
        store.check_manifest(recorded, {**recorded, "config": store.to_json_safe(
            config.to_dict())}, allow=D.STUDY_FIELDS_IGNORED)
    except ConfigError as exc:
        raise ConfigError(f"{out_dir} holds a worker of another config: "
                          f"{str(exc).removeprefix('resume: ')}; give another --out") from None


def _open_dir(out_dir, recorded, setup, info, command_line, options):
    """Write (first worker) or re-check (a later one) the manifest, and write the config as a
    file that runs the study again (:data:`jaxch6.sweep.config_file.CONFIG_FILE`, with the
    command line's Optuna ``options``); the running summary and the manifest check's
    warnings."""
    config = setup.config
    summary: dict[str, Any] = {"status": "running", "config": config.to_dict(),
                               "seed": config.seed, **info}
    warnings: list[str] = []
    if out_dir is None:
        return summary, warnings
    current = store.make_manifest("optuna", config, setup.info["pin"]["data_sha256"],
                                  lanes=setup.info["lanes"], command_line=command_line)
    if recorded is None:
        current["study"] = info["optuna"]["study"]  # the directory's study (_check_recorded)
        store.write_manifest(out_dir, current)
        summary["started_at"] = runner.utc_now()
    else:
        warnings = store.check_manifest(recorded, current, allow=D.STUDY_FIELDS_IGNORED)
        summary["started_at"] = recorded.get("created_at")
    # this call's options (e.g. a larger --trials that extends the study), to run it again
    store.write_file(out_dir / CONFIG_FILE, to_toml(config, data=setup.info["data"].get(
        "file"), extra=options or {}))
    store.write_summary(out_dir, summary)
    return summary, warnings


class _Reporter:
    """Progress reports, and the run directory's files rewritten after each batch."""

    def __init__(self, study, out_dir, summary, progress, n_trials, top):
        self.study, self.out_dir, self.summary = study, out_dir, summary
        self.progress, self.n_trials, self.top, self.ran = progress, n_trials, top, 0

    def report(self, b: dict, step_start: bool) -> None:
        if self.progress is None:
            return
        rs = b.get("run_seconds", 0.0)
        self.progress(Progress(label=f"study {self.study.study_name!r}",
                               done=b.get("complete", 0) + b.get("pruned", 0),
                               total=self.n_trials, ran=self.ran, run_seconds=rs,
                               step_start=step_start,
                               lanes_per_second=b.get("lanes_run", 0) / rs if rs > 0 else 0.0))

    def on_batch(self, b: dict) -> None:
        self.ran += len(b["trials"])
        if self.out_dir is not None:
            D.export(self.study, self.out_dir, self.summary, top=self.top)
        self.report(b, False)


def _finish(study, setup, out_dir, summary, info, warnings, mine, top, loop, wall0):
    """The final summary and files; the study's finished trials as a SweepResult."""
    run_s = loop.get("run_seconds", 0.0)
    timings = {"data_seconds": setup.data_seconds,
               "compile_seconds": setup.engine.compile_seconds,
               "run_seconds": run_s, "lanes_run": loop.get("lanes_run", 0),
               "lane_epochs": loop.get("lane_epochs", 0),
               "trials_run_by_this_worker": len(mine),
               "trials_per_second": len(mine) / run_s if run_s > 0 else 0.0,
               "wall_seconds": time.perf_counter() - wall0}
    summary.update(status="complete", finished_at=runner.utc_now(), timings=timings)
    if out_dir is not None:
        trials = D.export(study, out_dir, summary, top=top)
    else:
        trials = D.study_trials(study)
    info["warnings"] = warnings
    result = SweepResult(setup.config, sorted(trials, key=lambda t: t.id), [], timings, info,
                         out_dir)
    if out_dir is not None:
        result.write_csv()  # trials.csv: the flat table (jaxch6.sweep.tables)
    return result


def _open(config, storage, study_name, sampler, pruner, storage_options, direction):
    """Create or load the study (in the objective's ``direction``) on ``storage``; the
    sampler defaults to the book's random search. Returns ``(study, url or None)``."""
    url = None
    if isinstance(storage, str | os.PathLike):
        url = S.storage_url(str(storage))
        storage = S.make_storage(url, **dict(storage_options or {}))
    if storage is not None and study_name is None:
        study_name = D.DEFAULT_STUDY
    if study_name is not None:
        S.check_study_name(study_name)
    if sampler is None:
        sampler = D.book_random_sampler(config.space, seed=config.seed)
    if pruner is None:  # Optuna's default would be MedianPruner
        import optuna

        pruner = optuna.pruners.NopPruner()
    study = D.open_study(storage, study_name, sampler, config=config, pruner=pruner,
                         direction=direction)
    return study, url
