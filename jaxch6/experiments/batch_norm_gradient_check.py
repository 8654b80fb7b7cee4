"""Gradient check of the batch-norm network — ``ch06/batch_norm_gradient_check.py``.

Book: a 784-100-100-10 ``MultiLayerNetExtend`` with batch norm; its hand-written backward pass
against a central-difference numerical gradient (h = 1e-4) on one training digit, printing
``mean |backprop − numerical|`` per parameter array (all tiny: the backward is right).

Here: :func:`jaxch6.gradcheck.book_network_check` — ``jax.grad`` against the same central
difference, in float64, on 3 digits (with a single digit batch norm's batch variance is 0 and
the check degenerates; see :mod:`jaxch6.gradcheck`), for the book's network with batch norm and,
beyond the book, the same network without it. The table is written as JSON and drawn as a bar
chart on a log scale.
"""

from __future__ import annotations

import numpy as np

from jaxch6.experiments import common

NAME = "batch_norm_gradient_check"
BATCH = 3


def run(out_dir, *, seed: int = 0, quick: bool = False) -> dict:
    """Write ``batch_norm_gradient_check.png`` / ``.json``."""
    import jax

    from jaxch6.gradcheck import BOOK_SIZES, TOLERANCE, H, book_network_check

    plt = common.pyplot()
    sizes = (784, 10, 10, 10) if quick else BOOK_SIZES
    x, t, _, _, data_info = common.load_digits()
    key = jax.random.PRNGKey(seed)
    with common.Timer() as timer, common.fast_compile(quick):
        tables = {bn: book_network_check(x[:BATCH], t[:BATCH], key=key, sizes=sizes,
                                         use_batchnorm=bn) for bn in (True, False)}

    names = list(tables[True])
    fig, ax = plt.subplots(figsize=(8, 3.8))
    pos = np.arange(len(names))
    with_bn = [tables[True][n] for n in names]
    without = [tables[False].get(n, np.nan) for n in names]
    floor = 1e-16
    ax.bar(pos - 0.2, np.maximum(with_bn, floor), 0.4, label="with batch norm (book)")
    ax.bar(pos + 0.2, np.maximum(np.nan_to_num(without, nan=0.0), floor), 0.4,
           label="without batch norm")
    ax.axhline(TOLERANCE, color="red", ls="--", lw=1, label=f"tolerance {TOLERANCE:g}")
    ax.set_yscale("log")
    ax.set_ylim(floor, 1e-3)
    ax.set_xticks(pos, names, fontsize=8)
    ax.set_ylabel("mean |autodiff − numerical|")
    ax.set_title(f"Gradient check, {'-'.join(map(str, sizes))}, float64, h={H:g}, "
                 f"{BATCH} digits", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()

    summary = {
        "experiment": NAME,
        "book": "ch06/batch_norm_gradient_check.py",
        "settings": {"sizes": sizes, "batch": BATCH, "h": H, "dtype": "float64",
                     "weight_init": "he", "seed": seed, "quick": quick, "tolerance": TOLERANCE},
        "data": data_info,
        "vs_book": "book: its hand-written backward on 1 digit; here jax.grad on 3 digits "
        "(1 digit makes batch norm degenerate), plus the same network without batch norm",
        "mean_abs_diff": {"batchnorm": tables[True], "plain": tables[False]},
        "max_over_arrays": {"batchnorm": max(tables[True].values()),
                            "plain": max(tables[False].values())},
        "passed": bool(max(max(tables[True].values()), max(tables[False].values())) < TOLERANCE),
        "seconds": timer.seconds,
    }
    return common.write_outputs(out_dir, NAME, fig, summary)
