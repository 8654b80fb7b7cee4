"""The book's network in a sweep: its data (the training digits split for validation; the test
digits, read once by :mod:`jaxch6.sweep.holdout`), a check of data given for it, and its lane's
memory estimate from its layer sizes.

:func:`jaxch6.sweep.task.book_task` is the network as a :class:`jaxch6.sweep.Task`; this module
holds what the runner, the task and the holdout all need of the book without importing each
other.
"""

from __future__ import annotations

import numpy as np

from jaxch6.errors import ConfigError, DataError
from jaxch6.names import OPTIMIZER_SLOTS
from jaxch6.sweep import plan
from jaxch6.sweep.config import SweepConfig
from jaxch6.sweep.groups import footprint_config


def load_data(config: SweepConfig):
    """Load the sweep's (train, validation) split.

    The book's split: the first ``train_size`` training digits, shuffled with the seed and
    split ``val_fraction`` for validation (500 → 400 / 100).

    Args:
        config: the sweep's settings (``dataset``, ``source``, ``data_dir``, ``train_size``,
            ``val_fraction``, ``seed``, ``dtype``).

    Returns:
        ``(data, info)``: a :class:`jaxch6.train.Data` of NumPy arrays and a dict describing
        where it came from (``dataset``, ``source``, ``location``, ``n_train``, ``n_val``).

    Raises:
        ConfigError: ``train_size`` exceeds the training set.
        DataError: the data cannot be loaded.
    """
    from jaxch6 import data as D
    from jaxch6.data.split import Data  # jaxch6.train.Data, without importing JAX

    loaded = D.load(config.dataset, source=config.source, data_dir=config.data_dir,
                    log=lambda line: None)
    (x, t), source = loaded.train, loaded.source
    if len(x) < config.train_size:
        raise ConfigError(f"train_size {config.train_size} exceeds the {len(x)} training "
                          f"digits of source {source!r}")
    x, t = x[: config.train_size], t[: config.train_size]
    (x_tr, t_tr), (x_val, t_val) = D.validation_split(x, t, config.val_fraction, seed=config.seed)
    dtype = np.dtype(config.dtype)
    data = Data(np.asarray(x_tr, dtype), np.asarray(t_tr, np.int32),
                np.asarray(x_val, dtype), np.asarray(t_val, np.int32))
    info = {"dataset": config.dataset, "source": source, "location": loaded.location,
            "n_train": len(x_tr), "n_val": len(x_val)}
    return data, info


def book_test_data(config, source: str):
    """The test split of the book's dataset from ``source`` (the one the sweep used):
    ``(x, t)`` with x of the config's dtype, t int32."""
    from jaxch6 import data as D

    loaded = D.load(config.dataset, source=source, data_dir=config.data_dir,
                    log=lambda line: None)
    x, t = loaded.test
    return np.asarray(x, np.dtype(config.dtype)), np.asarray(t, np.int32)


_DATA_NAMES = ("x_train", "t_train", "x_val", "t_val")


def check_book_data(data) -> None:
    """Check ``run(data=...)`` for the book's network: ``(x_train, t_train, x_val, t_val)``,
    each x a 2-D array of numbers (rows × features, one feature count), each t a 1-D array of
    integer labels with one per row.

    Raises:
        DataError: one line naming the first array that is not so.
    """
    if not isinstance(data, tuple | list) or len(data) != 4:
        raise DataError("data must be (x_train, t_train, x_val, t_val), got "
                        f"{type(data).__name__}" + (f" of {len(data)}" if hasattr(
                            data, "__len__") else ""))
    arrays = {}
    for name, a in zip(_DATA_NAMES, data, strict=True):
        try:
            arr = np.asarray(a)
        except (ValueError, TypeError) as exc:
            raise DataError(f"data {name}: not an array ({str(exc).splitlines()[0]})") from None
        want = "iu" if name.startswith("t") else "biuf"
        if arr.dtype.kind not in want:
            kind = "integer labels" if name.startswith("t") else "numbers"
            raise DataError(f"data {name} must hold {kind}, got dtype {arr.dtype}")
        arrays[name] = arr
    for x, t in (("x_train", "t_train"), ("x_val", "t_val")):
        if arrays[x].ndim != 2:
            raise DataError(f"data {x} must be 2-D (rows, features), got shape "
                            f"{arrays[x].shape}")
        if arrays[t].ndim != 1 or len(arrays[t]) != len(arrays[x]) or not len(arrays[t]):
            raise DataError(f"data {t} must be 1-D with one label per row of {x} "
                            f"({len(arrays[x])}), got shape {arrays[t].shape}")
    if arrays["x_train"].shape[1] != arrays["x_val"].shape[1]:
        raise DataError(f"data x_train has {arrays['x_train'].shape[1]} features, x_val "
                        f"{arrays['x_val'].shape[1]}")


def book_lane_bytes(config: SweepConfig, data) -> int:
    """The book network's lane estimate: :func:`jaxch6.sweep.plan.per_trial_bytes` of its layer
    sizes, for the largest of its searched static choices
    (:func:`jaxch6.sweep.groups.footprint_config`)."""
    fp = footprint_config(config)
    n_rows = len(data[0]) + len(data[2])
    layer_sizes = (int(np.prod(np.shape(data[0])[1:])), *fp.hidden, n_classes(data))
    return plan.per_trial_bytes(
        layer_sizes, batch_size=fp.batch_size, n_eval_rows=n_rows,
        optimizer_slots=OPTIMIZER_SLOTS[fp.optimizer], itemsize=np.dtype(fp.dtype).itemsize)


def n_classes(data) -> int:
    """How many classes the labels of ``data`` hold (:func:`jaxch6.train.n_classes_of`,
    imported on first call so that this module does not import JAX)."""
    from jaxch6.train import n_classes_of

    return n_classes_of(data)
