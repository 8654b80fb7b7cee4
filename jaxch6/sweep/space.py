r"""Search spaces: which hyperparameters a sweep samples, on which range or choices, and how.

A space is a tuple of :class:`Param`, Optuna-style: float ranges (:meth:`Param.float`), integer
ranges (:meth:`Param.int`) and categorical choices (:meth:`Param.categorical`). Each trial ``i``
of a sweep with seed ``s`` draws its values from its own key, so a trial's hyperparameters
depend only on ``(s, i)`` and the space — never on how trials are chunked, grouped or placed on
devices:

```python
trial_key  = fold_in(key(s), i)
sample_key = fold_in(trial_key, 0)                # training uses fold_in(trial_key, 1)
u_j        = uniform(fold_in(sample_key, j))      # in [0, 1), for the j-th parameter
```

and, with $\ell$ = low, $h$ = high, the $j$-th parameter's value is

| kind | value |
|---|---|
| float, ``"log"`` | $10^{\log_{10}\ell + u_j(\log_{10} h - \log_{10}\ell)}$ |
| float, ``"lin"`` | $\ell + u_j(h - \ell)$ |
| int, ``"lin"`` ($\ell..h$) | $\ell + \lfloor u_j(h - \ell + 1)\rfloor$ |
| int, ``"log"`` ($\ell..h$) | $\lfloor \exp(\ln\ell + u_j(\ln(h + 1) - \ln\ell))\rfloor$ |
| categorical, $k$ choices | $\text{choices}[\lfloor u_j k\rfloor]$ |

The grid sampler (``sampler="grid"``) instead gives trial ``i`` the ``i``-th point of the
product of every parameter's values (categorical choices, every integer of an int range; the
first parameter varies slowest); float ranges have no grid (list values instead:
``lr=0.1,0.01``).

What a space holds, its names, checks and parsing, is :mod:`jaxch6.sweep.params` (its names are
importable from here too).

Narrowing (the book's step 3): :func:`narrow` shrinks each float or int range to the span of
the best trials' values (min..max, in log space for log parameters); choices are kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxch6.errors import ConfigError
from jaxch6.names import OWN_SAMPLERS
from jaxch6.sweep.keys import uniforms
from jaxch6.sweep.params import (  # noqa: F401 - the schema's names, importable from here too
    ALIASES,
    BOOK_SPACE,
    INT_NAMES,
    KINDS,
    SCALES,
    STATIC,
    TRAINING_HYPERPARAMETERS,
    Param,
    canonical_name,
    check_param,
    check_space,
    hidden_sizes,
    parse_param,
    searchable_names,
    space_from_dicts,
)


def grid_size(space: Sequence[Param]) -> int:
    """Count the points of the grid of ``space``.

    Raises:
        ConfigError: a float range (a grid needs listed values).
    """
    return math.prod(len(Param(*p).grid_values()) for p in space)


def grid(space: Sequence[Param], trial_ids: Sequence[int]) -> dict[str, np.ndarray]:
    """The grid points of ``trial_ids``.

    Trial ``i`` gets the ``i``-th point of the product of the parameters' values (the first
    parameter varies slowest).

    Args:
        space: the parameters (categorical or int).
        trial_ids: the trials.

    Returns:
        Each parameter's name to an array of its values, one per trial id.

    Raises:
        ConfigError: a float range, or a trial id past the grid.
    """
    values = [Param(*p).grid_values() for p in space]
    sizes = [len(v) for v in values]
    total = math.prod(sizes)
    out: dict[str, list] = {Param(*p).name: [] for p in space}
    for i in trial_ids:
        if not 0 <= int(i) < total:
            raise ConfigError(f"trial {i} is outside the grid of {total} points")
        rest = int(i)
        digits = []
        for size in reversed(sizes):
            rest, d = divmod(rest, size)
            digits.append(d)
        for p, vals, d in zip(space, values, reversed(digits), strict=True):
            out[Param(*p).name].append(vals[d])
    return {k: np.asarray(v) for k, v in out.items()}


def values_from_uniforms(space: Sequence[Param], u: np.ndarray) -> dict[str, np.ndarray]:
    """Map uniforms to hyperparameter values per the kinds and scales.

    A log float range maps ``u`` to ``10 ** (log10(low) + u (log10(high) - log10(low)))``, a
    linear one to ``low + u (high - low)`` (see the module docstring for the others).

    Args:
        space: the parameters.
        u: uniforms in ``[0, 1)`` of shape ``(n, len(space))``.

    Returns:
        Each name to ``n`` values: float64 for float ranges, int64 for int ranges, the
        choices' own type for categorical.
    """
    u = np.asarray(u, dtype=np.float64)
    out = {}
    for j, p in enumerate(space):
        p = Param(*p)
        if p.kind == "categorical":
            k = len(p.choices)
            idx = np.minimum(np.floor(u[:, j] * k).astype(np.int64), k - 1)
            out[p.name] = np.asarray(p.choices)[idx]
        elif p.kind == "int":
            if p.scale == "log":
                lo, hi = math.log(p.low), math.log(p.high + 1)
                v = np.floor(np.exp(lo + u[:, j] * (hi - lo)))
            else:
                v = p.low + np.floor(u[:, j] * (p.high - p.low + 1))
            out[p.name] = np.clip(v, p.low, p.high).astype(np.int64)
        elif p.scale == "log":
            lo, hi = math.log10(p.low), math.log10(p.high)
            out[p.name] = 10.0 ** (lo + u[:, j] * (hi - lo))
        else:
            out[p.name] = p.low + u[:, j] * (p.high - p.low)
    return out


def sample(space: Sequence[Param], trial_ids: Sequence[int], *, seed: int) -> dict[str, np.ndarray]:
    """Sample hyperparameter values for the given trials.

    A trial's values depend only on ``seed``, its id and the ranges (see the module docstring).

    Args:
        space: the parameters.
        trial_ids: the trials.
        seed: the sweep's seed.

    Returns:
        Each name to an array with one value per trial id (see :func:`values_from_uniforms`).

    Example:
        ```python
        values = sample(BOOK_SPACE, range(100), seed=0)
        values["learning_rate"].shape  # (100,)
        ```
    """
    return values_from_uniforms(space, uniforms(seed, trial_ids, len(space)))


def draw(space: Sequence[Param], trial_ids: Sequence[int], *, seed: int,
         sampler: str = "random", schedule: str = "constant") -> dict[int, dict[str, Any]]:
    """Draw each trial's hyperparameters as plain Python values.

    When the space searches ``optimizer``, a trial keeps only the traced names its optimizer
    uses.

    Args:
        space: the parameters.
        trial_ids: the trials.
        seed: the sweep's seed.
        sampler: ``"random"`` (:func:`sample`) or ``"grid"`` (:func:`grid`).
        schedule: the learning-rate schedule.

    Returns:
        Trial id to its hyperparameters (float, int or the choice).

    Raises:
        ConfigError: an unknown sampler, or a grid the trials do not fit.
    """
    ids = [int(i) for i in trial_ids]
    if sampler == "grid":
        values = grid(space, ids)
    elif sampler == "random":
        values = sample(space, ids, seed=seed)
    else:
        raise ConfigError(f"sampler must be one of {', '.join(OWN_SAMPLERS)}, got {sampler!r}")
    columns = {k: v.tolist() for k, v in values.items()}
    out = {i: {k: col[j] for k, col in columns.items()} for j, i in enumerate(ids)}
    if "optimizer" in columns:
        for hp in out.values():
            used = set(searchable_names(hp["optimizer"], schedule)) | set(STATIC)
            for k in [k for k in hp if k not in used]:
                del hp[k]
    return out


def narrow(space: Sequence[Param], best: Sequence[Mapping[str, Any]]) -> tuple[Param, ...]:
    """Shrink each range to the span of the given trials' values (the book's step 3).

    ``best`` holds the hyperparameters of the top trials. A log parameter's new range is
    ``[min, max]`` of those values (the span in log space); a linear one likewise; an int
    range likewise (both ends included). A parameter whose values coincide (fewer than two
    distinct values), and every categorical parameter, keeps its range or choices.

    Args:
        space: the parameters.
        best: the top trials' hyperparameters.

    Returns:
        The narrowed parameters.
    """
    out = []
    for p in space:
        p = Param(*p)
        vals = [b[p.name] for b in best if p.name in b]
        if p.kind == "categorical" or not vals:
            out.append(p)
            continue
        lo, hi = min(vals), max(vals)
        if not lo < hi:
            out.append(p)
        elif p.kind == "int":
            out.append(Param(p.name, int(lo), int(hi), p.scale, "int"))
        else:
            out.append(Param(p.name, float(lo), float(hi), p.scale))
    return tuple(out)
