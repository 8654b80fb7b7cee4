"""jaxch6: chapter 6 of *Deep Learning from Scratch* as a JAX library of pure functions.

Modules (imports run one way, from data and math at the bottom to sweep and CLI on top):

- :mod:`jaxch6.optimizers`   the seven update rules as optax ``GradientTransformation`` s
- :mod:`jaxch6.schedules`    named learning-rate schedules with traceable hyperparameters
- :mod:`jaxch6.initializers` std-normal, Xavier/Glorot, He, zeros
- :mod:`jaxch6.layers`       affine, activations, batch norm, dropout
- :mod:`jaxch6.mlp`          the book's MultiLayerNet(Extend) as ``init``/``apply``/``loss``
- :mod:`jaxch6.train`        one training run as a single compiled ``lax.scan``
- :mod:`jaxch6.sweep`        vmapped hyperparameter sweeps (random search, halving, PBT, Optuna)
- :mod:`jaxch6.data`         MNIST / Fashion-MNIST (tfds, IDX files, embedded sample)
- :mod:`jaxch6.gradcheck`    numerical vs autodiff gradients
- :mod:`jaxch6.verify`       every update rule beside optax and the book's NumPy code
- :mod:`jaxch6.plots`        the chapter's figures
- :mod:`jaxch6.experiments`  the chapter's experiments

Each is an attribute of the package, imported on first access (``jaxch6.optimizers.adam``), so
``import jaxch6`` imports neither JAX nor TensorFlow and never needs a network.
:func:`enable_compile_cache` (from :mod:`jaxch6.cache`) turns on JAX's persistent compilation
cache.
"""

import importlib as _importlib
import typing as _typing

from jaxch6.errors import ConfigError, DataError, Jaxch6Error

if _typing.TYPE_CHECKING:  # what the lazy attributes are, for type checkers
    from jaxch6 import (
        data,
        experiments,
        gradcheck,
        initializers,
        layers,
        mlp,
        optimizers,
        plots,
        schedules,
        sweep,
        train,
        verify,
    )
    from jaxch6.cache import enable_compile_cache

__version__ = "0.1.0"

#: Functions imported from a submodule on first access: name -> module.
_FUNCTIONS = {"enable_compile_cache": "jaxch6.cache"}

#: The public names. Those this module does not define are imported on first access: the
#: functions of :data:`_FUNCTIONS`, and the others are submodules.
__all__ = [
    "ConfigError",
    "DataError",
    "Jaxch6Error",
    "__version__",
    "data",
    "enable_compile_cache",
    "experiments",
    "gradcheck",
    "initializers",
    "layers",
    "mlp",
    "optimizers",
    "plots",
    "schedules",
    "sweep",
    "train",
    "verify",
]


def __getattr__(name: str) -> _typing.Any:
    """Import a submodule or a lazily exported function on first access."""
    if name in _FUNCTIONS:
        value = getattr(_importlib.import_module(_FUNCTIONS[name]), name)
    elif name in __all__:  # a submodule: every other public name is defined above
        value = _importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names: ``__all__`` (loaded or not) and the submodules already imported."""
    return sorted(set(__all__) | {k for k in globals() if not k.startswith("_")})
