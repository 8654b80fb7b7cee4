"""Matplotlib figures (Agg backend, written to files; never ``plt.show()``).

matplotlib is imported inside each function, so importing this module is cheap.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def sweep_top_grid(
    trials: Sequence,
    path: str | os.PathLike,
    *,
    n: int = 20,
    cols: int = 5,
    title: str | None = None,
) -> str:
    """The book's figure of a hyperparameter search (``ch06/hyperparameter_optimization.py``).

    ``trials`` ranked best first (objects with ``val_acc``, ``train_acc`` lists and
    ``diverged``, e.g. :class:`jaxch6.sweep.Trial`); the first ``n`` are drawn in a grid of
    ``cols`` columns (book: 20 as 4×5), each titled "Best-k", y from 0 to 1, validation accuracy
    per epoch solid and training accuracy dashed; y ticks on the first column only, no x ticks.
    Returns the path written.
    """
    plt = _pyplot()
    shown = list(trials)[:n]
    rows = max(1, math.ceil(max(len(shown), 1) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 1.9 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(shown):
            ax.axis("off")
            continue
        t = shown[i]
        x = range(len(t.val_acc))
        ax.plot(x, t.val_acc, label="validation")
        ax.plot(x, t.train_acc, "--", label="train")
        ax.set_title(f"Best-{i + 1}" + (" (diverged)" if t.diverged else ""), fontsize=9)
        ax.set_ylim(0.0, 1.0)
        ax.set_xticks([])
        if i % cols:
            ax.set_yticks([])
    if shown:
        axes.flat[0].legend(fontsize=6, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)
