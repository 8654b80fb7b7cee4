"""``load_mnist`` / ``load_fashion_mnist``: the book's loader over three offline-safe sources.

Sources (``source=``):

- ``"idx"``: the four standard IDX files (``train-images-idx3-ubyte`` …, plain or ``.gz``) in
  ``data_dir`` or ``$JAXCH6_DATA_DIR``; for Fashion-MNIST also Debian's
  ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``).
- ``"tfds"``: tensorflow-datasets' ``mnist`` / ``fashion_mnist`` (imported lazily). Never
  downloads unless ``download=True``; reading needs TensorFlow unless the data were prepared in
  the ``array_record`` format.
- ``"sample"``: the embedded real MNIST sample (4,000 train + 1,000 test digits; MNIST only).
- ``"auto"`` (default): the first available without the network. With a data directory
  (``data_dir`` or ``$JAXCH6_DATA_DIR``): IDX files there, else prepared tfds data there, else
  DataError. Without one: IDX files in the Debian directory (Fashion-MNIST), else prepared tfds
  data in tfds' default directory, else the sample (MNIST) or DataError (Fashion-MNIST).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxch6 import names
from jaxch6.data import idx as _idx
from jaxch6.data import sample as _sample
from jaxch6.data import tfds_source as _tfds
from jaxch6.errors import ConfigError, DataError

DATASETS = names.DATASETS
SOURCES = names.SOURCES
DATA_DIR_ENV = "JAXCH6_DATA_DIR"
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
NUM_CLASSES = 10

logger = logging.getLogger("jaxch6.data")


class LoadedData(NamedTuple):
    """A loaded dataset and where it came from.

    Attributes:
        train: the ``(x, t)`` training pair, formatted as asked (see :func:`load`).
        test: the ``(x, t)`` test pair.
        dataset: ``"mnist"`` or ``"fashion_mnist"``.
        source: ``"idx"``, ``"tfds"`` or ``"sample"`` (the one actually used, also under
            ``"auto"``).
        location: the directory or resource read.
        note: why ``"auto"`` skipped earlier sources (``""`` otherwise).
    """

    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    dataset: str
    source: str
    location: str
    note: str = ""

    def describe(self) -> str:
        """One line: dataset, source, location, sizes (and why auto skipped other sources)."""
        line = (
            f"{self.dataset}: source={self.source} ({self.location}); "
            f"{len(self.train[0])} train + {len(self.test[0])} test images"
        )
        return f"{line}; {self.note}" if self.note else line


def _data_dir(data_dir) -> tuple[Path | None, str]:
    if data_dir is not None:
        return Path(data_dir), "data_dir"
    env = os.environ.get(DATA_DIR_ENV, "")
    return (Path(env), f"${DATA_DIR_ENV}") if env else (None, "")


def _format(x, t, *, normalize: bool, flatten: bool, one_hot_label: bool):
    n = x.shape[0]
    rows, cols = x.shape[-2:] if x.ndim == 3 else (28, 28)
    x = x.reshape(n, rows * cols) if flatten else x.reshape(n, 1, rows, cols)
    if normalize:
        x = x.astype(np.float32) / np.float32(255.0)
    if one_hot_label:
        t = np.eye(NUM_CLASSES, dtype=np.float32)[t]
    else:
        t = t.astype(np.int32)
    return x, t


def _from_idx(dataset: str, directory: Path, origin: str):
    if not directory.is_dir():
        raise DataError(f"{directory}: data directory not found (from {origin})")
    return _idx.load_idx_directory(directory), str(directory)


def _from_sample(dataset: str):
    if dataset != "mnist":
        raise DataError(
            f"{dataset}: there is no embedded sample (MNIST only); use source='idx' "
            "(e.g. apt-get install dataset-fashion-mnist) or source='tfds'"
        )
    return _sample.load_sample(), f"embedded sample: {_sample.SAMPLE_ORIGIN}"


def _resolve(dataset: str, source: str, data_dir, download: bool):
    """Return (((x, t), (x, t)) uint8, location, source, note)."""
    directory, origin = _data_dir(data_dir)
    if source == "idx":
        if directory is None:
            if dataset == "fashion_mnist" and DEBIAN_FASHION_MNIST_DIR.is_dir():
                directory, origin = DEBIAN_FASHION_MNIST_DIR, "Debian dataset-fashion-mnist"
            else:
                hint = (" or apt-get install dataset-fashion-mnist"
                        if dataset == "fashion_mnist" else "")
                raise DataError(
                    f"idx: no data directory for {dataset}: pass data_dir or set "
                    f"${DATA_DIR_ENV}{hint}"
                )
        return (*_from_idx(dataset, directory, origin), "idx", "")
    if source == "tfds":
        arrays, location = _tfds.load_tfds(dataset, directory, download=download)
        return arrays, location, "tfds", ""
    if source == "sample":
        if data_dir is not None:
            raise ConfigError("source='sample' reads the embedded sample: do not pass data_dir")
        return (*_from_sample(dataset), "sample", "")

    # auto
    if directory is not None:
        if not directory.is_dir():
            raise DataError(f"{directory}: data directory not found (from {origin})")
        if _idx.find_idx_files(directory) is not None:
            return (*_from_idx(dataset, directory, origin), "idx", "")
        if download or _tfds.tfds_prepared(dataset, directory):
            arrays, location = _tfds.load_tfds(dataset, directory, download=download)
            return arrays, location, "tfds", ""
        raise DataError(
            f"{directory}: neither the four IDX files nor prepared tfds {dataset} data "
            f"(from {origin})"
        )
    skipped = []
    if dataset == "fashion_mnist":
        if DEBIAN_FASHION_MNIST_DIR.is_dir() and _idx.find_idx_files(DEBIAN_FASHION_MNIST_DIR):
            arrays, location = _from_idx(dataset, DEBIAN_FASHION_MNIST_DIR, "Debian package")
            return arrays, location, "idx", ""
        skipped.append(f"no IDX files in {DEBIAN_FASHION_MNIST_DIR}")
    else:
        skipped.append(f"no IDX directory (data_dir / ${DATA_DIR_ENV})")
    if download or _tfds.tfds_prepared(dataset, None):
        arrays, location = _tfds.load_tfds(dataset, None, download=download)
        return arrays, location, "tfds", "; ".join(skipped)
    skipped.append("no prepared tfds data")
    if dataset == "mnist":
        return (*_from_sample(dataset), "sample", "; ".join(skipped))
    raise DataError(
        f"{dataset}: no source available offline ({'; '.join(skipped)}; no embedded sample): "
        f"set ${DATA_DIR_ENV} to a directory of IDX files, apt-get install "
        "dataset-fashion-mnist, or, where there is a network, load with download=True "
        "(--download on the command line)"
    )


def load(
    dataset: str = "mnist",
    *,
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    log: Callable[[str], None] | None = None,
) -> LoadedData:
    """Load a dataset and say where it came from.

    All NumPy (no JAX here).

    Args:
        dataset: ``"mnist"`` or ``"fashion_mnist"``.
        normalize: float32 ``x / 255`` in [0, 1], else uint8 0..255.
        flatten: images of shape ``(N, 784)``, else ``(N, 1, 28, 28)``.
        one_hot_label: labels as float32 ``(N, 10)`` one-hot rows, else int32 ``(N,)`` class
            indices 0..9.
        source: ``"auto"``, ``"idx"``, ``"tfds"`` or ``"sample"`` (module docstring).
        data_dir: the IDX directory, or tfds' data directory (default ``$JAXCH6_DATA_DIR``).
        download: let tfds download (the only path that may use the network).
        log: called with the one-line :meth:`LoadedData.describe` (default:
            ``logging.getLogger("jaxch6.data").info``).

    Returns:
        A :class:`LoadedData`.

    Raises:
        ConfigError: an unknown dataset or source.
        DataError: missing, unavailable or corrupt data (one line naming the file or source).

    Example:
        ```python
        loaded = load("mnist", source="sample")
        (x_train, t_train), (x_test, t_test) = loaded.train, loaded.test
        ```
    """
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if source not in SOURCES:
        raise ConfigError(f"unknown data source {source!r}; choose one of {', '.join(SOURCES)}")
    (train, test), location, used, note = _resolve(dataset, source, data_dir, bool(download))
    fmt = {"normalize": normalize, "flatten": flatten, "one_hot_label": one_hot_label}
    result = LoadedData(
        _format(*train, **fmt), _format(*test, **fmt), dataset, used, location, note
    )
    (log or logger.info)(result.describe())
    return result


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    log: Callable[[str], None] | None = None,
):
    """Load MNIST with the book's signature.

    Full MNIST is 60,000 + 10,000 images; the embedded sample (``source="sample"``, or
    ``"auto"`` with nothing else available) is 4,000 + 1,000. Unlike the book's
    ``dataset/mnist.py``, which downloads from the web into a pickle, nothing is downloaded
    unless ``download=True`` (tfds), and labels are int32 (book: uint8).

    Args:
        normalize: as in :func:`load`.
        flatten: as in :func:`load`.
        one_hot_label: as in :func:`load`.
        source: as in :func:`load`.
        data_dir: as in :func:`load`.
        download: as in :func:`load`.
        log: as in :func:`load`.

    Returns:
        ``((x_train, t_train), (x_test, t_test))`` NumPy arrays; use :func:`load` to also get
        which source was used.

    Raises:
        ConfigError: as in :func:`load`.
        DataError: as in :func:`load`.

    Example:
        ```python
        (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
        ```
    """
    data = load(
        "mnist", normalize=normalize, flatten=flatten, one_hot_label=one_hot_label,
        source=source, data_dir=data_dir, download=download, log=log,
    )
    return data.train, data.test


def load_fashion_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    log: Callable[[str], None] | None = None,
):
    """Load Fashion-MNIST (60,000 + 10,000 28×28 images, 10 classes) like :func:`load_mnist`.

    Args:
        normalize: as in :func:`load`.
        flatten: as in :func:`load`.
        one_hot_label: as in :func:`load`.
        source: as in :func:`load`.
        data_dir: as in :func:`load`.
        download: as in :func:`load`.
        log: as in :func:`load`.

    Returns:
        ``((x_train, t_train), (x_test, t_test))`` NumPy arrays.

    Raises:
        ConfigError: as in :func:`load`.
        DataError: as in :func:`load`; also, as there is no embedded sample, for
            ``source="sample"``, and for ``"auto"`` when neither IDX files nor prepared tfds
            data are available.
    """
    data = load(
        "fashion_mnist", normalize=normalize, flatten=flatten, one_hot_label=one_hot_label,
        source=source, data_dir=data_dir, download=download, log=log,
    )
    return data.train, data.test
