"""A NumPy stand-in for the sweep engine (:class:`jaxch6.sweep.engine.LaneEngine`), so that the
Optuna worker's bookkeeping on the shared run loop can be tested without compiling anything.

A lane's objective after epoch ``e`` of ``epochs`` is ``peak · (0.2 + 0.8 (e - 1) / (epochs -
1))`` with ``peak = 1 / (1 + (log10 lr + 2.5)²)`` (best at lr = 10^-2.5), times 0.9 for
``val_acc``; a lane with lr above 5e-3 is diverged. The run state is the epoch count, so lanes
continue across rungs as real ones do.
"""

from __future__ import annotations

import types

import jax
import numpy as np

from jaxch6.sweep.engine import LaneEngine


class FakeEngine(LaneEngine):
    """One group, ``chunk_size`` lanes a call; ``epochs`` is a complete trial's."""

    def __init__(self, epochs: int = 3, chunk_size: int = 1024):
        self.chunk_size, self.epochs = chunk_size, epochs
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
        return jax.tree.structure({"epoch": 0})

    def dispatch(self, epochs, hparams, *, key_data=None, states=None):
        lr = np.asarray(hparams["learning_rate"], np.float64)
        start = np.zeros(len(lr), np.int64) if states is None else np.asarray(states["epoch"])
        return lr, start, epochs

    def fetch(self, handle, *, states=False):
        lr, start, epochs = handle
        total = self.epochs
        peak = 1.0 / (1.0 + (np.log10(lr) + 2.5) ** 2)
        e = start[:, None] + np.arange(epochs)[None, :]  # 0-based epochs trained now
        curve = peak[:, None] * (0.2 + 0.8 * e / max(total - 1, 1))
        history = {"train_acc": curve, "val_acc": 0.9 * curve, "diverged": lr > 5e-3}
        return history, ({"epoch": start + epochs} if states else None)

