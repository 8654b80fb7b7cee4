"""2-D test functions for watching update rules move (the book's figure 6-2 and onward).

The book's example (``ch06/optimizer_compare_naive.py``) is the elongated bowl

    f(x, y) = x² / 20 + y²,        ∇f(x, y) = (x / 10, 2y),

whose minimum is at (0, 0) and whose gradient mostly points along y, not toward the minimum:
plain SGD zig-zags across the valley. The book starts every rule at (−7, 2).

Everything here is a pure ``jax.numpy`` function, so it works on traced arrays, under ``jit``,
``grad`` and ``vmap``; :func:`grad_f` is the book's closed form (``df``), which equals
``jax.grad`` of :func:`f` (checked in the tests).
"""

from __future__ import annotations

import jax.numpy as jnp

#: The book's starting point for the 2-D comparison.
INIT_POS = (-7.0, 2.0)


def f(x, y):
    """The book's bowl: f(x, y) = x²/20 + y² (minimum 0 at the origin)."""
    return x**2 / 20.0 + y**2


def grad_f(x, y):
    """Closed-form gradient of :func:`f`: (∂f/∂x, ∂f/∂y) = (x/10, 2y) — the book's ``df``."""
    return x / 10.0, 2.0 * y


def f_params(params: dict):
    """:func:`f` on a parameter dict ``{"x": x, "y": y}`` (the book's ``params`` layout)."""
    return f(params["x"], params["y"])


def grad_params(params: dict) -> dict:
    """:func:`grad_f` on a parameter dict, returning ``{"x": ∂f/∂x, "y": ∂f/∂y}``."""
    gx, gy = grad_f(params["x"], params["y"])
    return {"x": gx, "y": gy}


def contour_grid(xlim=(-10.0, 10.0), ylim=(-5.0, 5.0), step=0.01, clip=7.0):
    """The book's contour background: f on a grid, with values above ``clip`` set to 0.

    The book plots ``np.arange(-10, 10, 0.01)`` × ``np.arange(-5, 5, 0.01)`` and zeroes
    ``Z > 7`` "for simple contour lines". Returns NumPy-compatible ``(X, Y, Z)`` arrays.
    """
    xs = jnp.arange(xlim[0], xlim[1], step)
    ys = jnp.arange(ylim[0], ylim[1], step)
    x_grid, y_grid = jnp.meshgrid(xs, ys)
    z = f(x_grid, y_grid)
    z = jnp.where(z > clip, 0.0, z)
    return x_grid, y_grid, z
