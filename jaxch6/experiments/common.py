"""Helpers shared by the experiment modules: output files, JSON, smoothing, data, timing."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np

from jaxch6.errors import ConfigError

#: Resolution of the committed figures (small PNGs, < 200 KB each).
DPI = 80

#: What the book trains on, for the "vs book" notes in each JSON.
BOOK_MNIST_TRAIN = 60_000
BOOK_MNIST_TEST = 10_000


def smooth_curve(x) -> np.ndarray:
    """The book's ``common.util.smooth_curve``: Kaiser-window (length 11, β=2) moving average.

    The signal is mirrored by 10 samples at each end, convolved with the normalised window and
    trimmed back to the input's length (exactly the book's code, in NumPy).
    Works on the last axis of a 2-D array too (one curve per row).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        return np.stack([smooth_curve(row) for row in x])
    window_len = 11
    s = np.r_[x[window_len - 1 : 0 : -1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[5 : len(y) - 5]


def to_jsonable(obj):
    """Convert NumPy/JAX arrays and scalars (NaN/inf → None) into plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "__array__") and not isinstance(obj, (str, bytes)):
        arr = np.asarray(obj)
        if arr.ndim == 0:
            return to_jsonable(arr.item())
        return [to_jsonable(v) for v in arr.tolist()]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (np.floating,)):
        return to_jsonable(float(obj))
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def rounded(x, digits: int = 5):
    """Round an array's values for a compact JSON (keeps NaN as NaN)."""
    return np.round(np.asarray(x, dtype=np.float64), digits)


def write_error(path, exc: OSError) -> ConfigError:
    """A one-line ConfigError for a failed write of ``path`` (naming a parent that is a file)."""
    from jaxch6.sweep.store import write_error

    return write_error(path, exc)


def out_path(out_dir) -> Path:
    """``out_dir`` as a Path, created if needed.

    Raises:
        ConfigError: it is a file or a symbolic link, or cannot be created.
    """
    from jaxch6.sweep.store import subdir

    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"cannot write to {path}: it is a file, not a directory")
    return subdir(path)


def check_writable(out_dir) -> Path:
    """:func:`out_path`, after checking that a file can be created there (before any work).

    Raises:
        ConfigError: the directory cannot be created or written.
    """
    path = out_path(out_dir)
    probe = path / f".jaxch6-write-test-{os.getpid()}"
    try:  # O_EXCL: never opened through a link planted under that name
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        probe.unlink()
    except OSError as exc:
        raise write_error(path, exc) from None
    return path


def write_json(out_dir, name: str, summary: dict) -> dict:
    """Write ``summary`` (made JSON-safe by :func:`to_jsonable`) as ``<name>.json``; return it.

    Like every file an experiment writes, it is written by :func:`jaxch6.sweep.store.write_file`
    (a new file renamed over the old one: a symbolic link there is replaced, never followed).

    Raises:
        ConfigError: the file cannot be written.
    """
    from jaxch6.sweep.store import write_file

    data = to_jsonable(summary)
    write_file(out_path(out_dir) / f"{name}.json", json.dumps(data, indent=1) + "\n")
    return data


def save_figure(fig, path) -> Path:
    """Save ``fig`` as a PNG at ``path`` through :func:`jaxch6.sweep.store.write_file`, and close
    it.

    Raises:
        ConfigError: the file cannot be written.
    """
    import matplotlib.pyplot as plt

    from jaxch6.sweep.store import write_file

    try:
        return write_file(path, lambda f: fig.savefig(f, dpi=DPI, format="png"))
    finally:
        plt.close(fig)


def write_outputs(out_dir, name: str, fig, summary: dict) -> dict:
    """Save ``fig`` as ``<name>.png`` and ``summary`` as ``<name>.json``; return the JSON dict.

    Raises:
        ConfigError: a file cannot be written.
    """
    save_figure(fig, out_path(out_dir) / f"{name}.png")
    return write_json(out_dir, name, summary)


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, never a window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class Timer:
    """Wall-clock seconds of a block: ``with Timer() as t: ...; t.seconds``."""

    def __enter__(self):
        self._t0 = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc):
        self.seconds = round(time.perf_counter() - self._t0, 3)
        return False


def load_digits(n_train: int | None = None, *, source: str = "auto"):
    """MNIST through :func:`jaxch6.data.load` (``load_mnist``'s loader; embedded sample offline).

    Returns ``(x_train, t_train, x_test, t_test, info)`` as NumPy arrays (float32 images in
    [0, 1], int32 labels), the training set cut to its first ``n_train`` digits as the book does
    (``x_train[:n]``), and ``info``: what was used, for the JSON.
    """
    from jaxch6.data import load

    loaded = load("mnist", normalize=True, flatten=True, one_hot_label=False, source=source)
    (x_train, t_train), (x_test, t_test) = loaded.train, loaded.test
    available = int(x_train.shape[0])
    if n_train is not None:
        x_train, t_train = x_train[:n_train], t_train[:n_train]
    info = {
        "source_requested": source,
        "source": loaded.source,
        "describe": loaded.describe(),
        "train_available": available,
        "train_used": int(x_train.shape[0]),
        "test_used": int(x_test.shape[0]),
        "book_train": BOOK_MNIST_TRAIN,
        "book_test": BOOK_MNIST_TEST,
    }
    return (
        np.asarray(x_train, np.float32),
        np.asarray(t_train, np.int32),
        np.asarray(x_test, np.float32),
        np.asarray(t_test, np.int32),
        info,
    )


def band(values, axis: int = 0):
    """Mean, min and max over ``axis`` (the seeds): the line and band of the figures."""
    values = np.asarray(values, dtype=np.float64)
    return values.mean(axis=axis), values.min(axis=axis), values.max(axis=axis)


#: XLA options that roughly halve CPU compile time (at some run-time cost): the quick runs,
#: whose time is mostly compilation, use them.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def jit_run(fn, *args, fast_compile: bool = False):
    """``jax.jit(fn)(*args)``, compiled with :data:`FAST_COMPILE` when ``fast_compile``."""
    import jax

    lowered = jax.jit(fn).lower(*args)
    compiled = lowered.compile(compiler_options=FAST_COMPILE) if fast_compile else lowered.compile()
    return compiled(*args)


def train_lanes(config, x_train, t_train, x_eval, t_eval, keys, hparams: dict,
                *, fast_compile: bool = False):
    """One :func:`jaxch6.train.make_train_fn` run per lane: ``keys`` (lanes,) and every value of
    ``hparams`` (lanes,) vmapped, the data shared; returns the History as NumPy arrays."""
    import jax
    import jax.numpy as jnp

    from jaxch6.train import Data, History, make_train_fn

    data = Data(jnp.asarray(x_train), jnp.asarray(t_train), jnp.asarray(x_eval),
                jnp.asarray(t_eval))
    fn = make_train_fn(config, int(x_train.shape[0]), int(x_eval.shape[0]))
    hp = {k: jnp.asarray(v, jnp.float32) for k, v in hparams.items()}
    out = jit_run(jax.vmap(fn, in_axes=(0, 0, None)), keys, hp, data, fast_compile=fast_compile)
    return History(*(np.asarray(a) for a in out))


class fast_compile:  # noqa: N801 - used as a context manager, like jax's own config contexts
    """Within the block, compile with JAX's ``jax_disable_most_optimizations`` (restored after).

    For code that compiles its own programs (:func:`jaxch6.sweep.run`); the flag is read when a
    program is compiled. ``fast_compile(False)`` changes nothing.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled

    def __enter__(self):
        import jax

        self._old = jax.config.read("jax_disable_most_optimizations")
        if self.enabled:
            jax.config.update("jax_disable_most_optimizations", True)
        return self

    def __exit__(self, *exc):
        import jax

        jax.config.update("jax_disable_most_optimizations", self._old)
        return False
