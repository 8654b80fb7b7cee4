"""Matmul precision policies: ``"fp32"``, ``"tf32"`` and ``"bf16"``.

Only the matrix products change; parameters, optimizer state, activations outside the matmuls,
the loss and the gradients stay float32 under every policy.

- ``"fp32"``: full float32 products (``precision=jax.lax.Precision.HIGHEST``). On the CPU this
  is the same computation, bit for bit, as a plain ``x @ w``. On GPUs with tensor cores (A100,
  H100) XLA's *default* float32 matmul already rounds its inputs to TensorFloat-32; ``"fp32"``
  turns that off, so a sweep means the same arithmetic on every platform.
- ``"tf32"``: ``precision=jax.lax.Precision.HIGH`` (JAX's name for it is ``"tensorfloat32"``):
  TensorFloat-32 inputs (10-bit mantissa), float32 accumulation on Ampere and later GPUs; three
  bfloat16 passes on TPUs; plain float32 on the CPU. It is what a plain ``x @ w`` does on an
  A100/H100.
- ``"bf16"``: both operands cast to bfloat16 (8-bit mantissa), accumulated and returned as
  float32 (``preferred_element_type=jnp.float32``), in the forward pass *and* in the two
  backward products (a :func:`jax.custom_vjp`: the incoming float32 cotangent is cast to
  bfloat16, the results are float32). The standard mixed-precision recipe: float32 master
  weights, bfloat16 tensor-core products.

Usage:

```python
y = precision.matmul(x, w, "bf16")   # x (..., n), w (n, m) -> float32 (..., m)
```
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxch6 import names
from jaxch6.errors import ConfigError

__all__ = ["PRECISIONS", "check", "lax_precision", "matmul"]

#: The matmul precision policies, fastest last.
PRECISIONS = names.PRECISIONS

_LAX = {"fp32": jax.lax.Precision.HIGHEST, "tf32": jax.lax.Precision.HIGH}


def check(precision: str) -> str:
    """Validate a precision name.

    Args:
        precision: one of :data:`PRECISIONS`.

    Returns:
        The same name.

    Raises:
        ConfigError: for any other value.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    return precision


def lax_precision(precision: str) -> jax.lax.Precision | None:
    """The ``jax.lax.Precision`` of a float32 policy (None for ``"bf16"``, which casts instead).

    Args:
        precision: one of :data:`PRECISIONS`.

    Returns:
        ``Precision.HIGHEST`` for ``"fp32"``, ``Precision.HIGH`` for ``"tf32"``, None for
        ``"bf16"``.

    Raises:
        ConfigError: for an unknown name.
    """
    return _LAX.get(check(precision))


@jax.custom_vjp
def _bf16_matmul(x: jax.Array, w: jax.Array) -> jax.Array:
    bf = jnp.bfloat16
    return jnp.matmul(x.astype(bf), w.astype(bf), preferred_element_type=jnp.float32)


def _bf16_fwd(x, w):
    xb, wb = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
    return jnp.matmul(xb, wb, preferred_element_type=jnp.float32), (xb, wb)


def _bf16_bwd(res, g):
    """Both backward products from bfloat16 operands, float32 results (x, w are float32)."""
    xb, wb = res
    gb = g.astype(jnp.bfloat16)
    dx = jnp.matmul(gb, wb.T, preferred_element_type=jnp.float32)
    lead = tuple(range(xb.ndim - 1))  # every axis of x but the contracted one
    dw = jnp.tensordot(xb, gb, axes=(lead, lead), preferred_element_type=jnp.float32)
    return dx, dw


_bf16_matmul.defvjp(_bf16_fwd, _bf16_bwd)


def matmul(x: jax.Array, w: jax.Array, precision: str = "fp32") -> jax.Array:
    """``x @ w`` under a precision policy (see the module docstring).

    Args:
        x: inputs ``(..., n)``.
        w: weights ``(n, m)``.
        precision: ``"fp32"`` (default), ``"tf32"`` or ``"bf16"``. It must be a Python string:
            it selects the computation.

    Returns:
        ``(..., m)`` in the dtype of ``x @ w`` (float32 for float32 inputs, also under
        ``"bf16"``).

    Raises:
        ConfigError: for an unknown precision, or a ``w`` that is not 2-D under ``"bf16"``.
    """
    if check(precision) != "bf16":
        return jnp.matmul(x, w, precision=_LAX[precision])
    if jnp.ndim(w) != 2 or jnp.ndim(x) < 1:
        raise ConfigError(f"bf16 matmul needs x (..., n) and w (n, m), got {jnp.shape(x)}, "
                          f"{jnp.shape(w)}")
    dtype = jnp.result_type(x, w)
    out = _bf16_matmul(jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32))
    return out if dtype == jnp.float32 else out.astype(dtype)
