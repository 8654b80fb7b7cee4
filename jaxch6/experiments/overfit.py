"""Shared body of the two overfitting experiments (weight decay, dropout).

Both train the book's 784-100×6-10 ReLU net (He init) with SGD lr 0.01, batch 100 drawn with
replacement from only 300 training digits, and plot training and test accuracy per epoch: the
plain net fits its 300 digits perfectly while test accuracy stalls far below (overfitting); the
regulariser narrows that train–test gap. Here one ``vmap`` runs, in one compiled program, the
book's pair (off / the book's value), a sweep of the regulariser's strength and several seeds.
"""

from __future__ import annotations

import numpy as np

from jaxch6.experiments import common


def run(out_dir, *, name: str, book_script: str, knob: str, knob_label: str, book_value: float,
        sweep: tuple, epochs: int, use_dropout: bool, seed: int, quick: bool,
        quick_epochs: int, log_sweep: bool = True) -> dict:
    """Train the book's net with the regulariser ``knob`` at 0, at ``book_value`` and (unless
    ``quick``) at each value of ``sweep``, several seeds each, in one program; write
    ``<name>.png`` and ``<name>.json`` into ``out_dir`` and return the JSON's content."""
    epochs = quick_epochs if quick else epochs
    values = (0.0, book_value) if quick else tuple(sorted({0.0, book_value, *sweep}))
    r = _train(knob, values, epochs=epochs, use_dropout=use_dropout, seed=seed, quick=quick)
    fig = _figure(r, values, book_value, knob_label, quick=quick, log_sweep=log_sweep)
    settings = {"hidden": r["hidden"], "activation": "relu", "weight_init": "he",
                "optimizer": "sgd", "learning_rate": 0.01, "batch_size": 100,
                "epochs": epochs, "train_digits": r["train_digits"], knob: values,
                "book_value": book_value, "seeds": r["seeds"], "seed": seed, "quick": quick,
                "eval_position": "book", "gap": f"train - test accuracy, mean over the "
                f"last {r['tail']} epochs"}
    tr, te, gap = r["train"], r["test"], r["gap"]
    i_off, i_on = values.index(0.0), values.index(book_value)
    summary = {
        "experiment": name,
        "book": book_script,
        "settings": settings,
        "data": r["data"],
        "vs_book": f"book: 300 MNIST training digits, test accuracy on 10,000 test digits, one "
        f"run per setting; here 300 digits of the embedded sample, test on its "
        f"{r['test_digits']} test digits, {knob} values x seeds vmapped",
        "train_acc": {f"{v:g}": _band(tr[i]) for i, v in enumerate(values)},
        "test_acc": {f"{v:g}": _band(te[i]) for i, v in enumerate(values)},
        "gap": {f"{v:g}": {"mean": float(gap[i].mean()), "per_seed": gap[i]}
                for i, v in enumerate(values)},
        "gap_off": float(gap[i_off].mean()),
        "gap_book_value": float(gap[i_on].mean()),
        "seconds": r["seconds"],
    }
    return common.write_outputs(out_dir, name, fig, summary)


def _band(acc) -> dict:
    """Per epoch: the mean, min and max over seeds, rounded."""
    return {"mean": common.rounded(acc.mean(0), 4), "min": common.rounded(acc.min(0), 4),
            "max": common.rounded(acc.max(0), 4)}


def _train(knob: str, values: tuple, *, epochs: int, use_dropout: bool, seed: int,
           quick: bool) -> dict:
    """Every value of ``knob`` × seeds as the lanes of one vmapped training: the accuracies
    ``(values, seeds, epochs)``, the train–test gap ``(values, seeds)`` and the settings."""
    import jax

    from jaxch6.train import TrainConfig

    seeds = 2 if quick else 3
    x, t, xt, tt, data_info = common.load_digits(300)
    if quick:  # fewer test digits: the per-epoch evaluation dominates these small runs
        xt, tt = xt[:500], tt[:500]
        data_info["test_used"] = int(xt.shape[0])
    hidden = (100,) * (3 if quick else 6)  # quick: a shallower net compiles and runs faster
    config = TrainConfig(hidden_sizes=hidden, activation="relu", weight_init="he",
                         use_dropout=use_dropout, optimizer="sgd", batch_size=100, epochs=epochs,
                         record_loss="none")
    lane_values = np.repeat(np.asarray(values, np.float64), seeds)  # lane = value * seeds + seed
    keys = jax.random.split(jax.random.PRNGKey(seed), len(lane_values))
    with common.Timer() as timer:
        hist = common.train_lanes(config, x, t, xt, tt, keys,
                                   {"learning_rate": np.full(len(lane_values), 0.01),
                                    knob: lane_values}, fast_compile=quick)
    tr = hist.train_acc.reshape(len(values), seeds, epochs)
    te = hist.eval_acc.reshape(len(values), seeds, epochs)
    tail = max(epochs // 10, 1)  # the gap over the last 10% of the epochs
    gap = (tr[:, :, -tail:] - te[:, :, -tail:]).mean(axis=2)  # (values, seeds)
    return {"train": tr, "test": te, "gap": gap, "tail": tail, "seeds": seeds,
            "hidden": hidden, "data": data_info, "train_digits": int(x.shape[0]),
            "test_digits": int(xt.shape[0]), "seconds": timer.seconds}


def _figure(r: dict, values: tuple, book_value: float, knob_label: str, *, quick: bool,
            log_sweep: bool):
    """Train and test accuracy per epoch without and with the regulariser (and, unless
    ``quick``, the final accuracies over the sweep)."""
    plt = common.pyplot()
    tr, te, gap, tail = r["train"], r["test"], r["gap"], r["tail"]
    epochs = tr.shape[2]
    i_off, i_on = values.index(0.0), values.index(book_value)
    ncols = 2 if quick else 3
    fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols, 3.8))
    ep = np.arange(epochs)
    for ax, i, title in ((axes[0], i_off, f"{knob_label} = 0"),
                         (axes[1], i_on, f"{knob_label} = {book_value:g}")):
        for acc, label, marker in ((tr[i], "train", "o"), (te[i], "test", "s")):
            m, lo, hi = common.band(acc)
            (line,) = ax.plot(ep, m, marker=marker, markevery=max(epochs // 20, 1), ms=3, lw=1,
                              label=label)
            ax.fill_between(ep, lo, hi, color=line.get_color(), alpha=0.25, lw=0)
        ax.set_ylim(0, 1.0)
        ax.set_xlabel("epochs")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{title}: gap {gap[i].mean():.3f}", fontsize=9)
        ax.legend(loc="lower right", fontsize=8)
    if not quick:
        ax = axes[2]
        xs = np.asarray(values)
        pos = xs > 0
        final_tr = tr[:, :, -tail:].mean(axis=(1, 2))
        final_te = te[:, :, -tail:].mean(axis=(1, 2))
        plot = ax.semilogx if log_sweep else ax.plot
        plot(xs[pos], final_tr[pos], "o-", label="train")
        plot(xs[pos], final_te[pos], "s-", label="test")
        ax.axhline(final_tr[i_off], color="C0", ls=":", lw=1, label="train, off")
        ax.axhline(final_te[i_off], color="C1", ls=":", lw=1, label="test, off")
        ax.set_ylim(0, 1.0)
        ax.set_xlabel(knob_label)
        ax.set_title(f"final accuracy vs {knob_label} (vmapped sweep)", fontsize=9)
        ax.legend(loc="lower left", fontsize=7)
    fig.suptitle(f"300 training digits, 784-100×{len(r['hidden'])}-10 ReLU, SGD lr 0.01, "
                 f"{r['seeds']} seeds (band: min–max)", fontsize=9)
    fig.tight_layout()
    return fig
