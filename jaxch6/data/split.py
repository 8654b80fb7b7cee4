"""The book's train/validation split (``ch06/hyperparameter_optimization.py``), seeded, and
:class:`Data`, the four arrays a training run takes."""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np

from jaxch6.errors import ConfigError


class Data(NamedTuple):
    """Training and evaluation sets: x (N, 784) floats, t (N,) int labels (NumPy or JAX
    arrays; also :class:`jaxch6.train.Data`)."""

    x_train: Any
    t_train: Any
    x_eval: Any
    t_eval: Any


def validation_split(x, t, fraction, *, seed):
    """Shuffle ``(x, t)`` together, then split off the first ``int(n * fraction)`` rows.

    With ``p = numpy.random.default_rng(seed).permutation(n)`` and ``k = int(n * fraction)``:
    ``x_val = x[p][:k]`` and ``x_train = x[p][k:]``; the same for ``t``. Works on any array
    shapes (rows on axis 0); the inputs are not modified.

    Book: ``validation_rate = 0.20``; ``shuffle_dataset`` (``np.random.permutation``, global
    state) then ``x_val = x_train[:validation_num]``, ``x_train = x_train[validation_num:]``.
    vs book: the shuffle takes an explicit ``seed`` (an int or a ``numpy.random.Generator``)
    instead of NumPy's global random state, so a split is reproducible.

    Args:
        x: the inputs (rows on axis 0).
        t: the labels, as many rows as ``x``.
        fraction: the validation fraction, in (0, 1).
        seed: an int or a ``numpy.random.Generator``.

    Returns:
        ``((x_train, t_train), (x_val, t_val))``.

    Raises:
        ConfigError: ``fraction`` not in (0, 1), x and t of different lengths, or an empty
            part.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real):
        raise ConfigError(f"validation fraction must be a number in (0, 1), got {fraction!r}")
    if not 0.0 < float(fraction) < 1.0:
        raise ConfigError(f"validation fraction must be in (0, 1), got {fraction}")
    if seed is None or isinstance(seed, bool):
        raise ConfigError("validation_split needs an explicit seed (an int or a Generator)")
    x, t = np.asarray(x), np.asarray(t)
    if x.ndim == 0 or t.ndim == 0 or x.shape[0] != t.shape[0]:
        raise ConfigError(
            f"x and t must have the same number of rows, got shapes {x.shape} and {t.shape}"
        )
    n = x.shape[0]
    k = int(n * fraction)
    if k == 0 or k == n:
        raise ConfigError(
            f"validation fraction {fraction} of {n} rows leaves an empty "
            f"{'validation' if k == 0 else 'training'} set"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    p = rng.permutation(n)
    x, t = x[p], t[p]
    return (x[k:], t[k:]), (x[:k], t[:k])
