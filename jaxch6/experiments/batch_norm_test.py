"""Batch norm vs none over 16 init scales — ``ch06/batch_norm_test.py``.

Book: 784-100×5-10 ReLU nets (``MultiLayerNetExtend``), weights N(0, w²) for 16 scales
w = logspace(0, −4, 16), SGD lr 0.01, batch 100 with replacement from the first 1,000 training
digits, 20 epochs; training accuracy per epoch with (solid) and without (dashed) batch norm,
as a 4 × 4 grid. Conclusion: batch norm learns faster, and learns at scales where the plain
net does not learn at all.

Here: the 16 scales are one ``vmap`` (the ``init_scale`` hyperparameter of
:mod:`jaxch6.train`, with ``weight_init=1.0``), times several seeds in the same ``vmap``
(mean line, min–max band) — two compiled programs in all (with / without batch norm). Training
digits: the first 1,000 of the embedded sample, as the book takes the first 1,000 of MNIST.
"""

from __future__ import annotations

import numpy as np

from jaxch6.experiments import common

NAME = "batch_norm_test"


def run(out_dir, *, seed: int = 0, quick: bool = False) -> dict:
    """Write ``batch_norm_test.png`` / ``.json``."""
    scales = np.logspace(0, -4, num=16)
    epochs = 6 if quick else 20
    seeds = 1 if quick else 3
    acc, x, data_info, seconds = _train(scales, epochs, seeds, seed, quick)
    bn_mean, bn_lo, bn_hi = common.band(acc[True][0])
    no_mean, no_lo, no_hi = common.band(acc[False][0])
    fig = _figure(scales, (bn_mean, bn_lo, bn_hi), (no_mean, no_lo, no_hi), epochs, seeds)

    # "learns faster": higher mean training accuracy over the epochs (area under the curve)
    auc_bn, auc_no = bn_mean.mean(axis=1), no_mean.mean(axis=1)
    summary = {
        "experiment": NAME,
        "book": "ch06/batch_norm_test.py",
        "settings": {"hidden": [100] * 5, "activation": "relu", "weight_init_std": scales,
                     "optimizer": "sgd", "learning_rate": 0.01, "batch_size": 100,
                     "epochs": epochs, "train_digits": int(x.shape[0]), "seeds": seeds,
                     "seed": seed, "quick": quick, "eval_position": "book"},
        "data": data_info,
        "vs_book": "book: one run per scale on MNIST's first 1,000 digits; here the first "
        "1,000 of the embedded sample, 16 scales x seeds vmapped",
        "train_acc": {"batchnorm": {"mean": common.rounded(bn_mean, 4),
                                    "min": common.rounded(bn_lo, 4),
                                    "max": common.rounded(bn_hi, 4)},
                      "plain": {"mean": common.rounded(no_mean, 4),
                                "min": common.rounded(no_lo, 4),
                                "max": common.rounded(no_hi, 4)}},
        "test_acc_final": {"batchnorm": common.rounded(acc[True][1][:, :, -1].mean(0), 4),
                           "plain": common.rounded(acc[False][1][:, :, -1].mean(0), 4)},
        "mean_train_acc_over_epochs": {"batchnorm": common.rounded(auc_bn, 4),
                                       "plain": common.rounded(auc_no, 4)},
        "cells_where_batchnorm_learns_faster": int(np.sum(auc_bn > auc_no)),
        "seconds": seconds,
    }
    return common.write_outputs(out_dir, NAME, fig, summary)


def _train(scales, epochs: int, seeds: int, seed: int, quick: bool):
    """The 16 scales × seeds with and without batch norm: ``({bn: (train_acc, test_acc)}``
    each ``(seeds, 16, epochs)``, the training digits, the data's description, seconds)."""
    import jax

    from jaxch6.train import TrainConfig

    x, t, xt, tt, data_info = common.load_digits(1000)
    if quick:  # the accuracy plotted is on the training set; keep the eval set small
        xt, tt = xt[:100], tt[:100]
        data_info["test_used"] = int(xt.shape[0])
    lanes_scale = np.tile(scales, seeds)  # lane = seed * 16 + scale index
    keys = jax.random.split(jax.random.PRNGKey(seed), seeds * 16)
    acc = {}
    with common.Timer() as timer:
        for bn in (True, False):
            config = TrainConfig(hidden_sizes=(100,) * 5, activation="relu", weight_init=1.0,
                                 use_batchnorm=bn, optimizer="sgd", batch_size=100,
                                 epochs=epochs, record_loss="none")
            hist = common.train_lanes(config, x, t, xt, tt, keys,
                                       {"learning_rate": np.full(seeds * 16, 0.01),
                                        "init_scale": lanes_scale}, fast_compile=quick)
            acc[bn] = (hist.train_acc.reshape(seeds, 16, epochs),
                       hist.eval_acc.reshape(seeds, 16, epochs))
    return acc, x, data_info, timer.seconds


def _figure(scales, bn, no, epochs: int, seeds: int):
    """The 4 × 4 grid: per scale, training accuracy with (solid) and without (dashed) batch
    norm; ``bn`` and ``no`` are (mean, min, max) per scale and epoch."""
    plt = common.pyplot()
    fig, axes = plt.subplots(4, 4, figsize=(10, 8.4), sharex=True, sharey=True)
    ep = np.arange(epochs)
    for i, w in enumerate(scales):
        ax = axes.flat[i]
        ax.plot(ep, bn[0][i], color="C0", label="Batch Normalization")
        ax.fill_between(ep, bn[1][i], bn[2][i], color="C0", alpha=0.25, lw=0)
        ax.plot(ep, no[0][i], color="C1", ls="--", label="Normal (without BatchNorm)")
        ax.fill_between(ep, no[1][i], no[2][i], color="C1", alpha=0.25, lw=0)
        ax.set_title(f"W: {w:.4g}", fontsize=9)
        ax.set_ylim(0, 1.0)
        ax.tick_params(labelsize=7)
        if i % 4 == 0:
            ax.set_ylabel("accuracy", fontsize=8)
        if i >= 12:
            ax.set_xlabel("epochs", fontsize=8)
    axes.flat[15].legend(loc="lower right", fontsize=6)
    fig.suptitle(f"Training accuracy, 1,000 digits, 784-100×5-10 ReLU, SGD lr 0.01, "
                 f"{seeds} seed(s)", fontsize=10)
    fig.tight_layout()
    return fig
