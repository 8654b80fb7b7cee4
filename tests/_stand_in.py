"""A :class:`~jaxch6.sweep.engine.LaneEngine` for the tests and benchmarks (not part of the
library) that compiles and trains nothing: each lane's curves come from a NumPy function of its
learning rate and the epochs it trains. It lets what drives engines (the run loop, a scheduler,
the Optuna worker's bookkeeping) be tested or timed without the cost of training.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import numpy as np

from jaxch6.sweep.engine import LaneEngine

#: ``curves(lr, epochs)`` → a chunk's history: ``lr`` is the lanes' learning rates, shape
#: ``(n,)``; ``epochs`` the 0-based epochs each lane trains in this call, shape ``(n, k)``; the
#: result holds ``"train_acc"`` and ``"val_acc"`` of shape ``(n, k)`` and ``"diverged"`` of
#: shape ``(n,)``.
Curves = Callable[[np.ndarray, np.ndarray], dict]


class StandInEngine(LaneEngine):
    """One group, ``chunk_size`` lanes a call, one hyperparameter (``learning_rate``); the task
    records ``val_acc`` (the objective, maximised) and ``train_acc``.

    A lane's run state is the count of epochs it has trained, so lanes continue across rungs
    as real ones do.

    Args:
        curves: the lanes' history per call (:data:`Curves`).
        chunk_size: lanes per call.
    """

    def __init__(self, curves: Curves, chunk_size: int = 1024):
        self.curves, self.chunk_size = curves, chunk_size
        self.hparam_names = ("learning_rate",)
        self.task = types.SimpleNamespace(
            recorded=("val_acc", "train_acc"), resolution={}, objective="val_acc",
            direction="max", reseed=None, better=lambda a, b: a > b)
        self.compile_seconds = 0.0

    def group_of(self, hparams):
        return ()

    def engine(self, group):
        return self

    def prepare(self, groups):
        pass

    def precompile(self, epochs=()):
        pass

    def treedef(self, group):
        import jax

        return jax.tree.structure({"epoch": 0})

    def dispatch(self, epochs, hparams, *, key_data=None, states=None):
        lr = np.asarray(hparams["learning_rate"], np.float64)
        start = np.zeros(len(lr), np.int64) if states is None else np.asarray(states["epoch"])
        return lr, start, epochs

    def fetch(self, handle, *, states=False):
        lr, start, epochs = handle
        history = self.curves(lr, start[:, None] + np.arange(epochs)[None, :])
        return history, ({"epoch": start + epochs} if states else None)
