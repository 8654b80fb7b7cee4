"""The admissible range of every float hyperparameter (standard library only, no JAX).

``BOUNDS[name] = (low, high, high_inclusive)``: a value v must satisfy ``low <= v`` and
``v < high`` (``v <= high`` when ``high_inclusive``); ``high=None`` means no upper bound. Used
on concrete values by :mod:`jaxch6.optimizers`, :mod:`jaxch6.schedules` and :mod:`jaxch6.train`
and on search ranges by :mod:`jaxch6.sweep.space`, so an impossible hyperparameter is a one-line
``ConfigError`` before anything is compiled (inside ``jit``/``vmap`` the values are traced and
cannot be checked). The names cover the update rules, the training and the learning-rate
schedules (``warmup_fraction``, ``final_lr_fraction``, ``lr_decay``).
"""

from __future__ import annotations

import math

from jaxch6.errors import ConfigError

BOUNDS: dict[str, tuple[float, float | None, bool]] = {
    "learning_rate": (0.0, None, False),
    "eps": (0.0, None, False),
    "momentum": (0.0, 1.0, False),
    "decay_rate": (0.0, 1.0, False),
    "rho": (0.0, 1.0, False),
    "beta1": (0.0, 1.0, False),
    "beta2": (0.0, 1.0, False),
    "weight_decay": (0.0, None, False),
    "dropout_ratio": (0.0, 1.0, False),
    "init_scale": (0.0, None, False),
    # learning-rate schedules (jaxch6.schedules)
    "warmup_fraction": (0.0, 1.0, False),
    "final_lr_fraction": (0.0, 1.0, True),
    "lr_decay": (0.0, 1.0, True),
}


def describe(name: str) -> str:
    """``"in [0, 1)"`` / ``">= 0"``: the admissible range of ``name`` in words."""
    low, high, inclusive = BOUNDS[name]
    if high is None:
        return f">= {low:g}"
    return f"in [{low:g}, {high:g}{']' if inclusive else ')'}"


def check_value(name: str, value) -> None:
    """Raise ConfigError if a concrete ``value`` (number or array) is not a finite number in
    ``name``'s range (names without bounds only need to be numbers)."""
    import numpy as np

    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if name not in BOUNDS:
        return
    low, high, inclusive = BOUNDS[name]
    ok = np.isfinite(a) & (a >= low)
    if high is not None:
        ok &= (a <= high) if inclusive else (a < high)
    if not np.all(ok):
        shown = a.item() if a.ndim == 0 else a.tolist()
        raise ConfigError(f"{name} must be {describe(name)}, got {shown}")


def check_range(name: str, low: float, high: float) -> None:
    """Raise ConfigError if a sampled range [low, high) reaches outside ``name``'s range."""
    if name not in BOUNDS:
        return
    lo, hi, _ = BOUNDS[name]
    if low < lo or (hi is not None and high > hi) or not math.isfinite(high):
        raise ConfigError(f"space {name}: the range {low!r}:{high!r} leaves its admissible "
                          f"values ({name} {describe(name)})")
