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
ml_dtypes, and the source of every jaxch6 module (as the files hold it: not changes made to
functions at run time). A task without a key (a user's task, unless it sets one: its code is
not part of the key) is traced in every process.

**Off** where JAX's persistent compilation cache is off (``--no-compile-cache``, or no
``jax_compilation_cache_dir``) or ``jax.export`` cannot serialize (its ``flatbuffers`` package
is missing). An entry that cannot be read (truncated, another format, filed under another
key) is traced again and rewritten. Entries hold pickled tree structures: the cache directory
is trusted as JAX's own (its entries are executables).
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
from pathlib import Path

#: The entries' layout; part of every key.
FORMAT = 1
#: The program cache's folder inside JAX's compilation cache directory.
FOLDER = "jaxch6-programs"
_VERSIONED = ("jax", "jaxlib", "optax", "numpy", "ml_dtypes")


def directory() -> Path | None:
    """The program cache's folder, or None where it is off (see the module docstring)."""
    import jax

    where = jax.config.jax_compilation_cache_dir
    if not where or not jax.config.jax_enable_compilation_cache:
        return None
    if importlib.util.find_spec("flatbuffers") is None:
        return None
    return Path(where) / FOLDER


@functools.cache
def source_digest() -> str:
    """SHA-256 of every jaxch6 module's source (path and bytes) and of the versions of Python
    and the libraries a program is traced with."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    for name in _VERSIONED:
        digest.update(f"{name}={importlib.metadata.version(name)}\0".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def key(task_key: str, parts: tuple) -> str:
    """The key of a program: ``task_key`` (the task's), ``parts`` (the engine's description of
    the program, its arguments and devices: plain values), the JAX configuration, the sources
    and versions (:func:`source_digest`)."""
    import jax

    config = sorted((name, repr(value)) for name, value in jax.config.values.items())
    text = repr((FORMAT, source_digest(), task_key, parts, config))
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
        with os.fdopen(fd, "wb") as f:
            f.write(entry)
        os.replace(tmp, folder / f"{name}.bin")
    except Exception:  # noqa: BLE001 - a full disk, a tree that cannot be pickled, ...
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
