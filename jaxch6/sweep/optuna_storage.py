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
waits) marks it FAIL through :func:`optuna.storages.fail_stale_trials` and, when the storage was
made with ``retry_failed=True``, Optuna's :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`
re-queues a WAITING copy with the same parameters (the next worker's ``ask`` takes it). Optuna
only judges trials that have a heartbeat; a worker marks each trial it beats for with the system
attribute :data:`BEAT_ATTR`, and :func:`fail_stale` gives a first heartbeat to RUNNING trials
without that mark (a worker killed between ``ask`` and its first heartbeat), so that no trial can
stay RUNNING forever.

**Optuna's public API only, and which storage methods, and why.** No private Optuna module or
name is imported or read here (nor in the driver): suggestions, reports and user attributes
go through ``optuna.Trial`` (``trial.suggest_*``, ``trial.report``, ``trial.set_user_attr``),
a rung's trials are judged by the pruner's ``prune`` (:func:`prune_batch`), and a batch's
first trial ends through
``study.tell(trial, value, state=state, skip_if_finished=True)``. But a batch cannot be asked,
kept alive, given back or told at once through them: ``Study.optimize`` runs the heartbeat
thread and ``fail_stale_trials`` for one trial at a time, ``study.tell`` reads its trial
twice, and ``trial.should_prune`` re-reads the study's unfinished trials for each trial. So
this module calls methods of the storage
object it creates (:func:`make_storage`, remembered per study by :func:`bind_storage`) that
Optuna documents as library-internal (``BaseStorage``'s methods are "not supposed to be
directly accessed by library users"; ``pyproject.toml`` pins the tested Optuna range):

- ``record_heartbeat`` and ``get_heartbeat_interval`` (:class:`Heartbeat`, :func:`fail_stale`):
  one thread beats for the whole batch in flight;
- ``set_trial_system_attr`` (:data:`BEAT_ATTR`; :func:`_adopt_silent_trials`): marks the trials a
  worker beats for, and adopts a dead worker's trials that never had a heartbeat;
- ``get_all_trials``, ``set_trial_state_values`` and ``create_new_trial`` (:func:`ask_batch`,
  :func:`create_trials`): the batch ask takes WAITING trials and creates the rest in one loop
  (K ``study.ask()`` calls would re-read every unfinished trial K times), and a surplus or
  interrupted batch is put back WAITING (:func:`give_back`);
- ``set_trial_state_values`` again, with the sampler's public ``after_trial``
  (:func:`tell_batch`): the rest of a batch is told after one read of the study, the steps
  ``study.tell`` takes after its read of the trial;
- ``BaseStorage`` itself, subclassed (:func:`snapshot_storage`): the study a pruner judges a
  rung with (:func:`prune_batch`) reads its trials from one read of the study, and every other
  call, its writes among them, is passed on to the study's storage;
- ``get_study_id_from_name`` and ``get_trial_id_from_study_id_trial_number``
  (:func:`trial_ids`): the ids those methods take, for trials known by their number;
- ``optuna.Trial(study, trial_id)``, whose direct use Optuna's docs discourage, wraps the trials
  :func:`ask_batch` took or created (it returns their storage ids next to them).

Each of these calls, like each of the public ones, is its own database transaction. A new
trial costs ``create_new_trial``, its first ``record_heartbeat`` and its mark, the read
``optuna.Trial`` makes, one write per suggested parameter, per report and per user attribute,
and the write that finishes it; its mark's number comes from the ``optuna.Trial`` read (no
look-up of its own), and its batch shares one read of the study before the tell. The costs
measured are in ``experiments/results/optuna_bookkeeping.md``.
Optuna is imported lazily (optional extra ``jaxch6[optuna]``).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import hashlib
import math
import os
import threading
import time
import unicodedata
import warnings
import weakref
from collections.abc import Iterable
from typing import Any

from jaxch6.errors import ConfigError
from jaxch6.sweep.secrets import redact, scrub

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


def storage_url(text: str, *, files: bool = True) -> str:
    """The SQLAlchemy URL for ``text``.

    Args:
        text: ``sqlite:///…``, ``postgresql://…`` (or ``postgres://``) or ``mysql://…``; a bare
            file path becomes ``sqlite:///<absolute path>``.
        files: check a SQLite file's directory and links too (False: the URL's form only).

    Returns:
        The URL, with ``postgresql://`` bound to the installed driver (psycopg or psycopg2).

    Raises:
        ConfigError: an empty URL, an unknown scheme, a raw ``@`` in the user name or password,
            an in-memory SQLite database (no file), a SQLite file in a missing directory, or a
            SQLite file (or its journal) that is a symbolic link (messages show the URL with
            its password replaced by ``***``).
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
    authority = text.split("://", 1)[1].split("/", 1)[0]
    if authority.count("@") > 1:  # the driver would read the password's tail as the host
        raise ConfigError(f"storage {scheme}://…: its user name or password holds a raw '@'; "
                          "write it percent-encoded, as %40")
    if scheme == "postgres":  # SQLAlchemy 1.4+ only knows "postgresql"
        text = "postgresql" + text[len("postgres") :]
    if text.startswith("postgresql://"):
        text = f"postgresql+{_postgres_driver()}://" + text[len("postgresql://") :]
    if scheme == "sqlite":
        path = text.split(":///", 1)[1] if ":///" in text else ""
        if path.startswith((":memory:", "?")) or not path or "mode=memory" in path:
            raise ConfigError(f"storage {redact(text)}: give a database file "
                              "(sqlite:///FILE): an in-memory one dies with its process and "
                              "no other worker can see it")
        if not files:  # the form only (its directory may be made later)
            return text
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise ConfigError(f"storage {text}: directory {parent} does not exist")
        for file in (path, *(path + end for end in ("-journal", "-wal", "-shm"))):
            if os.path.islink(file):  # SQLite itself would write through it
                raise ConfigError(f"storage {text}: refusing {file}: it is a symbolic link")
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

    Letters, digits and ``. - ~`` are kept; every other byte of the UTF-8 name (``/``, ``\\``,
    ``%``, ``_``, spaces, non-ASCII, control characters) becomes ``_XX`` (its hex value), as do
    leading dots (so ``..`` becomes ``_2E_2E``). No ``%`` appears, so the result is also safe
    inside a database URL. Distinct names give distinct components; a result longer than 200
    characters is cut and ends in ``_-`` and a hash of the whole name.

    Args:
        name: e.g. a study name.

    Returns:
        A non-empty ASCII string without ``/`` or ``%`` that is neither ``.`` nor ``..``.
    """
    raw = str(name).encode("utf-8", "surrogatepass")
    keep = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-~"
    parts, leading = [], True
    for byte in raw:
        leading = leading and byte == ord(".")
        ok = byte in keep and not leading
        parts.append(chr(byte) if ok else f"_{byte:02X}")
    text = "".join(parts) or "_"
    if len(text) > 200:  # "_-" marks a cut name: the escaping never yields it
        digest = hashlib.sha256(raw).hexdigest()[:16]
        text = text[:180] + "_-" + digest
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
    cb = storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
    return {"heartbeat_stale_trial_callback": cb}


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
    for an fsync, readers do not block the writer; a killed process loses
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


# -- the storage a study lives in ----------------------------------------------------------------
_STORAGES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: System attribute holding a trial's own number once its worker has recorded a heartbeat for it
#: (a retry copies its original's attributes, so the number tells a copied mark from its own).
BEAT_ATTR = "jaxch6_heartbeat"


def bind_storage(study, storage) -> None:
    """Remember that ``study`` lives in ``storage`` (the object given to ``create_study``).

    Args:
        study: an ``optuna.Study``.
        storage: the :class:`optuna.storages.BaseStorage` it was created or loaded with.
    """
    _STORAGES[study] = storage


def storage_of(study):
    """The storage :func:`bind_storage` recorded for ``study``, or None (a study opened
    elsewhere: then no heartbeats are recorded and no trial is put back in the queue)."""
    return _STORAGES.get(study)


def heartbeat_interval(storage) -> int | None:
    """Seconds between heartbeats of ``storage``; None when it records none (no storage, in
    memory, or an RDB storage made without ``heartbeat_interval``)."""
    get = getattr(storage, "get_heartbeat_interval", None)
    if not (callable(get) and callable(getattr(storage, "record_heartbeat", None))):
        return None
    return get()


def trial_ids(study, storage, numbers: Iterable[int]) -> list[int]:
    """The storage's ids of ``study``'s trials ``numbers`` (what its per-trial methods take)."""
    study_id = storage.get_study_id_from_name(study.study_name)
    return [storage.get_trial_id_from_study_id_trial_number(study_id, int(n)) for n in numbers]


def fail_stale(study, storage=None) -> int:
    """Mark RUNNING trials of dead workers FAIL (re-queued if the storage retries them).

    Also records a first heartbeat for RUNNING trials that never had one (a worker killed
    between ``ask`` and its first heartbeat), so that they go stale too.

    Args:
        study: the study.
        storage: its storage (default: :func:`storage_of`).

    Returns:
        The number of trials failed now (0 without heartbeats).
    """
    storage = storage if storage is not None else storage_of(study)
    interval = heartbeat_interval(storage)
    if interval is None:
        return 0
    with quiet_optuna() as optuna:
        _adopt_silent_trials(study, storage, interval)
        states = (optuna.trial.TrialState.FAIL,)
        before = len(study.get_trials(deepcopy=False, states=states))
        optuna.storages.fail_stale_trials(study)
        return len(study.get_trials(deepcopy=False, states=states)) - before


def _adopt_silent_trials(study, storage, interval: float) -> None:
    """Record a heartbeat (and :data:`BEAT_ATTR`) for RUNNING trials started more than
    ``interval`` seconds ago whose worker never marked them as beating."""
    import optuna
    from optuna.trial import TrialState

    now = datetime.datetime.now()
    silent = [
        t.number
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.system_attrs.get(BEAT_ATTR) != t.number
        and (t.datetime_start is None or (now - t.datetime_start).total_seconds() > interval)
    ]
    if not silent:
        return
    for trial_id, number in zip(trial_ids(study, storage, silent), silent, strict=True):
        try:
            storage.record_heartbeat(trial_id)
            storage.set_trial_system_attr(trial_id, BEAT_ATTR, number)
        except optuna.exceptions.UpdateFinishedTrialError:  # finished meanwhile
            continue


class Heartbeat:
    """A thread recording a heartbeat for every trial in flight, each ``interval`` seconds.

    ``add(trial_ids, numbers)`` records a first heartbeat at once (no gap after ``ask``; new
    trials have theirs from :func:`create_trials`), marks the trials as beating
    (:data:`BEAT_ATTR`) and keeps beating for them; ``discard(trial_ids)``
    stops. A storage without heartbeats (None, in memory) makes every call a no-op. Use as a
    context manager; the thread is a daemon and stops with :meth:`close`.

    Args:
        storage: the study's storage (e.g. from :func:`make_storage`), or None.
        interval: seconds between beats (default: the storage's heartbeat interval).
    """

    def __init__(self, storage, interval: float | None = None):
        self.storage = storage
        every = heartbeat_interval(storage)
        self.enabled = every is not None
        self.interval = float(interval or every or 1)
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="jaxch6-heartbeat", daemon=True)
        if self.enabled:
            self._thread.start()

    def _beat(self, ids: Iterable[int]) -> None:
        try:
            for trial_id in ids:
                self.storage.record_heartbeat(trial_id)
        except Exception:  # noqa: BLE001 - a missed beat is retried next interval
            pass

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                ids = sorted(self._ids)
            self._beat(ids)

    def add(self, trial_ids: Iterable[int], numbers: Iterable[int], *,
            beat: bool = True) -> None:
        """Mark ``trial_ids`` as beating (:data:`BEAT_ATTR`, their ``numbers``) and beat for
        them every interval; with ``beat``, record a first heartbeat at once (without: they
        had it when they were created, :func:`create_trials`)."""
        ids, numbers = list(trial_ids), [int(n) for n in numbers]
        if not self.enabled:
            return
        if beat:
            self._beat(ids)
        for trial_id, number in zip(ids, numbers, strict=True):
            try:
                self.storage.set_trial_system_attr(trial_id, BEAT_ATTR, number)
            except Exception:  # noqa: BLE001 - failed meanwhile, or adopted by :func:`fail_stale`
                continue
        with self._lock:
            self._ids.update(ids)

    def discard(self, trial_ids: Iterable[int]) -> None:
        """Stop beating for ``trial_ids``."""
        with self._lock:
            self._ids.difference_update(trial_ids)

    def close(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def give_back(study, storage, trials) -> None:
    """Put asked ``trials`` back in the queue (WAITING, parameters kept: the next ``ask`` of any
    worker takes them); without a storage, tell them FAIL.

    Args:
        study: the study.
        storage: its storage (:func:`storage_of`), or None.
        trials: ``optuna.Trial`` s of this worker.
    """
    from optuna.trial import TrialState

    if not trials:
        return
    if storage is None:
        for t in trials:
            study.tell(t, state=TrialState.FAIL, skip_if_finished=True)
        return
    for trial_id in trial_ids(study, storage, [t.number for t in trials]):
        try:
            storage.set_trial_state_values(trial_id, TrialState.WAITING)
        except Exception:  # noqa: BLE001 - already failed by another worker: it was re-queued
            pass


def ask_batch(study, k: int, storage=None,
              heart: Heartbeat | None = None) -> tuple[list, list[int]]:
    """``k`` new RUNNING trials, WAITING ones first: what ``k`` calls of ``study.ask()`` return.

    With the study's storage, the trials are taken from the queue and created through its
    methods in one loop (:func:`create_trials`), and the study reads them once (each
    ``study.ask()`` re-reads every unfinished trial of the study, so that a batch of ``k``
    would cost ``O(k²)`` reads).

    Args:
        study: the study.
        k: how many trials.
        storage: its storage (default: :func:`storage_of`); None: ``study.ask()`` ``k`` times.
        heart: a :class:`Heartbeat` that beats for the trials from now on (the new ones are
            created with their first heartbeat); None: no heartbeat.

    Returns:
        The ``optuna.Trial`` s and their storage ids (the same order; no ids without a
        storage).
    """
    import optuna
    from optuna.trial import TrialState

    storage = storage if storage is not None else storage_of(study)
    with quiet_optuna():
        if storage is None:
            return [study.ask() for _ in range(k)], []
        study_id = storage.get_study_id_from_name(study.study_name)
        ids: list[int] = []
        numbers: list[int] = []
        for frozen in storage.get_all_trials(study_id, deepcopy=False,
                                             states=(TrialState.WAITING,)):
            if len(ids) == k:
                break
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, frozen.number)
            try:  # another worker may take it first: then this returns False or raises
                if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    ids.append(trial_id)
                    numbers.append(frozen.number)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
        beat = heart is not None and heart.enabled
        if beat:
            heart.add(ids, numbers)
        new = create_trials(storage, study_id, k - len(ids), beat=beat)
        # The study reads the new trials once (its ask does each time): the trials'
        # parameter writes go through what it has read.
        study.get_trials(deepcopy=False)
        trials = [optuna.Trial(study, trial_id) for trial_id in (*ids, *new)]
        if beat:  # their numbers come from the read each Trial makes of its trial
            heart.add(new, [t.number for t in trials[len(ids):]], beat=False)
        return trials, ids + new


def create_trials(storage, study_id: int, k: int, *, beat: bool = False) -> list[int]:
    """Create ``k`` RUNNING trials of the study ``study_id`` (``create_new_trial`` each) and,
    with ``beat``, record each one's first heartbeat right after it; their storage ids, in
    creation order. (Their :data:`BEAT_ATTR` mark needs their number: :func:`ask_batch` writes
    it once it has read them.)"""
    made = []
    for _ in range(max(k, 0)):
        made.append(storage.create_new_trial(study_id))
        if beat:
            storage.record_heartbeat(made[-1])
    return made


# -- telling a batch -----------------------------------------------------------------------------
def tell_batch(study, storage, told) -> list:
    """Finish trials as ``study.tell(trial, value, state=state, skip_if_finished=True)`` does
    each, with one read of the study in place of two reads of every trial.

    ``study.tell`` reads the trial before its write and again after it. Here the first trial
    goes through ``study.tell`` (which also empties the study's cache of trials that samplers
    read while suggesting, so that the next batch's suggestions see this batch); for the rest,
    one read of the study (``study.get_trials``, which re-reads its unfinished trials) stands
    for the reads before, nothing is read after, and each trial is handed to
    ``study.sampler.after_trial`` and then finished with ``set_trial_state_values``, the steps
    ``study.tell`` takes. Every trial goes through ``study.tell`` without a storage, with a
    ``HyperbandPruner`` (Optuna hands its samplers the trial's bracket, through a private
    function) or several objectives, and for a value that is not a number.

    Args:
        study: the study.
        storage: its storage (:func:`storage_of`), or None.
        told: ``(trial, trial_id, state, value)`` per trial: an ``optuna.Trial``, its storage
            id (None without a storage), ``COMPLETE`` with its value or ``PRUNED`` with None.

    Returns:
        Per trial, the state it has now: ``state``, the state another worker finished it
        with, or None when it was finished elsewhere during this call.
    """
    import optuna
    from optuna.trial import TrialState

    told = list(told)
    if not told:
        return []
    if (storage is None or len(study.directions) != 1
            or isinstance(study.pruner, optuna.pruners.HyperbandPruner)):
        return tell_each(study, told)
    states = tell_each(study, told[:1])
    read = {t.number: t for t in study.get_trials(deepcopy=False)}
    for trial, trial_id, state, value in told[1:]:
        frozen = read.get(trial.number)
        if frozen is None or not _plain(state, value) or frozen.state == TrialState.WAITING:
            states += tell_each(study, [(trial, trial_id, state, value)])  # Optuna's checks
        elif frozen.state.is_finished():
            states.append(frozen.state)  # as skip_if_finished: failed as stale meanwhile
        else:
            states.append(_finish(study, storage, copy.deepcopy(frozen), trial_id, state, value))
    return states


def _plain(state, value) -> bool:
    """Whether ``study.tell`` would take ``state`` and ``value`` without a word: COMPLETE with
    a float that is not NaN, or PRUNED without a value."""
    from optuna.trial import TrialState

    if state == TrialState.PRUNED:
        return value is None
    return state == TrialState.COMPLETE and isinstance(value, float) and not math.isnan(value)


def tell_each(study, told) -> list:
    """:func:`tell_batch` one trial at a time: ``study.tell(trial, value, state=state,
    skip_if_finished=True)`` of each ``(trial, trial_id, state, value)``; the state each has
    after (None when it was finished during the call)."""
    return [_tell(study, trial, state, value) for trial, _, state, value in told]


def _tell(study, trial, state, value):
    import optuna

    try:
        return study.tell(trial, value, state=state, skip_if_finished=True).state
    except optuna.exceptions.UpdateFinishedTrialError:
        return None


def _finish(study, storage, frozen, trial_id: int, state, value):
    """What ``study.tell`` does after its read: a PRUNED trial's value is its last reported
    one (if a number), ``after_trial``, and the write (even when ``after_trial`` raised)."""
    import optuna

    values = None if value is None else [float(value)]
    if state == optuna.trial.TrialState.PRUNED and frozen.last_step is not None:
        last = frozen.intermediate_values[frozen.last_step]
        values = None if math.isnan(last) else [float(last)]
    try:
        study.sampler.after_trial(study, frozen, state, values)
    finally:
        try:
            storage.set_trial_state_values(trial_id, state, values)
        except optuna.exceptions.UpdateFinishedTrialError:
            state = None
    return state


# -- a rung's pruning ----------------------------------------------------------------------------
def prune_batch(study, storage, reported, step: int) -> list:
    """Report each trial's value at ``step`` and ask the study's pruner, as
    ``trial.report(value, step)`` then ``trial.should_prune()`` of each trial in turn do, with
    one read of the study in place of one per trial.

    ``should_prune`` hands the pruner the study, whose every read of its trials (a median
    pruner's, a successive-halving bracket's) re-reads all unfinished ones: a batch of K
    costs K² trial reads. Here the pruner is handed a study over :func:`snapshot_storage` of
    one read, which sees every write made through it or mirrored into it (this batch's reports,
    a pruner's system attributes) and passes each write on to ``storage``; the trial it judges
    is the snapshot's, which holds what ``should_prune`` hands it (the trial as read, its
    reports, its system attributes as stored). Without a storage or with several objectives,
    each trial goes through ``report`` and ``should_prune``.

    Args:
        study: the study.
        storage: its storage (:func:`storage_of`), or None.
        reported: ``(trial, trial_id, value)`` per trial (``optuna.Trial``, storage id, value).
        step: the step the values are reported at.

    Returns:
        Per trial, whether to prune it (True or False, whatever the pruner's type of answer);
        None for a trial finished meanwhile (failed as stale).
    """
    import optuna

    if storage is None or len(study.directions) != 1:
        return prune_each(reported, step)
    snapshot = snapshot_storage(storage, study.get_trials(deepcopy=False),
                                {trial_id: trial.number for trial, trial_id, _ in reported})
    view = optuna.Study(study.study_name, storage=snapshot, sampler=study.sampler,
                        pruner=study.pruner)
    out = []
    for trial, trial_id, value in reported:
        def judge(trial_id=trial_id, value=value):
            if step not in snapshot.get_trial(trial_id).intermediate_values:  # as report
                snapshot.mirror(trial_id, intermediate={step: float(value)})
            return study.pruner.prune(view, snapshot.get_trial(trial_id))
        out.append(_report(trial, value, step, judge))
    return out


def prune_each(reported, step: int) -> list:
    """:func:`prune_batch` one trial at a time: ``trial.report(value, step)``, then
    ``trial.should_prune()``, of each ``(trial, trial_id, value)`` in turn."""
    return [_report(trial, value, step, trial.should_prune) for trial, _, value in reported]


def _report(trial, value, step: int, judge):
    """``trial.report(value, step)``, then ``judge()``; None if the trial was finished."""
    import optuna

    try:
        trial.report(value, step)
        return bool(judge())  # a pruner may answer a NumPy bool
    except optuna.exceptions.UpdateFinishedTrialError:
        return None


def snapshot_storage(storage, trials, numbers: dict[int, int]):
    """A storage over ``storage`` that answers reads of the study's trials from ``trials`` (one
    read of them all, e.g. ``study.get_trials(deepcopy=False)``, left unchanged) and passes
    every other call on. ``numbers`` maps the storage ids of the trials it follows to their
    numbers: an intermediate value or attribute written through it for one of them is also
    written into its copy of that trial, and ``mirror(trial_id, intermediate=…, system=…,
    user=…)`` writes into the copy only (what was written elsewhere, e.g. ``trial.report``)."""
    return _snapshot_class()(storage, trials, numbers)


@functools.cache
def _snapshot_class():
    """:class:`_Snapshot` made an Optuna ``BaseStorage``: its other abstract methods pass the
    call on to the storage it covers."""
    from optuna.storages import BaseStorage

    def passed_on(name):
        def method(self, *args, **kwargs):
            return getattr(self.storage, name)(*args, **kwargs)
        return method

    body = {name: passed_on(name) for name in BaseStorage.__abstractmethods__
            if not hasattr(_Snapshot, name)}
    return type("StudySnapshot", (_Snapshot, BaseStorage), body)


class _Snapshot:
    """What :func:`snapshot_storage` does itself (the rest of Optuna's ``BaseStorage`` methods
    are passed on to the storage it covers)."""

    def __init__(self, storage, trials, numbers: dict[int, int]):
        self.storage, self.numbers = storage, dict(numbers)
        self.trials = {t.number: t for t in trials}
        self.known: dict = {}  # a study's id and directions (each study a pruner makes reads them)

    def get_study_id_from_name(self, study_name):
        return self._once(("id", study_name), self.storage.get_study_id_from_name, study_name)

    def get_study_directions(self, study_id):
        return self._once(("directions", study_id), self.storage.get_study_directions,
                          study_id)

    def _once(self, key, read, arg):
        if key not in self.known:
            self.known[key] = read(arg)
        return self.known[key]

    def get_all_trials(self, study_id, deepcopy=True, states=None):
        got = [t for _, t in sorted(self.trials.items())
               if states is None or t.state in states]
        return copy.deepcopy(got) if deepcopy else got

    def get_trial(self, trial_id):
        number = self.numbers.get(trial_id)
        if number is None or number not in self.trials:
            return self.storage.get_trial(trial_id)
        return self.trials[number]

    def mirror(self, trial_id, *, intermediate=None, system=None, user=None) -> None:
        number = self.numbers.get(trial_id)
        if number is None or number not in self.trials:
            return
        t = copy.copy(self.trials[number])
        t.intermediate_values = {**t.intermediate_values, **(intermediate or {})}
        t.system_attrs = {**t.system_attrs, **(system or {})}
        t.user_attrs = {**t.user_attrs, **(user or {})}
        self.trials[number] = t

    def set_trial_intermediate_value(self, trial_id, step, value):
        self.storage.set_trial_intermediate_value(trial_id, step, value)
        self.mirror(trial_id, intermediate={step: value})

    def set_trial_system_attr(self, trial_id, key, value):
        self.storage.set_trial_system_attr(trial_id, key, value)
        self.mirror(trial_id, system={key: value})

    def set_trial_user_attr(self, trial_id, key, value):
        self.storage.set_trial_user_attr(trial_id, key, value)
        self.mirror(trial_id, user={key: value})
