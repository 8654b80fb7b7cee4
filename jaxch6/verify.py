"""Every update rule beside optax and beside a NumPy port of the book's classes.

:func:`run` drives each rule of :mod:`jaxch6.optimizers` for ``steps`` steps in float64 on three
gradient streams and returns one row per (rule, stream, reference) with the largest absolute
difference of the final parameters:

- ``quadratic``: the book's f(x, y) = x²/20 + y² from (−7, 2), gradient (x/10, 2y) evaluated at
  each rule's own iterate (so differences feed back), with the book's comparison learning rates
  (``ch06/optimizer_compare_naive.py``: SGD 0.95, Momentum 0.1, AdaGrad 1.5, Adam 0.3; Nesterov
  0.1, RMSprop 0.1, AdaDelta 1.0 here);
- ``normal``: N(0, 1) gradients on a nested dict of arrays (fixed seed), book defaults;
- ``normal*1e-4``: the same gradients times 1e-4, where the placement of ε shows.

References: ``numpy``, the port of the book's classes (:mod:`jaxch6.reference.optimizers_np`);
``optax``, optax in the equivalent configuration — or, where no optax configuration is the same
rule, the documented exact equivalent form (book Nesterov through the identity
``μ·u_optax − lr·g``; AdaGrad and Adam with ε = 0 on both sides; Adam with optax's ε scheduled
as ε/√(1−β2ᵗ)), named in the row's ``note``. Checked rows pass when max |Δ| ≤ ``TOLERANCE``.
Informational rows (``status="info"``) show the direct differences (book Nesterov vs optax's
nesterov, ε placement in AdaGrad/Adam, the slides' AdaDelta code order) and never fail.

The hyperparameters reach the JAX rules as traced arrays (one compiled program per rule and
stream shape), the same path a vmapped sweep takes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxch6 import optimizers as O
from jaxch6.errors import ConfigError
from jaxch6.reference import optimizers_np as R

STEPS = 200
SEED = 0
TOLERANCE = 1e-12
QUADRATIC_START = (-7.0, 2.0)
STREAMS = ("quadratic", "normal", "normal*1e-4")
NORMAL_SCALE = 1e-4

#: Learning rates on the quadratic (the book's for SGD, Momentum, AdaGrad, Adam).
QUADRATIC_LR = {
    "sgd": 0.95,
    "momentum": 0.1,
    "nesterov": 0.1,
    "adagrad": 1.5,
    "rmsprop": 0.1,
    "adadelta": 1.0,
    "adam": 0.3,
}

#: Shapes of the nested parameter dict of the random streams.
NORMAL_SHAPES = {"layer1": {"W": (5, 4), "b": (4,)}, "layer2": {"W": (4, 3), "b": (3,)}}

COLUMNS = ("rule", "stream", "reference", "max_abs_diff", "tolerance", "status", "note")


class Check(NamedTuple):
    """One comparison: our rule (``ours(hp)``) against a reference built from the same ``hp``.

    ``ref_kind`` is ``"optax"`` (``ref(hp)`` returns a GradientTransformation run beside ours)
    or ``"numpy"`` (``ref(hp)`` returns a book-style NumPy optimizer object).
    """

    rule: str
    reference: str
    ref_kind: str
    ours: Callable[[dict], Any]
    ref: Callable[[dict], Any]
    checked: bool
    note: str = ""


# ----------------------------------------------------------------------------- the checks


def _nesterov_identity(hp):
    """Book Nesterov rebuilt from optax: ``μ·u − lr·g``, u = optax nesterov's update."""
    lr, mu = hp["learning_rate"], hp["momentum"]
    inner = optax.sgd(lr, momentum=mu, nesterov=True)

    def update(grads, state, params=None):
        u, state = inner.update(grads, state, params)
        return jax.tree.map(lambda u, g: mu * u - lr * g, u, grads), state

    return optax.GradientTransformation(inner.init, update)


def _adam_scheduled_eps(hp):
    b2, eps = hp["beta2"], hp["eps"]
    return optax.inject_hyperparams(optax.adam)(
        learning_rate=hp["learning_rate"],
        b1=hp["beta1"],
        b2=b2,
        eps=lambda c: eps / jnp.sqrt(1.0 - b2 ** (c + 1)),
    )


def _with(hp, **over):
    return {**hp, **over}


def checks(optimizers: dict[str, Callable] | None = None) -> dict[str, list[Check]]:
    """The comparisons, grouped by the optimizer name whose hyperparameters they take.

    ``optimizers`` overrides factories of :data:`jaxch6.optimizers.OPTIMIZERS` by name (a test
    passes a deliberately wrong rule to see a row fail).
    """
    f = {**O.OPTIMIZERS, **(optimizers or {})}

    def ours(name, **fixed):
        return lambda hp: f[name](**hp, **fixed)

    def ours_eps0(name):
        return lambda hp: f[name](**_with(hp, eps=0.0))

    return {
        "sgd": [
            Check("sgd", "numpy SGD", "numpy", ours("sgd"),
                  lambda hp: R.SGD(hp["learning_rate"]), True),
            Check("sgd", "optax.sgd(lr)", "optax", ours("sgd"),
                  lambda hp: optax.sgd(hp["learning_rate"]), True),
        ],
        "momentum": [
            Check("momentum", "numpy Momentum", "numpy", ours("momentum"),
                  lambda hp: R.Momentum(hp["learning_rate"], hp["momentum"]), True),
            Check("momentum", "optax.sgd(lr, momentum=mu)", "optax", ours("momentum"),
                  lambda hp: optax.sgd(hp["learning_rate"], momentum=hp["momentum"]), True),
        ],
        "nesterov": [
            Check("nesterov(book)", "numpy Nesterov", "numpy", ours("nesterov", form="book"),
                  lambda hp: R.Nesterov(hp["learning_rate"], hp["momentum"]), True),
            Check("nesterov(book)", "mu*u - lr*g, u=optax nesterov", "optax",
                  ours("nesterov", form="book"), _nesterov_identity, True,
                  "identity form: book = mu*u_optax - lr*g"),
            Check("nesterov(book)", "optax.sgd(nesterov=True)", "optax",
                  ours("nesterov", form="book"),
                  lambda hp: optax.sgd(hp["learning_rate"], momentum=hp["momentum"],
                                       nesterov=True), False,
                  "informational: book form is not optax's nesterov"),
            Check("nesterov(standard)", "optax.sgd(nesterov=True)", "optax",
                  ours("nesterov", form="standard"),
                  lambda hp: optax.sgd(hp["learning_rate"], momentum=hp["momentum"],
                                       nesterov=True), True),
        ],
        "adagrad": [
            Check("adagrad", "numpy AdaGrad", "numpy", ours("adagrad"),
                  lambda hp: R.AdaGrad(hp["learning_rate"], hp["eps"]), True),
            Check("adagrad", "optax.adagrad(init=0, eps=0)", "optax", ours_eps0("adagrad"),
                  lambda hp: optax.adagrad(hp["learning_rate"], initial_accumulator_value=0.0,
                                           eps=0.0), True,
                  "eps=0 on both sides (optax puts eps inside sqrt)"),
            Check("adagrad", "optax.adagrad(init=0, eps=1e-7)", "optax", ours("adagrad"),
                  lambda hp: optax.adagrad(hp["learning_rate"], initial_accumulator_value=0.0,
                                           eps=hp["eps"]), False,
                  "informational: eps outside sqrt (book) vs inside (optax)"),
        ],
        "rmsprop": [
            Check("rmsprop", "numpy RMSprop", "numpy", ours("rmsprop"),
                  lambda hp: R.RMSprop(hp["learning_rate"], hp["decay_rate"], hp["eps"]), True),
            Check("rmsprop", "optax.rmsprop(eps_in_sqrt=False)", "optax", ours("rmsprop"),
                  lambda hp: optax.rmsprop(hp["learning_rate"], decay=hp["decay_rate"],
                                           eps=hp["eps"], eps_in_sqrt=False), True),
        ],
        "adadelta": [
            Check("adadelta", "numpy AdaDelta", "numpy", ours("adadelta"),
                  lambda hp: R.AdaDelta(hp["learning_rate"], hp["rho"], hp["eps"]), True),
            Check("adadelta", "optax.adadelta(lr=1.0)", "optax", ours("adadelta"),
                  lambda hp: optax.adadelta(learning_rate=hp["learning_rate"], rho=hp["rho"],
                                            eps=hp["eps"]), True),
            Check("adadelta", "numpy slides-code order", "numpy", ours("adadelta"),
                  lambda hp: R.AdaDeltaSlidesCode(hp["learning_rate"], hp["rho"], hp["eps"]),
                  False, "informational: slides' code uses the old h in dx"),
        ],
        "adam": [
            Check("adam", "numpy Adam", "numpy", ours("adam"),
                  lambda hp: R.Adam(hp["learning_rate"], hp["beta1"], hp["beta2"], hp["eps"]),
                  True),
            Check("adam", "optax.adam(eps=0)", "optax", ours_eps0("adam"),
                  lambda hp: optax.adam(hp["learning_rate"], b1=hp["beta1"], b2=hp["beta2"],
                                        eps=0.0), True,
                  "eps=0 on both sides"),
            Check("adam", "optax.adam(eps=eps/sqrt(1-b2^t))", "optax", ours("adam"),
                  _adam_scheduled_eps, True,
                  "exact form: optax eps scheduled via inject_hyperparams"),
            Check("adam", "optax.adam(eps=1e-7)", "optax", ours("adam"),
                  lambda hp: optax.adam(hp["learning_rate"], b1=hp["beta1"], b2=hp["beta2"],
                                        eps=hp["eps"]), False,
                  "informational: optax eps acts on sqrt(v_hat), book's on sqrt(v)"),
        ],
    }


# ----------------------------------------------------------------------------- streams


def _quadratic_grad(p):
    """Gradient of f(x, y) = x²/20 + y² (works on NumPy and JAX leaves alike)."""
    return {"x": p["x"] / 10.0, "y": 2.0 * p["y"]}


def _normal_stream(steps: int, seed: int):
    """Initial params and ``steps`` N(0, 1) gradients on :data:`NORMAL_SHAPES` (NumPy)."""
    rng = np.random.default_rng(seed)

    def draw(shapes, lead=()):
        if isinstance(shapes, dict):
            return {k: draw(v, lead) for k, v in shapes.items()}
        return rng.standard_normal(lead + shapes)

    params0 = draw(NORMAL_SHAPES)
    grads = draw(NORMAL_SHAPES, (steps,))
    return params0, grads


def _copy(tree):
    return jax.tree.map(lambda a: np.array(a, dtype=np.float64), tree)


def _run_numpy(opt, params0, grads, steps: int):
    params = _copy(params0)
    for t in range(steps):
        g = _quadratic_grad(params) if grads is None else jax.tree.map(lambda a, t=t: a[t], grads)
        opt.update(params, g)
    return R.leaves(params)


def _jax_runner(transforms_of: Callable[[dict], list], quadratic: bool, steps: int):
    """A jitted ``(hp, params0, grads) -> [final params per transform]`` (one compile)."""

    def run(hp, params0, grads):
        txs = transforms_of(hp)
        carry0 = [(params0, tx.init(params0)) for tx in txs]

        def body(carry, g_t):
            out = []
            for tx, (p, s) in zip(txs, carry, strict=True):
                g = _quadratic_grad(p) if quadratic else g_t
                u, s = tx.update(g, s, p)
                out.append((O.apply_updates(p, u), s))
            return out, None

        xs = None if quadratic else grads
        carry, _ = jax.lax.scan(body, carry0, xs, length=steps)
        return [p for p, _ in carry]

    return jax.jit(run)


def _max_abs_diff(a_leaves, b_leaves) -> float:
    worst = 0.0
    for a, b in zip(a_leaves, b_leaves, strict=True):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
        d = float(np.max(np.abs(a - b))) if a.size else 0.0
        if not np.isfinite(d):
            return float("nan")
        worst = max(worst, d)
    return worst


# ----------------------------------------------------------------------------- driver


def run(
    steps: int = STEPS,
    seed: int = SEED,
    *,
    tolerance: float = TOLERANCE,
    optimizers: dict[str, Callable] | None = None,
    rules: tuple[str, ...] | list[str] | None = None,
) -> list[dict]:
    """All comparison rows (see the module docstring), computed in float64.

    Each row: ``rule, stream, reference, max_abs_diff, tolerance, checked, status`` (``pass`` /
    ``FAIL`` for checked rows, ``info`` otherwise) ``, note, hparams``. ``rules`` restricts the
    run to some keys of :data:`jaxch6.optimizers.OPTIMIZERS`; ``optimizers`` replaces factories
    by name (see :func:`checks`).
    """
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    groups = checks(optimizers)
    if rules is not None:
        unknown = sorted(set(rules) - set(groups))
        if unknown:
            raise ConfigError(
                f"unknown rule(s) {', '.join(unknown)}; valid: {', '.join(groups)}"
            )
        groups = {k: v for k, v in groups.items() if k in rules}
    rows: list[dict] = []
    with jax.enable_x64(True):
        normal_p0, normal_g = _normal_stream(steps, seed)
        streams = {
            "quadratic": ({"x": np.array(QUADRATIC_START[0]), "y": np.array(QUADRATIC_START[1])},
                          None),
            "normal": (normal_p0, normal_g),
            "normal*1e-4": (normal_p0, jax.tree.map(lambda a: a * NORMAL_SCALE, normal_g)),
        }
        for name, group in groups.items():
            # our transforms (deduplicated by identity of the builder) then optax references
            jax_items: list[Callable] = []
            index: dict[int, int] = {}

            def slot(fn, jax_items=jax_items, index=index):
                if id(fn) not in index:
                    index[id(fn)] = len(jax_items)
                    jax_items.append(fn)
                return index[id(fn)]

            plan = []
            for c in group:
                a = slot(c.ours)
                b = slot(c.ref) if c.ref_kind == "optax" else None
                plan.append((c, a, b))

            def transforms_of(hp, jax_items=jax_items):
                return [fn(hp) for fn in jax_items]

            runners = {q: _jax_runner(transforms_of, q, steps) for q in (True, False)}
            for stream in STREAMS:
                p0, grads = streams[stream]
                hp = dict(O.DEFAULTS[name])
                if stream == "quadratic":
                    hp["learning_rate"] = QUADRATIC_LR[name]
                hp_arr = {k: jnp.asarray(v, jnp.float64) for k, v in hp.items()}
                finals = runners[grads is None](hp_arr, _copy(p0), grads)
                finals = [[np.asarray(x) for x in jax.tree.leaves(f)] for f in finals]
                for c, a, b in plan:
                    if c.ref_kind == "optax":
                        ref = finals[b]
                    else:
                        ref = _run_numpy(c.ref(hp), p0, grads, steps)
                    d = _max_abs_diff(finals[a], ref)
                    if c.checked:
                        status = "pass" if d <= tolerance else "FAIL"
                    else:
                        status = "info"
                    rows.append({
                        "rule": c.rule,
                        "stream": stream,
                        "reference": c.reference,
                        "max_abs_diff": d,
                        "tolerance": tolerance if c.checked else None,
                        "checked": c.checked,
                        "status": status,
                        "note": c.note,
                        "hparams": hp,
                    })
    return rows


def all_passed(rows: list[dict]) -> bool:
    """True when every checked row passes (informational rows never fail)."""
    return all(r["status"] == "pass" for r in rows if r["checked"])


def format_table(rows: list[dict]) -> str:
    """A fixed-width text table of ``rows``."""
    head = ("rule", "stream", "reference", "max|Δparams|", "tol", "result", "note")

    def cells(r):
        tol = "-" if r["tolerance"] is None else f"{r['tolerance']:.0e}"
        return (r["rule"], r["stream"], r["reference"], f"{r['max_abs_diff']:.3e}", tol,
                r["status"], r["note"])

    body = [cells(r) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head[:-1])]
    lines = []
    for row in (head, *body):
        parts = [s.ljust(w) for s, w in zip(row[:-1], widths, strict=True)] + [row[-1]]
        lines.append("  ".join(parts).rstrip())
        if row is head:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 4)
    return "\n".join(lines)
