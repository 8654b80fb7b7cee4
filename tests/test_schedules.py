"""jaxch6.schedules: closed forms, traced hyperparameters, and every rule × schedule vs optax."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxch6 import hparams
from jaxch6 import optimizers as O
from jaxch6 import schedules as S
from jaxch6.errors import ConfigError

T = 50
TOL = 1e-12


def _closed_form(name, lr, hp, c):
    """The module docstring's formulas, in plain Python floats."""
    if name == "constant":
        return lr
    if name == "exponential":
        return lr * hp["lr_decay"] ** (c / T)
    a = hp["final_lr_fraction"]

    def cosine(c, steps):
        c = min(max(c, 0), steps)
        return lr * (a + (1 - a) * 0.5 * (1 + math.cos(math.pi * c / steps)))

    if name == "cosine":
        return cosine(c, T)
    w = round(hp["warmup_fraction"] * T)
    return lr * c / w if c < w else cosine(c - w, max(T - w, 1))


HPARAMS = {
    "constant": {},
    "cosine": {"final_lr_fraction": 0.1},
    "exponential": {"lr_decay": 0.2},
    "warmup_cosine": {"warmup_fraction": 0.2, "final_lr_fraction": 0.05},
}


def test_names_defaults_and_bounds():
    assert S.SCHEDULES == ("constant", "cosine", "exponential", "warmup_cosine")
    assert set(S.SCHEDULE_HYPERPARAMETERS) == set(S.DEFAULTS) == set(S.SCHEDULES)
    optimizer_names = {n for names in O.HYPERPARAMETERS.values() for n in names}
    for name in S.SCHEDULES:
        assert tuple(S.DEFAULTS[name]) == S.SCHEDULE_HYPERPARAMETERS[name]
        for k, v in S.DEFAULTS[name].items():
            assert k in hparams.BOUNDS and k not in optimizer_names  # e.g. not decay_rate
            hparams.check_value(k, v)


@pytest.mark.parametrize("name", S.SCHEDULES)
def test_values_match_the_closed_forms(x64, name):
    lr = 0.3
    sched = S.make(name, lr, T, HPARAMS[name])
    counts = np.arange(T + 5)
    got = np.asarray(sched(jnp.asarray(counts, jnp.int32)))
    got = np.broadcast_to(got, counts.shape)
    want = np.array([_closed_form(name, lr, HPARAMS[name], int(c)) for c in counts])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert float(sched(0)) == pytest.approx(0.0 if name == "warmup_cosine" else lr)


@pytest.mark.slow
def test_values_match_optax_schedules(x64):
    c = jnp.arange(T + 5, dtype=jnp.float64)  # optax divides an int32 count in float32
    cases = [
        (S.make("cosine", 0.3, T, {"final_lr_fraction": 0.1}),
         optax.cosine_decay_schedule(0.3, T, alpha=0.1)),
        (S.make("exponential", 0.3, T, {"lr_decay": 0.2}),
         optax.exponential_decay(0.3, transition_steps=T, decay_rate=0.2)),
        (S.make("warmup_cosine", 0.3, T, {"warmup_fraction": 0.2, "final_lr_fraction": 0.05}),
         optax.warmup_cosine_decay_schedule(0.0, 0.3, 10, T, end_value=0.05 * 0.3)),
        (S.make("warmup_cosine", 0.3, T, {"warmup_fraction": 0.0}),
         optax.cosine_decay_schedule(0.3, T)),
    ]
    for ours, ref in cases:
        np.testing.assert_allclose(ours(c), ref(c), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", S.SCHEDULES[1:])
def test_traced_hyperparameters_vmap_and_compile_once(x64, name):
    traces = []
    counts = jnp.arange(T)

    def values(lr, hp):
        traces.append(1)
        return S.make(name, lr, T, hp)(counts)

    keys = S.SCHEDULE_HYPERPARAMETERS[name]
    lanes = {"final_lr_fraction": [0.0, 0.1, 0.5], "lr_decay": [0.1, 0.5, 1.0],
             "warmup_fraction": [0.0, 0.1, 0.3]}
    lrs = jnp.array([0.1, 0.2, 0.3])
    batched = jax.jit(jax.vmap(values))
    out = batched(lrs, {k: jnp.asarray(lanes[k]) for k in keys})
    out2 = batched(lrs[::-1], {k: jnp.asarray(lanes[k][::-1]) for k in keys})
    assert len(traces) == 1
    for i in range(3):
        hp = {k: lanes[k][i] for k in keys}
        want = np.array([_closed_form(name, float(lrs[i]), hp, int(c)) for c in counts])
        np.testing.assert_allclose(out[i], want, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(out2[2 - i], want, rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------- rules vs optax


def _momentum_ref(s, mu):
    return optax.chain(optax.scale_by_learning_rate(s), optax.trace(mu))


def _nesterov_book_ref(s, mu):
    """Book Nesterov = μ·u − lr_c·g, u from optax's scale-then-trace(nesterov=True)."""
    inner = optax.chain(optax.scale_by_learning_rate(s), optax.trace(mu, nesterov=True))
    step = optax.scale_by_learning_rate(s)

    def update(g, state, params=None):
        u, s_u = inner.update(g, state[0], params)
        d, s_d = step.update(g, state[1], params)
        return jax.tree.map(lambda u, d: mu * u + d, u, d), (s_u, s_d)

    return optax.GradientTransformation(lambda p: (inner.init(p), step.init(p)), update)


#: label -> (ours(schedule), optax's matching optimizer(schedule))
PAIRS = {
    "sgd": (O.sgd, optax.sgd),
    "momentum": (lambda s: O.momentum(s, 0.9), lambda s: _momentum_ref(s, 0.9)),
    "nesterov_book": (lambda s: O.nesterov(s, 0.9), lambda s: _nesterov_book_ref(s, 0.9)),
    "nesterov_standard": (lambda s: O.nesterov(s, 0.9, form="standard"),
                          lambda s: optax.sgd(s, momentum=0.9, nesterov=True)),
    "adagrad_eps0": (lambda s: O.adagrad(s, eps=0.0),
                     lambda s: optax.adagrad(s, initial_accumulator_value=0.0, eps=0.0)),
    "rmsprop": (lambda s: O.rmsprop(s, 0.9, 1e-7),
                lambda s: optax.rmsprop(s, decay=0.9, eps=1e-7, eps_in_sqrt=False)),
    "adadelta": (lambda s: O.adadelta(s, 0.9, 1e-6),
                 lambda s: optax.adadelta(learning_rate=s, rho=0.9, eps=1e-6)),
    "adam_eps0": (lambda s: O.adam(s, eps=0.0), lambda s: optax.adam(s, eps=0.0)),
    "adam_scheduled_eps": (
        lambda s: O.adam(s, 0.9, 0.999, 1e-7),
        lambda s: optax.inject_hyperparams(optax.adam)(
            learning_rate=s, b1=0.9, b2=0.999,
            eps=lambda c: 1e-7 / jnp.sqrt(1.0 - 0.999 ** (c + 1))),
    ),
}


def _scan(tx, params0, grads):
    def body(carry, g):
        p, s = carry
        u, s = tx.update(g, s, p)
        return (optax.apply_updates(p, u), s), None

    (p, _), _ = jax.lax.scan(body, (params0, tx.init(params0)), grads)
    return p


def _max_diff(a, b):
    return max(float(jnp.max(jnp.abs(x - y)))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("label", list(PAIRS))
def test_every_rule_with_every_schedule_equals_optax(x64, label):
    ours, ref = PAIRS[label]
    rng = np.random.default_rng(0)
    params0 = {"W": jnp.asarray(rng.standard_normal((3, 2))),
               "b": jnp.asarray(rng.standard_normal(2))}
    grads = jax.tree.map(lambda p: jnp.asarray(rng.standard_normal((T, *p.shape))), params0)
    lr = {"sgd": 0.1, "adadelta": 1.0}.get(label.split("_")[0], 0.05)

    @jax.jit
    def both(lr, hp_by_name):  # traced lr and schedule numbers: one program for all schedules
        out = {}
        for name in S.SCHEDULES:
            s = S.make(name, lr, T, hp_by_name[name])
            out[name] = (_scan(ours(s), params0, grads), _scan(ref(s), params0, grads),
                         _scan(ours(lambda c, s=s: s(c + 1)), params0, grads))
        return out

    hp = {n: {k: jnp.asarray(v) for k, v in HPARAMS[n].items()} for n in S.SCHEDULES}
    for name, (a, b, shifted) in both(jnp.asarray(lr), hp).items():
        assert _max_diff(a, params0) > 1e-6, name  # the run did something
        assert _max_diff(a, b) <= TOL, (label, name)
        if name != "constant":  # an off-by-one in the count would show
            assert _max_diff(shifted, b) > 1e-9, (label, name)


# ----------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: S.make("linear", 0.1, 10), "constant, cosine"),
        (lambda: S.make("cosine", 0.1, 10, {"lr_decay": 0.5}), "final_lr_fraction"),
        (lambda: S.make("constant", 0.1, 10, {"decay_rate": 0.5}), "decay_rate"),
        (lambda: S.make("cosine", -0.1, 10), "learning_rate"),
        (lambda: S.make("cosine", 0.1, 0), "total_steps"),
        (lambda: S.make("cosine", 0.1, 10.5), "total_steps"),
        (lambda: S.make("cosine", 0.1, True), "total_steps"),
        (lambda: S.make("cosine", 0.1, 10, {"final_lr_fraction": 1.5}), "final_lr_fraction"),
        (lambda: S.make("exponential", 0.1, 10, {"lr_decay": -0.1}), "lr_decay"),
        (lambda: S.make("exponential", 0.1, 10, {"lr_decay": float("nan")}), "lr_decay"),
        (lambda: S.make("warmup_cosine", 0.1, 10, {"warmup_fraction": 1.0}), "warmup_fraction"),
        (lambda: S.make("warmup_cosine", 0.1, 10, {"warmup_fraction": "x"}), "warmup_fraction"),
    ],
)
def test_bad_arguments_raise_one_line_config_error(call, words):
    with pytest.raises(ConfigError) as err:
        call()
    assert words in str(err.value) and "\n" not in str(err.value)


def test_names_are_case_insensitive_and_traced_values_skip_checks():
    assert float(S.make("COSINE", 0.2, 10)(0)) == pytest.approx(0.2)

    @jax.jit
    def at(decay):
        return S.make("exponential", 1.0, 10, {"lr_decay": decay})(10)

    assert float(at(2.0)) == pytest.approx(2.0)  # out of range, but traced: not checked


@pytest.mark.parametrize("rule", list(O.OPTIMIZERS))
def test_float32_params_keep_their_dtype_under_a_traced_float64_schedule(x64, rule):
    """The lax.scan carry is stable: schedule values in float64 do not leak into the state."""
    params = {"w": jnp.ones(3, jnp.float32), "b": jnp.zeros((), jnp.float32)}

    @jax.jit
    def run(lr, fraction):
        tx = O.get_optimizer(rule, learning_rate=S.make(
            "warmup_cosine", lr, 10, {"warmup_fraction": fraction}))

        def body(carry, _):
            p, state = carry
            u, state = tx.update(jax.tree.map(jnp.ones_like, p), state, p)
            return (optax.apply_updates(p, u), state), None

        (p, state), _ = jax.lax.scan(body, (params, tx.init(params)), None, length=10)
        return p, state

    p, state = run(jnp.float64(0.1), jnp.float64(0.2))
    assert {leaf.dtype for leaf in jax.tree.leaves(p)} == {jnp.dtype(jnp.float32)}
    assert {leaf.dtype for leaf in jax.tree.leaves(state)} <= {jnp.dtype(jnp.float32),
                                                               jnp.dtype(jnp.int32)}
    assert int(state.count) == 10 and float(p["b"]) < 0


# ----------------------------------------------------------------- schedules inside training
@pytest.mark.parametrize("name", S.SCHEDULES)
def test_train_with_every_schedule(name):
    """train.train under a schedule: the schedule gets only its own numbers (issue 19 item 1:
    every hyperparameter of the run used to reach schedules.make and be refused)."""
    from jaxch6 import train

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.random((40, 784), np.float32))
    t = jnp.asarray(rng.integers(0, 10, 40).astype(np.int32))
    data = train.Data(x[:30], t[:30], x[30:], t[30:])
    config = train.TrainConfig(hidden_sizes=(8,), epochs=2, batch_size=10, schedule=name)
    hp = {"learning_rate": 0.05, "weight_decay": 1e-4, **S.DEFAULTS[name]}
    hist = train.train(jax.random.key(0), hp, data, config)
    assert hist.train_acc.shape == (2,) and not bool(hist.diverged)
    assert np.all((np.asarray(hist.eval_acc) >= 0) & (np.asarray(hist.eval_acc) <= 1))
