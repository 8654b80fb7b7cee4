"""Class labels: the check every consumer of labels (training, the IDX reader) shares."""

from __future__ import annotations

import numpy as np

from jaxch6.errors import ConfigError, DataError


def check_labels(t, n_classes: int | None = None, *, name: str = "labels") -> int:
    """Check that ``t`` holds class indices and return the number of classes.

    Args:
        t: a 1-D array-like of labels.
        n_classes: labels must lie in ``0..n_classes-1``; None: any non-negative label, and the
            number of classes is ``max(t) + 1``.
        name: what the labels are (a file, a field), named in messages.

    Returns:
        ``n_classes`` if given, else ``max(t) + 1``.

    Raises:
        DataError: the labels are not a 1-D integer array (one-hot labels included), a label is
            negative or not below ``n_classes``, or there are none to count classes from.
        ConfigError: ``n_classes`` is not a positive integer.
    """
    if n_classes is not None and (isinstance(n_classes, bool) or n_classes < 1
                                  or not isinstance(n_classes, (int, np.integer))):
        raise ConfigError(f"n_classes must be a positive integer, got {n_classes!r}")
    t = np.asarray(t)
    if t.ndim != 1:
        raise DataError(f"{name}: expected a 1-D array of class indices, found shape {t.shape}"
                        " (for one-hot labels pass t.argmax(axis=1))")
    if not np.issubdtype(t.dtype, np.integer):
        raise DataError(f"{name}: labels must be integers, found dtype {t.dtype}")
    if t.size == 0:
        if n_classes is None:
            raise DataError(f"{name}: no labels to count the classes of")
        return int(n_classes)
    low, high = int(t.min()), int(t.max())
    if low < 0:
        where = int(np.argmax(t < 0))
        raise DataError(f"{name}: label {low} is negative (first at index {where})")
    if n_classes is not None and high >= n_classes:
        where = int(np.argmax(t >= n_classes))
        raise DataError(f"{name}: label {high} outside 0..{int(n_classes) - 1} "
                        f"(first at index {where})")
    return int(n_classes) if n_classes is not None else high + 1
