"""Shared Optuna study storage for sweeps run by many workers: URLs, heartbeats, stale trials.

A study lives in a SQL database that every worker opens (:class:`optuna.storages.RDBStorage`):

- ``sqlite:///path/study.db`` (or a bare path): one file, the embedded default; fine for several
  worker processes on one machine (writes are serialised by SQLite's file lock; we wait up to
  :data:`SQLITE_TIMEOUT_S` for it instead of SQLAlchemy's 5 s).
- ``postgresql://user:password@host:port/db``: one server for workers on many machines
  (needs a driver, psycopg 3 or psycopg2: ``pip install 'jaxch6[optuna]'``; a bare
  ``postgresql://`` uses whichever is installed).

**Credentials and timeouts.** A URL's password (``user:password@``, ``:password@``,
``?password=…``, percent-encoded or not) never reaches output, files or error messages: what is
shown or stored goes through :func:`redact`, and driver exception texts through :func:`scrub`.
Opening a server storage gives up after ``timeout`` seconds (:data:`CONNECT_TIMEOUT_S`), also
when the server accepts the connection and never answers; the driver gets the same
``connect_timeout`` for every later connection.

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
import hashlib
import json
import math
import os
import re
import threading
import time
import unicodedata
import urllib.parse
import warnings
from collections.abc import Iterable
from typing import Any

from jaxch6.errors import ConfigError

#: Seconds a SQLite writer waits for the database lock before failing.
SQLITE_TIMEOUT_S = 120
#: Default seconds between heartbeats, and before a silent trial is declared dead.
HEARTBEAT_INTERVAL_S = 30
GRACE_PERIOD_S = 120
#: Default seconds to wait for a database server to connect and answer.
CONNECT_TIMEOUT_S = 10.0
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
    """The SQLAlchemy URL for ``text``.

    Args:
        text: ``sqlite:///…``, ``postgresql://…`` (or ``postgres://``) or ``mysql://…``; a bare
            file path becomes ``sqlite:///<absolute path>``.

    Returns:
        The URL, with ``postgresql://`` bound to the installed driver (psycopg or psycopg2).

    Raises:
        ConfigError: an empty URL, an unknown scheme, or a SQLite file in a missing directory
            (messages show the URL with its password replaced by ``***``).
    """
    text = (text or "").strip()
    if not text:
        raise ConfigError("storage URL is empty (e.g. sqlite:///study.db or postgresql://…)")
    if "://" not in text:
        return "sqlite:///" + os.path.abspath(text)
    scheme = text.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in ("sqlite", "postgresql", "postgres", "mysql"):
        raise ConfigError(
            f"storage {redact(text)}: unsupported scheme {scheme!r} (use sqlite:///FILE or "
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
                raise ConfigError(f"storage {text}: directory {parent} does not exist")
    return text


def _postgres_driver() -> str:
    """The installed PostgreSQL driver: psycopg (3) or psycopg2. SQLAlchemy 2.1 takes a bare
    ``postgresql://`` to mean psycopg 3, 2.0 psycopg2; we use whichever is installed."""
    import importlib.util

    for module in ("psycopg", "psycopg2"):
        if importlib.util.find_spec(module) is not None:
            return module
    raise ConfigError("storage postgresql://…: needs a PostgreSQL driver: "
                      "pip install 'jaxch6[optuna]' (or: pip install 'psycopg[binary]')")


# -- credentials ---------------------------------------------------------------------------------
# user:password@ (or :password@) right after a scheme. SQLAlchemy ends the password at its first
# "@"; we hide up to the last "@" of the word, in case the password holds an unencoded "@".
_USERINFO = re.compile(r"(?P<pre>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/\s]*):\S*@")
# password=… in a query string or a libpq conninfo (also sslpassword, passwd).
_PARAM = re.compile(
    r"(?i)(?P<pre>pass(?:word|wd)\s*=\s*)(?:'[^']*'|\"[^\"]*\"|[^\s&;'\"]*)")
# 'password': '…' in the repr of a dict of connection arguments.
_ITEM = re.compile(r"(?i)(?P<pre>['\"](?:ssl)?pass(?:word|wd)['\"]\s*:\s*)(?:'[^']*'|\"[^\"]*\")")


def redact(url: str) -> str:
    """``url`` (or any text holding URLs) with every password replaced by ``***``.

    Covers ``user:password@``, ``:password@``, ``?password=…`` / ``sslpassword=`` query
    parameters, in any percent-encoding; the user name is kept.

    Args:
        url: a database URL, or a line of text (e.g. a command line) that may contain some.

    Returns:
        The text safe to print or store.
    """
    text = _USERINFO.sub(r"\g<pre>:***@", url)
    text = _PARAM.sub(r"\g<pre>***", text)
    return _ITEM.sub(r"\g<pre>'***'", text)


def _secrets(url: str) -> set[str]:
    """The passwords a URL carries, as written and percent-decoded."""
    found = set()
    for pattern in (r"://[^:/\s]*:(\S*)@", r"://[^:/\s]*?:([^@\s]*)@"):
        found.update(m.group(1) for m in re.finditer(pattern, url))
    for m in re.finditer(r"(?i)pass(?:word|wd)=([^&#\s]*)", url):
        found.add(m.group(1))
    decoded = {urllib.parse.unquote(s) for s in found} | {urllib.parse.unquote_plus(s)
                                                          for s in found}
    encoded = {urllib.parse.quote(s, safe="") for s in decoded}
    return {s for s in found | decoded | encoded if len(s) >= 3}


def scrub(text: str, url: str | None = None) -> str:
    """``text`` (e.g. an exception's message) with no credential left in it.

    Args:
        text: the text to print, store or raise.
        url: the URL whose passwords must go in every form (as written, percent-decoded or
            -encoded), even where the text does not show them as part of a URL.

    Returns:
        :func:`redact` of the text, with each of ``url``'s passwords replaced by ``***``.
    """
    if url:
        text = text.replace(url, redact(url))
    text = redact(text)
    for secret in sorted(_secrets(url or ""), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# -- study names ---------------------------------------------------------------------------------
#: The longest study name Optuna's schema stores (``studies.study_name``).
MAX_STUDY_NAME = 512


def check_study_name(name: str) -> str:
    """Check an Optuna study name.

    Args:
        name: the study name.

    Returns:
        ``name`` unchanged.

    Raises:
        ConfigError: the name is empty, longer than :data:`MAX_STUDY_NAME` characters, or holds
            a control or format character (newlines, tabs, bidirectional overrides).
    """
    if not isinstance(name, str) or not name:
        raise ConfigError("study name is empty")
    if len(name) > MAX_STUDY_NAME:
        raise ConfigError(f"study name is {len(name)} characters long (at most "
                          f"{MAX_STUDY_NAME})")
    for i, ch in enumerate(name):
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            raise ConfigError(f"study name has a control character (U+{ord(ch):04X}) at "
                              f"position {i}")
    return name


def safe_path_component(name: str) -> str:
    """``name`` as one file-name component that cannot leave its directory.

    Letters, digits and ``_ . - ~`` are kept; every other character (``/``, ``\\``, ``%``,
    spaces, non-ASCII, control characters) is percent-encoded, as are leading dots (so ``.``
    and ``..`` become ``%2E`` and ``%2E%2E``). Distinct names give distinct components; a
    result longer than 200 characters is cut and ends in ``%-`` and a hash of the whole name.

    Args:
        name: e.g. a study name.

    Returns:
        A non-empty ASCII string without ``/`` that is neither ``.`` nor ``..``.
    """
    text = urllib.parse.quote(str(name), safe="")
    stripped = text.lstrip(".")
    text = "%2E" * (len(text) - len(stripped)) + stripped
    if not text:
        return "%"  # the empty name (percent-encoding never yields a lone "%")
    if len(text) > 200:  # "%-" marks a cut name: percent-encoding never yields it either
        digest = hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:16]
        text = text[:180] + "%-" + digest
    return text


# -- opening a storage ---------------------------------------------------------------------------
def check_timeout(timeout: float) -> float:
    """``timeout`` as float seconds; ConfigError unless it is a finite number > 0."""
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        raise ConfigError(f"storage timeout must be a number of seconds, got {timeout!r}") \
            from None
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"storage timeout must be > 0 s, got {timeout}")
    return value


def _engine_kwargs(url: str, timeout: float) -> dict:
    """SQLAlchemy engine options: SQLite's busy timeout, a server's connect timeout."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    # libpq / psycopg take whole seconds, at least 2; the watchdog in make_storage is exact.
    seconds = max(2, math.ceil(timeout))
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": seconds}}


def _retry_kwargs(storages, retry_failed: bool, max_retry: int | None) -> dict:
    if not retry_failed:
        return {}
    if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):  # optuna >= 4.9
        cb = storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
        return {"heartbeat_stale_trial_callback": cb}
    return {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=max_retry)}


def _open_rdb(storages, url: str, options: dict, deadline: float | None):
    """``RDBStorage(url, **options)``, retried while workers race to create the tables."""
    for attempt in range(OPEN_ATTEMPTS):
        try:
            return storages.RDBStorage(url, **options)
        except ImportError as exc:  # e.g. psycopg2 missing
            raise ConfigError(
                f"storage {redact(url)}: missing database driver "
                f"({scrub(str(exc), url)}); pip install 'jaxch6[optuna]'"
            ) from None
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy's OperationalError etc.
            # Workers starting together race to create the tables of a new database
            # ("table studies already exists", duplicate keys): the loser retries.
            pause = 0.2 * (attempt + 1)
            if attempt + 1 < OPEN_ATTEMPTS and (deadline is None
                                                or time.monotonic() + pause < deadline):
                time.sleep(pause)
                continue
            text = str(exc).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
            raise ConfigError(f"storage {redact(url)}: cannot open: {scrub(first, url)}") \
                from None
    raise AssertionError("unreachable")


def _within(fn, timeout: float, url: str):
    """``fn()`` run in a daemon thread; ConfigError if it has not returned after ``timeout``
    seconds (a server that accepts the connection and never answers)."""
    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="jaxch6-storage-open", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ConfigError(f"cannot reach storage {redact(url)} within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def make_storage(
    url: str,
    *,
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S,
    grace_period: int | None = GRACE_PERIOD_S,
    retry_failed: bool = False,
    max_retry: int | None = None,
    timeout: float = CONNECT_TIMEOUT_S,
):
    """An :class:`optuna.storages.RDBStorage` with heartbeats on.

    Args:
        url: see :func:`storage_url`.
        heartbeat_interval: seconds between heartbeats of running trials.
        grace_period: seconds without a heartbeat after which a trial is stale.
        retry_failed: re-queue trials of dead workers (WAITING copies with the same
            parameters), at most ``max_retry`` times per original trial (None: no limit).
        max_retry: see ``retry_failed``.
        timeout: seconds to wait for a database server to connect and answer (passed to the
            driver as ``connect_timeout`` for every connection, and enforced on opening).
            SQLite files wait up to :data:`SQLITE_TIMEOUT_S` for their lock instead.

    Returns:
        The storage.

    Raises:
        ConfigError: bad intervals or timeout, no driver, or the database cannot be opened or
            reached in time; the message never holds the URL's password.
    """
    if int(heartbeat_interval) < 1:
        raise ConfigError(f"heartbeat-interval must be >= 1 s, got {heartbeat_interval}")
    if grace_period is not None and int(grace_period) <= int(heartbeat_interval):
        raise ConfigError(
            f"grace-period ({grace_period} s) must exceed heartbeat-interval "
            f"({heartbeat_interval} s)"
        )
    timeout = check_timeout(timeout)
    url = storage_url(url)
    with quiet_optuna() as optuna:
        options = {
            "engine_kwargs": _engine_kwargs(url, timeout),
            "heartbeat_interval": int(heartbeat_interval),
            "grace_period": None if grace_period is None else int(grace_period),
            **_retry_kwargs(optuna.storages, retry_failed, max_retry),
        }
        if url.startswith("sqlite"):
            storage = _open_rdb(optuna.storages, url, options, None)
        else:
            deadline = time.monotonic() + timeout
            storage = _within(lambda: _open_rdb(optuna.storages, url, options, deadline),
                              timeout, url)
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
