r"""The chapter's seven update rules as pure JAX functions (``optax.GradientTransformation`` s).

Each factory returns an object with ``init(params) -> state`` and
``update(grads, state, params=None) -> (updates, new_state)``; parameters change only through
:func:`apply_updates` (``params + updates``, optax's). The state of every rule is one
``NamedTuple`` whose fields are the book's instance variables (``v``, ``h``, ``s``, ``m``) and
``count``, the number of updates taken, so a rule drops straight into ``optax.chain`` and into
``lax.scan`` / ``vmap``.

The math is the book's code (``common/optimizer.py`` of *Deep Learning from Scratch*; AdaDelta
from the chapter's slides), g the gradient, p the parameter, every product element-wise, and
lr = lr_c the learning rate of update number c = ``count`` (0 on the first update):

| rule | update |
|---|---|
| SGD | $p \leftarrow p - \mathrm{lr}\,g$ |
| Momentum | $v \leftarrow \mu v - \mathrm{lr}\,g;\quad p \leftarrow p + v$ |
| Nesterov | $v \leftarrow \mu v - \mathrm{lr}\,g$ |
| | $p \leftarrow p + \mu^2 v - (1+\mu)\,\mathrm{lr}\,g$ (book code; new $v$) |
| AdaGrad | $h \leftarrow h + g^2;\quad p \leftarrow p - \mathrm{lr}\,g / (\sqrt{h} + \epsilon)$ |
| RMSprop | $h \leftarrow \rho h + (1-\rho)\,g^2$ |
| | $p \leftarrow p - \mathrm{lr}\,g / (\sqrt{h} + \epsilon)$ |
| AdaDelta | $h \leftarrow \rho h + (1-\rho)\,g^2; \Delta = \sqrt{(s+\epsilon)/(h+\epsilon)}\,g$ |
| | $s \leftarrow \rho s + (1-\rho)\,\Delta^2;\quad p \leftarrow p - \mathrm{lr}\,\Delta$ |
| Adam | $t = c+1;\quad \mathrm{lr}_t = \mathrm{lr}\,\sqrt{1-\beta_2^t}/(1-\beta_1^t)$ |
| | $m \leftarrow m + (1-\beta_1)(g-m);\quad v \leftarrow v + (1-\beta_2)(g^2-v)$ |
| | $p \leftarrow p - \mathrm{lr}_t\,m / (\sqrt{v} + \epsilon)$ |

Book defaults: ε = 1e-7 everywhere; SGD lr 0.01; Momentum/Nesterov lr 0.01, μ 0.9; AdaGrad lr
0.01; RMSprop lr 0.01, decay 0.99 (``common/optimizer.py``; the slides show 0.95); AdaDelta
lr 1.0, ρ 0.95; Adam lr 0.001, β1 0.9, β2 0.999.

Learning-rate schedules: ``learning_rate`` is a number or, as in optax
(``optax.ScalarOrSchedule``), a schedule ``count -> lr`` called with the update count before it
is incremented (0 on the first update), the convention of optax's ``scale_by_learning_rate``.
A schedule enters the book's formulas wherever ``lr`` does; :mod:`jaxch6.schedules` builds the
named ones.

Hyperparameters are data: every float hyperparameter may be a traced JAX array (``jit``/``vmap``
over learning rates, momenta, …) — no ``float()`` and no Python ``if`` touches their values.
They are validated only when concrete (Python / NumPy numbers, concrete arrays); a bad value
raises :class:`jaxch6.errors.ConfigError` (a ``ValueError``) at construction. Schedules are not
called at construction and so not checked.

Complex parameters work as in optax: the rules that square a gradient (AdaGrad, RMSprop,
AdaDelta, Adam) square its modulus, g² = g·conj(g) = |g|² (optax's ``abs_sq``); pass the
conjugate of JAX's complex gradient, as optax's own tests do. For real parameters this is the
book's g·g, unchanged to the bit.

Every rule is an ``optax.GradientTransformationExtraArgs``: ``update`` accepts and ignores
extra keyword arguments (``tx.update(g, state, params, value=loss)``), as optax's aliases do.

Updates have the dtype of the params (of the state buffers made from them by ``init``, or of the
gradients when neither exists), and the state keeps its dtype, so a ``lax.scan`` carry is
stable even when a hyperparameter arrives as a float64 array beside float32 params.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxch6 import names
from jaxch6.errors import ConfigError
from jaxch6.hparams import check_value

if TYPE_CHECKING:
    import optax
    from optax import apply_updates  # at run time: __getattr__ below

__all__ = [
    "DEFAULTS",
    "HYPERPARAMETERS",
    "NESTEROV_FORMS",
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


def __getattr__(name: str):
    """``apply_updates`` is optax's own ``optax.apply_updates`` (``params + updates`` leaf by
    leaf, cast to each param's dtype). optax is imported on first use, here or when a rule is
    built: a sweep whose programs all come from the program cache (a warm run of the default
    search) builds none and does not import it."""
    if name == "apply_updates":
        import optax

        return optax.apply_updates
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "apply_updates"})

#: The two forms of :func:`nesterov`: the book's code and optax's ``nesterov=True``.
NESTEROV_FORMS = ("book", "standard")


# ----------------------------------------------------------------------------- states


class SGDState(NamedTuple):
    """``count``: updates taken (int32), the step a learning-rate schedule is called with."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in optax


class MomentumState(NamedTuple):
    """``count``: updates taken (int32); ``v``: the velocity (book ``Momentum.v``), zeros."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in optax
    v: Any


class NesterovState(NamedTuple):
    """``count``: updates taken (int32); ``v``: the velocity (book ``Nesterov.v``), zeros."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in optax
    v: Any


class AdaGradState(NamedTuple):
    """``count``: updates taken (int32); ``h``: the running sum of g² (book ``AdaGrad.h``)."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in optax
    h: Any


class RMSpropState(NamedTuple):
    """``count``: updates taken (int32); ``h``: the moving average of g² (book ``RMSprop.h``)."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in optax
    h: Any


class AdaDeltaState(NamedTuple):
    """``count``: updates taken; ``h``: moving average of g², ``s``: of the steps Δ² (slides)."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in optax
    h: Any
    s: Any


class AdamState(NamedTuple):
    """``count``: updates taken (book ``Adam.iter``, int32); ``m``, ``v``: the two moments."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in optax
    m: Any
    v: Any


# ----------------------------------------------------------------------------- helpers


def _check(name: str, value: Any) -> None:
    """Raise ConfigError unless ``value`` is in ``name``'s admissible range
    (:data:`jaxch6.hparams.BOUNDS`); tracers are not checked."""
    if not isinstance(value, jax.core.Tracer):
        check_value(name, value)


def _check_learning_rate(value: Any) -> None:
    """A schedule (callable) passes; a concrete number must be in ``learning_rate``'s range."""
    if callable(value) or isinstance(value, jax.core.Tracer):
        return
    try:
        np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(
            f"learning_rate must be a number or a schedule (count -> lr), got {value!r}"
        ) from None
    check_value("learning_rate", value)


def _lr(learning_rate: optax.ScalarOrSchedule, count: jax.Array) -> Any:
    """The learning rate of update number ``count`` (0 on the first update)."""
    return learning_rate(count) if callable(learning_rate) else learning_rate


def _count0() -> jax.Array:
    return jnp.zeros([], jnp.int32)


def _increment(count: jax.Array) -> jax.Array:
    """``count + 1``, saturating at the dtype's maximum (optax's ``safe_increment`` rule)."""
    return jnp.where(count < jnp.iinfo(count.dtype).max, count + 1, count)


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


def _sq(g, scale=None):
    """``scale·|g|²``: for real ``g`` exactly the book's ``scale·g·g``; for complex ``g`` the
    real part of ``scale·g·conj(g)``, optax's ``abs_sq`` (a real, non-negative moment)."""
    if jnp.iscomplexobj(g):
        return (g * jnp.conj(g) if scale is None else scale * g * jnp.conj(g)).real
    return g * g if scale is None else scale * g * g


def _rule(init, update) -> optax.GradientTransformationExtraArgs:
    """``init``/``update`` as optax's ``GradientTransformationExtraArgs``: ``update`` accepts
    and ignores extra keyword arguments (``value=loss``, …), as optax's own aliases do."""

    import optax

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        return update(updates, state, params)

    return optax.GradientTransformationExtraArgs(init, update_fn)


# ----------------------------------------------------------------------------- rules


def sgd(learning_rate: optax.ScalarOrSchedule = 0.01) -> optax.GradientTransformationExtraArgs:
    r"""Stochastic gradient descent, the book's ``SGD``.

    Math: $p \leftarrow p - \mathrm{lr}_c\,g$, $\mathrm{lr}_c$ the learning rate (or schedule
    value) of update $c$.

    vs optax: the same rule as ``optax.sgd(learning_rate)``, schedules included.

    Args:
        learning_rate: a number ≥ 0 (book default 0.01), possibly a traced array, or a
            schedule ``count -> lr``.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` with state :class:`SGDState`.

    Raises:
        ConfigError: a concrete learning rate that is not a finite number ≥ 0.

    Example:
        >>> tx = sgd(0.1)
        >>> updates, state = tx.update({"w": jnp.ones(2)}, tx.init({"w": jnp.zeros(2)}))
    """
    _check_learning_rate(learning_rate)

    def init(params: optax.Params) -> SGDState:
        del params
        return SGDState(count=_count0())

    def update(grads: optax.Updates, state: SGDState,
               params: optax.Params | None = None) -> tuple[optax.Updates, SGDState]:
        lr = _lr(learning_rate, state.count)
        updates = _map(lambda g: -lr * g, grads)
        return _cast(updates, _dtype_ref(grads, params)), SGDState(_increment(state.count))

    return _rule(init, update)


def momentum(
    learning_rate: optax.ScalarOrSchedule = 0.01, momentum: jax.typing.ArrayLike = 0.9
) -> optax.GradientTransformationExtraArgs:
    r"""Momentum SGD, the book's ``Momentum``.

    Math: $v \leftarrow \mu v - \mathrm{lr}_c\,g;\ p \leftarrow p + v$, with $v = 0$ at start.

    vs optax: ``optax.sgd(lr, momentum=μ)`` keeps ``t ← μt + g`` and steps ``−lr_c·t``; with a
    constant learning rate ``v = −lr·t``, so the two agree to rounding. Under a schedule the
    book's ``v`` carries every past step's own learning rate while optax scales the whole trace
    by the current one; this rule then equals ``optax.chain(optax.scale_by_learning_rate(s),
    optax.trace(μ))`` (scale first, then accumulate) to rounding.

    Args:
        learning_rate: a number ≥ 0 (book default 0.01), possibly traced, or a schedule.
        momentum: μ in [0, 1) (book default 0.9), possibly traced.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` with state :class:`MomentumState`.

    Raises:
        ConfigError: a concrete hyperparameter outside its range.

    Example:
        >>> tx = momentum(optax.cosine_decay_schedule(0.1, decay_steps=100), 0.9)
    """
    _check_learning_rate(learning_rate)
    _check("momentum", momentum)
    mu = momentum

    def init(params: optax.Params) -> MomentumState:
        return MomentumState(count=_count0(), v=_zeros(params))

    def update(grads: optax.Updates, state: MomentumState,
               params: optax.Params | None = None) -> tuple[optax.Updates, MomentumState]:
        lr = _lr(learning_rate, state.count)
        v = _cast(_map(lambda v, g: mu * v - lr * g, state.v, grads), state.v)
        new_state = MomentumState(count=_increment(state.count), v=v)
        return _cast(v, _dtype_ref(grads, params, state.v)), new_state

    return _rule(init, update)


def nesterov(
    learning_rate: optax.ScalarOrSchedule = 0.01,
    momentum: jax.typing.ArrayLike = 0.9,
    form: Literal["book", "standard"] = "book",
) -> optax.GradientTransformationExtraArgs:
    r"""Nesterov's accelerated gradient, the book's ``Nesterov`` (``form="book"``, default).

    Math (book code, http://arxiv.org/abs/1212.0901):

    $$
    \begin{aligned}
    v &\leftarrow \mu v - \mathrm{lr}_c\,g \\
    p &\leftarrow p + \mu^2 v - (1 + \mu)\,\mathrm{lr}_c\,g \qquad (v \text{ already updated})
    \end{aligned}
    $$

    ``form="standard"`` is optax's ``nesterov=True`` form, ``t ← μt + g;
    p ← p − lr_c·(g + μt)`` (state ``v`` holds ``t``).

    vs optax: the book form is not any optax configuration and differs from optax's nesterov
    run beside it. It equals exactly ``μ·u − lr_c·g`` with ``u`` the update of
    ``optax.sgd(lr, momentum=μ, nesterov=True)`` (constant lr) or, under a schedule ``s``, of
    ``optax.chain(optax.scale_by_learning_rate(s), optax.trace(μ, nesterov=True))``.
    ``form="standard"`` equals ``optax.sgd(lr, momentum=μ, nesterov=True)`` to rounding,
    schedules included.

    Args:
        learning_rate: a number ≥ 0 (book default 0.01), possibly traced, or a schedule.
        momentum: μ in [0, 1) (book default 0.9), possibly traced.
        form: ``"book"`` (default) or ``"standard"``; static.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` with state :class:`NesterovState`.

    Raises:
        ConfigError: a concrete hyperparameter outside its range, or an unknown ``form``.

    Example:
        >>> tx = nesterov(0.01, 0.9, form="standard")
    """
    _check_learning_rate(learning_rate)
    _check("momentum", momentum)
    if form not in NESTEROV_FORMS:
        raise ConfigError(f"nesterov form must be one of {', '.join(NESTEROV_FORMS)}; got {form!r}")
    mu = momentum

    def init(params: optax.Params) -> NesterovState:
        return NesterovState(count=_count0(), v=_zeros(params))

    def update(grads: optax.Updates, state: NesterovState,
               params: optax.Params | None = None) -> tuple[optax.Updates, NesterovState]:
        lr = _lr(learning_rate, state.count)
        if form == "book":
            v = _map(lambda v, g: mu * v - lr * g, state.v, grads)
            updates = _map(lambda v, g: mu * mu * v - (1 + mu) * lr * g, v, grads)
        else:
            v = _map(lambda t, g: mu * t + g, state.v, grads)
            updates = _map(lambda t, g: -lr * (g + mu * t), v, grads)
        new_state = NesterovState(count=_increment(state.count), v=_cast(v, state.v))
        return _cast(updates, _dtype_ref(grads, params, state.v)), new_state

    return _rule(init, update)


def adagrad(
    learning_rate: optax.ScalarOrSchedule = 0.01, eps: jax.typing.ArrayLike = 1e-7
) -> optax.GradientTransformationExtraArgs:
    r"""AdaGrad, the book's ``AdaGrad``.

    Math: $h \leftarrow h + g^2;\ p \leftarrow p - \mathrm{lr}_c\,g / (\sqrt{h} + \epsilon)$,
    with $h = 0$ at start (the slides'
    formula puts ε inside the root; the book's code, followed here, adds it outside).

    vs optax: ``optax.adagrad`` starts ``h`` at 0.1 and puts ε inside the root
    (``g/√(h+ε)``); ``optax.adagrad(lr, initial_accumulator_value=0, eps=0)`` equals this rule
    with ``eps=0`` to rounding, schedules included. With ε > 0 the two differ where √h is
    comparable to ε.

    Args:
        learning_rate: a number ≥ 0 (book default 0.01), possibly traced, or a schedule.
        eps: ε ≥ 0 (book default 1e-7), possibly traced.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` with state :class:`AdaGradState`.

    Raises:
        ConfigError: a concrete hyperparameter outside its range.

    Example:
        >>> tx = adagrad(1.5)
    """
    _check_learning_rate(learning_rate)
    _check("eps", eps)

    def init(params: optax.Params) -> AdaGradState:
        return AdaGradState(count=_count0(), h=_zeros(params))

    def update(grads: optax.Updates, state: AdaGradState,
               params: optax.Params | None = None) -> tuple[optax.Updates, AdaGradState]:
        lr = _lr(learning_rate, state.count)
        h = _cast(_map(lambda h, g: h + _sq(g), state.h, grads), state.h)
        updates = _map(lambda h, g: -lr * g / (jnp.sqrt(h) + eps), h, grads)
        new_state = AdaGradState(count=_increment(state.count), h=h)
        return _cast(updates, _dtype_ref(grads, params, state.h)), new_state

    return _rule(init, update)


def rmsprop(
    learning_rate: optax.ScalarOrSchedule = 0.01,
    decay_rate: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-7,
) -> optax.GradientTransformationExtraArgs:
    r"""RMSprop, the book's ``RMSprop``.

    Math: $h \leftarrow \rho h + (1 - \rho)\,g^2;\ p \leftarrow p - \mathrm{lr}_c\,g /
    (\sqrt{h} + \epsilon)$, with $h = 0$ at start.

    vs optax: equals ``optax.rmsprop(lr, decay=ρ, eps=ε, eps_in_sqrt=False)`` to rounding,
    schedules included (optax's default ``eps_in_sqrt=True`` puts ε inside the root, and its
    default ε is 1e-8).

    Args:
        learning_rate: a number ≥ 0 (book default 0.01), possibly traced, or a schedule.
        decay_rate: ρ in [0, 1) (book code's default 0.99; the chapter's slides show 0.95),
            possibly traced.
        eps: ε ≥ 0 (book default 1e-7), possibly traced.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` with state :class:`RMSpropState`.

    Raises:
        ConfigError: a concrete hyperparameter outside its range.

    Example:
        >>> tx = rmsprop(0.01, decay_rate=0.9)
    """
    _check_learning_rate(learning_rate)
    _check("decay_rate", decay_rate)
    _check("eps", eps)
    rho = decay_rate

    def init(params: optax.Params) -> RMSpropState:
        return RMSpropState(count=_count0(), h=_zeros(params))

    def update(grads: optax.Updates, state: RMSpropState,
               params: optax.Params | None = None) -> tuple[optax.Updates, RMSpropState]:
        lr = _lr(learning_rate, state.count)
        h = _cast(_map(lambda h, g: rho * h + _sq(g, 1 - rho), state.h, grads), state.h)
        updates = _map(lambda h, g: -lr * g / (jnp.sqrt(h) + eps), h, grads)
        new_state = RMSpropState(count=_increment(state.count), h=h)
        return _cast(updates, _dtype_ref(grads, params, state.h)), new_state

    return _rule(init, update)


def adadelta(
    learning_rate: optax.ScalarOrSchedule = 1.0,
    rho: jax.typing.ArrayLike = 0.95,
    eps: jax.typing.ArrayLike = 1e-7,
) -> optax.GradientTransformationExtraArgs:
    r"""AdaDelta (Zeiler 2012), as in the chapter's slides, with a learning rate.

    Math:

    $$
    \begin{aligned}
    h &\leftarrow \rho h + (1 - \rho)\,g^2 \\
    \Delta &= \sqrt{(s + \epsilon) / (h + \epsilon)}\;g \qquad (\text{new } h, \text{ old } s) \\
    s &\leftarrow \rho s + (1 - \rho)\,\Delta^2 \\
    p &\leftarrow p - \mathrm{lr}_c\,\Delta
    \end{aligned}
    $$

    with ``h = s = 0`` at start. The book's ``common/optimizer.py`` has no AdaDelta. The
    slides' code computes Δ *before* updating h (and initialises ``s`` only on the second call,
    so it fails on the first); this rule follows the slides' formulas and Zeiler's paper.

    vs optax: equals ``optax.adadelta(learning_rate=lr, rho=ρ, eps=ε)`` to rounding, schedules
    included, for real parameters. For complex ones this rule squares moduli (|g|², |Δ|²)
    while optax's adadelta squares g itself (optax does not support it on complex
    parameters). Pass optax's ``learning_rate`` explicitly: its default ``None`` leaves the
    sign of the update unflipped, which steps uphill.

    Args:
        learning_rate: a number ≥ 0 (default 1.0, pure AdaDelta: the slides' code has no
            learning rate), possibly traced, or a schedule.
        rho: ρ in [0, 1) (slides' ``decay_rate`` 0.95), possibly traced.
        eps: ε ≥ 0 (default 1e-7), possibly traced.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` with state :class:`AdaDeltaState`.

    Raises:
        ConfigError: a concrete hyperparameter outside its range.

    Example:
        >>> tx = adadelta(rho=0.9)
    """
    _check_learning_rate(learning_rate)
    _check("rho", rho)
    _check("eps", eps)

    def init(params: optax.Params) -> AdaDeltaState:
        return AdaDeltaState(count=_count0(), h=_zeros(params), s=_zeros(params))

    def update(grads: optax.Updates, state: AdaDeltaState,
               params: optax.Params | None = None) -> tuple[optax.Updates, AdaDeltaState]:
        lr = _lr(learning_rate, state.count)
        h = _cast(_map(lambda h, g: rho * h + _sq(g, 1 - rho), state.h, grads), state.h)
        dx = _map(lambda s, h, g: jnp.sqrt((s + eps) / (h + eps)) * g, state.s, h, grads)
        s = _cast(_map(lambda s, d: rho * s + _sq(d, 1 - rho), state.s, dx), state.s)
        updates = _map(lambda d: -lr * d, dx)
        new_state = AdaDeltaState(count=_increment(state.count), h=h, s=s)
        return _cast(updates, _dtype_ref(grads, params, state.h)), new_state

    return _rule(init, update)


def adam(
    learning_rate: optax.ScalarOrSchedule = 0.001,
    beta1: jax.typing.ArrayLike = 0.9,
    beta2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-7,
) -> optax.GradientTransformationExtraArgs:
    r"""Adam (http://arxiv.org/abs/1412.6980v8), the book's ``Adam``.

    Math (book code; c = ``count`` before the update, the book's ``iter``):

    $$
    \begin{aligned}
    t &= c + 1 \\
    \mathrm{lr}_t &= \mathrm{lr}_c\,\sqrt{1 - \beta_2^t} / (1 - \beta_1^t) \\
    m &\leftarrow m + (1 - \beta_1)(g - m) \\
    v &\leftarrow v + (1 - \beta_2)(g^2 - v) \\
    p &\leftarrow p - \mathrm{lr}_t\,m / (\sqrt{v} + \epsilon)
    \end{aligned}
    $$

    with ``m = v = 0``, ``c = 0`` at start.

    vs optax: ``optax.adam(lr, b1, b2, eps)`` steps ``lr_c·m̂/(√v̂ + ε)`` with
    ``m̂ = m/(1−β1ᵗ)``, ``v̂ = v/(1−β2ᵗ)``, which is this rule with ε replaced by
    ``ε·√(1−β2ᵗ)``: with the same ε > 0 the two differ. They agree to rounding, schedules
    included, with ``eps=0`` on both sides, or with optax's ε scheduled as ``ε/√(1−β2ᵗ)``
    (``optax.inject_hyperparams(optax.adam)(lr, eps=lambda c: ε/√(1−β2^(c+1)))``).

    Args:
        learning_rate: a number ≥ 0 (book default 0.001), possibly traced, or a schedule.
        beta1: β1 in [0, 1) (book default 0.9), possibly traced.
        beta2: β2 in [0, 1) (book default 0.999), possibly traced.
        eps: ε ≥ 0 (book default 1e-7), possibly traced.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` with state :class:`AdamState`.

    Raises:
        ConfigError: a concrete hyperparameter outside its range.

    Example:
        >>> tx = adam(optax.exponential_decay(1e-3, transition_steps=1000, decay_rate=0.5))
    """
    _check_learning_rate(learning_rate)
    _check("beta1", beta1)
    _check("beta2", beta2)
    _check("eps", eps)
    b1, b2 = beta1, beta2

    def init(params: optax.Params) -> AdamState:
        return AdamState(count=_count0(), m=_zeros(params), v=_zeros(params))

    def update(grads: optax.Updates, state: AdamState,
               params: optax.Params | None = None) -> tuple[optax.Updates, AdamState]:
        lr = _lr(learning_rate, state.count)
        count = _increment(state.count)
        m = _cast(_map(lambda m, g: m + (1 - b1) * (g - m), state.m, grads), state.m)
        v = _cast(_map(lambda v, g: v + (1 - b2) * (_sq(g) - v), state.v, grads), state.v)

        def step(m, v):
            t = count.astype(jnp.result_type(m))
            lr_t = lr * jnp.sqrt(1.0 - b2**t) / (1.0 - b1**t)
            return -lr_t * m / (jnp.sqrt(v) + eps)

        updates = _map(step, m, v)
        ref = _dtype_ref(grads, params, state.m)
        return _cast(updates, ref), AdamState(count=count, m=m, v=v)

    return _rule(init, update)


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

#: The float hyperparameters each rule takes (each may be a traced array; ``learning_rate``
#: may also be a schedule).
HYPERPARAMETERS: dict[str, tuple[str, ...]] = names.OPTIMIZER_HYPERPARAMETERS

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


def get_optimizer(name: str, **hparams: Any) -> optax.GradientTransformationExtraArgs:
    """The rule called ``name`` (a key of :data:`OPTIMIZERS`, case-insensitive) with ``hparams``.

    Args:
        name: ``sgd``, ``momentum``, ``nesterov``, ``adagrad``, ``rmsprop``, ``adadelta`` or
            ``adam``.
        **hparams: keywords of the factory (:data:`HYPERPARAMETERS`, plus ``form`` for
            Nesterov); missing ones take the book's defaults (:data:`DEFAULTS`).
            ``learning_rate`` may be a schedule.

    Returns:
        The factory's ``optax.GradientTransformation``.

    Raises:
        ConfigError: an unknown name or keyword (the message names the valid ones), or a
            concrete hyperparameter outside its range.

    Example:
        >>> tx = get_optimizer("adam", learning_rate=3e-4)
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
