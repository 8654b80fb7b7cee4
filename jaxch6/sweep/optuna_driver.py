"""Optuna-driven sweeps: ask K trials, train them as one vmapped program, tell K.

``jaxch6 sweep --sampler random|tpe|cmaes|qmc`` hands the choice of hyperparameters to an Optuna
sampler and the bookkeeping of trials to an Optuna study, so that any number of workers (one per
GPU machine, or several processes on one) can share one search:

```bash
jaxch6 sweep --sampler tpe --trials 1000 --batch-trials 250 \\
    --storage postgresql://jaxch6:secret@db-host:5432/jaxch6 --study mnist-sgd --retry-failed
```

Each worker loops (:func:`run_worker`):

1. fail the trials of dead workers (:func:`jaxch6.sweep.optuna_storage.fail_stale`);
2. stop when the study holds ``n_trials`` COMPLETE trials; wait while the rest is RUNNING on
   other workers;
3. ``ask`` up to K trials (WAITING ones first: re-queued trials of dead workers, trials given
   back), start their heartbeats, keep those whose rank among the live (COMPLETE, RUNNING,
   WAITING) trials is below ``n_trials`` and give the others back (WAITING): so the study never
   holds more than ``n_trials`` live trials however many workers race, and none is lost;
4. sample their hyperparameters (``trial.suggest_float``, ``suggest_int`` or
   ``suggest_categorical`` by each :class:`~jaxch6.sweep.Param`'s kind), train all K in one call
   of the sweep engine per group of static choices (:mod:`jaxch6.sweep.groups`; the batch is
   sharded over all local devices), ``report`` each epoch's validation accuracy as an
   intermediate value, store the curves and the diverged flag as user attributes, ``tell`` the
   final validation accuracy.

A trial's training key is :func:`jaxch6.sweep.keys.lane_keys` of ``i``, its key id
(:func:`key_ids`: the trials that are not retries numbered 0, 1, 2, … in order; a retried trial
takes the key id of the trial it retries), so re-running a trial gives the same result. The
``random`` sampler draws key id ``i``'s values exactly as ``jaxch6 sweep`` draws trial ``i``'s
(:func:`jaxch6.sweep.space.sample`): the book's method, and an Optuna random study of N trials
holds the same trials as ``jaxch6 sweep --trials N`` with the same seed, whatever the number of
workers, batch sizes and (with ``--retry-failed``) dead workers.

Objective: the final validation accuracy (the book's ranking key), maximised. A diverged trial is
told 0.0 (ranked last, as in :func:`jaxch6.sweep.rank`); its measured curves stay in its user
attributes. Results also land in the run directory (``out``): ``trials.jsonl`` (the engine's
record format, one line per complete trial of the whole study, rewritten atomically after each
batch) and ``summary.json``.

vs Optuna's ``study.optimize``: one trial per call of an objective, heartbeats per trial; here a
batch is asked and told explicitly (Optuna's ask-and-tell interface) because K trials are one
compiled program. Optuna is imported lazily (extra ``jaxch6[optuna]``).
"""

from __future__ import annotations

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
from jaxch6.sweep.store import data_fingerprint as store_data_fingerprint

SAMPLERS = names.STUDY_SAMPLERS
PRUNERS = names.PRUNERS
_SAMPLE_BLOCK = 1024
DEFAULT_STUDY = "jaxch6-sweep"
#: Config fields that every worker of a study must share (they define what a trial means).
STUDY_FIELDS_IGNORED = ("trials", "rounds", "keep", "chunk_size", "data_dir", "source")

#: ``train_batch(hparams, trial_ids)``: hparams maps each searched name to a (k,) array; returns
#: History fields as NumPy arrays: ``train_acc`` (k, epochs), ``val_acc`` (k, epochs),
#: ``diverged`` (k,). :class:`EngineTrainer` is the real one.
BatchTrainer = Callable[[Mapping[str, np.ndarray], Sequence[int]], Mapping[str, np.ndarray]]


# -- samplers -----------------------------------------------------------------------------------
def _distribution(param):
    """The Optuna distribution :func:`suggest` asks for ``param`` (by its kind)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    kind = getattr(param, "kind", "float")
    if kind == "categorical":
        return CategoricalDistribution(tuple(param.choices))
    if kind == "int":
        return IntDistribution(int(param.low), int(param.high), log=param.scale == "log")
    return FloatDistribution(float(param.low), float(param.high), log=param.scale == "log")


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

    class BookRandomSampler(optuna.samplers.BaseSampler):
        def __init__(self):
            self._fallback = optuna.samplers.RandomSampler(seed=seed)
            self._cache: dict[int, dict[str, float]] = {}
            self._keys: dict[int, int] = {}

        def infer_relative_search_space(self, study, trial):
            return {}

        def sample_relative(self, study, trial, search_space):
            return {}

        def sample_independent(self, study, trial, param_name, param_distribution):
            p = by_name.get(param_name)
            if p is None or param_distribution != _distribution(p):
                return self._fallback.sample_independent(
                    study, trial, param_name, param_distribution
                )
            if trial.number not in self._keys:  # one read of the study per batch asked
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


def open_study(storage, study_name: str | None, sampler, *, config=None, pruner=None):
    """Create or load a study (direction: maximise) and :func:`check_study` it.

    Args:
        storage: an Optuna storage object (e.g. :func:`~jaxch6.sweep.optuna_storage.make_storage`),
            a storage URL (opened with ``make_storage``) or None (a new in-memory storage).
        study_name: the study's name (checked with
            :func:`~jaxch6.sweep.optuna_storage.check_study_name`); None: a generated one.
        sampler: an ``optuna.samplers.BaseSampler`` (None: Optuna's default).
        config: the sweep config every worker of the study must share (None: not checked).
        pruner: an ``optuna.pruners.BasePruner`` (None: Optuna's default).

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
            direction="maximize",
            load_if_exists=True,
        )
    S.bind_storage(study, storage)
    check_study(study, config)
    return study


def check_study(study, config=None) -> None:
    """ConfigError unless ``study`` is maximised and, with ``config``, was started with the
    same sweep config (its user attribute ``jaxch6_config``, set here on first use)."""
    import optuna

    name = study.study_name
    if study.directions != [optuna.study.StudyDirection.MAXIMIZE]:
        raise ConfigError(f"study {name}: an existing study that is not maximised")
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


# -- one worker ---------------------------------------------------------------------------------
def run_worker(
    study,
    train_batch: BatchTrainer,
    space,
    *,
    n_trials: int,
    batch_trials: int,
    poll_seconds: float = 2.0,
    n_train: int | None = None,
    n_val: int | None = None,
    on_batch: Callable[[dict], None] | None = None,
    max_batches: int | None = None,
    rungs: Sequence[int] | None = None,
    storage=None,
) -> list:
    """Work on ``study`` until it holds ``n_trials`` COMPLETE trials; returns this worker's
    trials (:class:`jaxch6.sweep.Trial`, id = key id). See the module docstring for the loop.

    ``n_train`` / ``n_val`` round accuracies to exact fractions k/n (as ``jaxch6 sweep`` does);
    ``on_batch(info)`` is called after each batch; ``max_batches`` stops early (tests).

    ``rungs`` (epochs after which the study's pruner is asked, the last one the full training):
    ``train_batch`` must then be an :class:`EngineTrainer` (it continues run states); pruned
    trials are told PRUNED and count, with the COMPLETE ones, towards ``n_trials``.

    ``storage``: the study's storage (default: the one :func:`open_study` bound it to). Without
    one, no heartbeats are recorded and surplus trials are told FAIL instead of given back.
    """
    from optuna.trial import TrialState

    if n_trials < 1 or batch_trials < 1:
        raise ConfigError("n_trials and batch_trials must be positive")
    storage = storage if storage is not None else S.storage_of(study)
    mine = []
    batches = 0
    with S.quiet_optuna(), S.Heartbeat(storage) as heart:
        while max_batches is None or batches < max_batches:
            S.fail_stale(study, storage)
            counts = _counts(study)
            complete = counts[TrialState.COMPLETE] + counts[TrialState.PRUNED]
            room = n_trials - complete - counts[TrialState.RUNNING]
            if complete >= n_trials:
                break
            keep, ids = _ask_room(study, storage, heart, min(batch_trials, room), n_trials)
            if not keep:  # the rest is running elsewhere: wait for it (or for it to go stale)
                time.sleep(poll_seconds)
                continue
            try:
                if rungs is None:
                    done = _train_and_tell(study, keep, train_batch, space, n_train, n_val)
                else:
                    done = _train_rungs_and_tell(study, keep, train_batch, space, rungs,
                                                 n_train, n_val)
            except BaseException:
                S.give_back(study, storage, keep)
                raise
            finally:
                heart.discard(ids)
            mine += done
            batches += 1
            if on_batch is not None:
                on_batch(_batch_info(study, batches, done, n_trials))
    return mine


def _batch_info(study, batch: int, done: list, n_trials: int) -> dict:
    from optuna.trial import TrialState

    c = _counts(study)
    return {"batch": batch, "trials": done, "complete": c[TrialState.COMPLETE],
            "pruned": c[TrialState.PRUNED], "running": c[TrialState.RUNNING],
            "failed": c[TrialState.FAIL], "n_trials": n_trials}


def _ids(study, storage, trials) -> list[int]:
    """The storage ids of ``trials`` (none without a storage)."""
    if storage is None:
        return []
    return S.trial_ids(study, storage, [t.number for t in trials])


def _ask_room(study, storage, heart, k: int, n_trials: int) -> tuple[list, list[int]]:
    """Ask up to ``k`` trials; keep those whose rank among the live trials is below
    ``n_trials``, give the others back and start the kept ones' heartbeats. Returns the kept
    trials and their storage ids."""
    if k <= 0:
        return [], []
    asked = S.ask_batch(study, k, storage)
    ranks = _live_ranks(study)
    keep = [t for t in asked if ranks.get(t.number, n_trials) < n_trials]
    surplus = [t for t in asked if t not in keep]
    S.give_back(study, storage, surplus)  # another worker took these slots first
    ids = _ids(study, storage, keep)
    heart.add(ids, [t.number for t in keep])
    return keep, ids


def suggest(study, trials, space):
    """Suggest ``space`` for each trial, each parameter by its kind (``suggest_float``,
    ``suggest_int``, ``suggest_categorical``); the static names first and, when ``optimizer``
    is searched, only the traced names the trial's optimizer uses (as
    :func:`jaxch6.sweep.space.draw` keeps).

    Returns:
        ``(hparams, ids)``: each name to an array of one value per trial (float64 for a space
        of float ranges only; else objects, None where a trial's optimizer does not use the
        name), and each trial's key id (:func:`key_ids`).
    """
    from jaxch6.sweep.space import STATIC

    keys = key_ids(study.get_trials(deepcopy=False))
    order = sorted(space, key=lambda p: p.name not in STATIC)  # static names first
    hp: dict[str, list] = {p.name: [] for p in space}
    for t in trials:
        got = {}
        for p in order:
            if "optimizer" in got and not _uses(got["optimizer"], p.name, space):
                continue
            got[p.name] = _suggest_one(t, p)
        for name, col in hp.items():
            col.append(got.get(name))
    ids = [keys.get(t.number, t.number) for t in trials]
    if all(getattr(p, "kind", "float") == "float" for p in space):
        return {k: np.asarray(v, np.float64) for k, v in hp.items()}, ids
    return {k: _objects(v) for k, v in hp.items()}, ids


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


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _row(hparams: Mapping[str, np.ndarray], j: int) -> dict[str, Any]:
    """Trial ``j``'s hyperparameters as plain Python values (names it does not use left out)."""
    out = {}
    for k, v in hparams.items():
        x = v[j]
        if x is not None:
            out[k] = x.item() if isinstance(x, np.generic) else x
    return out


def _train_and_tell(study, trials, train_batch, space, n_train, n_val) -> list:
    from jaxch6.sweep.records import Trial

    hparams, ids = suggest(study, trials, space)
    out = train_batch(hparams, ids)
    results, batch = [], []
    worker = worker_name()
    for j, t in enumerate(trials):
        rec = Trial(
            id=ids[j],
            round=0,
            hparams=_row(hparams, j),
            train_acc=_fractions(out["train_acc"][j], n_train),
            val_acc=_fractions(out["val_acc"][j], n_val),
            diverged=bool(out["diverged"][j]),
        )
        final = rec.final_val_acc
        value = 0.0 if rec.diverged or not np.isfinite(final) else float(final)
        attrs = {"train_acc": rec.train_acc, "val_acc": rec.val_acc, "diverged": rec.diverged,
                 "key_id": rec.id, "worker": worker}
        batch.append((t, attrs, value))
        results.append(rec)
    done = set(S.finish_trials(study, batch))
    return [r for r, (t, *_) in zip(results, batch, strict=True) if t.number in done]


def _train_rungs_and_tell(study, trials, trainer, space, rungs, n_train, n_val) -> list:
    """Train ``trials`` rung by rung (successive-halving epochs), reporting each epoch's
    validation accuracy and asking the study's pruner after every rung but the last; pruned
    lanes are dropped (only the survivors' run states are trained on) and told PRUNED.

    Results use Optuna's public API (``report``, ``should_prune``, ``set_user_attr``, ``tell``);
    a trial finished meanwhile by another worker (failed as stale) is skipped."""
    from optuna.trial import TrialState

    batch = _RungBatch(study, trials, trainer, space, n_train, n_val)
    for rung, stop in enumerate(rungs):
        last = rung == len(rungs) - 1
        batch.train_to(stop, keep_states=not last)
        if last:
            break
        if not batch.prune(rung):
            return batch.results
    for j in batch.alive:
        if j not in batch.lost:
            batch.finish(j, TrialState.COMPLETE, len(rungs) - 1)
    return batch.results


class _RungBatch:
    """A batch of Optuna trials trained in rungs: their curves, survivors and results."""

    def __init__(self, study, trials, trainer, space, n_train, n_val):
        self.study, self.trials, self.trainer = study, trials, trainer
        self.n_train, self.n_val = n_train, n_val
        self.hparams, self.ids = suggest(study, trials, space)
        n = len(trials)
        self.train_acc: list[list[float]] = [[] for _ in range(n)]
        self.val_acc: list[list[float]] = [[] for _ in range(n)]
        self.diverged = [False] * n
        self.alive, self.lost = list(range(n)), set()
        self.states, self.done_epochs, self.results = None, 0, []
        self.worker = worker_name()

    def train_to(self, stop: int, *, keep_states: bool) -> None:
        """Train the surviving lanes to epoch ``stop`` and report each epoch."""
        import optuna

        sub = {k: v[self.alive] for k, v in self.hparams.items()}
        epochs = stop - self.done_epochs
        if self.states is None:
            hist, self.states = self.trainer.start(sub, [self.ids[j] for j in self.alive],
                                                   epochs, keep_states=keep_states)
        else:
            hist, self.states = self.trainer.resume(self.states, sub, epochs,
                                                    keep_states=keep_states)
        for pos, j in enumerate(self.alive):
            self.train_acc[j] += _fractions(hist["train_acc"][pos], self.n_train)
            va = _fractions(hist["val_acc"][pos], self.n_val)
            self.val_acc[j] += va
            self.diverged[j] = self.diverged[j] or bool(hist["diverged"][pos])
            try:  # the rung's value, at the step of its last epoch (the curve: user attrs)
                v = va[-1]
                self.trials[j].report(v if np.isfinite(v) else 0.0, stop - 1)
            except optuna.exceptions.UpdateFinishedTrialError:
                self.lost.add(j)
        self.done_epochs = stop

    def prune(self, rung: int) -> bool:
        """Ask the pruner about every survivor; keep the others' states (compaction). False
        when none is left."""
        from optuna.trial import TrialState

        keep = []
        for pos, j in enumerate(self.alive):
            if j in self.lost:
                continue
            if self.trials[j].should_prune():
                self.finish(j, TrialState.PRUNED, rung)
            else:
                keep.append(pos)
        self.alive = [self.alive[p] for p in keep]
        if not self.alive:
            return False
        self.states = _take(self.states, keep)  # compaction: only the survivors train on
        return True

    def finish(self, j: int, state, rung: int) -> None:
        """Record trial ``j`` and tell the study (COMPLETE with its value, or PRUNED)."""
        import optuna
        from optuna.trial import TrialState

        from jaxch6.sweep.records import Trial

        rec = Trial(id=self.ids[j], round=0,
                    hparams=_row(self.hparams, j),
                    train_acc=self.train_acc[j], val_acc=self.val_acc[j],
                    diverged=self.diverged[j],
                    status="complete" if state == TrialState.COMPLETE else "stopped", rung=rung)
        final = rec.final_val_acc
        value = 0.0 if rec.diverged or not np.isfinite(final) else float(final)
        attrs = {"train_acc": rec.train_acc, "val_acc": rec.val_acc, "diverged": rec.diverged,
                 "key_id": rec.id, "worker": self.worker, "rung": rung}
        try:
            for k, v in attrs.items():
                self.trials[j].set_user_attr(k, v)
            if state == TrialState.COMPLETE:
                self.study.tell(self.trials[j], value)
            else:
                self.study.tell(self.trials[j], state=TrialState.PRUNED)
        except optuna.exceptions.UpdateFinishedTrialError:
            return
        self.results.append(rec)


class _GroupStates:
    """A batch's run states, one batched pytree per group of static choices: ``parts`` holds
    ``(group, rows, tree)``, ``rows`` the lanes' positions in the batch."""

    def __init__(self, parts):
        self.parts = parts

    @classmethod
    def of(cls, fetched):
        """From ``(group, rows, (history, states))`` chunks."""
        import jax

        by: dict[tuple, list] = {}
        for g, rows, (_, st) in fetched:
            by.setdefault(g, []).append((rows, st))
        return cls([(g, np.concatenate([r for r, _ in got]),
                     jax.tree.map(lambda *a: np.concatenate(a), *[st for _, st in got]))
                    for g, got in by.items()])

    def take(self, keep):
        """The states of the batch positions ``keep`` (ascending), renumbered 0.."""
        new = {p: i for i, p in enumerate(keep)}
        parts = []
        for g, rows, tree in self.parts:
            sel = [k for k, r in enumerate(rows) if int(r) in new]
            if sel:
                parts.append((g, np.asarray([new[int(rows[k])] for k in sel], np.int64),
                              _take(tree, sel)))
        return _GroupStates(parts)


def _take(tree, rows):
    import jax

    if isinstance(tree, _GroupStates):
        return tree.take(rows)
    idx = np.asarray(rows, np.int64)
    return jax.tree.map(lambda a: np.asarray(a)[idx], tree)


def _fractions(acc, n: int | None) -> list[float]:
    acc = np.asarray(acc, np.float64)
    if n:
        acc = np.round(acc * n) / n
    return [float(v) for v in acc]


def _json_float(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


# -- results ------------------------------------------------------------------------------------
def study_trials(study) -> list:
    """The study's COMPLETE (status ``complete``) and PRUNED (status ``stopped``) trials as
    :class:`jaxch6.sweep.Trial` (in trial-number order)."""
    from optuna.trial import TrialState

    from jaxch6.sweep.records import Trial

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
            )
        )
    return out


def export(study, out_dir, summary: Mapping[str, Any], *, top: int = 20) -> list:
    """Write the whole study to ``out_dir``: ``trials.jsonl`` (atomically replaced) and
    ``summary.json`` (``summary`` plus counts and the ``top`` best). Returns the trials."""
    from optuna.trial import TrialState

    from jaxch6.sweep import store
    from jaxch6.sweep.records import rank

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
        best=[t.to_record() | {"rank": i + 1} for i, t in enumerate(rank(trials)[:top])],
    )
    failed = counts[TrialState.FAIL]
    full["n_failed"] = failed
    store.write_summary(out_dir, full)
    return trials


# -- the real trainer ---------------------------------------------------------------------------
class EngineTrainer:
    """The sweep engine as a :data:`BatchTrainer`: loads the config's data once, builds the
    engine exactly as a plain sweep does (:func:`jaxch6.sweep.runner.plan_lanes`,
    :func:`~jaxch6.sweep.runner.build_engines`), and trains each batch in chunks of the engine's
    size, sharded over all local devices.

    Keys: :func:`jaxch6.sweep.keys.lane_keys` of ``config.seed`` and the trial ids, as a plain
    sweep does, so trial ``i`` is bit-identical to the plain sweep's trial ``i``.

    Args:
        config: the sweep's config.
        batch_trials: trials per compiled call (default: ``config.chunk_size`` or the engine's
            choice for the devices).
        devices: the devices to shard lanes over (default: all local devices).
        data: a :class:`jaxch6.train.Data` instead of loading ``config.dataset``.
        task: a :class:`jaxch6.sweep.Task` recording ``train_acc`` and ``val_acc`` (default:
            the book's network, :func:`jaxch6.sweep.task.book_task`).
        lanes: the study's pinned lane width (see :func:`pin_study`), so every worker agrees.
    """

    def __init__(self, config, batch_trials: int | None = None, *, devices=None, data=None,
                 task=None, lanes: int | None = None):
        import jax

        from jaxch6.sweep.runner import build_engines, load_data, plan_lanes

        self.config = config
        t0 = time.perf_counter()
        if data is None:
            data, self.data_info = load_data(config)
        else:
            self.data_info = {"dataset": "custom", "source": "given",
                              "n_train": len(data[0]), "n_val": len(data[2])}
        self.data_seconds = time.perf_counter() - t0
        self.n_train, self.n_val = len(data[0]), len(data[2])
        self.devices = list(devices if devices is not None else jax.local_devices())
        from jaxch6.sweep import task as T

        book = task is None
        fingerprint = data_fingerprint(data)
        task = T.book_task(config, data) if book else T.resolve(task, config)
        data = T.book_data(config, data) if book else data
        # The same lane width and training as a plain sweep: trial i is bit-identical.
        _, chosen = plan_lanes(config, data, self.devices, lanes=lanes, chunk_size=batch_trials,
                               task=None if book else task)
        lanes, chunk = chosen.lanes, chosen.chunk_size
        #: One engine per group of static choices, all of the same lane width and chunk size.
        self.engine = build_engines(config, data, chunk, lanes, self.devices, task)
        self.lanes = int(lanes)
        #: What every worker of a study must share beyond the config: the data actually loaded
        #: (``source="auto"`` may resolve differently on another machine) and the lane width.
        self.pin = {"data_sha256": fingerprint, "lanes": int(lanes)}
        self.run_seconds = 0.0
        self.trials_run = 0

    @property
    def chunk_size(self) -> int:
        return self.engine.chunk_size

    @property
    def compile_seconds(self) -> float:
        return self.engine.compile_seconds

    def precompile(self, epochs: Sequence[int]) -> None:
        """Compile the start program and one advancing by each of ``epochs``."""
        self.engine.precompile(epochs)

    def _split(self, hparams, n: int) -> list[tuple[tuple, np.ndarray]]:
        """The batch's rows by group of static choices (first appearance order)."""
        names = self.engine.names
        out: dict[tuple, list[int]] = {}
        for j in range(n):
            group = tuple((k, _row({k: hparams[k]}, j)[k]) for k in names)
            out.setdefault(group, []).append(j)
        return [(g, np.asarray(rows, np.int64)) for g, rows in out.items()]

    def _run(self, n, parts, keep_states: bool):
        """Dispatch ``parts`` (``(group, rows, dispatch(engine, slice of rows))``) in chunks,
        all in flight, then fetch; history rows in batch order, states by group."""
        t0 = time.perf_counter()
        c = self.engine.chunk_size
        jobs = []
        for group, rows, dispatch in parts:
            eng = self.engine.engine(group)
            for s in range(0, len(rows), c):
                sl = slice(s, min(s + c, len(rows)))
                jobs.append((group, rows[sl], dispatch(eng, sl)))
        fetched = [(g, rows, self.engine.fetch(h, states=keep_states)) for g, rows, h in jobs]
        got: dict[str, list] = {}
        for _, rows, (h, _) in fetched:
            for k, v in h.items():
                got.setdefault(k, []).append((rows, np.asarray(v)))
        hist: dict[str, np.ndarray] = {}
        for k, pieces in got.items():
            if len({v.shape[1:] for _, v in pieces}) > 1:
                continue  # per-step fields (loss) differ in length between batch sizes
            hist[k] = np.zeros((n, *pieces[0][1].shape[1:]), pieces[0][1].dtype)
            for rows, v in pieces:
                hist[k][rows] = v
        states = _GroupStates.of(fetched) if keep_states else None
        self.run_seconds += time.perf_counter() - t0
        return hist, states

    def _hp(self, engine, hparams, rows) -> dict[str, np.ndarray]:
        return {k: np.asarray([float(hparams[k][r]) for r in rows]) for k in engine.hparam_names}

    def start(self, hparams, trial_ids, epochs: int, *, keep_states: bool = False):
        """Start fresh lanes for ``trial_ids`` and train them ``epochs`` epochs (each group of
        static choices on its own engine).

        Returns:
            ``(history, states)``: NumPy ``train_acc``/``val_acc`` ``(n, epochs)``,
            ``diverged`` ``(n,)``, and the run states (``None`` unless ``keep_states``).
        """
        from jaxch6.sweep.keys import lane_keys

        ids = list(trial_ids)
        keys = lane_keys(self.config.seed, ids)
        self.trials_run += len(ids)
        parts = [(g, rows, lambda eng, sl, rows=rows: eng.dispatch(
            epochs, self._hp(eng, hparams, rows[sl]), key_data=keys[rows[sl]]))
            for g, rows in self._split(hparams, len(ids))]
        return self._run(len(ids), parts, keep_states)

    def resume(self, states, hparams, epochs: int, *, keep_states: bool = False):
        """Train the given run states (from :meth:`start` or :meth:`resume`, rows in the order
        of ``hparams``) ``epochs`` more."""
        import jax

        n = sum(len(rows) for _, rows, _ in states.parts)
        parts = [(g, rows, lambda eng, sl, rows=rows, tree=tree: eng.dispatch(
            epochs, self._hp(eng, hparams, rows[sl]),
            states=jax.tree.map(lambda a: a[sl], tree)))
            for g, rows, tree in states.parts]
        return self._run(n, parts, keep_states)

    def __call__(self, hparams, trial_ids):
        return self.start(hparams, trial_ids, self.config.epochs)[0]

    def info(self) -> dict[str, Any]:
        import jax

        d = self.devices
        return {"jax_version": jax.__version__, "backend": d[0].platform,
                "device_kind": d[0].device_kind, "device_count": len(d),
                "data": self.data_info, "lanes": self.lanes,
                "chunk_size": self.engine.chunk_size}


# The one implementation lives in the run-directory store (re-exported here).
data_fingerprint = store_data_fingerprint


def pin_study(study, pin: Mapping[str, Any], study_name: str) -> None:
    """Record ``pin`` (data fingerprint, lane width) on a study's first worker; on later workers
    raise ConfigError when the data differ (the lane width is adopted before compiling)."""
    theirs = study.user_attrs.get("jaxch6_pin")
    if theirs is None:
        study.set_user_attr("jaxch6_pin", dict(pin))
    elif theirs.get("data_sha256") != pin.get("data_sha256"):
        raise ConfigError(
            f"study {study_name}: this worker loaded different data than the study's first "
            "worker (check the data source and directory: 'auto' may pick another source "
            "on this machine)"
        )


def default_storage(out_dir) -> str:
    """A SQLite study file in ``out_dir``."""
    return "sqlite:///" + os.path.abspath(os.path.join(out_dir, "study.db"))


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
