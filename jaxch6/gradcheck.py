r"""Gradient check: autodiff (``jax.grad``) against a central-difference numerical gradient.

The book (``ch06/batch_norm_gradient_check.py``) checks its hand-written backward of a
784-100-100-10 batch-norm network against ``numerical_gradient`` (``common/gradient.py``):

$$
\frac{\partial f}{\partial \theta_i} \approx
\frac{f(\theta + h e_i) - f(\theta - h e_i)}{2h}, \qquad h = 10^{-4}
$$

and prints, per parameter array, ``mean |backprop − numerical|``. :func:`check` does the same for
``jax.grad``; :func:`book_network_check` builds the book's network. Use float64 (inside
``jax.enable_x64(True)``): in float32 the central difference's rounding error is ~1e-3.

Why a batch of at least 3 digits (the book uses one): with a single sample, batch norm's batch
variance is 0, so every normalised value is exactly 0 and the layer outputs β — no gradient
flows through it (all gradients of W1, b1, γ, W2, b2 are 0) and every ReLU input sits on the
kink at 0, where the central difference gives 0.5 but backprop 0 (the book's ``beta2`` row then
differs by 0.048). With 3 digits the book's own code gives differences of 2e-7 to 7e-7.

What is differentiated numerically: the book's loss value has 1e-7 inside the log, which its
backward (and so :func:`jaxch6.mlp.cross_entropy`'s gradient) ignores. By default
(``ce_eps=0``) the numerical gradient is taken of the loss without it — the function whose
exact gradient backprop computes — so the check measures backprop alone. ``ce_eps=1e-7``
reproduces the book's own comparison, where the ignored epsilon adds ~1e-7 (more for small,
confidently wrong networks).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxch6 import mlp
from jaxch6.errors import ConfigError

__all__ = ["BOOK_SIZES", "H", "TOLERANCE", "book_network_check", "check", "numerical_gradient"]

#: The book's step of ``numerical_gradient``.
H = 1e-4
#: The command passes when every mean |autodiff − numerical| is below this.
TOLERANCE = 1e-6
#: The book's ``batch_norm_gradient_check`` network.
BOOK_SIZES = (784, 100, 100, 10)


def _leaf_numerical(f: Callable, leaves: list, treedef, index: int, h):
    shape = leaves[index].shape

    def at(w):
        new = list(leaves)
        new[index] = w.reshape(shape)
        return f(jax.tree.unflatten(treedef, new))

    def body(i, g):
        w = leaves[index].reshape(-1)
        orig = w[i]
        fp = at(w.at[i].set(orig + h))
        fm = at(w.at[i].set(orig - h))
        return g.at[i].set((fp - fm) / (2 * h))

    w = leaves[index]
    return jax.lax.fori_loop(0, w.size, body, jnp.zeros((w.size,), w.dtype)).reshape(shape)


@functools.partial(jax.jit, static_argnums=(0, 2))
def _numerical(f: Callable, params, h):
    leaves, treedef = jax.tree.flatten(params)
    grads = [_leaf_numerical(f, leaves, treedef, i, h) for i in range(len(leaves))]
    return jax.tree.unflatten(treedef, grads)


def numerical_gradient(f: Callable, params, *, h=H):
    """Central-difference gradient of a scalar function (book ``numerical_gradient``).

    For every element θ_i of every leaf, one at a time: (f(θ + h e_i) − f(θ − h e_i)) / 2h.
    Cost: 2 evaluations of ``f`` per parameter element, in one compiled program.

    Args:
        f: the scalar function; hashable (a function, not a fresh lambda per call, for the
            compile cache).
        params: a pytree of arrays.
        h: the step.

    Returns:
        A pytree like ``params``.
    """
    return _numerical(f, params, float(h))


def check(f: Callable, params, *, h=H) -> dict[str, float]:
    """Compare ``jax.grad`` with :func:`numerical_gradient`, leaf by leaf.

    Args:
        f: as in :func:`numerical_gradient`.
        params: as in :func:`numerical_gradient`.
        h: as in :func:`numerical_gradient`.

    Returns:
        ``{name: mean |jax.grad(f)(params) − numerical_gradient(f, params)|}``; names are the
        dict keys for a flat dict (in its order, e.g. ``W1, b1, gamma1, …``), else
        ``jax.tree_util.keystr`` paths.
    """
    auto = jax.jit(jax.grad(f))(params)
    num = numerical_gradient(f, params, h=h)
    if isinstance(params, dict) and all(not isinstance(v, dict | list | tuple)
                                        for v in params.values()):
        return {k: float(jnp.mean(jnp.abs(auto[k] - num[k]))) for k in params}
    pa = jax.tree_util.tree_flatten_with_path(auto)[0]
    pn = jax.tree.leaves(num)
    return {jax.tree_util.keystr(p): float(jnp.mean(jnp.abs(a - n)))
            for (p, a), n in zip(pa, pn, strict=True)}


class _BookLoss:
    """Hashable loss of a fixed batch in training mode (batch statistics), as the book checks."""

    def __init__(self, state, x, t, ce_eps):
        self.state, self.x, self.t, self.ce_eps = state, x, t, ce_eps

    def __call__(self, params):
        return mlp.loss(params, self.state, self.x, self.t, train=True, ce_eps=self.ce_eps)[0]


def book_network_check(
    x, t, *, key: jax.Array, sizes=BOOK_SIZES, use_batchnorm=True, weight_init="he", h=H,
    ce_eps: float = 0.0,
) -> dict[str, float]:
    """Run the book's gradient check on a fresh network.

    A ``sizes`` network (book: 784-100-100-10, batch norm, He init) in float64, the loss of
    the batch ``(x, t)`` in training mode. Enables float64 for the duration of the call.

    Args:
        x: inputs ``(N, sizes[0])``; N >= 2 with batch norm (see the module doc).
        t: labels ``(N,)``.
        key: the initialisation key.
        sizes: the layer widths.
        use_batchnorm: batch norm after the hidden layers.
        weight_init: the initializer (:func:`jaxch6.initializers.get`).
        h: the central-difference step.
        ce_eps: the epsilon inside the loss's log for the numerical side (0: the function
            backprop differentiates; 1e-7: the book's value).

    Returns:
        :func:`check`'s dict.

    Raises:
        ConfigError: ``x`` and ``t`` of the wrong shapes, or one sample with batch norm.

    Example:
        ```python
        diffs = book_network_check(x[:3], t[:3], key=jax.random.key(0))
        max(diffs.values())  # small: backprop agrees with the numerical gradient
        ```
    """
    x, t = np.asarray(x), np.asarray(t)
    if x.ndim != 2 or x.shape[1] != sizes[0] or t.shape != (x.shape[0],):
        raise ConfigError(f"need x (N, {sizes[0]}) and labels t (N,), got {x.shape} and {t.shape}")
    if use_batchnorm and x.shape[0] < 2:
        raise ConfigError("batch norm needs a batch of >= 2 samples (one makes it degenerate)")
    with jax.enable_x64(True):
        params, state = mlp.init(sizes, key=key, weight_init=weight_init,
                                 use_batchnorm=use_batchnorm, dtype=jnp.float64)
        f = _BookLoss(state, jnp.asarray(x, jnp.float64), jnp.asarray(t), ce_eps)
        return check(f, params, h=h)
