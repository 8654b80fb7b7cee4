r"""Weight initialisers of chapter 6: a fixed std, the book's Xavier and He, Glorot, zeros.

Every initialiser is a function ``init(key, shape, dtype=jnp.float32) -> Array`` — the protocol of
:mod:`jax.nn.initializers`, so each one can be used wherever JAX expects an initialiser (call it
as ``init(key=k, shape=s)`` to keep the key explicit). Weights are ``(n_in, n_out)`` as in the book
(``x @ W``): ``n_in = shape[-2]``, ``n_out = shape[-1]``. Biases are zeros.

| name (``get``) | rule | source |
|---|---|---|
| a number $s$ | $\mathcal{N}(0, s^2)$ | book (``weight_init_std=0.01``) |
| ``"xavier"`` / ``"sigmoid"`` | $\mathcal{N}(0, 1/n_{in})$ | book ("Xavier"; = LeCun normal) |
| ``"he"`` / ``"relu"`` | $\mathcal{N}(0, 2/n_{in})$ | book (He) |
| ``"glorot_normal"`` | $\mathcal{N}(0, 2/(n_{in} + n_{out}))$ | slides (Glorot & Bengio) |
| ``"glorot_uniform"`` | $\mathcal{U}(\pm\sqrt{6/(n_{in} + n_{out})})$ | slides |
| ``"he_uniform"`` | $\mathcal{U}(\pm\sqrt{6/n_{in}})$ | slides |
| ``"zeros"`` | $0$ | the symmetry problem (book 6.2.1) |

Every factory takes ``scale`` (default 1.0), a multiplier of the standard deviation (or of the
bounds) that may be a traced array: the ``init_scale`` hyperparameter of a sweep.

vs ``jax.nn.initializers``: the normal rules here draw a plain (untruncated) normal, like the
book; JAX's ``he_normal``/``glorot_normal``/``lecun_normal`` draw a *truncated* normal. With
``scale=1`` they equal, bit for bit, ``variance_scaling(s, mode, "normal" | "uniform")``:
``he_normal`` = (2, "fan_in", "normal"), ``xavier_normal`` = (1, "fan_in", "normal"),
``glorot_normal`` = (1, "fan_avg", "normal"), ``glorot_uniform`` = ``jax.nn.initializers
.glorot_uniform()``, ``he_uniform`` = ``jax.nn.initializers.he_uniform()``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxch6.errors import ConfigError

Initializer = Callable[..., jax.Array]

__all__ = [
    "Initializer",
    "NAMES",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "normal",
    "xavier_normal",
    "zeros",
]


def _fans(shape) -> tuple[float, float]:
    if len(shape) < 2:
        raise ConfigError(f"a weight initialiser needs a shape (n_in, n_out), got {tuple(shape)}")
    receptive = 1
    for d in shape[:-2]:
        receptive *= d
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _variance_scaling(variance_scale: float, mode: str, distribution: str, scale) -> Initializer:
    """Mirror of ``jax.nn.initializers.variance_scaling`` (same arithmetic), times ``scale``."""

    def init(key, shape, dtype=jnp.float32) -> jax.Array:
        fan_in, fan_out = _fans(shape)
        denominator = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2
        variance = jnp.array(variance_scale / denominator, dtype=dtype)
        if distribution == "normal":
            w = jax.random.normal(key, shape, dtype) * jnp.sqrt(variance)
        else:
            w = jax.random.uniform(key, shape, dtype, -1) * jnp.sqrt(3 * variance)
        return w if _is_one(scale) else w * jnp.asarray(scale, dtype)

    return init


def _is_one(scale) -> bool:
    return isinstance(scale, int | float) and scale == 1


def normal(std=0.01, scale=1.0) -> Initializer:
    """Normal weights N(0, (scale·std)²): the book's ``weight_init_std=<number>``.

    Args:
        std: the standard deviation (may be traced).
        scale: multiplies it (may be traced).

    Returns:
        ``init(key, shape, dtype=float32)``.
    """

    def init(key, shape, dtype=jnp.float32) -> jax.Array:
        s = std if _is_one(scale) else std * scale
        return jax.random.normal(key, shape, dtype) * jnp.asarray(s, dtype)

    return init


def xavier_normal(scale=1.0) -> Initializer:
    """The book's "Xavier" (``'sigmoid'``/``'xavier'``): N(0, 1/n_in) (= LeCun, untruncated).

    Args:
        scale: multiplies the standard deviation (may be traced).

    Returns:
        ``init(key, shape, dtype=float32)``, which raises ConfigError for a shape of rank < 2.
    """
    return _variance_scaling(1.0, "fan_in", "normal", scale)


def he_normal(scale=1.0) -> Initializer:
    """The book's He (``'relu'``/``'he'``): N(0, 2/n_in), untruncated (JAX's truncates).

    Args:
        scale: multiplies the standard deviation (may be traced).

    Returns:
        ``init(key, shape, dtype=float32)``, which raises ConfigError for a shape of rank < 2.
    """
    return _variance_scaling(2.0, "fan_in", "normal", scale)


def glorot_normal(scale=1.0) -> Initializer:
    """Glorot normal (slides): N(0, 2/(n_in + n_out)), untruncated.

    Args:
        scale: multiplies the standard deviation (may be traced).

    Returns:
        ``init(key, shape, dtype=float32)``, which raises ConfigError for a shape of rank < 2.
    """
    return _variance_scaling(1.0, "fan_avg", "normal", scale)


def glorot_uniform(scale=1.0) -> Initializer:
    """Glorot uniform (slides): U(−b, b), b = √(6/(n_in + n_out)); = JAX's ``glorot_uniform``.

    Args:
        scale: multiplies the standard deviation (may be traced).

    Returns:
        ``init(key, shape, dtype=float32)``, which raises ConfigError for a shape of rank < 2.
    """
    return _variance_scaling(1.0, "fan_avg", "uniform", scale)


def he_uniform(scale=1.0) -> Initializer:
    """He uniform (slides): U(−b, b), b = √(6/n_in); = JAX's ``he_uniform``.

    Args:
        scale: multiplies the standard deviation (may be traced).

    Returns:
        ``init(key, shape, dtype=float32)``, which raises ConfigError for a shape of rank < 2.
    """
    return _variance_scaling(2.0, "fan_in", "uniform", scale)


def zeros(scale=1.0) -> Initializer:
    """All weights 0: every hidden unit stays identical (the symmetry problem of book 6.2.1).

    Args:
        scale: ignored.

    Returns:
        ``init(key, shape, dtype=float32)``.
    """
    del scale

    def init(key, shape, dtype=jnp.float32) -> jax.Array:
        del key
        return jnp.zeros(shape, dtype)

    return init


NAMES: dict[str, Callable[..., Initializer]] = {
    "he": he_normal,
    "relu": he_normal,
    "xavier": xavier_normal,
    "sigmoid": xavier_normal,
    "glorot_normal": glorot_normal,
    "glorot_uniform": glorot_uniform,
    "he_uniform": he_uniform,
    "zeros": zeros,
}


def get(spec, scale=1.0) -> Initializer:
    """Look up an initialiser by name or standard deviation.

    Args:
        spec: a key of :data:`NAMES` (case-insensitive), or a number ``σ`` for N(0, σ²) (the
            book's ``weight_init_std``; an array, even traced, works).
        scale: multiplies the standard deviation (may be traced).

    Returns:
        ``init(key, shape, dtype=float32)``.

    Raises:
        ConfigError: an unknown name, a non-number, or a negative std.

    Example:
        ```python
        w = get("he")(jax.random.key(0), (784, 100))
        ```
    """
    if isinstance(spec, str):
        factory = NAMES.get(spec.lower())
        if factory is None:
            raise ConfigError(
                f"unknown weight_init {spec!r}; use a number (the std) or one of {sorted(NAMES)}"
            )
        return factory(scale)
    if isinstance(spec, bool) or not (isinstance(spec, int | float) or hasattr(spec, "dtype")):
        raise ConfigError(f"weight_init must be a name or a number, got {spec!r}")
    if isinstance(spec, int | float) and not spec >= 0:
        raise ConfigError(f"weight_init std must be >= 0, got {spec}")
    return normal(spec, scale)
