"""Optuna-driven sweeps: ask K trials, train them as one vmapped program, tell K.

``jaxch6 sweep --sampler random|tpe|cmaes|qmc`` hands the choice of hyperparameters to an Optuna
sampler and the bookkeeping of trials to an Optuna study, so that any number of workers (one per
GPU machine, or several processes on one) can share one search:

```bash
jaxch6 sweep --sampler tpe --trials 1000 --batch-trials 250 \\
    --storage postgresql://jaxch6:secret@db-host:5432/jaxch6 --study mnist-sgd --retry-failed
```

Each worker is a :class:`StudyScheduler` on the run loop every sweep shares
(:class:`jaxch6.sweep.loop.RunLoop`, :func:`run_worker`): the loop trains its steps on the
sweep engine (chunks of lanes, sharded over all local devices, one compiled program per group
of static choices), records, keeps the run states that continue
(:class:`jaxch6.sweep.pool.StatePool`) and asks it for the next step:

1. it fails the trials of dead workers (:func:`jaxch6.sweep.optuna_storage.fail_stale`);
2. it stops when the study holds ``n_trials`` finished (COMPLETE or PRUNED) trials, and waits
   while the rest is RUNNING on other workers;
3. it asks up to K trials (WAITING ones first: re-queued trials of dead workers, trials given
   back), starts their heartbeats, keeps those whose rank among the live (COMPLETE, PRUNED,
   RUNNING, WAITING) trials is below ``n_trials`` and gives the others back (WAITING): so the
   study never holds more than ``n_trials`` live trials however many workers race, and none
   is lost;
4. it samples their hyperparameters (``trial.suggest_float``, ``suggest_int`` or
   ``suggest_categorical`` by each :class:`~jaxch6.sweep.Param`'s kind) and returns them as a
   step of new lanes; with a pruner, to the first rung, and its survivors continue rung by
   rung (``cont`` steps over their kept run states);
5. what a step measured goes back through :meth:`StudyScheduler.observe`: at a rung, one
   ``report`` of the objective there and the pruner's verdict, for the whole batch from one
   read of the study (:func:`jaxch6.sweep.optuna_storage.prune_batch`; a pruned trial is told
   PRUNED);
   at the end, the curves and the diverged flag as user attributes and ``tell`` of the final
   objective, for the whole batch at once
   (:func:`jaxch6.sweep.optuna_storage.tell_batch`).

A trial's training key is :func:`jaxch6.sweep.keys.lane_keys` of ``i``, its key id
(:func:`key_ids`: the trials that are not retries numbered 0, 1, 2, … in order; a retried trial
takes the key id of the trial it retries), so re-running a trial gives the same result. The
``random`` sampler draws key id ``i``'s values exactly as ``jaxch6 sweep`` draws trial ``i``'s
(:func:`jaxch6.sweep.space.sample`): the book's method, and an Optuna random study of N trials
holds the same trials as ``jaxch6 sweep --trials N`` with the same seed, whatever the number of
workers, batch sizes and (with ``--retry-failed``) dead workers.

Objective: the final validation accuracy (the book's ranking key), maximised, or a task's
objective in its direction (:func:`jaxch6.sweep.records.study_value`: a diverged trial is told
0.0 when maximising, infinity when minimising, ranked last as in :func:`jaxch6.sweep.rank`); its
measured curves stay in its user attributes. Results also land in the run directory (``out``):
``trials.jsonl`` (the engine's record format, one line per finished trial of the whole study,
rewritten atomically after each batch) and ``summary.json``.

vs Optuna's ``study.optimize``: one trial per call of an objective, heartbeats per trial; here a
batch is asked and told explicitly (Optuna's ask-and-tell interface) because K trials are one
compiled program. Optuna is imported lazily (extra ``jaxch6[optuna]``).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from jaxch6 import names
from jaxch6.errors import ConfigError
from jaxch6.sweep import optuna_storage as S
from jaxch6.sweep.export import distribution
from jaxch6.sweep.records import best_records, study_value
from jaxch6.sweep.schedulers.base import Step
from jaxch6.sweep.store import STUDY
from jaxch6.sweep.store import data_fingerprint as store_data_fingerprint

SAMPLERS = names.STUDY_SAMPLERS
PRUNERS = names.PRUNERS
_SAMPLE_BLOCK = 1024
DEFAULT_STUDY = "jaxch6-sweep"
#: Config fields that every worker of a study must share (they define what a trial means).
STUDY_FIELDS_IGNORED = ("trials", "rounds", "keep", "chunk_size", "data_dir", "source")

# -- samplers -----------------------------------------------------------------------------------
def book_random_sampler(space, *, seed: int):
    """An Optuna sampler drawing the values of the trial of key id ``i`` (:func:`key_ids`)
    with :func:`jaxch6.sweep.space.sample` (as :func:`jaxch6.sweep.space.draw` does): e.g.
    ``value = 10 ** U(log10 low, log10 high)`` (log) or ``U(low, high)`` (lin), an int of an int
    range, one of a categorical's choices, from ``fold_in(fold_in(key(seed), i), 0)`` — the
    book's random search, per key id, so the values do not depend on which worker asks, in which
    batch, or how many trials were retried."""
    optuna = S.require_optuna()
    from jaxch6.sweep.space import sample

    by_name = {p.name: p for p in space}
    order = tuple(space)

    class BookRandomSampler(_keyed_sampler()):
        def __init__(self):
            # a parameter outside ``space``: drawn per worker, never the same in every process
            self._fallback = optuna.samplers.RandomSampler(seed=_worker_seed(seed))
            self._cache: dict[int, dict[str, float]] = {}
            self._keys: dict[int, int] = {}

        def take_keys(self, keys: Mapping[int, int]) -> None:
            self._keys = dict(keys)

        def infer_relative_search_space(self, study, trial):
            return {}

        def sample_relative(self, study, trial, search_space):
            return {}

        def sample_independent(self, study, trial, param_name, param_distribution):
            p = by_name.get(param_name)
            if p is None or param_distribution != distribution(p):
                return self._fallback.sample_independent(
                    study, trial, param_name, param_distribution
                )
            if trial.number not in self._keys:  # not given (take_keys): read the study
                self._keys = key_ids(study.get_trials(deepcopy=False))
            key = self._keys.get(trial.number, trial.number)
            if key not in self._cache:  # one JAX call per block of key ids
                start = key - key % _SAMPLE_BLOCK
                ids = list(range(start, start + _SAMPLE_BLOCK))
                columns = {k: v.tolist() for k, v in sample(order, ids, seed=seed).items()}
                self._cache = {
                    i: {k: col[j] for k, col in columns.items()} for j, i in enumerate(ids)
                }
            value = self._cache[key][param_name]
            if getattr(p, "kind", "float") != "float":  # an int or one of the choices
                return value
            return float(np.clip(value, p.low, p.high))

    return BookRandomSampler()


@functools.cache
def _keyed_sampler():
    """The base class of samplers that draw by key id and take the study's key ids from the
    driver (:meth:`take_keys`): a sampler asked with a ``HyperbandPruner`` is handed the
    trial's bracket, a part of the study, whose trials would number the key ids wrongly."""
    optuna = S.require_optuna()

    class KeyedSampler(optuna.samplers.BaseSampler):
        def take_keys(self, keys: Mapping[int, int]) -> None:
            """The key id of each trial number of the study."""
            raise NotImplementedError

    return KeyedSampler


def make_sampler(name: str, space, *, seed: int, worker_seed: int | None = None):
    """The Optuna sampler named ``name``.

    - ``random``: :func:`book_random_sampler` (reproducible per trial number).
    - ``tpe``: ``TPESampler(constant_liar=True)``: the K trials of a batch (and other workers'
      RUNNING trials) count as pending, so a batch spreads instead of repeating one guess.
    - ``cmaes``: ``CmaEsSampler`` (needs the ``cmaes`` package).
    - ``qmc``: ``QMCSampler(scramble=True, seed=seed)``: all workers must share the seed.

    TPE and CMA-ES draw from their own random state: ``worker_seed`` (default: ``seed`` mixed
    with the host name and process id) keeps two workers from proposing the same values.
    """
    optuna = S.require_optuna()
    if worker_seed is None:
        worker_seed = _worker_seed(seed)
    if name == "random":
        return book_random_sampler(space, seed=seed)
    if name == "tpe":
        with S.quiet_optuna():
            return optuna.samplers.TPESampler(seed=worker_seed, constant_liar=True)
    if name == "cmaes":
        if importlib.util.find_spec("cmaes") is None:
            raise ConfigError("sampler cmaes needs the cmaes package: pip install cmaes")
        return optuna.samplers.CmaEsSampler(seed=worker_seed)
    if name == "qmc":
        with S.quiet_optuna():
            return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)
    raise ConfigError(f"sampler: unknown sampler {name!r} (choose from {', '.join(SAMPLERS)})")


def _worker_seed(seed: int) -> int:
    import zlib

    return zlib.crc32(f"{seed}:{worker_name()}".encode()) & 0x7FFFFFFF


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# -- study --------------------------------------------------------------------------------------
def study_config(config) -> dict[str, Any]:
    """The part of a sweep config every worker of one study must share."""
    d = config.to_dict()
    for k in STUDY_FIELDS_IGNORED:
        d.pop(k, None)
    return d


def open_study(storage, study_name: str | None, sampler, *, config=None, pruner=None,
               direction: str = "max"):
    """Create or load a study (maximised, or minimised for ``direction="min"``) and
    :func:`check_study` it.

    Args:
        storage: an Optuna storage object (e.g. :func:`~jaxch6.sweep.optuna_storage.make_storage`),
            a storage URL (opened with ``make_storage``) or None (a new in-memory storage).
        study_name: the study's name (checked with
            :func:`~jaxch6.sweep.optuna_storage.check_study_name`); None: a generated one.
        sampler: an ``optuna.samplers.BaseSampler`` (None: Optuna's default).
        config: the sweep config every worker of the study must share (None: not checked).
        pruner: an ``optuna.pruners.BasePruner`` (None: Optuna's default).
        direction: ``"max"`` or ``"min"``: the objective's direction (a task's).

    Returns:
        The ``optuna.Study``, bound to ``storage``
        (:func:`~jaxch6.sweep.optuna_storage.bind_storage`).

    Raises:
        ConfigError: a bad study name, or see :func:`check_study`.
    """
    if study_name is not None:
        S.check_study_name(study_name)
    with S.quiet_optuna() as optuna:
        if storage is None:
            storage = optuna.storages.InMemoryStorage()
        elif isinstance(storage, str | os.PathLike):
            storage = S.make_storage(str(storage))
        study = optuna.create_study(
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            study_name=study_name,
            direction=_DIRECTIONS[direction],
            load_if_exists=True,
        )
    S.bind_storage(study, storage)
    check_study(study, config, direction)
    return study


#: A task's direction as Optuna names it.
_DIRECTIONS = {"max": "maximize", "min": "minimize"}


def check_study(study, config=None, direction: str = "max") -> None:
    """ConfigError unless ``study`` optimises in ``direction`` (``"max"``: maximised) and,
    with ``config``, was started with the same sweep config (its user attribute
    ``jaxch6_config``, set here on first use)."""
    import optuna

    name = study.study_name
    want = optuna.study.StudyDirection[_DIRECTIONS[direction].upper()]
    if study.directions != [want]:
        raise ConfigError(f"study {name}: an existing study that is not "
                          f"{'maximised' if direction == 'max' else 'minimised'}")
    if config is not None:
        mine = study_config(config)
        theirs = study.user_attrs.get("jaxch6_config")
        if theirs is None:
            study.set_user_attr("jaxch6_config", mine)
        elif theirs != mine:
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise ConfigError(
                f"study {name}: this study was started with a different sweep config "
                f"(differs in: {', '.join(diff)}); use another study or the same config"
            )


def key_ids(trials) -> dict[int, int]:
    """Each trial's key id: the id its values are drawn for and its training key folded from.

    A trial that is no retry (no ``failed_trial`` system attribute) takes the next key id in
    trial-number order (0, 1, 2, …), and a retry (made by Optuna's retry callback for a dead
    worker's trial) the key id of the trial it retries. So the key ids of a study are those of
    ``jaxch6 sweep --trials N`` however many trials were retried: a retry does not consume a key
    (its Optuna number does not count), and the trials asked after it are numbered on.

    Args:
        trials: every ``optuna.trial.FrozenTrial`` of the study (e.g. ``study.get_trials()``).

    Returns:
        Trial number to key id.
    """
    out: dict[int, int] = {}
    originals = 0
    for t in sorted(trials, key=lambda t: t.number):
        retried = t.system_attrs.get("failed_trial")
        if retried is None or int(retried) == t.number:
            out[t.number] = originals
            originals += 1
        else:
            out[t.number] = out.get(int(retried), int(retried))
    return out


def _counts(study) -> dict:
    from optuna.trial import TrialState

    out = {s: 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        out[t.state] += 1
    return out


def _live_ranks(study) -> dict[int, int]:
    """Trial number to its rank, by key id, among the live (COMPLETE, PRUNED, RUNNING, WAITING)
    trials: a worker keeps an asked trial only if its rank is below ``n_trials``. Ranking by key
    id (not number) keeps a dead worker's re-queued trials, numbered after fresh ones that a
    racing worker asked, ahead of those fresh ones."""
    from optuna.trial import TrialState

    every = study.get_trials(deepcopy=False)
    keys = key_ids(every)
    alive = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    live = sorted((keys[t.number], t.number) for t in every if t.state in alive)
    return {number: r for r, (_, number) in enumerate(live)}


# -- asking and suggesting ------------------------------------------------------------------------
def suggest(study, trials, space) -> list[tuple[int, dict[str, Any]]]:
    """Suggest ``space`` for each trial, each parameter by its kind (``suggest_float``,
    ``suggest_int``, ``suggest_categorical``); the static names first and, when ``optimizer``
    is searched, only the traced names the trial's optimizer uses (as
    :func:`jaxch6.sweep.space.draw` keeps).

    Returns:
        Per trial, its key id (:func:`key_ids`) and its hyperparameters (plain Python values).
    """
    from jaxch6.sweep.space import STATIC

    keys = key_ids(study.get_trials(deepcopy=False))
    if isinstance(study.sampler, _keyed_sampler()):
        study.sampler.take_keys(keys)
    order = sorted(space, key=lambda p: p.name not in STATIC)  # static names first
    out = []
    for t in trials:
        got: dict[str, Any] = {}
        for p in order:
            if "optimizer" in got and not _uses(got["optimizer"], p.name, space):
                continue
            got[p.name] = _suggest_one(t, p)
        out.append((keys.get(t.number, t.number), {p.name: got[p.name] for p in space
                                                   if p.name in got}))
    return out


def _suggest_one(trial, p):
    kind = getattr(p, "kind", "float")
    if kind == "categorical":
        return trial.suggest_categorical(p.name, tuple(p.choices))
    if kind == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.scale == "log")
    return trial.suggest_float(p.name, p.low, p.high, log=p.scale == "log")


def _uses(optimizer: str, name: str, space) -> bool:
    """Whether a trial with ``optimizer`` uses the searched ``name``: a static name, one of the
    optimizer's or a training or schedule hyperparameter (no optimizer's own)."""
    from jaxch6.optimizers import HYPERPARAMETERS
    from jaxch6.sweep.space import STATIC, searchable_names

    if name in STATIC or name in searchable_names(optimizer):
        return True
    return not any(name in names for names in HYPERPARAMETERS.values())


def _ask_room(study, storage, heart, k: int, n_trials: int) -> tuple[list, list[int]]:
    """Ask up to ``k`` trials (``heart`` beating for them); keep those whose rank among the
    live trials is below ``n_trials``, give the others back. Returns the kept trials and their
    storage ids (none without a storage)."""
    if k <= 0:
        return [], []
    asked, ids = S.ask_batch(study, k, storage, heart)
    ranks = _live_ranks(study)
    keep = [t for t in asked if ranks.get(t.number, n_trials) < n_trials]
    surplus = [t for t in asked if t not in keep]
    S.give_back(study, storage, surplus)  # another worker took these slots first
    if storage is None:
        return keep, []
    id_of = dict(zip([t.number for t in asked], ids, strict=True))
    heart.discard([id_of[t.number] for t in surplus])
    return keep, [id_of[t.number] for t in keep]


# -- the scheduler --------------------------------------------------------------------------------
class StudyScheduler:
    """An Optuna study as a scheduler of the run loop (:class:`jaxch6.sweep.loop.RunLoop`).

    :meth:`next` first hands the step it returned last to :meth:`observe` (which tells the
    study what it measured), then returns the next step: the batch's survivors continuing to
    the next rung (a ``cont`` step over the kept run states), or a new batch of up to
    ``batch_trials`` asked trials (a step of new lanes, each trial's id its key id, so it trains
    with the plain sweep's key), or None once the study holds ``n_trials`` finished trials.
    While the rest of the study runs on other workers it waits, failing dead workers' trials.

    Args:
        study: the ``optuna.Study``.
        space: the search space.
        n_trials: finished (COMPLETE or PRUNED) trials the study should hold.
        batch_trials: trials asked at a time.
        epochs: a complete trial's epochs.
        rungs: the epochs after which the pruner is asked (the last one ``epochs``); None:
            every trial trains ``epochs`` at once.
        storage: the study's storage (None: no heartbeats; surplus trials are told FAIL).
        heart: the :class:`~jaxch6.sweep.optuna_storage.Heartbeat` beating for the batch.
        poll_seconds: wait between looks at a study whose last trials run elsewhere.
        max_batches: stop after this many batches (tests).
        on_batch: called with a dict (``batch``, ``trials`` told, the study's counts) after
            each batch.
        record: called with the trials pruned at a rung, marked ``stopped`` (the run loop's
            ``record``, which sees every other record as it is made).
    """

    name, unit, figure = "optuna", "round", None
    adaptive, copies_states, keeps_final = True, False, False

    def __init__(self, study, space, *, n_trials: int, batch_trials: int, epochs: int,
                 rungs: Sequence[int] | None = None, storage=None, heart=None,
                 poll_seconds: float = 2.0, max_batches: int | None = None,
                 on_batch: Callable[[dict], None] | None = None,
                 record: Callable[[list], None] | None = None):
        self.study, self.space, self.storage = study, tuple(space), storage
        self.n_trials, self.batch_trials, self.epochs = n_trials, batch_trials, epochs
        self.rungs = tuple(rungs) if rungs else (epochs,)
        self.pruning = rungs is not None
        self.heart = heart if heart is not None else S.Heartbeat(None)
        self.poll_seconds, self.max_batches, self.on_batch = poll_seconds, max_batches, on_batch
        self.record = record
        self.batch: dict[int, Any] = {}  # key id -> optuna.Trial of the batch in flight
        self.ids: list[int] = []  # their storage ids (heartbeats)
        self.id_of: dict[int, int] = {}  # key id -> storage id
        self.told: list = []  # this batch's records, told
        self.mine: list = []  # every record this worker told
        self.batches, self.last, self.worker = 0, None, worker_name()
        self.open = False  # a batch is in flight (asked, not all told)

    @property
    def total_trials(self) -> int:
        return self.n_trials

    def stop_epochs(self) -> tuple[int, ...]:
        """The epochs between rungs (one advance program, of their greatest common divisor)."""
        return tuple(sorted({b - a for a, b in zip((0, *self.rungs), self.rungs, strict=False)}))

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "study": self.study.study_name,
                "rungs": list(self.rungs) if self.pruning else None}

    def rounds_info(self, trials) -> list:
        return []

    def notes(self) -> list[str]:
        return []

    def next(self, trials: dict) -> Step | None:
        """Observe the last step, then plan the next (see the class docstring)."""
        if self.last is not None:
            self.observe(self.last, trials)
        self.last = self._continue() or self._new_batch()
        return self.last

    def observe(self, step: Step, trials: dict) -> None:
        """Tell the study what ``step`` measured: at a rung below the last, ``report`` each
        trial's value there and ask the pruner (a pruned trial is told PRUNED and stopped;
        :func:`~jaxch6.sweep.optuna_storage.prune_batch`); at the last, tell each trial's
        value (COMPLETE). A trial finished meanwhile by another worker (failed as stale) is
        dropped from the batch."""
        import optuna

        here = [i for i in (*step.new, *step.cont) if i in self.batch]
        if self.rungs.index(step.stop) == len(self.rungs) - 1:
            ending = [(i, optuna.trial.TrialState.COMPLETE) for i in here]
        else:
            values = [(self.batch[i], self.id_of.get(i), study_value(trials[i])) for i in here]
            verdicts = S.prune_batch(self.study, self.storage, values, step.stop - 1)
            ending = [(i, optuna.trial.TrialState.PRUNED)
                      for i, prune in zip(here, verdicts, strict=True)
                      if prune is None or prune]  # None: finished meanwhile
        told, stopped = [], []
        for i, state in ending:
            if state == state.PRUNED:
                trials[i] = dataclasses.replace(trials[i], status="stopped")
                stopped.append(trials[i])
            try:
                self._attrs(self.batch[i], trials[i])
                told.append((i, trials[i], state))
            except optuna.exceptions.UpdateFinishedTrialError:  # failed as stale meanwhile
                if state == state.COMPLETE:
                    trials[i] = dataclasses.replace(trials[i], status="stopped")
                    stopped.append(trials[i])
                self.batch.pop(i, None)
        self._tell(told)
        if stopped and self.record is not None:
            self.record(stopped)
        if not self.batch and self.open:
            self._batch_done()

    def _attrs(self, trial, rec) -> None:
        """Record ``rec``'s curves as the trial's user attributes (one ``set_user_attr`` each;
        raises UpdateFinishedTrialError if it was failed meanwhile)."""
        attrs = {"train_acc": rec.train_acc, "val_acc": rec.val_acc, "diverged": rec.diverged,
                 "key_id": rec.id, "worker": self.worker}
        if self.pruning:
            attrs["rung"] = rec.rung
        if rec.objective != "val_acc":
            attrs.update(objective=rec.objective, metrics=rec.metrics)
        for key, value in attrs.items():
            trial.set_user_attr(key, value)

    def _tell(self, ending: list) -> None:
        """Tell the study the trials that end here (:func:`~jaxch6.sweep.optuna_storage.
        tell_batch`); keep the records of those it took (not those failed as stale
        meanwhile). The trials leave the batch once told: if telling fails, :meth:`give_back`
        still puts the untold ones back in the queue."""
        told = [(self.batch[i], self.id_of.get(i), state,
                 None if state.name == "PRUNED" else study_value(rec))
                for i, rec, state in ending]
        got = S.tell_batch(self.study, self.storage, told)
        for i, _, _ in ending:
            self.batch.pop(i)
        self.told += [rec for (_, rec, state), now in zip(ending, got, strict=True)
                      if now == state]

    def _batch_done(self) -> None:
        self.open = False
        self.heart.discard(self.ids)
        self.ids, self.mine, told = [], [*self.mine, *self.told], self.told
        self.told = []
        if self.on_batch is not None:
            self.on_batch(_batch_info(self.study, self.batches, told, self.n_trials))

    def _continue(self) -> Step | None:
        """The batch's survivors to the next rung, or None."""
        if not self.batch:
            return None
        k = self.rungs.index(self.last.stop) + 1
        last = k == len(self.rungs) - 1
        return Step(self.rungs[k - 1], self.rungs[k], cont=tuple(self.batch), keep=not last,
                    rung=k, label=f"batch {self.batches}, rung {k + 1}/{len(self.rungs)}: "
                                  f"{len(self.batch)} trials to {self.rungs[k]} epochs")

    def _new_batch(self) -> Step | None:
        """A step of newly asked trials, or None when the study is done."""
        if self.max_batches is not None and self.batches >= self.max_batches:
            return None
        asked = self._ask()
        if not asked:
            return None
        new = suggest(self.study, asked, self.space)
        self.batch = {i: t for (i, _), t in zip(new, asked, strict=True)}
        self.id_of = dict(zip(self.batch, self.ids, strict=False))  # none without a storage
        self.batches, self.open = self.batches + 1, True
        stop = self.rungs[0]
        rung = f", rung 1/{len(self.rungs)}" if self.pruning else ""
        return Step(0, stop, new=dict(new), keep=len(self.rungs) > 1,
                    rung=0 if self.pruning else None,
                    label=f"batch {self.batches}{rung}: {len(new)} trials to {stop} epochs")

    def _ask(self) -> list:
        """Up to ``batch_trials`` trials (waiting while the rest runs elsewhere); [] when the
        study holds ``n_trials`` finished trials."""
        from optuna.trial import TrialState

        while True:
            S.fail_stale(self.study, self.storage)
            counts = _counts(self.study)
            finished = counts[TrialState.COMPLETE] + counts[TrialState.PRUNED]
            if finished >= self.n_trials:
                return []
            room = self.n_trials - finished - counts[TrialState.RUNNING]
            keep, self.ids = _ask_room(self.study, self.storage, self.heart,
                                       min(self.batch_trials, room), self.n_trials)
            if keep:
                return keep
            time.sleep(self.poll_seconds)  # the rest runs elsewhere: wait (or for it to go stale)

    def give_back(self) -> None:
        """Put the batch in flight back in the study's queue (after an error or a stop)."""
        S.give_back(self.study, self.storage, list(self.batch.values()))
        self.heart.discard(self.ids)
        self.batch, self.ids, self.open = {}, [], False


def _batch_info(study, batch: int, done: list, n_trials: int) -> dict:
    from optuna.trial import TrialState

    c = _counts(study)
    return {"batch": batch, "trials": done, "complete": c[TrialState.COMPLETE],
            "pruned": c[TrialState.PRUNED], "running": c[TrialState.RUNNING],
            "failed": c[TrialState.FAIL], "n_trials": n_trials}


# -- one worker -----------------------------------------------------------------------------------
def run_worker(study, engine, space, *, n_trials: int, batch_trials: int, epochs: int,
               seed: int = 0, repeats: int = 1, rungs: Sequence[int] | None = None,
               poll_seconds: float = 2.0, on_batch: Callable[[dict], None] | None = None,
               max_batches: int | None = None, storage=None, record=None,
               loop: dict | None = None, stop: Any = None) -> list:
    """Work on ``study`` until it holds ``n_trials`` finished trials: a
    :class:`StudyScheduler` on the run loop every sweep shares
    (:class:`jaxch6.sweep.loop.RunLoop`), training on ``engine``.

    Args:
        study: the study (see :func:`open_study`).
        engine: a :class:`jaxch6.sweep.engine.LaneEngine`
            (:func:`jaxch6.sweep.runner.prepare`'s).
        space: the search space.
        n_trials, batch_trials, epochs, rungs, poll_seconds, on_batch, max_batches: see
            :class:`StudyScheduler` (``on_batch``'s dict also holds the loop's ``run_seconds``
            and ``lanes_run`` so far).
        seed: the sweep's seed (the lanes' training keys).
        repeats: training keys per trial.
        storage: the study's storage (default: the one :func:`open_study` bound it to).
            Without one, no heartbeats are recorded and surplus trials are told FAIL.
        record: the loop's ``record`` callback (e.g. tracking).
        loop: a dict that receives the loop's timings (``run_seconds``, ``lanes_run``,
            ``lane_epochs``).
        stop: a ``threading.Event``; once set, the loop raises
            :class:`jaxch6.sweep.loop.Interrupted` before its next step or after its chunk in
            flight, and the batch's unfinished trials go back in the queue.

    Returns:
        The trials this worker told (:class:`jaxch6.sweep.Trial`, id = key id).
    """
    from jaxch6.sweep.loop import RunLoop
    from jaxch6.sweep.pool import StatePool

    if n_trials < 1 or batch_trials < 1:
        raise ConfigError("n_trials and batch_trials must be positive")
    storage = storage if storage is not None else S.storage_of(study)

    def batch_done(info: dict) -> None:  # with the loop's time in the engine so far
        if on_batch is not None:
            on_batch({**info, "run_seconds": runner.run_seconds, "lanes_run": runner.lanes_run})

    with S.quiet_optuna(), S.Heartbeat(storage) as heart:
        scheduler = StudyScheduler(study, space, n_trials=n_trials, batch_trials=batch_trials,
                                   epochs=epochs, rungs=rungs, storage=storage, heart=heart,
                                   poll_seconds=poll_seconds, max_batches=max_batches,
                                   on_batch=batch_done, record=record)
        runner = RunLoop(engine, scheduler, seed=seed, repeats=repeats, epochs=epochs,
                         pool=StatePool(None, treedef_of=engine.treedef), record=record,
                         stop=stop)
        try:
            runner.run({})
        except BaseException:
            scheduler.give_back()
            raise
        finally:
            if loop is not None:
                loop.update(run_seconds=runner.run_seconds, lanes_run=runner.lanes_run,
                            lane_epochs=runner.lane_epochs)
    return scheduler.mine

# -- results ------------------------------------------------------------------------------------
def study_trials(study) -> list:
    """The study's COMPLETE (status ``complete``) and PRUNED (status ``stopped``) trials as
    :class:`jaxch6.sweep.Trial` (in trial-number order)."""
    import optuna
    from optuna.trial import TrialState

    from jaxch6.sweep.records import Trial

    minimise = study.direction == optuna.study.StudyDirection.MINIMIZE
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        ua = t.user_attrs
        if "val_acc" not in ua:  # a trial told by someone else's code
            continue
        out.append(
            Trial(
                id=int(ua.get("key_id", t.number)),
                round=0,
                hparams={k: float(v) if isinstance(v, float) else v
                         for k, v in t.params.items()},
                train_acc=[float(a) for a in ua.get("train_acc", [])],
                val_acc=[float(a) for a in ua["val_acc"]],
                diverged=bool(ua.get("diverged", False)),
                status="complete" if t.state == TrialState.COMPLETE else "stopped",
                rung=ua.get("rung"),
                metrics=ua.get("metrics"),
                objective=str(ua.get("objective", "val_acc")),
                direction="min" if minimise else "max",
            )
        )
    return out


def export(study, out_dir, summary: Mapping[str, Any], *, top: int = 20) -> list:
    """Write the whole study to ``out_dir``: ``trials.jsonl`` (atomically replaced) and
    ``summary.json`` (``summary`` plus counts and the ``top`` best). Returns the trials."""
    from optuna.trial import TrialState

    from jaxch6.sweep import store

    out_dir = store.subdir(out_dir)
    trials = study_trials(study)
    records = [t.to_record() for t in sorted(trials, key=lambda t: t.id)]
    store.replace_trials(out_dir, records)
    counts = _counts(study)
    full = dict(summary)
    full.update(
        n_trials=len(trials),
        n_diverged=sum(t.diverged for t in trials),
        n_pruned=sum(t.status == "stopped" for t in trials),
        study_counts={s.name.lower(): n for s, n in counts.items() if n},
        best=best_records(trials, top),
    )
    failed = counts[TrialState.FAIL]
    full["n_failed"] = failed
    store.write_summary(out_dir, full)
    return trials


# The one implementation lives in the run-directory store (re-exported here).
data_fingerprint = store_data_fingerprint


def pin_study(study, pin: Mapping[str, Any], study_name: str) -> None:
    """Record ``pin`` (data fingerprint, lane width, a task's source fingerprint) on a study's
    first worker; on later workers raise ConfigError when the data or the task's source differ
    (the lane width is adopted before compiling)."""
    theirs = study.user_attrs.get("jaxch6_pin")
    if theirs is None:
        study.set_user_attr("jaxch6_pin", dict(pin))
        return
    if None not in (theirs.get("task_sha256"), pin.get("task_sha256")) \
            and theirs["task_sha256"] != pin["task_sha256"]:
        raise ConfigError(f"study {study_name}: the source of the task changed since the "
                          "study started (its trials would mix two models); use another "
                          "study, or the task's first source")
    if theirs.get("data_sha256") != pin.get("data_sha256"):
        raise ConfigError(
            f"study {study_name}: this worker loaded different data than the study's first "
            "worker (check the data source and directory: 'auto' may pick another source "
            "on this machine)"
        )


def default_storage(out_dir) -> str:
    """A SQLite study file in ``out_dir``."""
    return "sqlite:///" + os.path.abspath(os.path.join(out_dir, STUDY))


def make_pruner(name: str | None, config):
    """The Optuna pruner named ``name`` (None for ``none``): ``MedianPruner`` (prunes a
    trial whose accuracy is below the median of earlier trials' at the same epoch) or
    ``HyperbandPruner`` (min resource ``config.min_epochs``, max ``config.epochs``, reduction
    factor ``config.eta``)."""
    if name in (None, "none"):
        return None
    optuna = S.require_optuna()
    if name == "median":
        return optuna.pruners.MedianPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=config.min_epochs,
                                              max_resource=config.epochs,
                                              reduction_factor=config.eta)
    raise ConfigError(f"pruner: unknown pruner {name!r} (choose from {', '.join(PRUNERS)})")
