"""Hyperparameter random search — ``ch06/hyperparameter_optimization.py``.

Book: the first 500 training digits, shuffled, 20% held out for validation (400 / 100);
784-100×6-10 ReLU (He), SGD, batch 100, 50 epochs; 100 trials of lr = 10^U(−6, −2) and weight
decay = 10^U(−8, −4); the 20 best (by final validation accuracy) drawn as a 4 × 5 grid of
validation (solid) and training (dashed) accuracy. Conclusion: the good trials have lr around
1e-3 … 1e-2 (and weight decay 1e-8 … 1e-6 barely matters); the book's step 3 narrows the
ranges there and searches again.

Here: :func:`jaxch6.sweep.run` with the book's config — every trial one lane of a ``vmap``, the
whole search one compiled program — and, in the full run, the book's step 3 as a second round
on the narrowed ranges. Writes the sweep's top-20 grid (round 1, the book's figure) as
``hyperparameter_optimization.png`` and, beyond the book, validation accuracy against lr and
weight decay for every trial of both rounds as ``hyperparameter_optimization_scatter.png``.
"""

from __future__ import annotations

import numpy as np

from jaxch6.experiments import common

NAME = "hyperparameter_optimization"


def run(out_dir, *, seed: int = 0, quick: bool = False) -> dict:
    """Write ``hyperparameter_optimization.png`` (+ ``_scatter.png``) / ``.json``."""
    from jaxch6 import plots
    from jaxch6.sweep import SweepConfig
    from jaxch6.sweep import run as sweep_run

    config = SweepConfig(trials=24, epochs=20, rounds=1, seed=seed) if quick else \
        SweepConfig(trials=100, epochs=50, rounds=2, keep=10, seed=seed)
    with common.Timer() as timer, common.fast_compile(quick):
        result = sweep_run(config, progress=False)  # the experiment command reports progress
    path = common.out_path(out_dir)
    first = [t for t in result.ranked if t.round == 0]
    plots.sweep_top_grid(first, path / f"{NAME}.png", n=20, cols=5,
                         title=f"Best 20 of {config.trials} trials (round 1): validation solid, "
                         "train dashed")

    common.save_figure(_scatter(result, first), path / f"{NAME}_scatter.png")

    def record(t):
        return {"id": t.id, "round": t.round + 1, **t.hparams,
                "final_val_acc": t.final_val_acc, "final_train_acc": t.train_acc[-1],
                "diverged": t.diverged}

    summary = {
        "experiment": NAME,
        "book": "ch06/hyperparameter_optimization.py",
        "settings": {**config.to_dict(), "quick": quick},
        "data": result.info.get("data"),
        "vs_book": "book: one round of 100 trials on MNIST's first 500 digits, one Python "
        "loop; here jaxch6.sweep.run (vmapped) on the embedded sample's first 500, plus the "
        "book's step 3 (a narrowed second round) in the full run",
        "rounds": result.rounds,
        "best20_round1": [record(t) | {"val_acc": common.rounded(t.val_acc, 3),
                                       "train_acc": common.rounded(t.train_acc, 3)}
                          for t in first[:20]],
        "best_lr_round1": [t.hparams["learning_rate"] for t in first[:20]],
        "trials": [record(t) for t in result.trials],
        "timings": result.timings,
        "seconds": timer.seconds,
        "figures": [f"{NAME}.png", f"{NAME}_scatter.png"],
    }
    return common.write_json(out_dir, NAME, summary)  # the PNG is the sweep's grid


def _scatter(result, first):
    """Every trial's final validation accuracy against its learning rate and weight decay, by
    round, with the span of the first round's best 20 learning rates."""
    plt = common.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
    for r, marker in ((0, "o"), (1, "^")):
        ts = [t for t in result.trials if t.round == r]
        if not ts:
            continue
        lr = np.array([t.hparams["learning_rate"] for t in ts])
        wd = np.array([t.hparams["weight_decay"] for t in ts])
        acc = np.array([t.final_val_acc if np.isfinite(t.final_val_acc) else 0.0 for t in ts])
        label = "round 1 (book ranges)" if r == 0 else "round 2 (narrowed)"
        axes[0].semilogx(lr, acc, marker, ms=4, alpha=0.7, label=label)
        axes[1].semilogx(wd, acc, marker, ms=4, alpha=0.7, label=label)
    top = set(t.id for t in first[:20])
    lr_top = [t.hparams["learning_rate"] for t in first if t.id in top]
    axes[0].axvspan(min(lr_top), max(lr_top), color="gray", alpha=0.15,
                    label="best-20 learning_rate span")
    axes[0].set_xlabel("learning_rate (log)")  # the names of --space and the ranking
    axes[1].set_xlabel("weight_decay (log)")
    axes[0].set_ylabel("final validation accuracy")
    axes[0].legend(fontsize=7)
    fig.suptitle("Every trial's final validation accuracy", fontsize=10)
    fig.tight_layout()
    return fig
