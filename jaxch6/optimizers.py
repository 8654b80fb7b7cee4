"""The chapter's seven update rules as pure JAX functions (``optax.GradientTransformation`` s).

Each factory returns an object with ``init(params) -> state`` and
``update(grads, state, params=None) -> (updates, new_state)``; parameters change only through
:func:`apply_updates` (``params + updates``, optax's). The state of every rule is one
``NamedTuple`` whose fields are the book's instance variables (``v``, ``h``, ``s``, ``m``,
``count``), so a rule drops straight into ``optax.chain`` and into ``lax.scan`` / ``vmap``.

The math is the book's code (``common/optimizer.py`` of *Deep Learning from Scratch*; AdaDelta
from the chapter's slides), g the gradient, p the parameter, every product element-wise:

======== ============================================================================
SGD      p ← p − lr·g
Momentum v ← μv − lr·g;  p ← p + v
Nesterov v ← μv − lr·g;  p ← p + μ²v − (1+μ)·lr·g          (book code; new v)
AdaGrad  h ← h + g²;  p ← p − lr·g / (√h + ε)
RMSprop  h ← ρh + (1−ρ)g²;  p ← p − lr·g / (√h + ε)
AdaDelta h ← ρh + (1−ρ)g²;  Δ = √((s+ε)/(h+ε))·g;  s ← ρs + (1−ρ)Δ²;  p ← p − lr·Δ
Adam     t ← t+1;  lr_t = lr·√(1−β2ᵗ)/(1−β1ᵗ);  m ← m + (1−β1)(g−m);
         v ← v + (1−β2)(g²−v);  p ← p − lr_t·m / (√v + ε)
======== ============================================================================

Book defaults: ε = 1e-7 everywhere; SGD lr 0.01; Momentum/Nesterov lr 0.01, μ 0.9; AdaGrad lr
0.01; RMSprop lr 0.01, decay 0.99 (``common/optimizer.py``; the slides show 0.95); AdaDelta
lr 1.0, ρ 0.95; Adam lr 0.001, β1 0.9, β2 0.999.

Hyperparameters are data: every float hyperparameter may be a traced JAX array (``jit``/``vmap``
over learning rates, momenta, …) — no ``float()`` and no Python ``if`` touches their values.
They are validated only when concrete (Python / NumPy numbers, concrete arrays); a bad value
raises :class:`jaxch6.errors.ConfigError` (a ``ValueError``) at construction.

Updates have the dtype of the params (of the state buffers made from them by ``init``, or of the
gradients when neither exists), and the state keeps its dtype, so a ``lax.scan`` carry is
stable even when a hyperparameter arrives as a float64 array beside float32 params.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxch6.errors import ConfigError
from jaxch6.hparams import check_value

__all__ = [
    "DEFAULTS",
    "HYPERPARAMETERS",
    "OPTIMIZERS",
    "AdaDeltaState",
    "AdaGradState",
    "AdamState",
    "MomentumState",
    "NesterovState",
    "RMSpropState",
    "SGDState",
    "adadelta",
    "adagrad",
    "adam",
    "apply_updates",
    "get_optimizer",
    "momentum",
    "nesterov",
    "rmsprop",
    "sgd",
]

#: ``params + updates`` leaf by leaf, cast to each param's dtype (``optax.apply_updates``).
apply_updates = optax.apply_updates

NESTEROV_FORMS = ("book", "standard")


# ----------------------------------------------------------------------------- states


class SGDState(NamedTuple):
    """SGD keeps no state (the book's ``SGD`` has only ``lr``)."""


class MomentumState(NamedTuple):
    """``v``: the velocity (book ``Momentum.v``), zeros at start."""

    v: Any


class NesterovState(NamedTuple):
    """``v``: the velocity (book ``Nesterov.v``), zeros at start."""

    v: Any


class AdaGradState(NamedTuple):
    """``h``: the running sum of squared gradients (book ``AdaGrad.h``), zeros at start."""

    h: Any


class RMSpropState(NamedTuple):
    """``h``: the moving average of squared gradients (book ``RMSprop.h``), zeros at start."""

    h: Any


class AdaDeltaState(NamedTuple):
    """``h``: moving average of g², ``s``: of the squared steps Δ² (slides' names), zeros."""

    h: Any
    s: Any


class AdamState(NamedTuple):
    """``count``: steps taken (book ``Adam.iter``, int32); ``m``, ``v``: the two moments."""

    count: Any
    m: Any
    v: Any


# ----------------------------------------------------------------------------- helpers


def _check(name: str, value: Any) -> None:
    """Raise ConfigError unless ``value`` is in ``name``'s admissible range
    (:data:`jaxch6.hparams.BOUNDS`); tracers are not checked."""
    if not isinstance(value, jax.core.Tracer):
        check_value(name, value)


def _zeros(params):
    return jax.tree.map(jnp.zeros_like, params)


def _cast(tree, like):
    """Cast each leaf of ``tree`` to the dtype of the matching leaf of ``like``."""
    return jax.tree.map(lambda x, r: jnp.asarray(x).astype(jnp.result_type(r)), tree, like)


def _dtype_ref(grads, params, buffer=None):
    if params is not None:
        return params
    return buffer if buffer is not None else grads


def _map(fn, *trees):
    return jax.tree.map(fn, *trees)


# ----------------------------------------------------------------------------- rules


def sgd(learning_rate=0.01) -> optax.GradientTransformation:
    """Stochastic gradient descent, the book's ``SGD``.

    Math: ``p ← p − lr·g``.  Book default: ``lr = 0.01``.

    vs optax: identical to ``optax.sgd(lr)`` (max |Δ| 0 in float64 over 200 steps).
    """
    _check("learning_rate", learning_rate)
    lr = learning_rate

    def init(params):
        del params
        return SGDState()

    def update(grads, state, params=None):
        updates = _map(lambda g: -lr * g, grads)
        return _cast(updates, _dtype_ref(grads, params)), state

    return optax.GradientTransformation(init, update)


def momentum(learning_rate=0.01, momentum=0.9) -> optax.GradientTransformation:
    """Momentum SGD, the book's ``Momentum``.

    Math: ``v ← μ·v − lr·g;  p ← p + v``, with ``v = 0`` at start.
    Book defaults: ``lr = 0.01``, ``μ = 0.9``.

    vs optax: ``optax.sgd(lr, momentum=μ)`` keeps ``t ← μt + g`` and steps ``−lr·t``; with a
    constant learning rate ``v = −lr·t``, so the two agree to rounding (≤ 1e-12 in float64).
    They differ when the learning rate changes over time (the book's v carries old lrs).
    """
    _check("learning_rate", learning_rate)
    _check("momentum", momentum)
    lr, mu = learning_rate, momentum

    def init(params):
        return MomentumState(v=_zeros(params))

    def update(grads, state, params=None):
        v = _map(lambda v, g: mu * v - lr * g, state.v, grads)
        v = _cast(v, state.v)
        return _cast(v, _dtype_ref(grads, params, state.v)), MomentumState(v=v)

    return optax.GradientTransformation(init, update)


def nesterov(learning_rate=0.01, momentum=0.9, form="book") -> optax.GradientTransformation:
    """Nesterov's accelerated gradient, the book's ``Nesterov`` (``form="book"``, default).

    Math (book code, http://arxiv.org/abs/1212.0901)::

        v ← μ·v − lr·g
        p ← p + μ²·v − (1 + μ)·lr·g        (v already updated)

    ``form="standard"`` is optax's ``nesterov=True`` form, ``t ← μt + g;  p ← p − lr·(g + μt)``
    (state ``v`` holds ``t``).  Book defaults: ``lr = 0.01``, ``μ = 0.9``, ``form="book"``.

    vs optax: the book form is not any optax configuration; with ``u`` the update of
    ``optax.sgd(lr, momentum=μ, nesterov=True)`` on the same gradients it equals exactly
    ``μ·u − lr·g`` (≤ 1e-12 in float64). Run directly beside optax the two differ: measured
    max |Δparams| 0.16 after 30 steps on the book's quadratic (lr 0.1), 4.4e-2 after 200 steps
    of N(0,1) gradients (lr 0.01). ``form="standard"`` equals optax's to rounding.
    """
    _check("learning_rate", learning_rate)
    _check("momentum", momentum)
    if form not in NESTEROV_FORMS:
        raise ConfigError(f"nesterov form must be one of {', '.join(NESTEROV_FORMS)}; got {form!r}")
    lr, mu = learning_rate, momentum

    def init(params):
        return NesterovState(v=_zeros(params))

    def update(grads, state, params=None):
        ref = _dtype_ref(grads, params, state.v)
        if form == "book":
            v = _map(lambda v, g: mu * v - lr * g, state.v, grads)
            updates = _map(lambda v, g: mu * mu * v - (1 + mu) * lr * g, v, grads)
        else:
            v = _map(lambda t, g: mu * t + g, state.v, grads)
            updates = _map(lambda t, g: -lr * (g + mu * t), v, grads)
        return _cast(updates, ref), NesterovState(v=_cast(v, state.v))

    return optax.GradientTransformation(init, update)


def adagrad(learning_rate=0.01, eps=1e-7) -> optax.GradientTransformation:
    """AdaGrad, the book's ``AdaGrad``.

    Math: ``h ← h + g²;  p ← p − lr·g / (√h + ε)``, with ``h = 0`` at start.
    Book defaults: ``lr = 0.01``, ``ε = 1e-7`` (the slides' formula puts ε inside the root; the
    book's code, followed here, adds it outside).

    vs optax: ``optax.adagrad`` starts ``h`` at 0.1 and puts ε inside the root
    (``g/√(h+ε)``); ``optax.adagrad(lr, initial_accumulator_value=0, eps=0)`` equals this rule
    with ``eps=0`` to rounding. With ε = 1e-7 the two differ where √h is comparable to ε.
    """
    _check("learning_rate", learning_rate)
    _check("eps", eps)
    lr = learning_rate

    def init(params):
        return AdaGradState(h=_zeros(params))

    def update(grads, state, params=None):
        h = _cast(_map(lambda h, g: h + g * g, state.h, grads), state.h)
        updates = _map(lambda h, g: -lr * g / (jnp.sqrt(h) + eps), h, grads)
        return _cast(updates, _dtype_ref(grads, params, state.h)), AdaGradState(h=h)

    return optax.GradientTransformation(init, update)


def rmsprop(learning_rate=0.01, decay_rate=0.99, eps=1e-7) -> optax.GradientTransformation:
    """RMSprop, the book's ``RMSprop``.

    Math: ``h ← ρ·h + (1 − ρ)·g²;  p ← p − lr·g / (√h + ε)``, with ``h = 0`` at start.
    Book defaults: ``lr = 0.01``, ``decay_rate ρ = 0.99`` (``common/optimizer.py``; the chapter's
    slides show 0.95), ``ε = 1e-7``.

    vs optax: equals ``optax.rmsprop(lr, decay=ρ, eps=ε, eps_in_sqrt=False)`` to rounding
    (optax's default ``eps_in_sqrt=True`` puts ε inside the root, and its default ε is 1e-8).
    """
    _check("learning_rate", learning_rate)
    _check("decay_rate", decay_rate)
    _check("eps", eps)
    lr, rho = learning_rate, decay_rate

    def init(params):
        return RMSpropState(h=_zeros(params))

    def update(grads, state, params=None):
        h = _map(lambda h, g: rho * h + (1 - rho) * g * g, state.h, grads)
        h = _cast(h, state.h)
        updates = _map(lambda h, g: -lr * g / (jnp.sqrt(h) + eps), h, grads)
        return _cast(updates, _dtype_ref(grads, params, state.h)), RMSpropState(h=h)

    return optax.GradientTransformation(init, update)


def adadelta(learning_rate=1.0, rho=0.95, eps=1e-7) -> optax.GradientTransformation:
    """AdaDelta (Zeiler 2012), as in the chapter's slides, with a learning rate.

    Math::

        h ← ρ·h + (1 − ρ)·g²
        Δ = √((s + ε) / (h + ε)) · g          (new h, old s)
        s ← ρ·s + (1 − ρ)·Δ²
        p ← p − lr·Δ

    with ``h = s = 0`` at start. Defaults: ``lr = 1.0`` (pure AdaDelta; the slides' code has no
    learning rate and notes that frameworks add one), ``ρ = 0.95`` (slides' ``decay_rate``),
    ``ε = 1e-7``. The book's ``common/optimizer.py`` has no AdaDelta. The slides' code computes
    Δ *before* updating h (and initialises ``s`` only on the second call, so it fails on the
    first); this rule follows the slides' formulas and Zeiler's paper: h first.

    vs optax: equals ``optax.adadelta(learning_rate=lr, rho=ρ, eps=ε)`` to rounding. Pass
    optax's ``learning_rate`` explicitly: its default ``None`` leaves the sign of the update
    unflipped, which steps uphill.
    """
    _check("learning_rate", learning_rate)
    _check("rho", rho)
    _check("eps", eps)
    lr = learning_rate

    def init(params):
        return AdaDeltaState(h=_zeros(params), s=_zeros(params))

    def update(grads, state, params=None):
        h = _cast(_map(lambda h, g: rho * h + (1 - rho) * g * g, state.h, grads), state.h)
        dx = _map(lambda s, h, g: jnp.sqrt((s + eps) / (h + eps)) * g, state.s, h, grads)
        s = _cast(_map(lambda s, d: rho * s + (1 - rho) * d * d, state.s, dx), state.s)
        updates = _map(lambda d: -lr * d, dx)
        return _cast(updates, _dtype_ref(grads, params, state.h)), AdaDeltaState(h=h, s=s)

    return optax.GradientTransformation(init, update)


def adam(learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-7) -> optax.GradientTransformation:
    """Adam (http://arxiv.org/abs/1412.6980v8), the book's ``Adam``.

    Math (book code)::

        t ← t + 1
        lr_t = lr · √(1 − β2ᵗ) / (1 − β1ᵗ)
        m ← m + (1 − β1)·(g − m)
        v ← v + (1 − β2)·(g² − v)
        p ← p − lr_t · m / (√v + ε)

    with ``m = v = 0``, ``t = 0`` (state ``count``, the book's ``iter``) at start.
    Book defaults: ``lr = 0.001``, ``β1 = 0.9``, ``β2 = 0.999``, ``ε = 1e-7``.

    vs optax: ``optax.adam(lr, b1, b2, eps)`` steps ``lr·m̂/(√v̂ + ε)`` with ``m̂ = m/(1−β1ᵗ)``,
    ``v̂ = v/(1−β2ᵗ)``, which is this rule with ε replaced by ``ε·√(1−β2ᵗ)``. With the same ε
    the two differ (measured 7e-6 after 30 steps on the book's quadratic at lr 0.3, 5e-4 after
    200 steps of N(0,1)·1e-4 gradients at lr 0.001); they agree to rounding with
    ``eps=0`` on both sides, or with optax's ε scheduled as ``ε/√(1−β2ᵗ)``
    (``optax.inject_hyperparams(optax.adam)(lr, eps=lambda c: ε/√(1−β2^(c+1)))``).
    """
    _check("learning_rate", learning_rate)
    _check("beta1", beta1)
    _check("beta2", beta2)
    _check("eps", eps)
    lr, b1, b2 = learning_rate, beta1, beta2

    def init(params):
        return AdamState(count=jnp.zeros([], jnp.int32), m=_zeros(params), v=_zeros(params))

    def update(grads, state, params=None):
        count = state.count + 1
        m = _cast(_map(lambda m, g: m + (1 - b1) * (g - m), state.m, grads), state.m)
        v = _cast(_map(lambda v, g: v + (1 - b2) * (g * g - v), state.v, grads), state.v)

        def step(m, v):
            t = count.astype(jnp.result_type(m))
            lr_t = lr * jnp.sqrt(1.0 - b2**t) / (1.0 - b1**t)
            return -lr_t * m / (jnp.sqrt(v) + eps)

        updates = _map(step, m, v)
        ref = _dtype_ref(grads, params, state.m)
        return _cast(updates, ref), AdamState(count=count, m=m, v=v)

    return optax.GradientTransformation(init, update)


# ----------------------------------------------------------------------------- registry

OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "sgd": sgd,
    "momentum": momentum,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adadelta": adadelta,
    "adam": adam,
}

#: The float hyperparameters each rule takes (each may be a traced array).
HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "sgd": ("learning_rate",),
    "momentum": ("learning_rate", "momentum"),
    "nesterov": ("learning_rate", "momentum"),
    "adagrad": ("learning_rate", "eps"),
    "rmsprop": ("learning_rate", "decay_rate", "eps"),
    "adadelta": ("learning_rate", "rho", "eps"),
    "adam": ("learning_rate", "beta1", "beta2", "eps"),
}

#: The book's default value of every float hyperparameter.
DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"learning_rate": 0.01},
    "momentum": {"learning_rate": 0.01, "momentum": 0.9},
    "nesterov": {"learning_rate": 0.01, "momentum": 0.9},
    "adagrad": {"learning_rate": 0.01, "eps": 1e-7},
    "rmsprop": {"learning_rate": 0.01, "decay_rate": 0.99, "eps": 1e-7},
    "adadelta": {"learning_rate": 1.0, "rho": 0.95, "eps": 1e-7},
    "adam": {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7},
}

_STATIC_OPTIONS: dict[str, tuple[str, ...]] = {"nesterov": ("form",)}


def get_optimizer(name: str, **hparams) -> optax.GradientTransformation:
    """The rule called ``name`` (a key of :data:`OPTIMIZERS`, case-insensitive) with ``hparams``.

    Missing hyperparameters take the book's defaults (:data:`DEFAULTS`). An unknown name or an
    unknown keyword raises :class:`~jaxch6.errors.ConfigError` naming the valid ones.
    """
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    valid = HYPERPARAMETERS[key] + _STATIC_OPTIONS.get(key, ())
    unknown = sorted(set(hparams) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown hyperparameter(s) {', '.join(unknown)} for {key}; valid: {', '.join(valid)}"
        )
    return OPTIMIZERS[key](**hparams)
