"""Every update rule beside optax and beside a NumPy port of the book's classes.

:func:`run` drives each rule of :mod:`jaxch6.optimizers` for ``steps`` steps in float64 on four
gradient streams and returns one row per (rule, learning rate, stream, reference) with the
largest absolute difference of the final parameters:

- ``quadratic``: the book's f(x, y) = x²/20 + y² from (−7, 2), gradient (x/10, 2y) evaluated at
  each rule's own iterate (so differences feed back), with the book's comparison learning rates
  (``ch06/optimizer_compare_naive.py``: SGD 0.95, Momentum 0.1, AdaGrad 1.5, Adam 0.3; Nesterov
  0.1, RMSprop 0.1, AdaDelta 1.0 here);
- ``normal``: N(0, 1) gradients on a nested dict of arrays (fixed seed), book defaults;
- ``normal*1e-4``: the same gradients times 1e-4, where the placement of ε shows;
- ``complex``: complex N(0, 1) parameters and gradients (real and imaginary parts drawn like
  ``normal``'s), book defaults, against optax only (the book's NumPy classes are real): the
  rules that square gradients must square their modulus, as optax does.

Each rule runs with its constant learning rate (``lr = "constant"``) and with the learning-rate
schedule :func:`lr_schedule` built from it (``lr = "exp_decay"``:
``optax.exponential_decay(lr, 50, 0.5)``, a different rate on every step, so an off-by-one in
the step count shows), the same schedule object given to the rule and to optax.

References: ``numpy``, the port of the book's classes (:mod:`jaxch6.reference.optimizers_np`,
constant learning rates); ``optax``, optax in the equivalent configuration — or, where no optax
optimizer is the same rule, the documented exact equivalent form built from optax's public
transformations (book Nesterov through the identity ``μ·u_optax − lr·g``; AdaGrad and Adam with
ε = 0 on both sides; Adam with optax's ε scheduled as ε/√(1−β2ᵗ); under a schedule, book
Momentum as ``chain(scale_by_learning_rate(s), trace(μ))``, since the book's velocity carries
each step's own learning rate), named in the row's ``note``. Checked rows pass when
max |Δ| ≤ ``TOLERANCE``. Informational rows (``status="info"``) show the direct differences
(book Nesterov vs optax's nesterov, ε placement in AdaGrad/Adam, the slides' AdaDelta code
order, book Momentum vs ``optax.sgd(s, momentum=μ)`` under a schedule) and never fail.

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
#: The admissible ``steps`` (the random streams hold ``steps`` gradients) and ``seed``.
MAX_STEPS = 100_000
SEED_LIMIT = 2**32
QUADRATIC_START = (-7.0, 2.0)
STREAMS = ("quadratic", "normal", "normal*1e-4", "complex")
#: The stream with complex parameters (optax references only).
COMPLEX_STREAM = "complex"
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

#: The learning-rate schedule of the scheduled rows: lr·0.5^(c/50) at update c.
SCHEDULE_LABEL = "exp_decay"
SCHEDULE_TRANSITION_STEPS = 50
SCHEDULE_DECAY_RATE = 0.5

#: Why AdaDelta's optax rows are informational on the complex stream.
ADADELTA_COMPLEX = "informational on complex: optax.adadelta squares g, this rule |g|^2"

COLUMNS = ("rule", "lr", "stream", "reference", "max_abs_diff", "tolerance", "status", "note")


class Check(NamedTuple):
    """One comparison: our rule (``ours(hp)``) against a reference built from the same ``hp``.

    ``ref_kind`` is ``"optax"`` (``ref(hp)`` returns a GradientTransformation run beside ours)
    or ``"numpy"`` (``ref(hp)`` returns a book-style NumPy optimizer object). ``scheduled``
    rows give both sides the learning rate as :func:`lr_schedule` of ``hp["learning_rate"]``.
    A non-empty ``complex_differs`` makes the row informational on the complex stream and says
    why.
    """

    rule: str
    reference: str
    ref_kind: str
    ours: Callable[[dict[str, Any]], Any]
    ref: Callable[[dict[str, Any]], Any]
    checked: bool
    note: str = ""
    scheduled: bool = False
    complex_differs: str = ""


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


def lr_schedule(learning_rate: jax.typing.ArrayLike) -> optax.Schedule:
    """The schedule of the scheduled rows: ``optax.exponential_decay`` from ``learning_rate``.

    Math: ``lr_c = lr·0.5^(c/50)`` at update c (0 on the first), a new rate on every step.

    Args:
        learning_rate: the rate at c = 0, possibly a traced scalar.

    Returns:
        An optax schedule ``count -> lr``.

    Example:
        >>> s = lr_schedule(0.1)
    """
    return optax.exponential_decay(learning_rate, transition_steps=SCHEDULE_TRANSITION_STEPS,
                                   decay_rate=SCHEDULE_DECAY_RATE)


def _sched(hp):
    return lr_schedule(hp["learning_rate"])


def _momentum_scheduled(hp):
    """Book Momentum under a schedule in optax's pieces: scale by −lr_c, then ``v ← μv + ·``."""
    return optax.chain(optax.scale_by_learning_rate(_sched(hp)), optax.trace(hp["momentum"]))


def _nesterov_identity_scheduled(hp):
    """Book Nesterov under a schedule: ``μ·u − lr_c·g``, u from scale-then-trace(nesterov)."""
    mu = hp["momentum"]
    inner = optax.chain(optax.scale_by_learning_rate(_sched(hp)),
                        optax.trace(mu, nesterov=True))
    minus_lr_g = optax.scale_by_learning_rate(_sched(hp))

    def init(params):
        return inner.init(params), minus_lr_g.init(params)

    def update(grads, state, params=None):
        u, s_u = inner.update(grads, state[0], params)
        step, s_g = minus_lr_g.update(grads, state[1], params)
        return jax.tree.map(lambda u, d: mu * u + d, u, step), (s_u, s_g)

    return optax.GradientTransformation(init, update)


def _adam_scheduled_both(hp):
    b2, eps = hp["beta2"], hp["eps"]
    return optax.inject_hyperparams(optax.adam)(
        learning_rate=_sched(hp),
        b1=hp["beta1"],
        b2=b2,
        eps=lambda c: eps / jnp.sqrt(1.0 - b2 ** (c + 1)),
    )


Builder = Callable[[dict[str, Any]], Any]


def _builders(f: dict[str, Callable[..., optax.GradientTransformation]]):
    """``ours(name, scheduled=False, **over)``: one builder per distinct call (so a rule that
    several rows compare runs once)."""
    made: dict[tuple, Builder] = {}

    def ours(name: str, scheduled: bool = False, **over: Any) -> Builder:
        key = (name, scheduled, tuple(sorted(over.items())))
        if key not in made:
            def build(hp):
                hp = {**hp, **over}
                if scheduled:
                    hp["learning_rate"] = lr_schedule(hp["learning_rate"])
                return f[name](**hp)

            made[key] = build
        return made[key]

    return ours


def _sgd_family_checks(ours) -> dict[str, list[Check]]:
    """SGD, Momentum, Nesterov, AdaGrad with constant learning rates."""
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
            Check("adagrad", "optax.adagrad(init=0, eps=0)", "optax", ours("adagrad", eps=0.0),
                  lambda hp: optax.adagrad(hp["learning_rate"], initial_accumulator_value=0.0,
                                           eps=0.0), True,
                  "eps=0 on both sides (optax puts eps inside sqrt)"),
            Check("adagrad", "optax.adagrad(init=0, eps=1e-7)", "optax", ours("adagrad"),
                  lambda hp: optax.adagrad(hp["learning_rate"], initial_accumulator_value=0.0,
                                           eps=hp["eps"]), False,
                  "informational: eps outside sqrt (book) vs inside (optax)"),
        ],
    }


def _adaptive_checks(ours) -> dict[str, list[Check]]:
    """RMSprop, AdaDelta, Adam with constant learning rates."""
    return {
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
                                            eps=hp["eps"]), True,
                  complex_differs=ADADELTA_COMPLEX),
            Check("adadelta", "numpy slides-code order", "numpy", ours("adadelta"),
                  lambda hp: R.AdaDeltaSlidesCode(hp["learning_rate"], hp["rho"], hp["eps"]),
                  False, "informational: slides' code uses the old h in dx"),
        ],
        "adam": [
            Check("adam", "numpy Adam", "numpy", ours("adam"),
                  lambda hp: R.Adam(hp["learning_rate"], hp["beta1"], hp["beta2"], hp["eps"]),
                  True),
            Check("adam", "optax.adam(eps=0)", "optax", ours("adam", eps=0.0),
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


def _scheduled_checks(ours) -> dict[str, list[Check]]:
    """Every rule with :func:`lr_schedule` on both sides (the constant rows' pairing)."""
    def sch(rule, reference, name, ref, checked=True, note="", **over):
        return Check(rule, reference, "optax", ours(name, True, **over), ref, checked, note, True)

    mu = "momentum"
    return {
        "sgd": [sch("sgd", "optax.sgd(s)", "sgd", lambda hp: optax.sgd(_sched(hp)))],
        "momentum": [
            sch("momentum", "chain(scale_by_learning_rate(s), trace(mu))", mu,
                _momentum_scheduled, note="book v carries each step's lr: scale, then trace"),
            sch("momentum", "optax.sgd(s, momentum=mu)", mu,
                lambda hp: optax.sgd(_sched(hp), momentum=hp[mu]), False,
                "informational: optax scales the whole trace by the current lr"),
        ],
        "nesterov": [
            sch("nesterov(book)", "mu*u - lr*g, u=scale-then-trace nesterov", "nesterov",
                _nesterov_identity_scheduled, note="identity form: book = mu*u - lr_c*g",
                form="book"),
            sch("nesterov(standard)", "optax.sgd(s, nesterov=True)", "nesterov",
                lambda hp: optax.sgd(_sched(hp), momentum=hp[mu], nesterov=True),
                form="standard"),
        ],
        "adagrad": [
            sch("adagrad", "optax.adagrad(s, init=0, eps=0)", "adagrad",
                lambda hp: optax.adagrad(_sched(hp), initial_accumulator_value=0.0, eps=0.0),
                note="eps=0 on both sides (optax puts eps inside sqrt)", eps=0.0),
        ],
        "rmsprop": [
            sch("rmsprop", "optax.rmsprop(s, eps_in_sqrt=False)", "rmsprop",
                lambda hp: optax.rmsprop(_sched(hp), decay=hp["decay_rate"], eps=hp["eps"],
                                         eps_in_sqrt=False)),
        ],
        "adadelta": [
            Check("adadelta", "optax.adadelta(s)", "optax", ours("adadelta", True),
                  lambda hp: optax.adadelta(learning_rate=_sched(hp), rho=hp["rho"],
                                            eps=hp["eps"]), True, "", True, ADADELTA_COMPLEX),
        ],
        "adam": [
            sch("adam", "optax.adam(s, eps=0)", "adam",
                lambda hp: optax.adam(_sched(hp), b1=hp["beta1"], b2=hp["beta2"], eps=0.0),
                note="eps=0 on both sides", eps=0.0),
            sch("adam", "optax.adam(s, eps=eps/sqrt(1-b2^t))", "adam", _adam_scheduled_both,
                note="exact form: optax eps scheduled via inject_hyperparams"),
        ],
    }


def checks(
    optimizers: dict[str, Callable[..., optax.GradientTransformation]] | None = None,
) -> dict[str, list[Check]]:
    """The comparisons, grouped by the optimizer name whose hyperparameters they take.

    Args:
        optimizers: factories that replace those of :data:`jaxch6.optimizers.OPTIMIZERS` by
            name (a test passes a deliberately wrong rule to see its rows fail).

    Returns:
        ``{optimizer name: [Check, ...]}``: the constant-lr rows, then the scheduled ones.

    Example:
        >>> groups = checks()
    """
    ours = _builders({**O.OPTIMIZERS, **(optimizers or {})})
    constant = {**_sgd_family_checks(ours), **_adaptive_checks(ours)}
    scheduled = _scheduled_checks(ours)
    return {name: constant[name] + scheduled[name] for name in constant}


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


def _complex_stream(steps: int, seed: int):
    """Complex params and gradients: real parts :func:`_normal_stream`'s, imaginary parts a
    second draw from ``seed + 1``."""
    re_p0, re_g = _normal_stream(steps, seed)
    im_p0, im_g = _normal_stream(steps, seed + 1)
    return (jax.tree.map(lambda a, b: a + 1j * b, re_p0, im_p0),
            jax.tree.map(lambda a, b: a + 1j * b, re_g, im_g))


def _copy(tree):
    """float64 (complex128 for complex leaves) NumPy copies."""
    return jax.tree.map(lambda a: np.array(a, dtype=np.result_type(a, np.float64)), tree)


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
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
        d = float(np.max(np.abs(a - b))) if a.size else 0.0
        if not np.isfinite(d):
            return float("nan")
        worst = max(worst, d)
    return worst


# ----------------------------------------------------------------------------- driver


def _check_int(name: str, value: Any, low: int, high: int, shown: str) -> None:
    """``value`` must be an integer with ``low <= value < high`` (``shown`` in the message)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not (
        low <= value < high
    ):
        raise ConfigError(f"{name} must be an integer in {shown}, got {value!r}")


def check_arguments(steps: int, seed: int, tolerance: float = TOLERANCE, *,
                    prefix: str = "") -> None:
    """Raise ConfigError unless the arguments of :func:`run` are in range.

    Args:
        steps: update steps per run, an integer in [1, :data:`MAX_STEPS`].
        seed: seed of the random streams, an integer in [0, 2**32).
        tolerance: a finite number ≥ 0.
        prefix: put before each name in the message (``"--"`` for the command's options).

    Raises:
        ConfigError: one line naming the first argument out of range.
    """
    _check_int(f"{prefix}steps", steps, 1, MAX_STEPS + 1, f"[1, {MAX_STEPS}]")
    _check_int(f"{prefix}seed", seed, 0, SEED_LIMIT, "[0, 2**32)")
    try:
        ok = np.isfinite(float(tolerance)) and float(tolerance) >= 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"{prefix}tolerance must be a finite number >= 0, got {tolerance!r}")


def _streams(steps: int, seed: int) -> dict[str, tuple[Any, Any]]:
    """``{stream: (params0, grads or None)}``; ``None``: gradients of the quadratic."""
    normal_p0, normal_g = _normal_stream(steps, seed)
    return {
        "quadratic": ({"x": np.array(QUADRATIC_START[0]), "y": np.array(QUADRATIC_START[1])},
                      None),
        "normal": (normal_p0, normal_g),
        "normal*1e-4": (normal_p0, jax.tree.map(lambda a: a * NORMAL_SCALE, normal_g)),
        COMPLEX_STREAM: _complex_stream(steps, seed),
    }


def _plan(group: list[Check]) -> tuple[list[Builder], list[tuple[Check, int, int | None]]]:
    """The distinct JAX builders of a group (ours first as met, optax references) and, per
    check, the indices of its two sides (``None`` for a NumPy reference)."""
    items: list[Builder] = []
    index: dict[int, int] = {}

    def slot(fn):
        if id(fn) not in index:
            index[id(fn)] = len(items)
            items.append(fn)
        return index[id(fn)]

    plan = [(c, slot(c.ours), slot(c.ref) if c.ref_kind == "optax" else None) for c in group]
    return items, plan


def _row(c: Check, stream: str, d: float, tolerance: float, hp: dict) -> dict[str, Any]:
    if stream == COMPLEX_STREAM and c.complex_differs:
        c = c._replace(checked=False, note=c.complex_differs)
    status = ("pass" if d <= tolerance else "FAIL") if c.checked else "info"
    return {
        "rule": c.rule,
        "lr": SCHEDULE_LABEL if c.scheduled else "constant",
        "stream": stream,
        "reference": c.reference,
        "max_abs_diff": d,
        "tolerance": tolerance if c.checked else None,
        "checked": c.checked,
        "status": status,
        "note": c.note,
        "hparams": hp,
    }


def _run_group(name: str, group: list[Check], streams: dict, steps: int,
               tolerance: float) -> list[dict[str, Any]]:
    items, plan = _plan(group)
    runners = {q: _jax_runner(lambda hp: [fn(hp) for fn in items], q, steps)
               for q in (True, False)}
    rows = []
    for stream in STREAMS:
        p0, grads = streams[stream]
        hp = dict(O.DEFAULTS[name])
        if stream == "quadratic":
            hp["learning_rate"] = QUADRATIC_LR[name]
        hp_arr = {k: jnp.asarray(v, jnp.float64) for k, v in hp.items()}
        finals = runners[grads is None](hp_arr, _copy(p0), grads)
        finals = [[np.asarray(x) for x in jax.tree.leaves(f)] for f in finals]
        for c, a, b in plan:
            if b is None and stream == COMPLEX_STREAM:
                continue  # the book's NumPy classes are real-valued
            ref = finals[b] if b is not None else _run_numpy(c.ref(hp), p0, grads, steps)
            rows.append(_row(c, stream, _max_abs_diff(finals[a], ref), tolerance, hp))
    return rows


def run(
    steps: int = STEPS,
    seed: int = SEED,
    *,
    tolerance: float = TOLERANCE,
    optimizers: dict[str, Callable[..., optax.GradientTransformation]] | None = None,
    rules: tuple[str, ...] | list[str] | None = None,
) -> list[dict[str, Any]]:
    """All comparison rows (see the module docstring), computed in float64.

    Args:
        steps: update steps per run, in [1, :data:`MAX_STEPS`].
        seed: seed of the random streams, in [0, 2**32).
        tolerance: the largest max |Δparams| a checked row may show and pass.
        optimizers: factories replacing those of :data:`jaxch6.optimizers.OPTIMIZERS` by name
            (see :func:`checks`).
        rules: restrict the run to these keys of :data:`jaxch6.optimizers.OPTIMIZERS`.

    Returns:
        One dict per row: ``rule, lr`` (``"constant"`` or :data:`SCHEDULE_LABEL`) ``, stream,
        reference, max_abs_diff`` (NaN if a run diverged) ``, tolerance, checked, status``
        (``pass`` / ``FAIL`` for checked rows, ``info`` otherwise) ``, note, hparams``.

    Raises:
        ConfigError: an argument out of range or an unknown rule.

    Example:
        >>> rows = run(steps=20, rules=["sgd"])
        >>> all_passed(rows)
        True
    """
    check_arguments(steps, seed, tolerance)
    groups = checks(optimizers)
    if rules is not None:
        unknown = sorted(set(rules) - set(groups))
        if unknown:
            raise ConfigError(
                f"unknown rule(s) {', '.join(unknown)}; valid: {', '.join(groups)}"
            )
        groups = {k: v for k, v in groups.items() if k in rules}
    rows: list[dict[str, Any]] = []
    with jax.enable_x64(True):
        streams = _streams(steps, seed)
        for name, group in groups.items():
            rows.extend(_run_group(name, group, streams, steps, tolerance))
    return rows


def all_passed(rows: list[dict[str, Any]]) -> bool:
    """True when every checked row passes (informational rows never fail).

    Args:
        rows: rows of :func:`run`.

    Returns:
        Whether no checked row has status ``FAIL``.
    """
    return all(r["status"] == "pass" for r in rows if r["checked"])


def format_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width text table of ``rows``.

    Args:
        rows: rows of :func:`run` (a row without ``lr`` shows ``constant``).

    Returns:
        The header, a rule line and one line per row, joined by newlines.
    """
    head = ("rule", "lr", "stream", "reference", "max|Δparams|", "tol", "result", "note")

    def cells(r):
        tol = "-" if r["tolerance"] is None else f"{r['tolerance']:.0e}"
        return (r["rule"], r.get("lr", "constant"), r["stream"], r["reference"],
                f"{r['max_abs_diff']:.3e}", tol, r["status"], r["note"])

    body = [cells(r) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head[:-1])]
    lines = []
    for row in (head, *body):
        parts = [s.ljust(w) for s, w in zip(row[:-1], widths, strict=True)] + [row[-1]]
        lines.append("  ".join(parts).rstrip())
        if row is head:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 4)
    return "\n".join(lines)
