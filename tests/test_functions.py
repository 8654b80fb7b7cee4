"""jaxch6.functions: the book's 2-D bowl and its gradient."""

import jax
import numpy as np
import pytest

from jaxch6 import functions


def test_f_and_closed_form_gradient_match_autodiff():
    x, y = 3.0, -1.5
    assert np.isclose(functions.f(x, y), 9 / 20 + 2.25)
    gx, gy = jax.grad(functions.f, argnums=(0, 1))(x, y)
    assert np.allclose(functions.grad_f(x, y), (gx, gy))
    assert np.allclose(functions.grad_f(x, y), (0.3, -3.0))
    g = functions.grad_params({"x": x, "y": y})
    assert np.allclose((g["x"], g["y"]), (0.3, -3.0))
    assert np.isclose(functions.f_params({"x": x, "y": y}), functions.f(x, y))


@pytest.mark.slow
def test_contour_grid_clips_like_the_book():
    gx, gy, gz = functions.contour_grid(step=0.5)
    assert gx.shape == gy.shape == gz.shape == (20, 40)
    assert float(gz.max()) <= 7.0
    # f(-10, -5) = 5 + 25 > 7 is zeroed, f(0, 0) = 0
    assert float(gz[0, 0]) == 0.0
