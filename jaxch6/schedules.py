r"""Named learning-rate schedules for the training loop, with hyperparameters that may be traced.

:func:`make` turns a name, a peak learning rate, the number of updates of the run and the
schedule's own numbers into an optax schedule ``count -> lr``, ready for the ``learning_rate``
of any rule of :mod:`jaxch6.optimizers` (or of optax). With c the update count (0 on the first
update, optax's convention), T = ``total_steps``, lr the learning rate; a =
``final_lr_fraction``, d = ``lr_decay``, f = ``warmup_fraction``, W = round(f·T), D = T − W:

| name | learning rate at update $c$ |
|---|---|
| ``constant`` | $\mathrm{lr}$ |
| ``cosine`` | $\mathrm{lr}\,\big(a + (1 - a)\,\tfrac12(1 + \cos(\pi \min(c, T)/T))\big)$ |
| ``exponential`` | $\mathrm{lr}\,d^{c/T}$ |
| ``warmup_cosine`` | $\mathrm{lr}\,c/W$ for $c < W$ (linear warm-up from 0), then |
| | $\mathrm{lr}\,\big(a + (1 - a)\,\tfrac12(1 + \cos(\pi \min(c - W, D)/D))\big)$ |

``cosine`` is ``optax.cosine_decay_schedule(lr, T, alpha=a)``; ``exponential`` has the values
of ``optax.exponential_decay(lr, T, d)`` and ``warmup_cosine`` those of
``optax.warmup_cosine_decay_schedule(0, lr, W, T, end_value=a·lr)``, written here with ``jnp``
because those two optax functions branch in Python on ``decay_rate`` / ``peak_value`` and need
a concrete ``warmup_steps``. So every number — the learning rate and each schedule
hyperparameter — may be a traced JAX scalar: one compiled ``vmap`` sweep can search them
(``total_steps`` and the name are static). Concrete values are checked against
:data:`jaxch6.hparams.BOUNDS`; a bad one is a one-line :class:`~jaxch6.errors.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxch6 import names
from jaxch6.errors import ConfigError
from jaxch6.hparams import check_value

__all__ = ["DEFAULTS", "SCHEDULES", "SCHEDULE_HYPERPARAMETERS", "make"]

#: The schedule names :func:`make` knows.
SCHEDULES: tuple[str, ...] = names.SCHEDULES

#: The float hyperparameters of each schedule (each may be a traced scalar).
SCHEDULE_HYPERPARAMETERS: dict[str, tuple[str, ...]] = names.SCHEDULE_HYPERPARAMETERS

#: The default value of each schedule hyperparameter.
DEFAULTS: dict[str, dict[str, float]] = {
    "constant": {},
    "cosine": {"final_lr_fraction": 0.0},
    "exponential": {"lr_decay": 0.1},
    "warmup_cosine": {"warmup_fraction": 0.1, "final_lr_fraction": 0.0},
}


def _check(name: str, value: Any) -> None:
    if not isinstance(value, jax.core.Tracer):
        check_value(name, value)


def _check_total_steps(total_steps: Any) -> None:
    ok = isinstance(total_steps, int | np.integer) and not isinstance(total_steps, bool)
    if not ok or total_steps < 1:
        raise ConfigError(f"total_steps must be an integer >= 1, got {total_steps!r}")


def _cosine_factor(c: jax.Array, steps: jax.Array, alpha: Any) -> jax.Array:
    """``a + (1 − a)·½(1 + cos(π·min(c, steps)/steps))`` (c, steps ≥ 0; steps > 0)."""
    c = jnp.clip(c, 0, steps)
    return alpha + (1 - alpha) * 0.5 * (1 + jnp.cos(jnp.pi * c / steps))


def _warmup_cosine(lr: Any, total_steps: int, fraction: Any, alpha: Any) -> optax.Schedule:
    def schedule(count: jax.typing.ArrayLike) -> jax.Array:
        c = jnp.asarray(count)
        warmup = jnp.round(fraction * total_steps)
        decay = jnp.maximum(total_steps - warmup, 1)
        warm = lr * c / jnp.maximum(warmup, 1)
        return jnp.where(c < warmup, warm, lr * _cosine_factor(c - warmup, decay, alpha))

    return schedule


def _exponential(lr: Any, total_steps: int, decay: Any) -> optax.Schedule:
    def schedule(count: jax.typing.ArrayLike) -> jax.Array:
        # c / T in the default float type (optax divides an int32 count in float32)
        return lr * jnp.power(decay, jnp.asarray(count) / float(total_steps))

    return schedule


def make(
    name: str,
    learning_rate: jax.typing.ArrayLike,
    total_steps: int,
    hparams: Mapping[str, jax.typing.ArrayLike] | None = None,
) -> optax.Schedule:
    r"""The learning-rate schedule ``name`` as an optax schedule ``count -> lr``.

    Math ($c$ the update count from 0, $T$ = ``total_steps``): see the module docstring; e.g.
    ``cosine`` is $\mathrm{lr}\,\big(a + (1 - a)\,\tfrac12(1 + \cos(\pi \min(c, T)/T))\big)$.

    Args:
        name: one of :data:`SCHEDULES` (case-insensitive); static.
        learning_rate: the peak learning rate (≥ 0), possibly a traced scalar.
        total_steps: the number of updates of the run (an ``int`` ≥ 1); static.
        hparams: the schedule's numbers (:data:`SCHEDULE_HYPERPARAMETERS`), possibly traced
            scalars; missing ones take :data:`DEFAULTS`.

    Returns:
        A function of the update count, for ``learning_rate`` of :mod:`jaxch6.optimizers`.

    Raises:
        ConfigError: an unknown name or hyperparameter, a ``total_steps`` that is not an
            integer ≥ 1, or a concrete value outside its range (:data:`jaxch6.hparams.BOUNDS`).

    Example:
        >>> from jaxch6 import optimizers
        >>> lr = make("warmup_cosine", 0.1, 1000, {"warmup_fraction": 0.05})
        >>> tx = optimizers.momentum(lr, 0.9)
    """
    key = str(name).lower()
    if key not in SCHEDULES:
        raise ConfigError(f"unknown schedule {name!r}; valid: {', '.join(SCHEDULES)}")
    _check_total_steps(total_steps)
    _check("learning_rate", learning_rate)
    valid = SCHEDULE_HYPERPARAMETERS[key]
    unknown = sorted(set(hparams or {}) - set(valid))
    if unknown:
        raise ConfigError(f"unknown hyperparameter(s) {', '.join(unknown)} for schedule {key}; "
                          f"valid: {', '.join(valid) or 'none'}")
    hp = {**DEFAULTS[key], **(hparams or {})}
    for k, v in hp.items():
        _check(k, v)
    lr, steps = learning_rate, int(total_steps)
    if key == "constant":
        return optax.constant_schedule(lr)
    if key == "cosine":
        return optax.cosine_decay_schedule(lr, steps, alpha=hp["final_lr_fraction"])
    if key == "exponential":
        return _exponential(lr, steps, hp["lr_decay"])
    return _warmup_cosine(lr, steps, hp["warmup_fraction"], hp["final_lr_fraction"])
