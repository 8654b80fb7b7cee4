"""Shared Optuna study storage for sweeps run by many workers: URLs, heartbeats, stale trials.

A study lives in a SQL database that every worker opens (:class:`optuna.storages.RDBStorage`):

- ``sqlite:///path/study.db`` (or a bare path): one file, the embedded default; fine for several
  worker processes on one machine (writes are serialised by SQLite's file lock; we wait up to
  :data:`SQLITE_TIMEOUT_S` for it instead of SQLAlchemy's 5 s).
- ``postgresql://user:password@host:port/db``: one server for workers on many machines
  (needs a driver, psycopg 3 or psycopg2: ``pip install 'jaxch6[optuna]'``; a bare
  ``postgresql://`` uses whichever is installed).

**Dead workers.** Each worker records a heartbeat for each of its RUNNING trials every
``heartbeat_interval`` seconds (:class:`Heartbeat`, one thread per worker, beating for the whole
batch in flight). A RUNNING trial whose last heartbeat is older than ``grace_period`` belongs to a
dead worker: :func:`fail_stale` (called by every worker before it asks for a batch and while it
waits) marks it FAIL and, when the storage was made with ``retry_failed=True``, Optuna's
:class:`~optuna.storages.RetryHeartbeatStaleTrialCallback` re-queues a WAITING copy with the same
parameters (the next worker's ``ask`` takes it). Optuna only judges trials that have a heartbeat
record; :func:`fail_stale` also gives one to RUNNING trials that have none (a worker killed
between ``ask`` and its first heartbeat), so that no trial can stay RUNNING forever.

vs Optuna: ``Study.optimize`` runs the heartbeat thread and ``fail_stale_trials`` itself, one
trial at a time; a vmapped batch is driven through ask/tell, so this module does both for a whole
batch. Optuna 4.9 renamed ``failed_trial_callback`` / ``RetryFailedTrialCallback`` to
``heartbeat_stale_trial_callback`` / ``RetryHeartbeatStaleTrialCallback``; both spellings are
handled. Optuna is imported lazily (optional extra ``jaxch6[optuna]``).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import warnings
from collections.abc import Iterable

from jaxch6.errors import ConfigError

#: Seconds a SQLite writer waits for the database lock before failing.
SQLITE_TIMEOUT_S = 120
#: Default seconds between heartbeats, and before a silent trial is declared dead.
HEARTBEAT_INTERVAL_S = 30
GRACE_PERIOD_S = 120
#: Tries to open a storage (workers creating a new database at once race; the loser retries).
OPEN_ATTEMPTS = 5


def require_optuna():
    """Import Optuna or raise a ConfigError saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise ConfigError(
            "Optuna-driven sweeps need optuna: pip install 'jaxch6[optuna]'"
        ) from None
    return optuna


@contextlib.contextmanager
def quiet_optuna():
    """Silence Optuna's experimental-feature and ask-outside-optimize warnings (we drive the
    heartbeat ourselves, see the module docstring)."""
    optuna = require_optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message=".*Heartbeat of storage.*")
        warnings.filterwarnings("ignore", category=FutureWarning, module="optuna")
        yield optuna


def storage_url(text: str) -> str:
    """A SQLAlchemy URL: ``sqlite:///…``, ``postgresql://…`` etc. pass through; a bare file path
    becomes ``sqlite:///<absolute path>``. Raises ConfigError for an empty or unknown URL."""
    text = (text or "").strip()
    if not text:
        raise ConfigError("--storage: empty URL (e.g. sqlite:///study.db or postgresql://…)")
    if "://" not in text:
        return "sqlite:///" + os.path.abspath(text)
    scheme = text.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in ("sqlite", "postgresql", "postgres", "mysql"):
        raise ConfigError(
            f"--storage {text!r}: unsupported scheme {scheme!r} (use sqlite:///FILE or "
            "postgresql://USER:PASSWORD@HOST:PORT/DB)"
        )
    if scheme == "postgres":  # SQLAlchemy 1.4+ only knows "postgresql"
        text = "postgresql" + text[len("postgres") :]
    if text.startswith("postgresql://"):
        text = f"postgresql+{_postgres_driver()}://" + text[len("postgresql://") :]
    if scheme == "sqlite":
        path = text.split(":///", 1)[1] if ":///" in text else ""
        if path and path != ":memory:":
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                raise ConfigError(f"--storage {text!r}: directory {parent} does not exist")
    return text


def _postgres_driver() -> str:
    """The installed PostgreSQL driver: psycopg (3) or psycopg2. SQLAlchemy 2.1 takes a bare
    ``postgresql://`` to mean psycopg 3, 2.0 psycopg2; we use whichever is installed."""
    import importlib.util

    for module in ("psycopg", "psycopg2"):
        if importlib.util.find_spec(module) is not None:
            return module
    raise ConfigError("--storage postgresql://…: needs a PostgreSQL driver: "
                      "pip install 'jaxch6[optuna]' (or: pip install 'psycopg[binary]')")


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (for printing and summary.json)."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, _, host = rest.rpartition("@")
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}@{host}"


def make_storage(
    url: str,
    *,
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S,
    grace_period: int | None = GRACE_PERIOD_S,
    retry_failed: bool = False,
    max_retry: int | None = None,
):
    """An :class:`optuna.storages.RDBStorage` with heartbeats on.

    ``retry_failed``: trials of dead workers are re-queued (WAITING copies with the same
    parameters), at most ``max_retry`` times per original trial (``None``: no limit).
    """
    if int(heartbeat_interval) < 1:
        raise ConfigError(f"--heartbeat-interval must be >= 1 s, got {heartbeat_interval}")
    if grace_period is not None and int(grace_period) <= int(heartbeat_interval):
        raise ConfigError(
            f"--grace-period ({grace_period} s) must exceed --heartbeat-interval "
            f"({heartbeat_interval} s)"
        )
    url = storage_url(url)
    with quiet_optuna() as optuna:
        storages = optuna.storages
        kwargs = {}
        if retry_failed:
            if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):  # optuna >= 4.9
                cb = storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
                kwargs["heartbeat_stale_trial_callback"] = cb
            else:
                kwargs["failed_trial_callback"] = storages.RetryFailedTrialCallback(
                    max_retry=max_retry
                )
        if url.startswith("sqlite"):
            engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
        else:
            engine_kwargs = {"pool_pre_ping": True}
        for attempt in range(OPEN_ATTEMPTS):
            try:
                storage = storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=int(heartbeat_interval),
                    grace_period=None if grace_period is None else int(grace_period),
                    **kwargs,
                )
                break
            except ImportError as exc:  # e.g. psycopg2 missing
                raise ConfigError(
                    f"--storage {redact(url)}: missing database driver ({exc}); "
                    "pip install 'jaxch6[optuna]'"
                ) from None
            except Exception as exc:  # noqa: BLE001 - SQLAlchemy's OperationalError etc.
                # Workers starting together race to create the tables of a new database
                # ("table studies already exists", duplicate keys): the loser retries.
                if attempt + 1 < OPEN_ATTEMPTS:
                    time.sleep(0.2 * (attempt + 1))
                    continue
                text = str(exc).strip()
                first = text.splitlines()[0] if text else type(exc).__name__
                raise ConfigError(f"--storage {redact(url)}: cannot open: {first}") from None
    if url.startswith("sqlite"):
        _sqlite_wal(storage.engine)
    return storage


def _sqlite_wal(engine) -> None:
    """Write-ahead log and ``synchronous=NORMAL`` on every connection: a commit no longer waits
    for an fsync (about 8 ms here), readers do not block the writer; a killed process loses
    nothing committed (a power cut may lose the last commits). The file must be on a local
    disk (SQLite's WAL does not work over network file systems)."""
    import sqlalchemy

    def on_connect(dbapi_connection, _record):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    sqlalchemy.event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections opened before the listener get it too


def fail_stale(study) -> int:
    """Mark RUNNING trials of dead workers FAIL (re-queued if the storage retries them).

    Also records a first heartbeat for RUNNING trials that have none, so that a worker killed
    between ``ask`` and its first heartbeat leaves trials that go stale too. Returns the number
    of trials failed now.
    """
    with quiet_optuna() as optuna:
        storage = study._storage
        backend = getattr(storage, "_backend", storage)
        if not optuna.storages._heartbeat.is_heartbeat_enabled(backend):
            return 0
        _adopt_silent_trials(study, backend)
        states = (optuna.trial.TrialState.FAIL,)
        before = len(study.get_trials(deepcopy=False, states=states))
        optuna.storages.fail_stale_trials(study)
        return len(study.get_trials(deepcopy=False, states=states)) - before


def _adopt_silent_trials(study, backend) -> None:
    """Give a heartbeat record to RUNNING trials without one (see :func:`fail_stale`)."""
    try:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session
        from optuna.trial import TrialState
    except ImportError:  # another storage layout: nothing to adopt
        return
    if not hasattr(backend, "scoped_session"):
        return
    with _create_scoped_session(backend.scoped_session) as session:
        silent = (
            session.query(models.TrialModel.trial_id)
            .outerjoin(models.TrialHeartbeatModel)
            .filter(models.TrialModel.study_id == study._study_id)
            .filter(models.TrialModel.state == TrialState.RUNNING)
            .filter(models.TrialHeartbeatModel.trial_heartbeat_id.is_(None))
            .all()
        )
    for (trial_id,) in silent:
        backend.record_heartbeat(trial_id)


class Heartbeat:
    """A thread recording a heartbeat for every trial in flight, each ``interval`` seconds.

    ``add(trial_ids)`` records a first heartbeat at once (no gap after ``ask``) and keeps
    beating for them; ``discard(trial_ids)`` stops. Use as a context manager; the thread is a
    daemon and stops with :meth:`close`.
    """

    def __init__(self, study, interval: float | None = None):
        storage = study._storage
        self._backend = getattr(storage, "_backend", storage)
        self.enabled = hasattr(self._backend, "record_heartbeat") and (
            self._backend.get_heartbeat_interval() is not None
        )
        self.interval = float(interval or (self._backend.get_heartbeat_interval() or 1))
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="jaxch6-heartbeat", daemon=True)
        if self.enabled:
            self._thread.start()

    def _beat(self, ids: Iterable[int]) -> None:
        try:
            record_heartbeats(self._backend, ids)
        except Exception:  # noqa: BLE001 - a missed beat is retried next interval
            pass

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                ids = sorted(self._ids)
            self._beat(ids)

    def add(self, trial_ids: Iterable[int]) -> None:
        ids = list(trial_ids)
        if not self.enabled:
            return
        self._beat(ids)
        with self._lock:
            self._ids.update(ids)

    def discard(self, trial_ids: Iterable[int]) -> None:
        with self._lock:
            self._ids.difference_update(trial_ids)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _rdb_internals(backend):
    """Optuna's RDB models and session helper, or None when ``backend`` is not an RDBStorage of
    the layout this module knows (then the public, one-write-per-call API is used)."""
    if not hasattr(backend, "scoped_session"):
        return None
    try:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session
    except ImportError:
        return None
    needed = ("_set_trial_value_without_commit",)
    if not all(hasattr(backend, n) for n in needed):
        return None
    return models, _create_scoped_session


def record_heartbeats(backend, trial_ids: Iterable[int]) -> None:
    """Record a heartbeat (the database's ``now()``) for each trial, in one transaction."""
    ids = sorted(set(trial_ids))
    if not ids:
        return
    internals = _rdb_internals(backend)
    if internals is None:
        for trial_id in ids:
            backend.record_heartbeat(trial_id)
        return
    import sqlalchemy

    models, session_scope = internals
    hb = models.TrialHeartbeatModel
    with session_scope(backend.scoped_session, True) as session:
        now = session.execute(sqlalchemy.func.now()).scalar()
        have = {
            row.trial_id: row
            for row in session.query(hb).filter(hb.trial_id.in_(ids)).with_for_update().all()
        }
        for trial_id in ids:
            if trial_id in have:
                have[trial_id].heartbeat = now
            else:
                session.add(hb(trial_id=trial_id))


def finish_trials(study, results) -> list[int]:
    """Complete a batch of RUNNING trials in one transaction (Optuna's ``report`` +
    ``set_user_attr`` + ``tell``, one commit instead of one per call).

    ``results``: ``(trial, intermediate_values, user_attrs, value)`` per trial, where
    ``intermediate_values[e]`` is reported at step ``e``. A trial that is no longer RUNNING (a
    slow worker whose trials were already failed as stale) is skipped. The sampler's
    ``after_trial`` hook runs for each trial, as ``tell`` does. Returns the trial ids finished.
    """
    from optuna.trial import TrialState

    backend = getattr(study._storage, "_backend", study._storage)
    internals = _rdb_internals(backend)
    finished: list[int] = []
    if internals is None:  # public API: one write per call
        for trial, inter, attrs, value in results:
            state = study._storage.get_trial(trial._trial_id).state
            if state != TrialState.RUNNING:
                continue
            for step, v in enumerate(inter):
                trial.report(float(v), step)
            for k, v in attrs.items():
                trial.set_user_attr(k, v)
            study.tell(trial, float(value), skip_if_finished=True)
            finished.append(trial._trial_id)
        return finished

    import datetime

    import sqlalchemy

    models, session_scope = internals
    by_id = {r[0]._trial_id: r for r in results}
    tm = models.TrialModel
    iv, ua = models.TrialIntermediateValueModel, models.TrialUserAttributeModel
    with session_scope(backend.scoped_session) as session:
        rows = (
            session.query(tm)
            .filter(tm.trial_id.in_(list(by_id)), tm.state == TrialState.RUNNING)
            .with_for_update()
            .all()
        )
        live = [row.trial_id for row in rows]  # others were failed as stale meanwhile: skipped
        if live:
            keys = sorted({k for tid in live for k in by_id[tid][2]})
            session.query(iv).filter(iv.trial_id.in_(live)).delete(synchronize_session=False)
            session.query(ua).filter(ua.trial_id.in_(live), ua.key.in_(keys)).delete(
                synchronize_session=False
            )
            inter_rows, attr_rows = [], []
            for tid in live:
                _, inter, attrs, _ = by_id[tid]
                for step, v in enumerate(inter):
                    stored, kind = iv.intermediate_value_to_stored_repr(float(v))
                    inter_rows.append({"trial_id": tid, "step": step, "intermediate_value": stored,
                                       "intermediate_value_type": kind})
                attr_rows += [{"trial_id": tid, "key": k, "value_json": json.dumps(v)}
                              for k, v in attrs.items()]
            if inter_rows:
                session.execute(sqlalchemy.insert(iv), inter_rows)
            if attr_rows:
                session.execute(sqlalchemy.insert(ua), attr_rows)
        now = datetime.datetime.now()
        for row in rows:
            backend._set_trial_value_without_commit(session, row, 0, float(by_id[row.trial_id][3]))
            row.state = TrialState.COMPLETE
            row.datetime_complete = now
        finished = live
    study._thread_local.cached_all_trials = None
    if finished:  # the sampler's post-processing, as tell does
        done = set(finished)
        for frozen in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if frozen._trial_id in done:
                study.sampler.after_trial(study, frozen, TrialState.COMPLETE,
                                          [float(by_id[frozen._trial_id][3])])
    return finished


def ask_batch(study, k: int) -> list:
    """``k`` new :class:`optuna.Trial` s (RUNNING), WAITING trials first — what ``k`` calls of
    ``study.ask()`` return, without its per-call re-read of every unfinished trial (which
    makes a batch of K cost O(K²) reads: 0.1 s per trial at K = 1000)."""
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    backend = getattr(storage, "_backend", storage)
    ids: list[int] = []
    for frozen in backend.get_all_trials(study._study_id, deepcopy=False,
                                         states=(TrialState.WAITING,)):
        if len(ids) == k:
            break
        try:  # another worker may take it first: then set_... returns False or raises
            if storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING):
                ids.append(frozen._trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    while len(ids) < k:
        ids.append(storage.create_new_trial(study._study_id))
    study._thread_local.cached_all_trials = None
    return [optuna.Trial(study, trial_id) for trial_id in ids]
