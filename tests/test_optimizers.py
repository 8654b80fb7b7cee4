"""jaxch6.optimizers: book math (NumPy port), optax equivalence, traced hyperparameters, pytrees."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxch6 import optimizers as O
from jaxch6.errors import ConfigError
from jaxch6.reference import optimizers_np as R

STEPS = 40
TOL = 1e-12

# label -> (factory kwargs builder, NumPy port builder); hp are the book defaults of the rule
RULES = {
    "sgd": ("sgd", {}, lambda hp: R.SGD(hp["learning_rate"])),
    "momentum": ("momentum", {}, lambda hp: R.Momentum(hp["learning_rate"], hp["momentum"])),
    "nesterov_book": ("nesterov", {"form": "book"},
                      lambda hp: R.Nesterov(hp["learning_rate"], hp["momentum"])),
    "adagrad": ("adagrad", {}, lambda hp: R.AdaGrad(hp["learning_rate"], hp["eps"])),
    "rmsprop": ("rmsprop", {},
                lambda hp: R.RMSprop(hp["learning_rate"], hp["decay_rate"], hp["eps"])),
    "adadelta": ("adadelta", {},
                 lambda hp: R.AdaDelta(hp["learning_rate"], hp["rho"], hp["eps"])),
    "adam": ("adam", {},
             lambda hp: R.Adam(hp["learning_rate"], hp["beta1"], hp["beta2"], hp["eps"])),
}


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _stream(seed=0, steps=STEPS, scale=1.0):
    """Nested-dict params and a (steps, ...) stack of N(0, 1)·scale gradients (float64)."""
    rng = np.random.default_rng(seed)
    shapes = {"a": {"W": (3, 2), "b": (2,)}, "z": (4,)}

    def draw(s, lead=()):
        if isinstance(s, dict):
            return {k: draw(v, lead) for k, v in s.items()}
        return rng.standard_normal(lead + s)

    return draw(shapes), jax.tree.map(lambda g: g * scale, draw(shapes, (steps,)))


def _scan(tx, params0, grads, steps=STEPS):
    """Final params after ``steps`` updates (a lax.scan; traceable)."""

    def body(carry, g):
        p, s = carry
        u, s = tx.update(g, s, p)
        return (O.apply_updates(p, u), s), None

    p0 = jax.tree.map(jnp.asarray, params0)
    (p, _), _ = jax.lax.scan(body, (p0, tx.init(p0)), grads, length=steps)
    return p


def _run_jax(tx, params0, grads, steps=STEPS):
    final = jax.jit(_scan, static_argnums=(0, 3))(tx, params0, grads, steps)
    return jax.tree.map(np.asarray, final)


def _run_np(opt, params0, grads, steps=STEPS):
    params = jax.tree.map(lambda a: np.array(a, np.float64), params0)
    for t in range(steps):
        opt.update(params, jax.tree.map(lambda g, t=t: g[t], grads))
    return params


def _max_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


# ----------------------------------------------------------------------------- book and optax


@pytest.mark.parametrize("label", list(RULES))
def test_matches_numpy_port_of_the_book(x64, label):
    name, fixed, port = RULES[label]
    hp = dict(O.DEFAULTS[name])
    tx = O.get_optimizer(name, **hp, **fixed)
    for scale in (1.0, 1e-4):  # same shapes: one compile
        params0, grads = _stream(scale=scale)
        ours = _run_jax(tx, params0, grads)
        ref = _run_np(port(hp), params0, grads)
        assert _max_diff(ours, params0) > 1e-9 * scale  # the run did something
        assert _max_diff(ours, ref) <= TOL, scale


def _nesterov_identity(lr, mu):
    inner = optax.sgd(lr, momentum=mu, nesterov=True)

    def update(g, state, params=None):
        u, state = inner.update(g, state, params)
        return jax.tree.map(lambda u, g: mu * u - lr * g, u, g), state

    return optax.GradientTransformation(inner.init, update)


OPTAX_EQUIVALENTS = {
    "sgd": (O.sgd(0.1), optax.sgd(0.1)),
    "momentum": (O.momentum(0.1, 0.9), optax.sgd(0.1, momentum=0.9)),
    "nesterov_book_identity": (O.nesterov(0.1, 0.9), _nesterov_identity(0.1, 0.9)),
    "nesterov_standard": (O.nesterov(0.1, 0.9, form="standard"),
                          optax.sgd(0.1, momentum=0.9, nesterov=True)),
    "adagrad_eps0": (O.adagrad(0.1, eps=0.0),
                     optax.adagrad(0.1, initial_accumulator_value=0.0, eps=0.0)),
    "rmsprop": (O.rmsprop(0.01, 0.99, 1e-7),
                optax.rmsprop(0.01, decay=0.99, eps=1e-7, eps_in_sqrt=False)),
    "adadelta": (O.adadelta(1.0, 0.95, 1e-7),
                 optax.adadelta(learning_rate=1.0, rho=0.95, eps=1e-7)),
    "adam_eps0": (O.adam(0.01, eps=0.0), optax.adam(0.01, eps=0.0)),
    "adam_scheduled_eps": (
        O.adam(0.01, 0.9, 0.999, 1e-7),
        optax.inject_hyperparams(optax.adam)(
            learning_rate=0.01, b1=0.9, b2=0.999,
            eps=lambda c: 1e-7 / jnp.sqrt(1.0 - 0.999 ** (c + 1))),
    ),
}


@pytest.mark.parametrize("label", list(OPTAX_EQUIVALENTS))
def test_matches_optax_equivalent(x64, label):
    ours, ref = OPTAX_EQUIVALENTS[label]
    both = jax.jit(lambda p0, g: (_scan(ours, p0, g), _scan(ref, p0, g)))
    for scale in (1.0, 1e-4):  # same shapes: one compile
        params0, grads = _stream(seed=1, scale=scale)
        a, b = both(params0, grads)
        assert _max_diff(a, params0) > 1e-9 * scale
        assert _max_diff(a, b) <= TOL, scale


def test_documented_direct_differences_from_optax(x64):
    """The rows that are *not* equal to optax directly really differ (the notes are needed)."""
    params0, grads = _stream(seed=2)
    small0, small = _stream(seed=2, scale=1e-4)
    nest = _max_diff(_run_jax(O.nesterov(0.01, 0.9), params0, grads),
                     _run_jax(optax.sgd(0.01, momentum=0.9, nesterov=True), params0, grads))
    adam = _max_diff(_run_jax(O.adam(0.001), small0, small),
                     _run_jax(optax.adam(0.001, eps=1e-7), small0, small))
    adagrad = _max_diff(
        _run_jax(O.adagrad(0.01), small0, small),
        _run_jax(optax.adagrad(0.01, initial_accumulator_value=0.0, eps=1e-7), small0, small))
    assert nest > 1e-3 and adam > 1e-6 and adagrad > 1e-4


def test_adadelta_first_step_is_tiny_as_in_zeiler(x64):
    """h first: Δ₁ = √(ε/((1−ρ)g²+ε))·g ≈ √(ε/(1−ρ))·sign(g), not g (the slides' code order)."""
    g = {"w": jnp.array([3.0, -0.5])}
    u, state = O.adadelta().update(g, O.adadelta().init(g))
    h = 0.05 * g["w"] ** 2
    expect = -np.sqrt(1e-7 / (h + 1e-7)) * g["w"]
    np.testing.assert_allclose(u["w"], expect, rtol=1e-14)
    np.testing.assert_allclose(state.s["w"], 0.05 * expect**2, rtol=1e-14)


# ----------------------------------------------------------------------------- defaults, state


def test_book_defaults_and_registry():
    assert O.DEFAULTS == {
        "sgd": {"learning_rate": 0.01},
        "momentum": {"learning_rate": 0.01, "momentum": 0.9},
        "nesterov": {"learning_rate": 0.01, "momentum": 0.9},
        "adagrad": {"learning_rate": 0.01, "eps": 1e-7},
        "rmsprop": {"learning_rate": 0.01, "decay_rate": 0.99, "eps": 1e-7},
        "adadelta": {"learning_rate": 1.0, "rho": 0.95, "eps": 1e-7},
        "adam": {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7},
    }
    assert set(O.OPTIMIZERS) == set(O.HYPERPARAMETERS) == set(O.DEFAULTS)
    for name, factory in O.OPTIMIZERS.items():
        sig = inspect.signature(factory).parameters
        assert tuple(O.DEFAULTS[name]) == O.HYPERPARAMETERS[name]
        for hp, value in O.DEFAULTS[name].items():
            assert sig[hp].default == value, (name, hp)
    assert inspect.signature(O.nesterov).parameters["form"].default == "book"
    # the NumPy port carries the same defaults as the book's classes
    assert R.RMSprop().decay_rate == 0.99 and R.Adam().beta2 == 0.999 and R.AdaDelta().lr == 1.0
    assert O.apply_updates is optax.apply_updates


def test_state_fields_mirror_the_book():
    params = {"w": jnp.ones(3)}
    fields = {name: type(O.OPTIMIZERS[name]().init(params))._fields for name in O.OPTIMIZERS}
    assert fields == {
        "sgd": ("count",),
        "momentum": ("count", "v"),
        "nesterov": ("count", "v"),
        "adagrad": ("count", "h"),
        "rmsprop": ("count", "h"),
        "adadelta": ("count", "h", "s"),
        "adam": ("count", "m", "v"),
    }
    assert isinstance(O.adam().init(params), O.AdamState)


@pytest.mark.parametrize("name", list(O.OPTIMIZERS))
def test_count_starts_at_zero_and_counts_updates(name):
    tx = O.get_optimizer(name)
    g = {"w": jnp.ones(2)}
    state = tx.init(g)
    assert state.count.dtype == jnp.int32 and int(state.count) == 0
    for _ in range(3):
        _, state = tx.update(g, state, g)
    assert int(state.count) == 3


def test_one_step_by_hand(x64):
    g = {"w": jnp.array([2.0])}
    up = lambda tx: float(tx.update(g, tx.init(g), g)[0]["w"][0])  # noqa: E731
    assert up(O.sgd(0.1)) == pytest.approx(-0.2)
    assert up(O.momentum(0.1, 0.9)) == pytest.approx(-0.2)
    assert up(O.nesterov(0.1, 0.9)) == pytest.approx(0.81 * -0.2 - 1.9 * 0.1 * 2.0)
    assert up(O.adagrad(0.1)) == pytest.approx(-0.1 * 2.0 / (2.0 + 1e-7))
    assert up(O.rmsprop(0.1, 0.99)) == pytest.approx(-0.1 * 2.0 / (np.sqrt(0.04) + 1e-7))
    lr_t = 0.001 * np.sqrt(1 - 0.999) / (1 - 0.9)
    assert up(O.adam()) == pytest.approx(-lr_t * 0.2 / (np.sqrt(0.004) + 1e-7), rel=1e-12)


# ----------------------------------------------------------------------------- traced hparams

LANES = {
    "learning_rate": [0.01, 0.05, 0.2],
    "momentum": [0.9, 0.5, 0.0],
    "decay_rate": [0.99, 0.9, 0.5],
    "rho": [0.95, 0.9, 0.5],
    "beta1": [0.9, 0.8, 0.0],
    "beta2": [0.999, 0.99, 0.9],
    "eps": [1e-7, 1e-4, 1e-2],
}


@pytest.mark.slow
@pytest.mark.parametrize("label", [*RULES, "nesterov_standard"])
def test_jit_vmap_over_every_hyperparameter_compiles_once(x64, label):
    name, fixed, _ = RULES.get(label, ("nesterov", {"form": "standard"}, None))
    params0, grads = _stream(seed=3, steps=10)
    traces = []

    def run(hp):
        traces.append(1)  # Python side effect: counts traces, not calls
        return _scan(O.get_optimizer(name, **hp, **fixed), params0, grads, steps=10)

    @jax.jit
    def single(hp):  # one value per hyperparameter, traced scalars
        return _scan(O.get_optimizer(name, **hp, **fixed), params0, grads, steps=10)

    names = O.HYPERPARAMETERS[name]
    vec = {k: jnp.asarray(LANES[k]) for k in names}
    batched = jax.jit(jax.vmap(run))
    out = batched(vec)
    out2 = batched({k: v[::-1] for k, v in vec.items()})  # new values, same shapes
    assert len(traces) == 1
    for i in range(3):
        one = jax.tree.map(np.asarray, single({k: jnp.asarray(LANES[k][i]) for k in names}))
        lane = jax.tree.map(lambda x, i=i: x[i], out)
        lane_rev = jax.tree.map(lambda x, i=i: x[2 - i], out2)
        assert _max_diff(lane, one) <= TOL
        assert _max_diff(lane_rev, one) <= TOL
    # lanes really differ: each hyperparameter reaches the math
    assert _max_diff(jax.tree.map(lambda x: x[0], out), jax.tree.map(lambda x: x[1], out)) > 0


def test_traced_values_skip_validation():
    g = {"w": jnp.ones(2)}

    @jax.jit
    def step(lr):
        tx = O.sgd(lr)
        return tx.update(g, tx.init(g))[0]

    np.testing.assert_allclose(step(-1.0)["w"], [1.0, 1.0])  # no ConfigError under jit


# ----------------------------------------------------------------------------- schedules


def test_adam_accepts_an_optax_schedule():
    """The issue's example: a schedule for learning_rate used to be refused as not a number."""
    tx = O.adam(learning_rate=optax.exponential_decay(1e-3, transition_steps=10, decay_rate=0.5))
    g = {"w": jnp.ones(2)}
    u, state = tx.update(g, tx.init(g), g)
    assert int(state.count) == 1 and bool(jnp.all(u["w"] < 0))


@pytest.mark.parametrize("name", list(O.OPTIMIZERS))
def test_schedule_is_called_with_the_count_before_the_update(name):
    """optax's convention: lr(0) on the first update, lr(1) on the second, ..."""
    seen = []

    def schedule(count):
        seen.append(count)
        return jnp.where(count == 0, 0.0, 0.1)  # the first update must not move

    tx = O.get_optimizer(name, learning_rate=schedule)
    g = {"w": jnp.full(2, 0.5)}
    state = tx.init(g)
    u0, state = tx.update(g, state, g)
    u1, state = tx.update(g, state, g)
    assert [int(c) for c in seen] == [0, 1]
    np.testing.assert_array_equal(u0["w"], 0.0)
    assert bool(jnp.all(u1["w"] < 0))


@pytest.mark.parametrize("name", list(O.OPTIMIZERS))
def test_constant_schedule_equals_the_number(x64, name):
    lr = O.DEFAULTS[name]["learning_rate"]
    params0, grads = _stream(seed=4, steps=10)
    a = _run_jax(O.get_optimizer(name, learning_rate=lr), params0, grads, steps=10)
    b = _run_jax(O.get_optimizer(name, learning_rate=optax.constant_schedule(lr)), params0,
                 grads, steps=10)
    assert _max_diff(a, b) <= TOL


def test_momentum_schedule_carries_each_steps_lr(x64):
    """Book Momentum under a schedule = optax's scale-then-trace, not optax.sgd(s, momentum)."""
    s = optax.exponential_decay(0.1, transition_steps=5, decay_rate=0.5)
    params0, grads = _stream(seed=5)
    ours = _run_jax(O.momentum(s, 0.9), params0, grads)
    chain = optax.chain(optax.scale_by_learning_rate(s), optax.trace(0.9))
    assert _max_diff(ours, _run_jax(chain, params0, grads)) <= TOL
    assert _max_diff(ours, _run_jax(optax.sgd(s, momentum=0.9), params0, grads)) > 1e-3


# ----------------------------------------------------------------------------- pytrees, dtypes


@pytest.mark.slow
@pytest.mark.parametrize("name", list(O.OPTIMIZERS))
def test_nested_pytree_structure_and_dtype_are_preserved(x64, name):
    """dict/tuple/list nesting survives; float32 params stay float32 (updates and state) even
    when the hyperparameters arrive as traced float64 arrays."""
    f32 = jnp.float32
    params = {
        "a": (jnp.ones((2, 3), f32), [jnp.zeros(4, f32), {"deep": jnp.full((1,), 2.0, f32)}]),
        "b": [jnp.ones((), f32), (jnp.arange(3.0, dtype=f32),)],
    }
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
    hp = {k: jnp.asarray(v, jnp.float64) for k, v in O.DEFAULTS[name].items()}

    @jax.jit
    def step(hp, grads, params):
        tx = O.get_optimizer(name, **hp)
        state = tx.init(params)
        return state, *tx.update(grads, state, params)

    state, updates, state2 = step(hp, grads, params)
    treedef = jax.tree.structure(params)
    assert jax.tree.structure(updates) == treedef
    assert jax.tree.structure(state2) == jax.tree.structure(state)
    for field in state._fields:
        if field != "count":
            assert jax.tree.structure(getattr(state2, field)) == treedef
    for leaf in jax.tree.leaves(state2):
        assert leaf.dtype in (jnp.float32, jnp.int32)
    new = O.apply_updates(params, updates)
    assert jax.tree.structure(new) == treedef
    for p, u in zip(jax.tree.leaves(params), jax.tree.leaves(updates), strict=True):
        assert u.shape == p.shape and u.dtype == p.dtype == jnp.float32
        assert bool(jnp.all(u < 0))  # positive gradient, every rule steps downhill


# ----------------------------------------------------------------------------- convergence

BOOK_LR = {  # SGD, Momentum, AdaGrad, Adam: ch06/optimizer_compare_naive.py; others: ours
    "sgd": {"learning_rate": 0.95},
    "momentum": {"learning_rate": 0.1},
    "nesterov": {"learning_rate": 0.1},
    "adagrad": {"learning_rate": 1.5},
    "rmsprop": {"learning_rate": 0.1},
    "adadelta": {"learning_rate": 1.0, "eps": 1e-3},  # ε sets AdaDelta's first steps (≈√ε)
    "adam": {"learning_rate": 0.3},
}


@pytest.mark.parametrize("name", list(O.OPTIMIZERS))
def test_converges_on_the_book_quadratic(name):
    f = lambda p: p["x"] ** 2 / 20.0 + p["y"] ** 2  # noqa: E731
    tx = O.get_optimizer(name, **BOOK_LR[name])
    p0 = {"x": jnp.float32(-7.0), "y": jnp.float32(2.0)}

    def body(carry, _):
        p, s = carry
        u, s = tx.update(jax.grad(f)(p), s, p)
        return (O.apply_updates(p, u), s), None

    (p, _), _ = jax.lax.scan(body, (p0, tx.init(p0)), None, length=200)
    assert float(f(p)) < 1e-6
    assert abs(float(p["x"])) < 1e-2 and abs(float(p["y"])) < 1e-2


# ----------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: O.sgd(-0.1), "learning_rate"),
        (lambda: O.sgd(float("nan")), "learning_rate"),
        (lambda: O.momentum(0.01, 1.0), "momentum"),
        (lambda: O.nesterov(0.01, -0.1), "momentum"),
        (lambda: O.nesterov(form="fast"), "form"),
        (lambda: O.adagrad(eps=-1e-7), "eps"),
        (lambda: O.rmsprop(decay_rate=1.0), "decay_rate"),
        (lambda: O.rmsprop(decay_rate=-0.5), "decay_rate"),
        (lambda: O.adadelta(rho=1.5), "rho"),
        (lambda: O.adam(beta1=1.0), "beta1"),
        (lambda: O.adam(beta2=-0.1), "beta2"),
        (lambda: O.adam(learning_rate=np.array([0.1, -0.1])), "learning_rate"),
        (lambda: O.sgd("fast"), "learning_rate"),
        (lambda: O.adam(learning_rate=[0.1, "x"]), "learning_rate"),
        (lambda: O.momentum(optax.constant_schedule(0.1), momentum=1.5), "momentum"),
        (lambda: O.get_optimizer("lion"), "adam"),
        (lambda: O.get_optimizer("sgd", momentum=0.9), "learning_rate"),
        (lambda: O.get_optimizer("adam", beta3=0.9), "beta3"),
    ],
)
def test_bad_arguments_raise_config_error(call, words):
    with pytest.raises(ConfigError) as err:
        call()
    assert isinstance(err.value, ValueError)
    msg = str(err.value)
    assert words in msg and "\n" not in msg


def test_get_optimizer_is_case_insensitive_and_applies_hparams():
    g = {"w": jnp.ones(1)}
    tx = O.get_optimizer("SGD", learning_rate=0.5)
    assert float(tx.update(g, tx.init(g))[0]["w"][0]) == pytest.approx(-0.5)
    tx = O.get_optimizer("nesterov", form="standard")
    assert float(tx.update(g, tx.init(g))[0]["w"][0]) == pytest.approx(-0.01 * 1.9)


# ------------------------------------------------- optax parity at the edges (optax alias_test)


def _abs_sq(x):
    return (x.conj() * x).real


def _parabola(dtype):
    """optax alias_test's ``_setup_parabola``."""
    p0 = jnp.array([-1.0, 10.0, 1.0], dtype=dtype)
    final = jnp.array([1.0, -1.0, 1.0], dtype=dtype)
    if jnp.iscomplexobj(dtype):
        final = final * (1 + 1j)
    return p0, final, lambda p: jnp.sum(_abs_sq(p - final))


def _rosenbrock(dtype):
    """optax alias_test's ``_setup_rosenbrock``."""
    a, b = (1.0 + 1j if jnp.iscomplexobj(dtype) else 1.0), 100.0
    p0 = jnp.array([0.0, 0.0], dtype=dtype)
    final = jnp.array([a, a**2], dtype=dtype)
    return p0, final, lambda p: _abs_sq(a - p[0]) + b * _abs_sq(p[1] - p[0] ** 2)


#: optax alias_test's cases for the rules with an optax counterpart, optax's learning rates:
#: (our rule, its keywords, optax's alias with the same keywords, dtypes optax runs it on).
#: AdaDelta takes optax's ρ = 0.9 and ε = 1e-6 (at the book's ρ = 0.95, ε = 1e-7 and lr 0.1 it
#: has not reached the parabola's minimum after 10,000 steps); optax skips it on complex numbers.
_ALIAS_CASES = {
    "sgd(momentum=0.9)": (O.momentum, {"learning_rate": 1e-3, "momentum": 0.9},
                          optax.sgd(1e-3, momentum=0.9), (jnp.float32, jnp.complex64)),
    "adagrad": (O.adagrad, {"learning_rate": 1.0}, optax.adagrad(1.0),
                (jnp.float32, jnp.complex64)),
    "adam": (O.adam, {"learning_rate": 1e-1}, optax.adam(1e-1), (jnp.float32, jnp.complex64)),
    "rmsprop": (O.rmsprop, {"learning_rate": 5e-3}, optax.rmsprop(5e-3),
                (jnp.float32, jnp.complex64)),
    "adadelta": (O.adadelta, {"learning_rate": 0.1, "rho": 0.9, "eps": 1e-6},
                 optax.adadelta(0.1, rho=0.9, eps=1e-6), (jnp.float32,)),
}


def _run_alias_scenario(tx, target, dtype, steps=10_000):
    """optax alias_test's ``test_optimization`` loop: jitted steps on the conjugated gradient,
    passing an extra keyword argument as a training loop would (``value=loss``)."""
    params0, final, objective = target(dtype)

    def body(_, carry):
        params, state = carry
        value, grads = jax.value_and_grad(objective)(params)
        grads = jax.tree.map(jnp.conj, grads)
        updates, state = tx.update(grads, state, params, value=value)
        return optax.apply_updates(params, updates), state

    run = jax.jit(lambda p: jax.lax.fori_loop(0, steps, body, (p, tx.init(p)))[0])
    return run(params0), final


@pytest.mark.slow
@pytest.mark.parametrize("target", [_parabola, _rosenbrock], ids=["parabola", "rosenbrock"])
@pytest.mark.parametrize("case", list(_ALIAS_CASES))
def test_optax_alias_scenarios(case, target):
    rule, kwargs, optax_tx, dtypes = _ALIAS_CASES[case]
    for dtype in dtypes:
        ours, final = _run_alias_scenario(rule(**kwargs), target, dtype)
        theirs, _ = _run_alias_scenario(optax_tx, target, dtype)
        assert ours.dtype == jnp.dtype(dtype)
        # optax's own tolerance for these scenarios
        np.testing.assert_allclose(np.asarray(theirs), np.asarray(final), rtol=3e-2, atol=3e-2)
        np.testing.assert_allclose(np.asarray(ours), np.asarray(final), rtol=3e-2, atol=3e-2)


@pytest.mark.parametrize("name", sorted(O.OPTIMIZERS))
def test_every_rule_accepts_and_ignores_extra_arguments(name):
    tx = O.get_optimizer(name)
    assert isinstance(tx, optax.GradientTransformationExtraArgs)
    params = {"w": jnp.array([0.5, -1.0])}
    grads = {"w": jnp.array([0.1, 0.2])}
    state = tx.init(params)
    plain = tx.update(grads, state, params)
    extra = jax.jit(lambda g, s, p: tx.update(g, s, p, value=1.0, unexpected_extra_arg=1))(
        grads, state, params)
    jax.tree.map(np.testing.assert_array_equal, extra, plain)
    # inside optax.chain, extra arguments reach every link (optax's own alias contract)
    chained = optax.chain(optax.clip(1.0), tx)
    updates, _ = chained.update(grads, chained.init(params), params, value=1.0)
    np.testing.assert_array_equal(updates["w"], plain[0]["w"])


@pytest.mark.slow
def test_complex_gradients_square_their_modulus_like_optax(x64):
    """Gradient 1j: optax's Adam steps along −i (|g|² = 1); g² = −1 would make it real."""
    params = jnp.array([0.0 + 0.0j])
    grads = jnp.array([1j])
    pairs = {
        "adam": (O.adam(0.1, eps=0.0), optax.adam(0.1, eps=0.0)),
        "rmsprop": (O.rmsprop(0.1), optax.rmsprop(0.1, eps=1e-7, eps_in_sqrt=False,
                                                  decay=0.99)),
        "adagrad": (O.adagrad(0.1, eps=0.0), optax.adagrad(0.1, initial_accumulator_value=0.0,
                                                           eps=0.0)),
    }
    for name, (ours, theirs) in pairs.items():
        u, _ = ours.update(grads, ours.init(params), params)
        v, _ = theirs.update(grads, theirs.init(params), params)
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-12, err_msg=name)
        assert abs(u[0].real) < 1e-15 and u[0].imag < 0, name
