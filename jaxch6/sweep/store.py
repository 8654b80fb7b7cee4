"""The run directory: what one sweep (or one Optuna worker) owns and writes on disk.

Files, all standard JSON (non-finite floats are written as ``null``, see :func:`to_json_safe`):

- ``.lock``: held with an exclusive lock (``filelock``: ``flock`` on POSIX, ``LockFileEx`` on
  Windows) by the process that owns the directory (:func:`lock`); the operating system releases
  it when that process exits or dies, and a run that ends removes it.
- ``manifest.json``: written once when a run starts (:func:`write_manifest`): its kind
  (``"sweep"`` or ``"optuna"``), config, data fingerprint, library versions, lane width, command
  line and start time. A resumed run re-checks it (:func:`check_manifest`).
- ``trials.jsonl``: one JSON object per trial, append-only. Each chunk's records are written in
  one ``write`` call and fsynced before the next chunk starts; a failed write is truncated back,
  so the file always ends after a complete chunk or with a partial last line that
  :func:`read_trials` drops (``repair=True`` truncates it). :func:`replace_trials` rewrites the
  whole file atomically instead (an Optuna study's export).
- ``summary.json``: replaced atomically (temporary file, fsync, rename). Whoever resumes a run
  reads it with :func:`read_summary` and merges what it must keep (e.g. earlier timings).

A new run may only use a directory that does not exist or is empty (:func:`claim`); files of a
previous run are never replaced. No file is written through a symbolic link: every file the
library writes in a run directory is opened with ``O_NOFOLLOW`` (a new name, then renamed over
the old one, for files replaced whole) and every subdirectory it writes into must be a real
directory (:func:`write_file`, :func:`subdir`), so a link planted in a run directory is refused
with one line instead of being followed to a file elsewhere. Every failure to read or write raises
:class:`jaxch6.errors.ConfigError` with one line naming the file and the reason.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import math
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from jaxch6.errors import ConfigError

TRIALS = "trials.jsonl"
SUMMARY = "summary.json"
MANIFEST = "manifest.json"
LOCK = ".lock"
KINDS = ("sweep", "optuna")
#: An Optuna worker's default study file in its run directory (the study its workers share).
STUDY = "study.db"
#: The study file and SQLite's journals beside it.
STUDY_FILES = (STUDY, f"{STUDY}-wal", f"{STUDY}-shm", f"{STUDY}-journal")
REQUIRED = ("id", "round", "hparams", "val_acc", "train_acc", "final_val_acc", "diverged")
#: Manifest field with :func:`manifest_digest` (optional: manifests of older versions lack it).
DIGEST = "digest"
MANIFEST_FIELDS = ("kind", "config", "data_fingerprint", "versions", "lanes", "command_line",
                   "created_at")
#: Packages whose versions a manifest records; a different version on resume is a warning.
VERSIONED = ("jaxch6", "jax", "jaxlib", "optax")


# -- errors -------------------------------------------------------------------------------------
def _reason(path: Path, exc: OSError) -> str:
    """``exc``'s message, naming the ancestor of ``path`` that is a file for ENOTDIR."""
    text = exc.strerror or str(exc)
    if exc.errno == errno.ENOTDIR:
        for parent in Path(path).parents:
            if parent.is_file():
                return f"{text} ({parent} is a file)"
    return text


def write_error(path: str | os.PathLike, exc: OSError) -> ConfigError:
    """The one-line error for a failed write of ``path`` ("cannot write PATH: reason")."""
    return ConfigError(f"cannot write {path}: {_reason(path, exc)}")


def _read_error(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(f"cannot read {path}: {_reason(path, exc)}")


# -- JSON ---------------------------------------------------------------------------------------
def to_json_safe(obj: Any) -> Any:
    """``obj`` as plain JSON values: NaN and ±inf become ``None``, recursively.

    Mappings become dicts with string keys, tuples and lists lists, NumPy/JAX arrays nested
    lists, NumPy scalars Python numbers. Other values are returned unchanged.
    """
    if isinstance(obj, Mapping):
        return {str(k): to_json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json_safe(v) for v in obj]
    if isinstance(obj, (bool, int, str)) or obj is None:
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic) or hasattr(obj, "__array__"):
        arr = np.asarray(obj)
        return to_json_safe(arr.item() if arr.ndim == 0 else arr.tolist())
    return obj


def _dumps(obj: Any, **kwargs) -> str:
    return json.dumps(to_json_safe(obj), allow_nan=False, **kwargs)


def _null_constant(_name: str) -> None:
    """Read NaN/Infinity literals (files written by older versions) as null."""
    return None


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


#: ``O_NOFOLLOW`` where the platform has it (POSIX); elsewhere links are checked with lstat.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def _link_error(path: Path) -> ConfigError:
    return ConfigError(f"refusing to write {path}: it is a symbolic link (a run writes only its "
                       "own files)")


def open_nofollow(path: str | os.PathLike, flags: int, mode: int = 0o666) -> int:
    """``os.open`` that never follows a symbolic link at ``path`` (the last component).

    Raises:
        ConfigError: ``path`` is a symbolic link, or cannot be opened (one line naming it).
    """
    path = Path(path)
    if not _NOFOLLOW and path.is_symlink():
        raise _link_error(path)
    try:
        return os.open(path, flags | _NOFOLLOW | _CLOEXEC | _BINARY, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EEXIST and path.is_symlink()):
            raise _link_error(path) from None
        raise write_error(path, exc) from None


def _not_a_link_dir(path: Path) -> None:
    if path.is_symlink():
        raise ConfigError(f"refusing to write into {path}: it is a symbolic link (a run writes "
                          "only inside its own directory)")


def subdir(directory: str | os.PathLike, name: str | None = None) -> Path:
    """``directory/name`` created if needed, and refused if it is a link or not a directory.

    Raises:
        ConfigError: one line naming it.
    """
    path = Path(directory) / name if name is not None else Path(directory)
    _not_a_link_dir(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"cannot use {path} as a directory: it is a file") from None
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {_reason(path, exc)}") from None
    return path


#: The temporary files of :func:`write_file` (``.NAME.XXXXXXXX.tmp``).
_TEMPORARY = re.compile(r"\..+\.[A-Za-z0-9_]{8}\.tmp")


def write_file(path: str | os.PathLike, content: str | bytes | Callable[[Any], None]) -> Path:
    """Replace ``path`` atomically and without following links: a new file with a unique name
    beside it (``O_EXCL``, fsynced, permissions as the umask gives a new file), then renamed
    over ``path`` (a link there is replaced, never followed); concurrent writers never share a
    temporary file.

    Args:
        path: the file; its directory must not be a link (see :func:`subdir`).
        content: text (UTF-8), bytes, or a function that writes into a binary file object
            (e.g. ``lambda f: np.savez(f, ...)`` or ``lambda f: fig.savefig(f, format="png")``).

    Returns:
        ``path``.

    Raises:
        ConfigError: "cannot write PATH: <reason>" (the previous file stays), or its directory
            is a symbolic link.
    """
    path = Path(path)
    _not_a_link_dir(path.parent)
    try:
        fd, tmp = _new_beside(path)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode("utf-8") if isinstance(content, str) else content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise write_error(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def _new_beside(path: Path) -> tuple[int, str]:
    """A new file with a unique name beside ``path`` (``O_CREAT | O_EXCL``: never an existing
    file or link), with the permissions any new file gets (0666 less the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def append_file(path: str | os.PathLike, text: str) -> None:
    """Append ``text`` to ``path`` (created if needed) without following a link, then fsync.

    Raises:
        ConfigError: one line naming the file.
    """
    path = Path(path)
    fd = open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        os.close(fd)


def _atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically (:func:`write_file`)."""
    write_file(path, text)


def _read_json(path: Path) -> Any:
    """The JSON value in ``path``; ConfigError if it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _read_error(path, exc) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid JSON (not UTF-8 text)") from None
    try:
        return json.loads(text, parse_constant=_null_constant)
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid JSON for a run (nested too deeply)") from None


# -- the lock -----------------------------------------------------------------------------------
class DirLock:
    """An exclusive lock on ``directory/.lock`` (a ``filelock.FileLock``), held until
    :meth:`release` or exit; a released lock's file is removed."""

    def __init__(self, directory: Path, handle: Any, *, remove: bool = True):
        self.directory = directory
        self._handle = handle
        self._remove = remove  # False for a marker-file lock, which removes its own file

    @property
    def held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        """Remove ``.lock`` (while still holding it: a process that opened the old file sees it
        unlinked and tries again) and release the lock."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            if self._remove:
                with contextlib.suppress(OSError):
                    os.unlink(self.directory / LOCK)
            handle.release(force=True)

    def __enter__(self) -> DirLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _make_dir(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"cannot use {directory} as a run directory: it is a file")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {directory}: {_reason(directory, exc)}") from None


def _write_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _holder(path: Path) -> str:
    """The pid written in a held lock file, or ``"unknown"``."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        try:
            return os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        finally:
            os.close(fd)
    return "unknown"


def lock(out_dir: str | os.PathLike) -> DirLock:
    """Own ``out_dir`` for the life of a run: create it if needed and lock its ``.lock``.

    Non-blocking: a directory locked by another process (or another open of this one) is an
    error at once. The operating system drops the lock when the owning process exits, even on
    a crash; :meth:`DirLock.release` removes the file. The lock is ``filelock``'s (portable; it
    opens the file with ``O_NOFOLLOW``), and its file holds the owner's pid.

    Args:
        out_dir: the run directory.

    Returns:
        A :class:`DirLock`; use it as a context manager or call ``release()``.

    Raises:
        ConfigError: "DIR is in use by another sweep (pid N)", ``.lock`` is a symbolic link, or
            the directory or its lock file cannot be created or written.
    """
    import filelock

    directory = Path(out_dir)
    _make_dir(directory)
    path = directory / LOCK
    if path.is_symlink():
        raise _link_error(path)
    # the pid goes into the file where the lock is a descriptor lock (flock, LockFileEx); the
    # marker-file lock filelock uses elsewhere records its owner itself
    native = filelock.has_fcntl or sys.platform == "win32"
    handle = filelock.FileLock(path, timeout=0, thread_local=False, fallback_to_soft=False,
                               on_acquired=_write_pid if native else None)
    try:
        handle.acquire(timeout=0)
    except filelock.Timeout:
        raise ConfigError(f"{directory} is in use by another sweep (pid {_holder(path)})") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP or path.is_symlink():
            raise _link_error(path) from None
        raise ConfigError(f"cannot lock {path}: {_reason(path, exc)}") from None
    return DirLock(directory, handle, remove=native)


# -- claiming a directory -----------------------------------------------------------------------
def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"run kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


def claim(out_dir: str | os.PathLike, kind: str, *, resume: bool = False) -> dict | None:
    """Check that a run of ``kind`` may write into ``out_dir``.

    A new run needs a directory that does not exist or is empty (a ``.lock`` and the temporary
    files of a write that a kill cut short aside: those are removed; for an Optuna worker, also
    the study file :data:`STUDY` of a worker stopped before its manifest, which it joins); a
    resumed run needs a manifest of the same kind (plain sweeps and Optuna workers never write
    into each other's directories). Call it while holding :func:`lock`.

    Args:
        out_dir: the run directory.
        kind: ``"sweep"`` or ``"optuna"``.
        resume: continue the run recorded in ``out_dir`` instead of starting one.

    Returns:
        The recorded manifest when resuming (to pass to :func:`check_manifest`), else None.

    Raises:
        ConfigError: the directory holds other files (the first one is named), is a file, has
            no manifest to resume, or was written by a run of another kind.
    """
    _check_kind(kind)
    directory = Path(out_dir)
    if resume:
        manifest = read_manifest(directory)
        if manifest["kind"] != kind:
            raise ConfigError(
                f"{directory} holds a {manifest['kind']!r} run, not a {kind!r} run (plain sweeps "
                "and Optuna workers never share a directory)"
            )
        return manifest
    if not directory.exists():
        return None
    if not directory.is_dir():
        raise ConfigError(f"cannot use {directory} as a run directory: it is a file")
    try:
        names = sorted(p.name for p in directory.iterdir() if p.name != LOCK)
    except OSError as exc:
        raise _read_error(directory, exc) from None
    for name in [n for n in names if _TEMPORARY.fullmatch(n)]:  # a write a kill cut short
        with contextlib.suppress(OSError):
            os.unlink(directory / name)
        names.remove(name)
    if kind == "optuna":  # a worker stopped before its manifest: the study stays, to join
        names = [n for n in names if n not in STUDY_FILES]
    if names:
        first = MANIFEST if MANIFEST in names else names[0]
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        raise ConfigError(
            f"{directory} is not empty (holds {first}{more}): a new run needs a new or empty "
            "directory; its files are never replaced"
        )
    return None


# -- the manifest -------------------------------------------------------------------------------
def data_fingerprint(data: Iterable) -> str:
    """sha256 over the shapes, dtypes and bytes of a run's data arrays.

    Args:
        data: a tuple or NamedTuple of arrays (NumPy, or anything ``np.asarray`` takes).

    Returns:
        The hex digest; equal for equal arrays, whatever their memory layout.
    """
    h = hashlib.sha256()
    for a in data:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def versions() -> dict[str, str]:
    """The installed versions of :data:`VERSIONED` (``"unknown"`` where not installed)."""
    out = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def make_manifest(kind: str, config: Any, fingerprint: str, *, lanes: int,
                  command_line: Iterable[str] | None = None) -> dict:
    """A manifest for :func:`write_manifest`, with this process's versions and time.

    Args:
        kind: ``"sweep"`` or ``"optuna"``.
        config: a mapping, or an object with ``to_dict()`` (e.g. a SweepConfig).
        fingerprint: :func:`data_fingerprint` of the run's data.
        lanes: the lane-group width (part of what makes a trial's result reproducible).
        command_line: the arguments to record (default ``sys.argv``); credentials in database
            URLs are redacted when written.

    Returns:
        The manifest dict.
    """
    cfg = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    manifest = {
        "kind": _check_kind(kind),
        "config": to_json_safe(cfg),
        "data_fingerprint": str(fingerprint),
        "versions": versions(),
        "lanes": int(lanes),
        "command_line": list(sys.argv if command_line is None else command_line),
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    manifest[DIGEST] = manifest_digest(manifest)
    return manifest


def manifest_digest(manifest: Mapping) -> str:
    """sha256 over what defines a run (kind, config, data fingerprint, lanes), canonical JSON:
    :func:`read_manifest` refuses a manifest edited after it was written."""
    defining = {k: manifest.get(k) for k in ("kind", "config", "data_fingerprint", "lanes")}
    return hashlib.sha256(_dumps(defining, sort_keys=True).encode()).hexdigest()


def _check_manifest_fields(path: Path, manifest: Any) -> None:
    if not isinstance(manifest, Mapping):
        raise ConfigError(f"{path}: not a manifest (a JSON object is expected)")
    for name in MANIFEST_FIELDS:
        if name not in manifest:
            raise ConfigError(f"{path}: missing field {name!r}")
    if manifest["kind"] not in KINDS:
        raise ConfigError(f"{path}: kind must be one of {', '.join(KINDS)}, "
                          f"got {manifest['kind']!r}")
    if not isinstance(manifest["config"], Mapping):
        raise ConfigError(f"{path}: config must be a JSON object")


def write_manifest(out_dir: str | os.PathLike, manifest: Mapping) -> None:
    """Write ``manifest.json`` once, atomically; database passwords in the command line are
    replaced by ``***``.

    Args:
        out_dir: the run directory (must exist; hold its :func:`lock`).
        manifest: a dict with the fields of :data:`MANIFEST_FIELDS` (see :func:`make_manifest`).

    Raises:
        ConfigError: a field is missing, the directory already has a manifest, or it cannot be
            written.
    """
    from jaxch6.sweep.secrets import scrub

    path = Path(out_dir) / MANIFEST
    _check_manifest_fields(path, manifest)
    if path.exists():
        raise ConfigError(f"{path} already exists: a run's manifest is written once")
    record = dict(manifest)
    record["command_line"] = [scrub(str(a)) for a in manifest["command_line"]]
    _atomic_write(path, _dumps(record, indent=2) + "\n")


def read_manifest(out_dir: str | os.PathLike) -> dict:
    """The manifest of the run in ``out_dir``.

    Raises:
        ConfigError: there is none (not a run directory), or it is not a valid manifest.
    """
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        raise ConfigError(f"{out_dir}: no {MANIFEST} there (not a jaxch6 run directory)")
    manifest = _read_json(path)
    _check_manifest_fields(path, manifest)
    if DIGEST in manifest and manifest[DIGEST] != manifest_digest(manifest):
        raise ConfigError(f"{path} was edited after the run wrote it (its {DIGEST} does not "
                          "match its config, data fingerprint and lanes)")
    return dict(manifest)


_ABSENT = object()


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "absent"
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _normal(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, NaN null)."""
    return json.loads(_dumps(value))


def check_manifest(recorded: Mapping, current: Mapping, *,
                   allow: Iterable[str] = ()) -> list[str]:
    """Compare a resumed run's manifest with the one this process would write.

    Args:
        recorded: the manifest read from the directory.
        current: this process's manifest (:func:`make_manifest`).
        allow: config fields that may differ (e.g. a larger trial budget).

    Returns:
        Warning lines, one per library version that differs (results may differ in the last
        bits, but the run may continue).

    Raises:
        ConfigError: naming the first difference of kind, config field, data or lane width,
            e.g. "resume: config field 'epochs' was 50, now 5".
    """
    if recorded.get("kind") != current.get("kind"):
        raise ConfigError(f"resume: the directory holds a {recorded.get('kind')!r} run, this is "
                          f"a {current.get('kind')!r} run")
    old, new = _normal(recorded.get("config", {})), _normal(current.get("config", {}))
    allowed = set(allow)
    for name in [*old, *(k for k in new if k not in old)]:
        was, now = old.get(name, _ABSENT), new.get(name, _ABSENT)
        if name not in allowed and was != now:
            raise ConfigError(f"resume: config field {name!r} was {_show(was)}, now {_show(now)}")
    was, now = recorded.get("data_fingerprint"), current.get("data_fingerprint")
    if was != now:
        hint = "; a task's data: give the same --data FILE (or data=) again" \
            if old.get("task") not in (None, _ABSENT) else ""
        raise ConfigError(f"resume: the data changed (fingerprint {str(was)[:12]}..., now "
                          f"{str(now)[:12]}...){hint}")
    if recorded.get("lanes") != current.get("lanes"):
        raise ConfigError(f"resume: lanes was {recorded.get('lanes')}, now {current.get('lanes')}"
                          " (a trial's result depends on the lane width)")
    warnings = []
    old_v, new_v = recorded.get("versions") or {}, current.get("versions") or {}
    for name in sorted(set(old_v) | set(new_v)):
        if old_v.get(name) != new_v.get(name):
            warnings.append(f"resume: {name} was {old_v.get(name)}, now {new_v.get(name)} "
                            "(results may differ in the last bits)")
    return warnings


# -- trial records ------------------------------------------------------------------------------
def append_trials(out_dir: str | os.PathLike, records: Iterable[Mapping]) -> None:
    """Append one JSON line per trial as one write, then fsync.

    If the write or fsync fails the file is truncated back to its previous size, so what was
    written before stays valid.

    Args:
        out_dir: the run directory.
        records: trial records (non-finite floats are written as null).

    Raises:
        ConfigError: "cannot write DIR/trials.jsonl: <reason>", or the file ends with a partial
            line (read it with ``read_trials(..., repair=True)`` first).
    """
    path = Path(out_dir) / TRIALS
    data = "".join(_dumps(r, separators=(",", ":")) + "\n" for r in records).encode("utf-8")
    if not data:
        return
    fd = open_nofollow(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            raise ConfigError(f"{path} ends with a partial line: read it with repair=True "
                              "before appending")
        try:
            view = memoryview(data)
            while view:  # one call unless the disk fills (then the next call raises)
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
                os.fsync(fd)
            raise write_error(path, exc) from None
    finally:
        os.close(fd)


def replace_trials(out_dir: str | os.PathLike, records: Iterable[Mapping]) -> None:
    """Atomically replace ``trials.jsonl`` by ``records`` (e.g. an Optuna study's export).

    Raises:
        ConfigError: "cannot write DIR/trials.jsonl: <reason>"; the previous file stays.
    """
    text = "".join(_dumps(r, separators=(",", ":")) + "\n" for r in records)
    _atomic_write(Path(out_dir) / TRIALS, text)


def _check_base(record: Any) -> str | None:
    """What makes ``record`` not a trial record at all, or None."""
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    if "id" in record and (type(record["id"]) is not int):
        return f"id {record['id']!r} is not an integer"
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        return "missing field(s) " + ", ".join(missing)
    return None


def _parse_lines(path: Path, raw: bytes):
    """Yield ``(line_number, record or None, end_offset, has_newline)`` per non-empty line."""
    offset = 0
    for number, line in enumerate(raw.split(b"\n"), start=1):
        end = offset + len(line) + 1
        if line.strip():
            try:
                rec = json.loads(line, parse_constant=_null_constant)
            except (ValueError, RecursionError):  # RecursionError: nested too deeply
                rec = None
            yield number, rec, min(end, len(raw)), end <= len(raw)
        offset = end


def read_trials(out_dir: str | os.PathLike, *, repair: bool = False,
                validate: Callable[[dict], None] | None = None,
                updates: bool = False) -> list[dict]:
    """All complete trial records in ``trials.jsonl``, by id.

    A last line that is not JSON or lacks its newline is a write cut short: it is dropped (and
    with ``repair=True`` truncated away). Anything else wrong is an error: an unreadable line
    elsewhere, a record without the required fields, an id seen twice, or a record that
    ``validate`` rejects. NaN/Infinity literals (older files) read as null.

    Args:
        out_dir: the run directory (no ``trials.jsonl``: no records).
        repair: truncate a partial last line.
        validate: called with each record; raises ``ValueError`` (e.g. ConfigError) with what is
            wrong, see :func:`make_validator`.
        updates: a later record of an id replaces the earlier one (a trial trained in steps,
            recorded after each), provided it was trained at least as many epochs.

    Returns:
        The records sorted by id.

    Raises:
        ConfigError: "DIR/trials.jsonl line N: <what>", or the file cannot be read.
    """
    path = Path(out_dir) / TRIALS
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise _read_error(path, exc) from None
    records: dict[int, dict] = {}
    lines: dict[int, int] = {}
    good = 0
    for number, rec, end, has_newline in _parse_lines(path, raw):
        if rec is None or not has_newline:
            if raw[end:].strip():
                raise ConfigError(f"{path} line {number}: not a trial record (invalid JSON)")
            break  # the last line, cut short
        problem = _check_base(rec)
        if problem is None and rec["id"] in records:
            if not updates:
                problem = f"trial id {rec['id']} appears twice (first on line {lines[rec['id']]})"
            elif len(rec["val_acc"] or ()) < len(records[rec["id"]]["val_acc"] or ()):
                problem = (f"trial {rec['id']} has fewer epochs than its record on line "
                           f"{lines[rec['id']]}")
        if problem is None and validate is not None:
            try:
                validate(rec)
            except ValueError as exc:
                problem = str(exc)
        if problem is not None:
            raise ConfigError(f"{path} line {number}: {problem}")
        records[rec["id"]], lines[rec["id"]] = rec, number
        good = end
    if repair and raw[good:]:
        _truncate(path, good)
    return [records[k] for k in sorted(records)]


def _truncate(path: Path, size: int) -> None:
    fd = open_nofollow(path, os.O_RDWR)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        os.close(fd)


# -- record validation --------------------------------------------------------------------------
def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_curve(name: str, curve: Any, n_epochs: int | None, *,
                 accuracy: bool = True) -> str | None:
    if not isinstance(curve, list):
        return f"{name} must be a list of accuracies, got {type(curve).__name__}"
    for e, a in enumerate(curve):
        if a is not None and not (_is_number(a) and (not accuracy or 0.0 <= a <= 1.0)):
            return f"{name}[{e}] = {a!r} is not an accuracy in [0, 1] or null"
    if n_epochs is not None and len(curve) != n_epochs:
        return f"{name} has {len(curve)} values, expected one per epoch ({n_epochs})"
    return None


def _check_hparams(hparams: Any, names: frozenset | None) -> str | None:
    if not isinstance(hparams, dict):
        return f"hparams must be an object of name: value, got {type(hparams).__name__}"
    if names is not None and set(hparams) != names:
        missing, extra = sorted(names - set(hparams)), sorted(set(hparams) - names)
        return "hparams " + (f"lack {', '.join(missing)}" if missing else
                             f"have unknown {', '.join(extra)}")
    for name, value in hparams.items():
        if isinstance(value, float) and not math.isfinite(value):
            return f"hparams[{name!r}] = {value} is not finite"
        if not isinstance(value, (int, float, str, bool)):
            return f"hparams[{name!r}] = {value!r} is not a number, string or boolean"
    return None


def _describe_ids(valid_ids) -> str:
    if isinstance(valid_ids, range) and valid_ids.step == 1:
        return f"{valid_ids.start}..{valid_ids.stop - 1}"
    return f"{len(valid_ids)} planned ids"


def _outside_space(hparams: dict, space: Iterable) -> str | None:
    """The first recorded value outside its searched range or choices, or None."""
    for p in space:
        name, value = p.name, hparams.get(p.name, _ABSENT)
        if value is _ABSENT:
            continue
        if p.kind == "categorical":
            if value not in p.choices:
                return f"hparams[{name!r}] = {value!r} is not one of the space's choices"
        elif not _is_number(value) or not (
                p.low * (1 - 1e-9) - 1e-300 <= value <= p.high * (1 + 1e-9) + 1e-300):
            return (f"hparams[{name!r}] = {value!r} is outside the searched range "
                    f"{p.low!r}..{p.high!r}")
    return None


def _final_disagrees(record: dict) -> str | None:
    curve, final = record["val_acc"], record["final_val_acc"]
    last = curve[-1] if curve else None
    if final != last:
        return f"final_val_acc {final!r} is not the last value of its val_acc curve ({last!r})"
    return None


def make_validator(valid_ids: set[int] | range, n_epochs: int | Callable[[dict], int | None]
                   | None, hparam_names: Iterable[str] | None, *,
                   space: Iterable | None = None) -> Callable[[dict], None]:
    """A ``validate`` for :func:`read_trials` that checks a record against the run's plan.

    Args:
        valid_ids: the trial ids the run planned.
        n_epochs: the epochs each record's curves must hold (an int, a function of the record
            for runs whose trials train for different epochs, or None: any length).
        hparam_names: the hyperparameter names every record must have exactly (None: any).
        space: the searched parameters (:class:`jaxch6.sweep.Param`): a recorded value must lie
            in its range or choices. A record's ``final_val_acc`` must be its curve's last value.

    Returns:
        ``validate(record)``, raising ConfigError with what is wrong (the line is added by
        :func:`read_trials`).
    """
    names = None if hparam_names is None else frozenset(hparam_names)
    ids = valid_ids if isinstance(valid_ids, range) else frozenset(valid_ids)

    def validate(record: dict) -> None:
        problem = _check_base(record)
        if problem is None and record["id"] not in ids:
            problem = f"id {record['id']} is not in the plan ({_describe_ids(ids)})"
        if problem is None and (type(record["round"]) is not int or record["round"] < 0):
            problem = f"round {record['round']!r} is not a non-negative integer"
        problem = problem or _check_hparams(record["hparams"], names)
        epochs = n_epochs(record) if callable(n_epochs) else n_epochs
        task = "objective" in record  # a task's objective: any number; train_acc optional
        for name in ("val_acc", "train_acc"):
            if not (task and name == "train_acc" and record[name] == []):
                problem = problem or _check_curve(name, record[name], epochs,
                                                  accuracy=not task or name == "train_acc")
        if problem is None and not isinstance(record["diverged"], bool):
            problem = f"diverged {record['diverged']!r} is not true or false"
        final = record["final_val_acc"]
        if problem is None and not (final is None or (_is_number(final)
                                                      and (task or 0 <= final <= 1))):
            problem = f"final_val_acc {final!r} is not an accuracy in [0, 1] or null"
        problem = problem or _final_disagrees(record)
        if problem is None and space is not None:
            problem = _outside_space(record["hparams"], space)
        if problem is not None:
            raise ConfigError(problem)

    return validate


# -- the summary --------------------------------------------------------------------------------
def write_summary(out_dir: str | os.PathLike, summary: Mapping) -> None:
    """Atomically replace ``summary.json`` (non-finite floats written as null).

    Raises:
        ConfigError: "cannot write DIR/summary.json: <reason>"; the previous summary stays.
    """
    _atomic_write(Path(out_dir) / SUMMARY, _dumps(summary, indent=2) + "\n")


def read_summary(out_dir: str | os.PathLike) -> dict:
    """The run's ``summary.json`` as a dict (a resumed run merges what it keeps from it).

    Raises:
        ConfigError: there is none (not a sweep directory), or it is not a JSON object.
    """
    path = Path(out_dir) / SUMMARY
    if not path.exists():
        raise ConfigError(f"{out_dir}: no {SUMMARY} there (not a sweep directory)")
    summary = _read_json(path)
    if not isinstance(summary, dict):
        raise ConfigError(f"{path}: not a summary (a JSON object is expected)")
    return summary
