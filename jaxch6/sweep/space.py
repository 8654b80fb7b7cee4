"""Search spaces: which hyperparameters a sweep samples, on which range, and how.

A space is a tuple of :class:`Param`. Each trial ``i`` of a sweep with seed ``s`` draws its values
from its own key, so a trial's hyperparameters depend only on ``(s, i)`` and the ranges — never on
how trials are chunked or placed on devices::

    trial_key  = fold_in(key(s), i)
    sample_key = fold_in(trial_key, 0)        # training uses fold_in(trial_key, 1)
    u_j        = uniform(fold_in(sample_key, j))  in [0, 1)   for the j-th parameter
    value_j    = 10 ** (log10 low + u_j (log10 high - log10 low))   ("log")
               = low + u_j (high - low)                             ("lin")

The book (``ch06/hyperparameter_optimization.py``) draws ``lr = 10 ** U(-6, -2)`` and
``weight_decay = 10 ** U(-8, -4)``: :data:`BOOK_SPACE`.

Narrowing (the book's step 3): :func:`narrow` shrinks each range to the span of the best trials'
values (min..max, in log space for log parameters).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from jaxch6.errors import ConfigError
from jaxch6.hparams import check_range

#: Hyperparameters of the training itself (beside the optimizer's own).
TRAINING_HYPERPARAMETERS = ("weight_decay", "dropout_ratio", "init_scale")

#: Short names accepted on the command line.
ALIASES = {
    "lr": "learning_rate",
    "wd": "weight_decay",
    "weight-decay": "weight_decay",
    "dropout": "dropout_ratio",
}

#: How the book's printout names a hyperparameter ("lr:…, weight decay:…").
DISPLAY_NAMES = {"learning_rate": "lr", "weight_decay": "weight decay"}

SCALES = ("log", "lin")


class Param(NamedTuple):
    """One searched hyperparameter: ``name`` sampled on ``[low, high)`` with ``scale``."""

    name: str
    low: float
    high: float
    scale: str = "log"

    def to_dict(self) -> dict:
        return {"name": self.name, "low": self.low, "high": self.high, "scale": self.scale}

    def spec(self) -> str:
        """The command-line form, ``name=low:high:scale``."""
        return f"{self.name}={self.low!r}:{self.high!r}:{self.scale}"


#: The book's search: lr = 10^U(-6, -2), weight decay = 10^U(-8, -4).
BOOK_SPACE = (
    Param("learning_rate", 1e-6, 1e-2, "log"),
    Param("weight_decay", 1e-8, 1e-4, "log"),
)


def canonical_name(name: str) -> str:
    """``lr`` → ``learning_rate`` etc.; other names unchanged."""
    return ALIASES.get(name.strip(), name.strip())


def display_name(name: str) -> str:
    return DISPLAY_NAMES.get(name, name)


def searchable_names(optimizer: str, schedule: str = "constant") -> tuple[str, ...]:
    """The float hyperparameters a sweep with ``optimizer`` (and a learning-rate
    ``schedule``) may search."""
    from jaxch6.optimizers import HYPERPARAMETERS

    if optimizer not in HYPERPARAMETERS:
        known = ", ".join(sorted(HYPERPARAMETERS))
        raise ConfigError(f"unknown optimizer {optimizer!r} (choose from {known})")
    names = tuple(HYPERPARAMETERS[optimizer]) + TRAINING_HYPERPARAMETERS
    if schedule != "constant":
        from jaxch6 import schedules

        if schedule not in schedules.SCHEDULES:
            raise ConfigError(f"unknown schedule {schedule!r} (choose from "
                              f"{', '.join(schedules.SCHEDULES)})")
        names += tuple(schedules.DEFAULTS[schedule])
    return names


def check_param(param: Param) -> Param:
    """Validate one range; returns it with float bounds. Raises ConfigError (one line)."""
    name, low, high, scale = param
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        raise ConfigError(f"--space {name}: bounds must be numbers, got {low!r}:{high!r}") from None
    if scale not in SCALES:
        raise ConfigError(f"--space {name}: scale must be 'log' or 'lin', got {scale!r}")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(f"--space {name}: bounds must be finite, got {low!r}:{high!r}")
    if low >= high:
        raise ConfigError(f"--space {name}: low must be below high, got {low!r}:{high!r}")
    if scale == "log" and low <= 0:
        raise ConfigError(
            f"--space {name}: a log range needs 0 < low < high, got {low!r}:{high!r} "
            "(use ':lin' for a linear range)"
        )
    return Param(name, low, high, scale)


def parse_param(text: str) -> Param:
    """Parse ``NAME=LOW:HIGH[:log|:lin]`` (default ``log``), e.g. ``lr=1e-6:1e-2:log``."""
    if "=" not in text:
        raise ConfigError(f"--space {text!r}: expected NAME=LOW:HIGH[:log|:lin]")
    name, _, rng = text.partition("=")
    name = canonical_name(name)
    if not name:
        raise ConfigError(f"--space {text!r}: missing the hyperparameter name")
    parts = rng.split(":")
    if len(parts) not in (2, 3):
        raise ConfigError(f"--space {text!r}: expected NAME=LOW:HIGH[:log|:lin]")
    scale = parts[2].strip().lower() if len(parts) == 3 else "log"
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise ConfigError(
            f"--space {text!r}: bounds must be numbers, got {parts[0]!r}:{parts[1]!r}"
        ) from None
    return check_param(Param(name, low, high, scale))


def check_space(space: Iterable[Param], optimizer: str, *,
                schedule: str = "constant") -> tuple[Param, ...]:
    """Validate every range and name against ``optimizer``'s (and ``schedule``'s)
    hyperparameters."""
    allowed = searchable_names(optimizer, schedule)
    out: list[Param] = []
    seen: set[str] = set()
    for p in space:
        p = Param(*p) if not isinstance(p, Param) else p
        p = check_param(p._replace(name=canonical_name(p.name)))
        if p.name not in allowed:
            raise ConfigError(
                f"--space {p.name}: not a hyperparameter of optimizer {optimizer!r} "
                f"(choose from {', '.join(allowed)})"
            )
        check_range(p.name, p.low, p.high)
        if p.name in seen:
            raise ConfigError(f"--space {p.name}: given twice")
        seen.add(p.name)
        out.append(p)
    if not out:
        raise ConfigError("the search space is empty: give at least one --space")
    return tuple(out)


def space_from_dicts(items: Sequence[Mapping]) -> tuple[Param, ...]:
    return tuple(Param(d["name"], float(d["low"]), float(d["high"]), d["scale"]) for d in items)


def trial_keys(seed: int, trial_ids: Sequence[int]):
    """``fold_in(key(seed), i)`` for each trial id, as raw key data of shape ``(n, 2)`` uint32."""
    import jax

    ids = np.asarray(trial_ids, dtype=np.uint32)
    base = jax.random.key(int(seed))
    keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(ids)
    return np.asarray(jax.random.key_data(keys))


def _uniforms(seed: int, trial_ids: Sequence[int], n_params: int) -> np.ndarray:
    """(n_trials, n_params) float32 uniforms in [0, 1) from each trial's sampling key."""
    import jax

    data = trial_keys(seed, trial_ids)

    def one(kd):
        sample_key = jax.random.fold_in(jax.random.wrap_key_data(kd), 0)
        return jax.vmap(lambda j: jax.random.uniform(jax.random.fold_in(sample_key, j)))(
            np.arange(n_params, dtype=np.uint32)
        )

    if len(data) == 0:
        return np.zeros((0, n_params), np.float32)
    return np.asarray(jax.jit(jax.vmap(one))(data))


def values_from_uniforms(space: Sequence[Param], u: np.ndarray) -> dict[str, np.ndarray]:
    """Map uniforms ``u`` (n, len(space)) to hyperparameter values (float64), per the scales."""
    u = np.asarray(u, dtype=np.float64)
    out = {}
    for j, p in enumerate(space):
        if p.scale == "log":
            lo, hi = math.log10(p.low), math.log10(p.high)
            out[p.name] = 10.0 ** (lo + u[:, j] * (hi - lo))
        else:
            out[p.name] = p.low + u[:, j] * (p.high - p.low)
    return out


def sample(space: Sequence[Param], trial_ids: Sequence[int], *, seed: int) -> dict[str, np.ndarray]:
    """Hyperparameter values (float64 arrays, one entry per trial id) for the given trials.

    A trial's values depend only on ``seed``, its id and the ranges (see the module docstring).
    """
    return values_from_uniforms(space, _uniforms(seed, trial_ids, len(space)))


def narrow(space: Sequence[Param], best: Sequence[Mapping[str, float]]) -> tuple[Param, ...]:
    """Shrink each range to the span of the given trials' values (the book's step 3).

    ``best`` holds the hyperparameters of the top trials. A log parameter's new range is
    ``[min, max]`` of those values (the span in log space); a linear one likewise. A parameter
    whose values coincide (fewer than two distinct values) keeps its range.
    """
    out = []
    for p in space:
        vals = [float(b[p.name]) for b in best if p.name in b]
        lo, hi = (min(vals), max(vals)) if vals else (p.low, p.high)
        if not lo < hi:
            out.append(p)
            continue
        out.append(Param(p.name, lo, hi, p.scale))
    return tuple(out)


def lane_keys(seed: int, trial_ids: Sequence[int], repeats: Sequence[int] | None = None):
    """Raw training keys ``(n, 2)`` uint32 of lanes: trial ``i``'s is
    ``fold_in(fold_in(key(seed), i), 1)``; its repeat ``r >= 1`` folds ``r`` in once more
    (repeat 0 is the trial's own key, so one repeat is the plain sweep)."""
    import jax

    ids = np.asarray(trial_ids, dtype=np.uint32)
    reps = np.zeros(len(ids), np.uint32) if repeats is None else np.asarray(repeats, np.uint32)
    if len(ids) == 0:
        return np.zeros((0, 2), np.uint32)

    def one(i, r):
        k = jax.random.fold_in(jax.random.fold_in(jax.random.key(int(seed)), i), 1)
        k = jax.lax.cond(r > 0, lambda: jax.random.fold_in(k, r), lambda: k)
        return jax.random.key_data(k)

    return np.asarray(jax.jit(jax.vmap(one))(ids, reps))


def child_key(seed: int, parent: int, epoch: int, child: int, repeat: int = 0) -> np.ndarray:
    """The training key ``(2,)`` a population-based-training child continues with when it
    copies ``parent``'s run state at ``epoch``: ``fold_in`` of the parent's id, the epoch and
    the child's id into ``fold_in(key(seed), 2)`` (and the repeat, for ``repeat >= 1``), so a
    PBT run is reproducible."""
    import jax

    k = jax.random.fold_in(jax.random.key(int(seed)), 2)
    for v in (parent, epoch, child, *([repeat] if repeat else [])):
        k = jax.random.fold_in(k, int(v))
    return np.asarray(jax.random.key_data(k))
