"""Weight init on MNIST: std 0.01 vs Xavier vs He — ``ch06/weight_init_compare.py``.

Book: 784-100-100-100-100-10 ReLU net, SGD lr 0.01, batch 128 with replacement from 60,000
digits, 2,000 iterations; weights N(0, 0.01²), Xavier N(0, 1/n_in) and He N(0, 2/n_in); the
smoothed loss of each (all three on the same batches), ``ylim(0, 2.5)``. Conclusion: with
std 0.01 the signal vanishes layer after layer and the net does not learn at all (loss stays at
log 10 ≈ 2.30); He learns fastest, Xavier a little slower.

Here: the same, with several seeds vmapped (mean line, min–max band), on the 4,000-digit
embedded sample instead of 60,000 digits.
"""

from __future__ import annotations

import numpy as np

from jaxch6.experiments import common
from jaxch6.experiments.race import Arm, race

NAME = "weight_init_compare"
ARMS = (
    Arm("std=0.01", "sgd", {"learning_rate": 0.01}, 0.01),
    Arm("Xavier", "sgd", {"learning_rate": 0.01}, "xavier"),
    Arm("He", "sgd", {"learning_rate": 0.01}, "he"),
)
MARKERS = {"std=0.01": "o", "Xavier": "s", "He": "D"}


def run(out_dir, *, seed: int = 0, quick: bool = False) -> dict:
    """Write ``weight_init_compare.png`` / ``.json``."""
    import jax

    plt = common.pyplot()
    iterations = 400 if quick else 2000
    seeds = 1 if quick else 4
    x, t, xt, tt, data_info = common.load_digits()
    with common.Timer() as timer:
        loss, test_acc, diverged = race(ARMS, jax.random.PRNGKey(seed), x, t, xt, tt,
                                        iterations=iterations, seeds=seeds, batch_size=128,
                                        fast_compile=quick)
    smooth = common.smooth_curve(loss.reshape(-1, iterations)).reshape(loss.shape)
    mean, lo, hi = common.band(smooth)

    fig, ax = plt.subplots(figsize=(7, 4.6))
    it = np.arange(iterations)
    every = max(iterations // 20, 1)
    for j, arm in enumerate(ARMS):
        (line,) = ax.plot(it, mean[j], marker=MARKERS[arm.label], markevery=every,
                          ms=4, lw=1, label=f"{arm.label} (test acc {test_acc[:, j].mean():.3f})")
        ax.fill_between(it, lo[j], hi[j], color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel("iterations")
    ax.set_ylabel("loss (smoothed)")
    ax.set_ylim(0, 2.5)
    ax.set_title(f"MNIST 784-100×4-10 ReLU, SGD lr 0.01, batch 128, {seeds} seeds", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()

    step = 1 if quick else 10
    labels = [a.label for a in ARMS]
    summary = {
        "experiment": NAME,
        "book": "ch06/weight_init_compare.py",
        "settings": {"hidden": [100] * 4, "activation": "relu", "optimizer": "sgd",
                     "learning_rate": 0.01, "batch_size": 128, "iterations": iterations,
                     "seeds": seeds, "seed": seed, "inits": {a.label: a.weight_init for a in ARMS},
                     "quick": quick},
        "data": data_info,
        "vs_book": "book: 60,000 training digits, one run; here the embedded sample (4,000 "
        "digits), seeds vmapped",
        "iterations_plotted_every": step,
        "smoothed_loss": {lab: {"mean": common.rounded(mean[j, ::step], 4),
                                "min": common.rounded(lo[j, ::step], 4),
                                "max": common.rounded(hi[j, ::step], 4)}
                          for j, lab in enumerate(labels)},
        "final_smoothed_loss": {lab: {"mean": float(mean[j, -1]), "per_seed": smooth[:, j, -1]}
                                for j, lab in enumerate(labels)},
        "test_acc": {lab: test_acc[:, j] for j, lab in enumerate(labels)},
        "diverged": {lab: diverged[:, j] for j, lab in enumerate(labels)},
        "seconds": timer.seconds,
    }
    return common.write_outputs(out_dir, NAME, fig, summary)
