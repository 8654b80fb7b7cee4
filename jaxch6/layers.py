"""Layers of the book's ``common/layers.py`` as pure functions: affine, activations, batch norm,
dropout.

Parameters, running statistics and PRNG keys are arguments; nothing is stored. Gradients come from
``jax.grad``; :mod:`jaxch6.reference.network_np` keeps the book's hand-written backward passes for
comparison.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxch6 import precision as _precision
from jaxch6.errors import ConfigError

__all__ = [
    "ACTIVATIONS",
    "BN_EPS",
    "BN_MOMENTUM",
    "DROPOUT_FORMS",
    "affine",
    "batch_norm",
    "batch_norm_init",
    "dropout",
    "relu",
    "sigmoid",
    "tanh",
]

#: The book writes ``10e-7`` (= 1e-6) in ``BatchNormalization``.
BN_EPS = 1e-6
#: Running-average momentum of the book's ``BatchNormalization``.
BN_MOMENTUM = 0.9
DROPOUT_FORMS = ("book", "inverted")


def affine(params: dict, x: jax.Array, *, precision: str = "fp32") -> jax.Array:
    """``x @ W + b`` (book ``Affine``).

    Args:
        params: ``{"W": (n_in, n_out), "b": (n_out,)}``.
        x: inputs ``(N, n_in)``.
        precision: the matmul's policy, ``"fp32"`` (default), ``"tf32"`` or ``"bf16"``
            (:mod:`jaxch6.precision`).

    Returns:
        ``(N, n_out)``.

    Raises:
        ConfigError: for an unknown precision.
    """
    return _precision.matmul(x, params["W"], precision) + params["b"]


def relu(x: jax.Array) -> jax.Array:
    """The rectifier max(0, x) (book ``Relu``).

    Its gradient is 0 at x = 0, like the book's (mask ``x <= 0``) and ``jax.nn.relu``'s
    (``jnp.maximum(x, 0)`` would give 0.5 there).

    Args:
        x: any array.

    Returns:
        An array like ``x``.
    """
    return jnp.where(x > 0, x, 0)


def sigmoid(x: jax.Array) -> jax.Array:
    """The logistic function 1 / (1 + exp(−x)) (book ``Sigmoid``).

    Args:
        x: any array.

    Returns:
        An array like ``x``.
    """
    return jax.nn.sigmoid(x)


def tanh(x: jax.Array) -> jax.Array:
    """The hyperbolic tangent tanh(x) (slides; not in the book's ``MultiLayerNetExtend``).

    Args:
        x: any array.

    Returns:
        An array like ``x``.
    """
    return jnp.tanh(x)


ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh}


def batch_norm_init(n: int, dtype=jnp.float32) -> tuple[dict, dict]:
    """Initialise a batch-norm layer of ``n`` units.

    The book starts its running mean *and variance* at zeros (``np.zeros(D)``), not at 1 as
    ``flax.linen.BatchNorm`` does.

    Args:
        n: the units.
        dtype: the arrays' dtype.

    Returns:
        ``(params, stats)``: ``{"gamma": 1, "beta": 0}`` and ``{"mean": 0, "var": 0}``, each
        of shape ``(n,)``.
    """
    params = {"gamma": jnp.ones((n,), dtype), "beta": jnp.zeros((n,), dtype)}
    stats = {"mean": jnp.zeros((n,), dtype), "var": jnp.zeros((n,), dtype)}
    return params, stats


def batch_norm(
    params: dict,
    stats: dict,
    x: jax.Array,
    *,
    train: bool,
    momentum=BN_MOMENTUM,
    eps=BN_EPS,
) -> tuple[jax.Array, dict]:
    r"""Batch normalisation of ``x`` (N, D) over the batch axis (book ``BatchNormalization``).

    Training (biased variance; ``m`` the momentum):

    $$
    \begin{aligned}
    \mu &= \operatorname{mean}(x, 0), \qquad \sigma^2 = \operatorname{mean}((x - \mu)^2, 0) \\
    y &= \gamma\,(x - \mu) / \sqrt{\sigma^2 + \epsilon} + \beta \\
    \text{mean} &\leftarrow m\,\text{mean} + (1 - m)\,\mu, \qquad
    \text{var} \leftarrow m\,\text{var} + (1 - m)\,\sigma^2
    \end{aligned}
    $$

    Evaluation: $y = \gamma\,(x - \text{mean}) / \sqrt{\text{var} + \epsilon} + \beta$;
    statistics unchanged.

    Defaults are the book's: eps = 1e-6 (written ``10e-7``), momentum = 0.9. The running
    statistics are returned as a new pytree (never part of the trained parameters) and carry no
    gradient. For comparison, ``flax.linen.BatchNorm`` uses eps 1e-5, momentum 0.99 and
    starts var at 1.

    Args:
        params: ``{"gamma", "beta"}``, each ``(D,)``.
        stats: the running ``{"mean", "var"}``, each ``(D,)``.
        x: ``(N, D)``.
        train: batch statistics (True) or running ones (False); a Python bool, since it
            changes the computation.
        momentum: the running averages' momentum.
        eps: added to the variance.

    Returns:
        ``(y, stats)``: the normalised ``(N, D)`` and the new running statistics.
    """
    if train:
        mu = jnp.mean(x, axis=0)
        xc = x - mu
        var = jnp.mean(xc**2, axis=0)
        y = params["gamma"] * (xc / jnp.sqrt(var + eps)) + params["beta"]
        mu, var = jax.lax.stop_gradient(mu), jax.lax.stop_gradient(var)
        new_stats = {
            "mean": momentum * stats["mean"] + (1 - momentum) * mu,
            "var": momentum * stats["var"] + (1 - momentum) * var,
        }
        return y, new_stats
    xn = (x - stats["mean"]) / jnp.sqrt(stats["var"] + eps)
    return params["gamma"] * xn + params["beta"], stats


def dropout(
    x: jax.Array,
    *,
    ratio,
    train: bool,
    key: jax.Array | None = None,
    form: str = "book",
) -> jax.Array:
    """Dropout of a fraction ``ratio`` of the units (``ratio`` may be a traced array).

    ``form="book"`` (the book's ``Dropout``): training ``x · m`` with ``m = (u > ratio)``,
    ``u ~ U[0, 1)`` drawn from ``key``; test ``x · (1 − ratio)``.
    ``form="inverted"`` (PyTorch, Keras, Flax): training ``x · m / (1 − ratio)``; test ``x``.
    Both have the same expected activation in training and at test time.

    Args:
        x: the activations.
        ratio: the fraction dropped (may be traced).
        train: training (masks) or test (scaling).
        key: the mask's PRNG key (needed in training).
        form: ``"book"`` or ``"inverted"``.

    Returns:
        An array like ``x``.

    Raises:
        ConfigError: an unknown form, or training without a key.
    """
    if form not in DROPOUT_FORMS:
        raise ConfigError(f"unknown dropout form {form!r}; use one of {DROPOUT_FORMS}")
    if not train:
        return x * (1 - ratio) if form == "book" else x
    if key is None:
        raise ConfigError("dropout in training needs an explicit PRNG key (key=...)")
    mask = (jax.random.uniform(key, x.shape, x.dtype) > ratio).astype(x.dtype)
    if form == "book":
        return x * mask
    return x * mask / (1 - ratio)
