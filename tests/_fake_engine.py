"""A NumPy stand-in for the sweep engine (:class:`_stand_in.StandInEngine`), so that
the Optuna worker's bookkeeping on the shared run loop can be tested without compiling anything.

A lane's objective after epoch ``e`` of ``epochs`` is ``peak · (0.2 + 0.8 (e - 1) / (epochs -
1))`` with ``peak = 1 / (1 + (log10 lr + 2.5)²)`` (best at lr = 10^-2.5), times 0.9 for
``val_acc``; a lane with lr above 5e-3 is diverged. The run state is the epoch count, so lanes
continue across rungs as real ones do.
"""

from __future__ import annotations

import numpy as np
from _stand_in import StandInEngine


class FakeEngine(StandInEngine):
    """One group, ``chunk_size`` lanes a call; ``epochs`` is a complete trial's."""

    def __init__(self, epochs: int = 3, chunk_size: int = 1024):
        super().__init__(self._curves, chunk_size)
        self.epochs = epochs

    def _curves(self, lr, e):
        peak = 1.0 / (1.0 + (np.log10(lr) + 2.5) ** 2)
        curve = peak[:, None] * (0.2 + 0.8 * e / max(self.epochs - 1, 1))
        return {"train_acc": curve, "val_acc": 0.9 * curve, "diverged": lr > 5e-3}
