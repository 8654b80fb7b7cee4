"""Update rules on MNIST: smoothed training loss per rule — ``ch06/optimizer_compare_mnist.py``.

Book: 784-100-100-100-100-10 ReLU net (He init), batch 128 drawn with replacement from the
60,000 training digits, 2,000 iterations, SGD / Momentum / AdaGrad / Adam with their default
hyperparameters (lr 0.01, 0.01, 0.01, 0.001), every rule on the same batches, the loss of each
batch after the update, smoothed with ``smooth_curve`` and plotted with ``ylim(0, 1)``.

Here: all seven rules (Nesterov lr 0.01, AdaDelta lr 1, and RMSprop lr 0.001 — with the book's
default lr 0.01 RMSprop is spiky and ends higher on this 5-layer net; that run is drawn too,
dashed), several seeds run at once (``vmap``) and drawn as mean ± min–max band, on
the 4,000-digit embedded sample (offline) instead of 60,000 digits.
"""

from __future__ import annotations

import numpy as np

from jaxch6.experiments import common
from jaxch6.experiments.race import Arm, race

NAME = "optimizer_compare_mnist"
ARMS = (
    Arm("SGD", "sgd"),
    Arm("Momentum", "momentum"),
    Arm("AdaGrad", "adagrad"),
    Arm("Adam", "adam"),
    Arm("Nesterov", "nesterov"),
    Arm("RMSprop", "rmsprop", {"learning_rate": 0.001}),
    Arm("AdaDelta", "adadelta"),
)
BOOK_DEFAULT_RMSPROP = Arm("RMSprop lr=0.01 (book default)", "rmsprop", {"learning_rate": 0.01})
MARKERS = {"SGD": "o", "Momentum": "x", "AdaGrad": "s", "Adam": "D", "Nesterov": "^",
           "RMSprop": "v", "AdaDelta": "P"}


def run(out_dir, *, seed: int = 0, quick: bool = False) -> dict:
    """Write ``optimizer_compare_mnist.png`` / ``.json``."""
    import jax

    iterations = 150 if quick else 2000
    seeds = 1 if quick else 4
    hidden = (100, 100) if quick else (100, 100, 100, 100)
    arms = ARMS if quick else (*ARMS, BOOK_DEFAULT_RMSPROP)
    x, t, xt, tt, data_info = common.load_digits()
    with common.Timer() as timer:
        loss, test_acc, diverged = race(arms, jax.random.PRNGKey(seed), x, t, xt, tt,
                                        iterations=iterations, seeds=seeds, batch_size=128,
                                        fast_compile=quick,
                                        hidden=hidden)
    smooth = common.smooth_curve(loss.reshape(-1, iterations)).reshape(loss.shape)
    mean, lo, hi = common.band(smooth)  # over seeds: (arms, iterations)
    fig = _figure(arms, (mean, lo, hi), test_acc, hidden, seeds)

    step = 1 if quick else 10
    labels = [a.label for a in arms]
    summary = {
        "experiment": NAME,
        "book": "ch06/optimizer_compare_mnist.py",
        "settings": {"hidden": hidden, "activation": "relu", "weight_init": "he",
                     "batch_size": 128, "iterations": iterations, "seeds": seeds, "seed": seed,
                     "rules": {a.label: {"optimizer": a.optimizer, **a.hparams} for a in arms},
                     "quick": quick},
        "data": data_info,
        "vs_book": "book: 60,000 training digits, 4 rules, one run; here the embedded sample "
        "(4,000 digits), 7 rules, seeds vmapped; RMSprop at lr 0.001 (book default 0.01, "
        "drawn dashed, is spiky and ends higher)",
        "iterations_plotted_every": step,
        "smoothed_loss": {lab: {"mean": common.rounded(mean[j, ::step], 4),
                                "min": common.rounded(lo[j, ::step], 4),
                                "max": common.rounded(hi[j, ::step], 4)}
                          for j, lab in enumerate(labels)},
        "final_smoothed_loss": {lab: {"mean": float(mean[j, -1]),
                                      "per_seed": smooth[:, j, -1]}
                                for j, lab in enumerate(labels)},
        "test_acc": {lab: test_acc[:, j] for j, lab in enumerate(labels)},
        "diverged": {lab: diverged[:, j] for j, lab in enumerate(labels)},
        "seconds": timer.seconds,
    }
    return common.write_outputs(out_dir, NAME, fig, summary)


def _figure(arms, band, test_acc, hidden, seeds: int):
    """Each rule's smoothed loss per iteration (mean line, min–max band over seeds)."""
    plt = common.pyplot()
    mean, lo, hi = band
    iterations = mean.shape[1]
    fig, ax = plt.subplots(figsize=(7, 4.6))
    it = np.arange(iterations)
    every = max(iterations // 20, 1)
    for j, arm in enumerate(arms):
        if arm is BOOK_DEFAULT_RMSPROP:
            ax.plot(it, mean[j], ls="--", color="gray", lw=1,
                    label=f"{arm.label}: final loss {mean[j, -1]:.3f}, "
                    f"test acc {test_acc[:, j].mean():.2f}")
            continue
        (line,) = ax.plot(it, mean[j], marker=MARKERS[arm.label], markevery=every, ms=4, lw=1,
                          label=f"{arm.label} (test acc {test_acc[:, j].mean():.3f})")
        ax.fill_between(it, lo[j], hi[j], color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel("iterations")
    ax.set_ylabel("loss (smoothed)")
    ax.set_ylim(0, 1)
    ax.set_title(f"MNIST 784-100×{len(hidden)}-10 ReLU, batch 128, {seeds} seeds (band: min–max)",
                 fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
