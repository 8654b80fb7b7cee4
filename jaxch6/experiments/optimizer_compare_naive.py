"""Update rules on the bowl f(x, y) = x²/20 + y² — the book's ``ch06/optimizer_compare_naive.py``.

Book: SGD (lr 0.95), Momentum (0.1), AdaGrad (1.5), Adam (0.3), 30 steps from (−7, 2), the path
plotted over a contour of f (values above 7 zeroed, as the book does), one panel per rule.

Here: the same four plus Nesterov (book form, lr 0.1), RMSprop (lr 0.2) and AdaDelta (lr 1,
ε = 0.1 — with the default ε = 1e-7 AdaDelta's first steps are ~√ε-sized and it moves only
~0.05 in 30 steps; that path is drawn dashed in the same panel). An eighth panel goes beyond the
book: f after 30 steps against the learning rate for every rule, each rule's whole range of
learning rates run as one ``vmap``.
"""

from __future__ import annotations

import numpy as np

from jaxch6.experiments import common

NAME = "optimizer_compare_naive"
STEPS = 30

#: (label, optimizer name, hyperparameters): the book's four first, then our three.
RULES = (
    ("SGD", "sgd", {"learning_rate": 0.95}),
    ("Momentum", "momentum", {"learning_rate": 0.1}),
    ("AdaGrad", "adagrad", {"learning_rate": 1.5}),
    ("Adam", "adam", {"learning_rate": 0.3}),
    ("Nesterov", "nesterov", {"learning_rate": 0.1}),
    ("RMSprop", "rmsprop", {"learning_rate": 0.2}),
    ("AdaDelta", "adadelta", {"learning_rate": 1.0, "eps": 0.1}),
)
BOOK_RULES = ("SGD", "Momentum", "AdaGrad", "Adam")


def trajectory(name: str, hparams: dict, steps: int = STEPS, init_pos=None):
    """Positions of ``steps`` updates of rule ``name`` on f from ``init_pos`` (book: (−7, 2)).

    Returns ``(xs, ys)`` of length ``steps + 1``: the start and the position after each update
    (the book plots the first ``steps`` of them: it records before each update).
    Every hyperparameter may be a traced array, so this ``vmap`` s over learning rates.
    """
    import jax
    import jax.numpy as jnp

    from jaxch6.functions import INIT_POS, grad_params
    from jaxch6.optimizers import apply_updates, get_optimizer

    x0, y0 = INIT_POS if init_pos is None else init_pos
    opt = get_optimizer(name, **hparams)
    params = {"x": jnp.asarray(x0, jnp.float32), "y": jnp.asarray(y0, jnp.float32)}

    def step(carry, _):
        p, s = carry
        updates, s = opt.update(grad_params(p), s, p)
        p = apply_updates(p, updates)
        return (p, s), p

    _, hist = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
    xs = jnp.concatenate([params["x"][None], hist["x"]])
    ys = jnp.concatenate([params["y"][None], hist["y"]])
    return xs, ys


def lr_scan(name: str, hparams: dict, learning_rates, steps: int = STEPS):
    """f after ``steps`` updates for each learning rate, as one ``jit(vmap(...))``."""
    import jax
    import jax.numpy as jnp

    from jaxch6.functions import f

    def final_f(lr):
        xs, ys = trajectory(name, {**hparams, "learning_rate": lr}, steps)
        return f(xs[-1], ys[-1])

    return jax.jit(jax.vmap(final_f))(jnp.asarray(learning_rates, jnp.float32))


def run(out_dir, *, seed: int = 0, quick: bool = False) -> dict:
    """Write ``optimizer_compare_naive.png`` / ``.json``; deterministic (``seed`` is unused)."""
    import jax

    from jaxch6.functions import INIT_POS, f

    lrs = np.logspace(-3, 1, 9 if quick else 41)

    def everything():  # one compiled program for all rules, paths and learning-rate scans
        paths = {label: trajectory(name, hp) for label, name, hp in RULES}
        curves = {label: lr_scan(name, hp, lrs) for label, name, hp in RULES}
        return paths, curves, trajectory("adadelta", {})

    with common.Timer() as timer, common.fast_compile(quick):
        paths, lr_curves, default_path = jax.tree.map(np.asarray, jax.jit(everything)())
        xs_dflt, ys_dflt = default_path
    fig = _figure(paths, lr_curves, default_path, lrs, grid_step=0.05 if quick else 0.01)
    summary = {
        "experiment": NAME,
        "book": "ch06/optimizer_compare_naive.py",
        "settings": {"init_pos": INIT_POS, "steps": STEPS, "rules": {
            label: {"optimizer": name, **hp} for label, name, hp in RULES}},
        "book_rules": BOOK_RULES,
        "vs_book": "book plots SGD/Momentum/AdaGrad/Adam only; Nesterov (lr 0.1), RMSprop "
        "(lr 0.2) and AdaDelta (eps 0.1; default eps 1e-7 path also given) added here",
        "paths": {label: {"x": common.rounded(xs), "y": common.rounded(ys)}
                  for label, (xs, ys) in paths.items()},
        "final": {label: {"x": float(xs[-1]), "y": float(ys[-1]),
                          "f": float(f(xs[-1], ys[-1]))} for label, (xs, ys) in paths.items()},
        "adadelta_default_eps": {"x": common.rounded(xs_dflt), "y": common.rounded(ys_dflt)},
        "lr_scan": {"learning_rates": lrs, "final_f": {
            k: common.rounded(v, 8) for k, v in lr_curves.items()}},
        "seconds": timer.seconds,
    }
    return common.write_outputs(out_dir, NAME, fig, summary)


def _figure(paths, lr_curves, default_path, lrs, *, grid_step: float):
    """Each rule's path over the contours of f, and f after the steps against the learning
    rate."""
    from jaxch6.functions import INIT_POS, contour_grid, f

    plt = common.pyplot()
    xs_dflt, ys_dflt = default_path
    gx, gy, gz = (np.asarray(a) for a in contour_grid(step=grid_step))
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.4))
    for ax, (label, _name, hp) in zip(axes.flat, RULES, strict=False):
        xs, ys = paths[label]
        ax.contour(gx, gy, gz, levels=8, linewidths=0.7)
        if label == "AdaDelta":
            ax.plot(xs_dflt[:STEPS], ys_dflt[:STEPS], "o--", color="gray", ms=3, lw=1,
                    label="ε=1e-7 (default)")
            ax.legend(loc="lower right", fontsize=7)
        ax.plot(xs[:STEPS], ys[:STEPS], "o-", color="red", ms=3, lw=1)
        ax.plot(0, 0, "+", color="black", ms=10)
        ax.set_xlim(-10, 10)
        ax.set_ylim(-10, 10)
        extra = f", ε={hp['eps']:g}" if "eps" in hp else ""
        ax.set_title(f"{label} (lr={hp['learning_rate']:g}{extra})", fontsize=9)
        ax.tick_params(labelsize=7)
    ax = axes.flat[-1]
    for label, _, hp in RULES:
        (line,) = ax.loglog(lrs, np.maximum(lr_curves[label], 1e-12), label=label, lw=1)
        chosen = np.interp(np.log(hp["learning_rate"]), np.log(lrs), np.log(
            np.maximum(lr_curves[label], 1e-12)))
        ax.plot(hp["learning_rate"], np.exp(chosen), "o", color=line.get_color(), ms=4)
    ax.axhline(f(*INIT_POS), color="gray", lw=0.7, ls=":")
    ax.set_ylim(1e-12, 1e6)
    ax.set_xlabel("learning rate", fontsize=8)
    ax.set_title(f"f after {STEPS} steps vs lr (vmapped)", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    ax.tick_params(labelsize=7)
    fig.suptitle("f(x, y) = x²/20 + y² from (−7, 2), 30 steps", fontsize=10)
    fig.tight_layout()
    return fig
