"""The sweep engine's programs kept between processes, traced and lowered once.

A warm ``jaxch6 sweep`` finds its compiled programs in JAX's persistent compilation cache, but
JAX must first trace the Python functions and lower them to find them there: for the book's
network that is most of the compile phase. Where a task's programs are fixed by a text it
declares (:attr:`jaxch6.sweep.Task.program_key`: the book's network sets it from its settings),
the engine keeps each program it lowers as a :func:`jax.export` artifact in
``<compilation cache>/jaxch6-programs/``; a later process whose program has the same key
deserializes it instead of tracing, and compiles it (from JAX's cache when warm).

**Results are the same either way**: with the cache on, every program is compiled from its
exported form, on a miss as on a hit, so a warm process runs the very program a cold one ran
(tests check, on the CPU, that its results equal those of the program compiled directly).

**The key** (:func:`key`) is a SHA-256 over everything that shapes a traced program: the task's
key, the program's name and epochs, the engine's lanes, chunk, hyperparameter names, static
values and dtypes, the arguments' shapes, dtypes, shardings and tree, the devices' count, platform
and kind, every JAX configuration value, the versions of Python, JAX, jaxlib, optax, NumPy and
ml_dtypes, and the source of every jaxch6 module as its files hold it. The files are trusted
to be the code the process runs only if none was modified after the process started (an edit
after an import turns the cache off for that process, also for an edit made while it exports a
program; so does a platform without Linux's ``/proc`` to tell when the process started);
changes made to functions at run time are not seen. A task without a key (a user's task,
unless it sets one: its code is not part of the key) is traced in every process.

**Off** where JAX's persistent compilation cache is off (``--no-compile-cache``, or no
``jax_compilation_cache_dir``) or remote, where ``jax.export`` cannot serialize (its
``flatbuffers`` package is missing), and for engines on devices other than JAX's default
backend's. A program ``jax.export`` cannot carry (a host callback such as ``jax.debug.print``)
is traced as without the cache. An entry that cannot be read (truncated, another format,
filed under another key) is traced again and rewritten; a half-written entry that a killed
process left (``.tmp-*``) is removed by the next store after :data:`STALE_TMP_S`. Entries hold
pickled tree structures: the cache directory is trusted as JAX's own (its entries are
executables).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

#: The entries' layout; part of every key.
FORMAT = 1
#: The program cache's folder inside JAX's compilation cache directory.
FOLDER = "jaxch6-programs"
#: Seconds after which a half-written entry (``.tmp-*``) is a killed writer's and removed.
STALE_TMP_S = 3600
_VERSIONED = ("jax", "jaxlib", "optax", "numpy", "ml_dtypes")


def directory() -> Path | None:
    """The program cache's folder, or None where it is off (see the module docstring)."""
    import jax

    where = jax.config.jax_compilation_cache_dir
    if not where or not jax.config.jax_enable_compilation_cache or "://" in str(where):
        return None  # off, or a remote cache (gs://...) these local files cannot join
    if importlib.util.find_spec("flatbuffers") is None:
        return None
    return Path(where) / FOLDER


def process_start() -> float | None:
    """When this process started (seconds since the epoch, to a clock tick), from Linux's
    ``/proc``; None elsewhere."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        since_boot = time.clock_gettime(time.CLOCK_BOOTTIME)
        return time.time() - since_boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def source_digest() -> str | None:
    """SHA-256 of every jaxch6 module's source (path and bytes) and of the versions of Python
    and the libraries a program is traced with; None (the cache off) where the files may not be
    the code this process runs: one modified since the process started (an edit after an
    import), no source files or no process start time to compare with, a library without a
    version."""
    root = Path(__file__).resolve().parents[1]
    start = process_start()
    try:
        stats = tuple((str(p.relative_to(root)), st.st_mtime_ns, st.st_size)
                      for p in sorted(root.rglob("*.py")) for st in (p.stat(),))
        versions = tuple(importlib.metadata.version(name) for name in _VERSIONED)
    except (OSError, importlib.metadata.PackageNotFoundError):
        return None
    if start is None or not stats or max(m for _, m, _ in stats) >= start * 1e9:
        return None
    return _digest(root, stats, versions)


@functools.cache
def _digest(root: Path, stats: tuple, versions: tuple) -> str:
    digest = hashlib.sha256()
    for name, _, _ in stats:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    digest.update(repr((_VERSIONED, versions, sys.version)).encode())
    return digest.hexdigest()


def key(task_key: str, parts: tuple) -> str | None:
    """The key of a program: ``task_key`` (the task's), ``parts`` (the engine's description of
    the program, its arguments and devices: plain values), the JAX configuration, the sources
    and versions (:func:`source_digest`); None where the sources cannot be trusted."""
    import jax

    sources = source_digest()
    if sources is None:
        return None
    config = sorted((name, repr(value)) for name, value in jax.config.values.items())
    text = repr((FORMAT, sources, task_key, parts, config))
    return hashlib.sha256(text.encode()).hexdigest()


def load(folder: Path, name: str):
    """``(exported, out_tree)`` stored under ``name``, or None (absent or unreadable)."""
    import jax

    try:
        with open(folder / f"{name}.bin", "rb") as f:
            entry = pickle.load(f)  # noqa: S301 - a trusted cache, as JAX's own (see above)
        if entry.get("format") != FORMAT or entry.get("key") != name:
            return None
        return jax.export.deserialize(bytearray(entry["exported"])), entry["out_tree"]
    except Exception:  # noqa: BLE001 - any unreadable entry is traced again
        return None


def store(folder: Path, name: str, exported, out_tree) -> None:
    """Write an entry atomically (a failure to write only leaves the cache without it)."""
    tmp = None
    try:
        entry = pickle.dumps({"format": FORMAT, "key": name,
                              "exported": bytes(exported.serialize()), "out_tree": out_tree})
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        os.fchmod(fd, 0o644)  # readable by whoever shares the cache, as JAX's own entries
        with os.fdopen(fd, "wb") as f:
            f.write(entry)
        os.replace(tmp, folder / f"{name}.bin")
    except Exception:  # noqa: BLE001 - a full disk, a tree that cannot be pickled, ...
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    _remove_stale_tmp(folder)


def _remove_stale_tmp(folder: Path) -> None:
    """Remove half-written entries older than :data:`STALE_TMP_S` (left by a process killed
    while it wrote one; a live writer replaces its own within moments)."""
    cutoff = time.time() - STALE_TMP_S
    with contextlib.suppress(OSError):
        for path in folder.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                    path.unlink()
