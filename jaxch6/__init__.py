"""jaxch6: chapter 6 of *Deep Learning from Scratch* as a JAX library of pure functions.

Modules (imports run one way, from data and math at the bottom to sweep and CLI on top):

- :mod:`jaxch6.optimizers`   the seven update rules as optax ``GradientTransformation`` s
- :mod:`jaxch6.initializers` std-normal, Xavier/Glorot, He, zeros
- :mod:`jaxch6.layers`       affine, activations, batch norm, dropout
- :mod:`jaxch6.mlp`          the book's MultiLayerNet(Extend) as ``init``/``apply``/``loss``
- :mod:`jaxch6.train`        one training run as a single compiled ``lax.scan``
- :mod:`jaxch6.sweep`        vmapped hyperparameter random search
- :mod:`jaxch6.data`         MNIST / Fashion-MNIST (tfds, IDX files, embedded sample)

Submodules are imported on demand so that ``import jaxch6`` stays cheap and never needs
TensorFlow or a network.
"""

from jaxch6.errors import ConfigError, DataError, Jaxch6Error

__version__ = "0.1.0"
__all__ = ["ConfigError", "DataError", "Jaxch6Error", "__version__"]
