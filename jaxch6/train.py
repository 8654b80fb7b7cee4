"""One training run of the book's ``Trainer`` as a single compiled, vmappable program.

``make_train_fn(config, n_train, n_eval)`` returns a pure function ``train(key, hparams, data)``
whose whole loop is one ``lax.scan`` over epochs with an inner ``lax.scan`` over steps. Every
hyperparameter (learning rate and the optimizer's other floats, weight decay, dropout ratio,
init scale) is data, so ``jax.jit(jax.vmap(train, in_axes=(0, 0, None)))`` trains one network per
lane without recompiling::

    config = TrainConfig(hidden_sizes=(100,) * 6, epochs=50)
    train = jax.jit(jax.vmap(make_train_fn(config, 400, 100), in_axes=(0, 0, None)))
    history = train(keys, {"learning_rate": lrs, "weight_decay": wds}, Data(x, t, xv, tv))

Book semantics (``common/trainer.py``): ``iter_per_epoch = max(n_train // batch_size, 1)``
(the book's float ratio; equal when divisible), ``steps = epochs · iter_per_epoch``; every step
draws ``batch_size`` indices *with replacement* (``np.random.choice``; here ``randint`` from
``fold_in(batch_key, step)``), takes one gradient step (batch norm and dropout in training mode),
then records the loss of the same batch *after* the update in evaluation mode (the book's
``network.loss(x_batch, t_batch)``, ``train_flg=False``). Accuracy on the full training and
evaluation sets is recorded after the first step of each epoch (``current_iter %
iter_per_epoch == 0``), or after the last one with ``eval_position="end"``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxch6 import mlp, optimizers
from jaxch6.errors import ConfigError, DataError
from jaxch6.hparams import check_value as _check_value

__all__ = [
    "N_CLASSES",
    "Data",
    "History",
    "TrainConfig",
    "default_hparams",
    "make_train_fn",
    "train",
]

#: Output size of the network (MNIST and Fashion-MNIST have 10 classes, like the book).
N_CLASSES = 10
RECORD_LOSS = ("after_update", "before_update", "none")
EVAL_POSITIONS = ("book", "end")
DTYPES = ("float32", "float64")


class TrainConfig(NamedTuple):
    """Static settings of a run: hashable; they fix the compiled program (shapes and branches).

    ``record_loss``: ``"after_update"`` (book: the batch's loss after the update, in evaluation
    mode; one extra forward pass per step), ``"before_update"`` (the training-mode loss of the
    gradient computation, free), ``"none"`` (NaN-filled). ``eval_position``: ``"book"`` (after the
    first step of each epoch) or ``"end"`` (after the last).
    """

    hidden_sizes: tuple[int, ...] = (100,) * 6
    activation: str = "relu"
    weight_init: str | float = "he"
    use_batchnorm: bool = False
    use_dropout: bool = False
    dropout_form: str = "book"
    optimizer: str = "sgd"
    nesterov_form: str = "book"
    batch_size: int = 100
    epochs: int = 50
    record_loss: str = "after_update"
    eval_position: str = "book"
    dtype: str = "float32"


class Data(NamedTuple):
    """Training and evaluation sets: x (N, 784) floats, t (N,) int labels."""

    x_train: jax.Array
    t_train: jax.Array
    x_eval: jax.Array
    t_eval: jax.Array


class History(NamedTuple):
    """What one run records (under ``vmap`` every field gains a leading trial axis)."""

    loss: jax.Array  # (steps,)
    train_acc: jax.Array  # (epochs,)
    eval_acc: jax.Array  # (epochs,)
    diverged: jax.Array  # () bool: any non-finite loss or parameter


def default_hparams(config: TrainConfig) -> dict[str, float]:
    """The book's defaults of the chosen optimizer, plus ``weight_decay=0``, ``init_scale=1`` and
    ``dropout_ratio=0.5`` (only when ``use_dropout``; the book's ``dropout_ration``)."""
    name = str(config.optimizer).lower()
    if name not in optimizers.DEFAULTS:
        raise ConfigError(
            f"unknown optimizer {config.optimizer!r}; valid: {', '.join(optimizers.OPTIMIZERS)}"
        )
    hp = dict(optimizers.DEFAULTS[name])
    hp["weight_decay"] = 0.0
    if config.use_dropout:
        hp["dropout_ratio"] = 0.5
    hp["init_scale"] = 1.0
    return hp


def _validate(config: TrainConfig, n_train: int, n_eval: int) -> None:
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig, got {type(config).__name__}")
    hs = tuple(config.hidden_sizes)
    if not all(isinstance(n, int) and n >= 1 for n in hs):
        raise ConfigError(f"hidden_sizes must be positive ints, got {config.hidden_sizes}")
    for name, value, choices in (
        ("record_loss", config.record_loss, RECORD_LOSS),
        ("eval_position", config.eval_position, EVAL_POSITIONS),
        ("dtype", config.dtype, DTYPES),
        ("dropout_form", config.dropout_form, ("book", "inverted")),
        ("activation", config.activation, ("relu", "sigmoid", "tanh")),
    ):
        if value not in choices:
            raise ConfigError(f"{name} must be one of {choices}, got {value!r}")
    for name in ("batch_size", "epochs"):
        v = getattr(config, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"{name} must be a positive int, got {v!r}")
    if not isinstance(n_train, int) or n_train < 1 or not isinstance(n_eval, int) or n_eval < 1:
        raise ConfigError(f"n_train and n_eval must be positive ints, got {n_train}, {n_eval}")
    if config.dtype == "float64" and not jax.config.jax_enable_x64:
        raise ConfigError(
            "dtype float64 needs jax_enable_x64 (set JAX_ENABLE_X64=1)")


def _concrete(v) -> bool:
    return not isinstance(v, jax.core.Tracer)


def _check_hparams(hp: dict) -> None:
    """Range checks (:data:`jaxch6.hparams.BOUNDS`) on concrete values only: traced values
    cannot be inspected."""
    for name, v in hp.items():
        if v is not None and _concrete(v):
            _check_value(name, v)


def make_train_fn(
    config: TrainConfig,
    n_train: int,
    n_eval: int,
    *,
    input_columns=None,
    n_features: int | None = None,
) -> Callable[..., History]:
    """The pure function ``train(key, hparams, data) -> History`` of one run (see module doc).

    ``hparams``: a dict with any of the optimizer's float hyperparameters
    (``optimizers.HYPERPARAMETERS[config.optimizer]``), ``weight_decay``, ``dropout_ratio`` and
    ``init_scale``; missing keys take :func:`default_hparams`. Each value may be a traced scalar,
    so the function can be ``vmap``-ed over ``key`` and every leaf of ``hparams`` (``data`` with
    ``in_axes=None``). Randomness: ``key`` is split into init, batch and dropout keys; step ``i``
    uses ``fold_in(batch_key, i)`` and ``fold_in(dropout_key, i)`` (each epoch draws its steps'
    batch indices in one vectorised call: the same values as one call per step).

    ``input_columns`` (with ``n_features``, the full input width): the data holds only these
    columns of the ``n_features`` inputs because every other column is zero in every training
    and evaluation row (the sweep drops MNIST's always-blank border pixels). The network is
    the full one — ``W1`` has ``n_features`` rows, initialised exactly as without the option,
    and its rows for the dropped columns are still trained (by weight decay alone: their data
    gradient is exactly zero) and checked for divergence — but the first layer's matmuls skip
    the zero columns. The same run up to float rounding (a shorter sum), at less cost.
    """
    _validate(config, n_train, n_eval)
    defaults = default_hparams(config)
    opt_name = str(config.optimizer).lower()
    opt_keys = optimizers.HYPERPARAMETERS[opt_name]
    bs = config.batch_size
    ipe = max(n_train // bs, 1)
    epochs = config.epochs
    dtype = jnp.dtype(config.dtype)
    drop_form = config.dropout_form
    cols, dropped = _columns(input_columns, n_features)

    def train(key: jax.Array, hparams: dict, data: Data) -> History:
        unknown = sorted(set(hparams) - set(defaults))
        if unknown:
            raise ConfigError(
                f"unknown hyperparameter(s) {', '.join(unknown)}; valid: {', '.join(defaults)}"
            )
        _check_hparams(hparams)
        hp = {**defaults, **hparams}
        hp = {k: jnp.asarray(v, dtype) for k, v in hp.items()}
        x_train, t_train, x_eval, t_eval = _check_data(data, n_train, n_eval, dtype)
        n_in = x_train.shape[1] if cols is None else n_features
        if cols is not None and x_train.shape[1] != len(cols):
            raise DataError(f"data must hold the {len(cols)} input_columns, got "
                            f"{x_train.shape[1]} features")
        drop = hp["dropout_ratio"] if config.use_dropout else None
        wd = hp["weight_decay"]

        k_init, k_batch, k_drop = jax.random.split(key, 3)
        params, state = _init(
            (n_in, *config.hidden_sizes, N_CLASSES), k_init, config, hp["init_scale"], dtype
        )
        if cols is not None:  # train W1's used and zero-input rows as two leaves
            w1 = params.pop("W1")
            params = {"W1": w1[cols], "W1_zero_inputs": w1[dropped], **params}
        opt_kwargs = {k: hp[k] for k in opt_keys}
        if opt_name == "nesterov":
            opt_kwargs["form"] = config.nesterov_form
        opt = optimizers.get_optimizer(opt_name, **opt_kwargs)
        opt_state = opt.init(params)

        def net_loss(p, s, xb, tb, train, kd=None):
            if cols is None:
                return mlp.loss(p, s, xb, tb, train=train, weight_decay=wd, key=kd,
                                dropout_ratio=drop, dropout_form=drop_form)
            net = {k: v for k, v in p.items() if k != "W1_zero_inputs"}
            value, s = mlp.loss(net, s, xb, tb, train=train, key=kd, dropout_ratio=drop,
                                dropout_form=drop_form)
            return value + mlp.weight_penalty(p, wd), s  # all of W1's rows, as in the book

        def batch_loss(p, s, xb, tb, kd):
            return net_loss(p, s, xb, tb, True, kd)

        grad_fn = jax.value_and_grad(batch_loss, has_aux=True)

        def step(carry, xs):
            params, state, opt_state, finite = carry
            idx, kd = xs
            xb, tb = x_train[idx], t_train[idx]
            (value, state), grads = grad_fn(params, state, xb, tb, kd)
            updates, opt_state = opt.update(grads, opt_state, params)
            params = optimizers.apply_updates(params, updates)
            finite = finite & jnp.isfinite(value)
            if config.record_loss == "after_update":
                value, _ = net_loss(params, state, xb, tb, False)
            elif config.record_loss == "none":
                value = jnp.full((), jnp.nan, dtype)
            return (params, state, opt_state, finite), value.astype(dtype)

        x_all = jnp.concatenate([x_train, x_eval])
        t_all = jnp.concatenate([t_train, t_eval])

        def evaluate(params, state):
            net = {k: v for k, v in params.items() if k != "W1_zero_inputs"}
            logits, _ = mlp.apply(net, state, x_all, train=False, dropout_ratio=drop,
                                  dropout_form=drop_form)
            hit = (jnp.argmax(logits, axis=-1) == t_all).astype(dtype)
            return jnp.mean(hit[:n_train]), jnp.mean(hit[n_train:])

        def batches(first):
            """The epoch's batch indices (ipe, bs) and dropout keys, one vectorised draw."""
            steps = first + jnp.arange(ipe)
            idx = jax.vmap(
                lambda i: jax.random.randint(jax.random.fold_in(k_batch, i), (bs,), 0, n_train)
            )(steps)
            kd = jax.vmap(lambda i: jax.random.fold_in(k_drop, i))(steps) \
                if config.use_dropout else jnp.zeros((ipe,), dtype)
            return idx, kd

        def epoch(carry, e):
            idx, kd = batches(e * ipe)
            kd_at = (lambda j: kd[j]) if config.use_dropout else (lambda j: None)
            if config.eval_position == "book":
                carry, l0 = step(carry, (idx[0], kd_at(0)))
                acc = evaluate(carry[0], carry[1])
                if ipe > 1:
                    rest = (idx[1:], kd[1:] if config.use_dropout else None)
                    carry, ls = jax.lax.scan(step, carry, rest, length=ipe - 1)
                    losses = jnp.concatenate([l0[None], ls])
                else:
                    losses = l0[None]
            else:
                carry, losses = jax.lax.scan(
                    step, carry, (idx, kd if config.use_dropout else None), length=ipe)
                acc = evaluate(carry[0], carry[1])
            return carry, (losses, acc)

        carry = (params, state, opt_state, jnp.array(True))
        carry, (losses, (train_acc, eval_acc)) = jax.lax.scan(epoch, carry, jnp.arange(epochs))
        params, _, _, finite = carry
        for leaf in jax.tree.leaves(params):
            finite = finite & jnp.all(jnp.isfinite(leaf))
        return History(
            loss=losses.reshape(-1), train_acc=train_acc, eval_acc=eval_acc, diverged=~finite
        )

    return train


def _init(sizes, key, config: TrainConfig, init_scale, dtype):
    """``mlp.init(sizes, key=key, ...)`` with the same values, drawing the weights of all
    same-shaped layers (the book's five 100×100 layers) in one vectorised call: fewer random
    number generators in the program, so it compiles faster. (mlp.init's own draws become
    dead code and are removed by the compiler.)"""
    from jaxch6 import initializers

    params, state = mlp.init(
        sizes, key=key, activation=config.activation, weight_init=config.weight_init,
        use_batchnorm=config.use_batchnorm, init_scale=init_scale, dtype=dtype,
    )
    init_w = initializers.get(config.weight_init, init_scale)
    keys = jax.random.split(key, len(sizes) - 1)  # as mlp.init: layer l uses keys[l - 1]
    shapes = [(sizes[l - 1], sizes[l]) for l in range(1, len(sizes))]
    for shape in dict.fromkeys(shapes):
        layers_ = [l for l in range(1, len(sizes)) if shapes[l - 1] == shape]
        if len(layers_) < 2:
            continue
        ws = jax.vmap(lambda k, shape=shape: init_w(k, shape, dtype))(
            keys[jnp.array([l - 1 for l in layers_])]
        )
        for j, l in enumerate(layers_):
            params[f"W{l}"] = ws[j]
    return params, state


def _columns(input_columns, n_features):
    """Validated (used, dropped) column index arrays, or (None, None) without the option."""
    import numpy as np

    if input_columns is None:
        return None, None
    cols = np.asarray(input_columns, dtype=np.int64).reshape(-1)
    if not isinstance(n_features, int) or n_features < 1:
        raise ConfigError(f"input_columns needs n_features, the full input width; got {n_features}")
    if len(cols) == 0 or np.any(np.diff(cols) <= 0) or cols[0] < 0 or cols[-1] >= n_features:
        raise ConfigError(
            f"input_columns must be increasing indices in [0, {n_features}), got {len(cols)}"
        )
    dropped = np.setdiff1d(np.arange(n_features), cols)
    return cols.astype(np.int32), dropped.astype(np.int32)


def _check_data(data: Data, n_train: int, n_eval: int, dtype):
    if not isinstance(data, Data):
        raise DataError(f"data must be a train.Data(x_train, t_train, x_eval, t_eval), got "
                        f"{type(data).__name__}")
    x_train, t_train, x_eval, t_eval = data
    for name, x, t, n in (("train", x_train, t_train, n_train), ("eval", x_eval, t_eval, n_eval)):
        if x.ndim != 2 or x.shape[0] != n or t.shape != (n,):
            raise DataError(
                f"{name} set must be x ({n}, features) and int labels t ({n},), "
                f"got x {tuple(x.shape)}, t {tuple(t.shape)}"
            )
    if x_train.shape[1] != x_eval.shape[1]:
        raise DataError(f"train and eval features differ: {x_train.shape[1]} vs {x_eval.shape[1]}")
    as_x = functools.partial(jnp.asarray, dtype=dtype)
    return as_x(x_train), jnp.asarray(t_train), as_x(x_eval), jnp.asarray(t_eval)


@functools.lru_cache(maxsize=32)
def _compiled(config: TrainConfig, n_train: int, n_eval: int):
    return jax.jit(make_train_fn(config, n_train, n_eval))


def train(key: jax.Array, hparams: dict, data: Data, config: TrainConfig | None = None) -> History:
    """One run: ``jax.jit(make_train_fn(config, n_train, n_eval))(key, hparams, data)`` (cached;
    ``config=None`` is ``TrainConfig()``)."""
    config = TrainConfig() if config is None else config
    config = config._replace(hidden_sizes=tuple(config.hidden_sizes))
    if not isinstance(data, Data):
        raise DataError(f"data must be a train.Data, got {type(data).__name__}")
    _validate(config, len(data.x_train), len(data.x_eval))
    _check_hparams(hparams)
    fn = _compiled(config, data.x_train.shape[0], data.x_eval.shape[0])
    return fn(key, {k: jnp.asarray(v) for k, v in hparams.items()}, data)
