"""One training run of the book's ``Trainer`` as compiled, vmappable, resumable pure functions.

Training is a state machine: :func:`make_run` gives ``init(key, hparams) -> RunState`` and
``advance(run_state, hparams, data, epochs) -> (RunState, History)``; training 10 + 40 epochs
equals training 50 at once, bit for bit. ``make_train_fn(config, n_train, n_eval)`` (their
composition) returns a pure function ``train(key, hparams, data)``
whose whole loop is one ``lax.scan`` over epochs with an inner ``lax.scan`` over steps. Every
hyperparameter (learning rate and the optimizer's other floats, weight decay, dropout ratio,
init scale) is data, so ``jax.jit(jax.vmap(train, in_axes=(0, 0, None)))`` trains one network per
lane without recompiling:

```python
config = TrainConfig(hidden_sizes=(100,) * 6, epochs=50)
train = jax.jit(jax.vmap(make_train_fn(config, 400, 100), in_axes=(0, 0, None)))
history = train(keys, {"learning_rate": lrs, "weight_decay": wds}, Data(x, t, xv, tv))
```

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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxch6 import mlp, names, optimizers
from jaxch6.data.split import Data  # defined without JAX: a sweep loads its data first
from jaxch6.errors import ConfigError, DataError
from jaxch6.hparams import check_value as _check_value
from jaxch6.names import KEY_IMPL

__all__ = [
    "N_CLASSES",
    "Data",
    "History",
    "Run",
    "RunState",
    "TrainConfig",
    "advance",
    "default_hparams",
    "init_params",
    "init_run",
    "make_run",
    "make_train_fn",
    "n_classes_of",
    "train",
]

#: Default output size of the network (MNIST and Fashion-MNIST have 10 classes, like the book).
N_CLASSES = 10
RECORD_LOSS = names.RECORD_LOSS
EVAL_POSITIONS = ("book", "end")
DTYPES = names.DTYPES


class TrainConfig(NamedTuple):
    """Static settings of a run: hashable; they fix the compiled program (shapes and branches).

    ``record_loss``: ``"after_update"`` (book: the batch's loss after the update, in evaluation
    mode; one extra forward pass per step), ``"before_update"`` (the training-mode loss of the
    gradient computation, free), ``"none"`` (NaN-filled). ``eval_position``: ``"book"`` (after the
    first step of each epoch) or ``"end"`` (after the last). ``schedule``: the learning rate's
    schedule over the ``epochs`` of the run (:mod:`jaxch6.schedules`; ``"constant"`` is the
    book's). ``precision``: ``"fp32"`` (the book's), ``"tf32"`` or ``"bf16"`` matmuls
    (:mod:`jaxch6.precision`).
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
    schedule: str = "constant"
    precision: str = "fp32"


class History(NamedTuple):
    """What one run records (under ``vmap`` every field gains a leading trial axis)."""

    loss: jax.Array  # (steps,)
    train_acc: jax.Array  # (epochs,)
    eval_acc: jax.Array  # (epochs,)
    diverged: jax.Array  # () bool: any non-finite loss or parameter


def default_hparams(config: TrainConfig) -> dict[str, float]:
    """The default hyperparameters of a configuration.

    Args:
        config: the run's static settings (its optimizer, dropout and schedule).

    Returns:
        The book's defaults of the chosen optimizer, plus ``weight_decay=0``,
        ``init_scale=1``, ``dropout_ratio=0.5`` (only when ``use_dropout``; the book's
        ``dropout_ration``) and the schedule's defaults.

    Raises:
        ConfigError: an unknown optimizer.
    """
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
    if config.schedule != "constant":
        from jaxch6 import schedules

        hp.update(schedules.DEFAULTS[config.schedule])
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
        ("activation", config.activation, names.ACTIVATIONS),
        ("schedule", config.schedule, _schedules(config.schedule)),
        ("precision", config.precision, names.PRECISIONS),
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


def _schedules(name: str) -> tuple[str, ...]:
    if name == "constant":  # the book's: no import needed
        return ("constant",)
    from jaxch6 import schedules

    return tuple(schedules.SCHEDULES)


def _concrete(v) -> bool:
    return not isinstance(v, jax.core.Tracer)


def _check_hparams(hp: dict) -> None:
    """Range checks (:data:`jaxch6.hparams.BOUNDS`) on concrete values only: traced values
    cannot be inspected."""
    for name, v in hp.items():
        if v is not None and _concrete(v):
            _check_value(name, v)


class RunState(NamedTuple):
    """Everything one training run carries from step to step: one pytree.

    Under ``vmap`` every leaf gains a leading lane axis; a batch of run states can be gathered,
    copied (population-based training) and saved like any pytree of arrays.

    Attributes:
        params: the trainable parameters (``mlp.init``'s dict; with ``input_columns`` the first
            layer is held as two leaves, see :func:`make_run` and :meth:`Run.network`).
        opt_state: the optimizer's state (its moments and step count).
        bn: the batch-norm running statistics (:class:`jaxch6.mlp.MLPState`).
        step: int32 scalar, the optimizer steps taken so far.
        key: uint32 ``(2,)``, the raw data of the run's training key (init, batches, dropout).
        finite: bool scalar, no loss or parameter has been NaN or infinite so far.
    """

    params: dict
    opt_state: Any
    bn: mlp.MLPState
    step: jax.Array
    key: jax.Array
    finite: jax.Array


class Run(NamedTuple):
    """The pure functions of one configuration's training (see :func:`make_run`).

    Attributes:
        init: ``init(key, hparams) -> RunState``.
        advance: ``advance(run_state, hparams, data, epochs) -> (RunState, History)``;
            ``epochs`` is a static Python int.
        network: ``network(run_state) -> (params, MLPState)``, what :func:`jaxch6.mlp.apply`
            takes.
        n_steps_per_epoch: the book's ``iter_per_epoch``.
    """

    init: Callable[..., RunState]
    advance: Callable[..., tuple[RunState, History]]
    network: Callable[[RunState], tuple[dict, mlp.MLPState]]
    n_steps_per_epoch: int


def make_run(
    config: TrainConfig,
    n_train: int,
    n_eval: int,
    *,
    n_features: int,
    n_classes: int = N_CLASSES,
    input_columns=None,
) -> Run:
    """Training as a resumable state machine: ``init`` a :class:`RunState`, ``advance`` it.

    ``advance(advance(s, hp, d, 10)[0], hp, d, 40)`` equals ``advance(s, hp, d, 50)`` bit for
    bit (histories and state): the batches and dropout masks of step ``i`` come from
    ``fold_in(batch_key, i)`` / ``fold_in(dropout_key, i)`` with ``i`` the global step count,
    and the learning-rate schedule (``config.schedule``) reads the optimizer's own count.

    Args:
        config: the static settings (network, optimizer, batch size, ``epochs`` = the planned
            length of the run, which a learning-rate schedule spans).
        n_train: rows of the training set (fixes the steps per epoch).
        n_eval: rows of the evaluation set.
        n_features: the network's input width.
        n_classes: the output width; labels must lie in ``[0, n_classes)``.
        input_columns: indices of the input columns the data holds, when every other column
            is zero in every row (the sweep drops MNIST's blank border pixels). The network is
            still the full one: ``W1``'s rows for the dropped columns are initialised, trained
            (by weight decay alone) and checked, but the first layer's matmuls skip them: the
            same run up to float rounding, at less cost.

    Returns:
        A :class:`Run` of pure, jit- and vmap-able functions; every hyperparameter may be a
        traced scalar (``vmap`` over keys, hyperparameters and run states; data unbatched).

    Raises:
        ConfigError: an invalid config or an unknown or out-of-range (concrete) hyperparameter.

    Example:
        ```python
        run = make_run(TrainConfig(epochs=10), n_train=400, n_eval=100, n_features=784)
        state = run.init(jax.random.key(0), {"learning_rate": 0.01})
        state, history = run.advance(state, {"learning_rate": 0.01}, data, 10)
        ```
    """
    _validate(config, n_train, n_eval)
    default_hparams(config)  # an unknown optimizer or schedule fails here
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ConfigError(f"n_classes must be an int >= 2, got {n_classes!r}")
    cols, dropped = _columns(input_columns, n_features)
    spec = _Spec(config, n_train, n_eval, n_features, n_classes, cols, dropped)
    return Run(
        init=functools.partial(_init_run, spec),
        advance=functools.partial(_advance, spec),
        network=functools.partial(_network, spec),
        n_steps_per_epoch=spec.ipe,
    )


class _Spec(NamedTuple):
    config: TrainConfig
    n_train: int
    n_eval: int
    n_features: int
    n_classes: int
    cols: Any
    dropped: Any

    @property
    def ipe(self) -> int:
        return max(self.n_train // self.config.batch_size, 1)

    @property
    def dtype(self):
        return jnp.dtype(self.config.dtype)


def _hparams(spec: _Spec, hparams: dict) -> dict:
    """Defaults filled in, names and concrete values checked, every value an array of dtype."""
    defaults = default_hparams(spec.config)
    unknown = sorted(set(hparams) - set(defaults))
    if unknown:
        raise ConfigError(
            f"unknown hyperparameter(s) {', '.join(unknown)}; valid: {', '.join(defaults)}"
        )
    _check_hparams(hparams)
    hp = {**defaults, **hparams}
    return {k: jnp.asarray(v, spec.dtype) for k, v in hp.items()}


def _init_run(spec: _Spec, key: jax.Array, hparams: dict) -> RunState:
    """A fresh run: ``mlp.init`` from ``split(key, 3)[0]``, the optimizer's zero state."""
    config, dtype = spec.config, spec.dtype
    hp = _hparams(spec, hparams)
    key_data = _key_data(key)
    k_init, _, _ = jax.random.split(_wrap(key_data), 3)
    sizes = (spec.n_features, *config.hidden_sizes, spec.n_classes)
    params, bn = init_params(sizes, k_init, config, hp["init_scale"], dtype)
    if spec.cols is not None:  # train W1's used and zero-input rows as two leaves
        w1 = params.pop("W1")
        params = {"W1": w1[spec.cols], "W1_zero_inputs": w1[spec.dropped], **params}
    opt_state = _optimizer(spec, hp).init(params)
    return RunState(params, opt_state, bn, jnp.zeros((), jnp.int32), key_data,
                    jnp.array(True))


def _key_data(key) -> jax.Array:
    """Raw uint32 key data of a typed key (raw key data unchanged).

    Raises:
        ConfigError: a typed key of another PRNG implementation than :data:`KEY_IMPL`.
    """
    if not _typed(key):
        return jnp.asarray(key, jnp.uint32)
    impl = str(jax.random.key_impl(key))
    if impl != KEY_IMPL:
        raise ConfigError(f"runs use {KEY_IMPL} keys, got a {impl} key: make it with "
                          f"jax.random.key(seed, impl={KEY_IMPL!r})")
    return jax.random.key_data(key)


def _wrap(key_data) -> jax.Array:
    """The typed :data:`KEY_IMPL` key of a run state's raw key data."""
    return jax.random.wrap_key_data(key_data, impl=KEY_IMPL)


def _typed(key) -> bool:
    return hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)


def _optimizer(spec: _Spec, hp: dict):
    """The configured rule with traced hyperparameters (and a learning-rate schedule)."""
    config = spec.config
    name = str(config.optimizer).lower()
    kwargs = {k: hp[k] for k in optimizers.HYPERPARAMETERS[name]}
    if config.schedule != "constant":
        from jaxch6 import schedules

        total = config.epochs * spec.ipe
        own = {k: hp[k] for k in schedules.SCHEDULE_HYPERPARAMETERS[config.schedule] if k in hp}
        kwargs["learning_rate"] = schedules.make(config.schedule, hp["learning_rate"], total, own)
    if name == "nesterov":
        kwargs["form"] = config.nesterov_form
    return optimizers.get_optimizer(name, **kwargs)


def _network(spec: _Spec, state: RunState) -> tuple[dict, mlp.MLPState]:
    """The run's parameters in ``mlp.init``'s layout (``W1`` whole again) and its MLPState."""
    params = dict(state.params)
    if spec.cols is not None:
        used, zero = params.pop("W1"), params.pop("W1_zero_inputs")
        w1 = jnp.zeros((spec.n_features, used.shape[-1]), used.dtype)
        params["W1"] = w1.at[spec.cols].set(used).at[spec.dropped].set(zero)
    return params, state.bn


def _advance(spec: _Spec, state: RunState, hparams: dict, data: Data, epochs: int):
    """Train ``epochs`` more epochs from ``state`` (see :func:`make_run`)."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs must be a positive int, got {epochs!r}")
    hp = _hparams(spec, hparams)
    data = _check_data(data, spec.n_train, spec.n_eval, spec.dtype)
    if spec.cols is not None and data[0].shape[1] != len(spec.cols):
        raise DataError(f"data must hold the {len(spec.cols)} input_columns, got "
                        f"{data[0].shape[1]} features")
    _, k_batch, k_drop = jax.random.split(_wrap(state.key), 3)
    epoch = _epoch_fn(spec, hp, data, k_batch, k_drop)
    carry = (state.params, state.bn, state.opt_state, state.finite)
    first = state.step // spec.ipe
    carry, (losses, (train_acc, eval_acc)) = jax.lax.scan(epoch, carry, first + jnp.arange(epochs))
    params, bn, opt_state, finite = carry
    for leaf in jax.tree.leaves(params):
        finite = finite & jnp.all(jnp.isfinite(leaf))
    new = RunState(params, opt_state, bn, state.step + epochs * spec.ipe, state.key, finite)
    return new, History(loss=losses.reshape(-1), train_acc=train_acc, eval_acc=eval_acc,
                        diverged=~finite)


def _epoch_fn(spec: _Spec, hp: dict, data, k_batch, k_drop):
    """The body of the epoch scan: the book's steps, with the evaluation after the first step
    (``eval_position="book"``) or the last (``"end"``)."""
    config, dtype, ipe, bs = spec.config, spec.dtype, spec.ipe, spec.config.batch_size
    x_train, t_train, x_eval, t_eval = data
    drop = hp["dropout_ratio"] if config.use_dropout else None
    step = _step_fn(spec, hp, x_train, t_train, drop)
    x_all = jnp.concatenate([x_train, x_eval])
    t_all = jnp.concatenate([t_train, t_eval])
    extra = {} if config.precision == "fp32" else {"precision": config.precision}

    def evaluate(params, bn):
        net = {k: v for k, v in params.items() if k != "W1_zero_inputs"}
        logits, _ = mlp.apply(net, bn, x_all, train=False, dropout_ratio=drop,
                              dropout_form=config.dropout_form, **extra)
        hit = (jnp.argmax(logits, axis=-1) == t_all).astype(dtype)
        return jnp.mean(hit[: spec.n_train]), jnp.mean(hit[spec.n_train:])

    def batches(first):
        """The epoch's batch indices (ipe, bs) and dropout keys, one vectorised draw."""
        steps = first + jnp.arange(ipe)
        idx = jax.vmap(
            lambda i: jax.random.randint(jax.random.fold_in(k_batch, i), (bs,), 0, spec.n_train)
        )(steps)
        kd = jax.vmap(lambda i: jax.random.fold_in(k_drop, i))(steps) \
            if config.use_dropout else None
        return idx, kd

    def epoch(carry, e):
        idx, kd = batches(e * ipe)
        if config.eval_position == "book":
            carry, l0 = step(carry, (idx[0], None if kd is None else kd[0]))
            acc = evaluate(carry[0], carry[1])
            if ipe > 1:
                rest = (idx[1:], None if kd is None else kd[1:])
                carry, ls = jax.lax.scan(step, carry, rest, length=ipe - 1)
                losses = jnp.concatenate([l0[None], ls])
            else:
                losses = l0[None]
        else:
            carry, losses = jax.lax.scan(step, carry, (idx, kd), length=ipe)
            acc = evaluate(carry[0], carry[1])
        return carry, (losses, acc)

    return epoch


def _step_fn(spec: _Spec, hp: dict, x_train, t_train, drop):
    """One optimizer step on a batch, then the loss the config records."""
    config, dtype = spec.config, spec.dtype
    wd, cols = hp["weight_decay"], spec.cols
    opt = _optimizer(spec, hp)
    extra = {} if config.precision == "fp32" else {"precision": config.precision}

    def net_loss(p, s, xb, tb, train, kd=None):
        kw = {"key": kd, "dropout_ratio": drop, "dropout_form": config.dropout_form, **extra}
        if cols is None:
            return mlp.loss(p, s, xb, tb, train=train, weight_decay=wd, **kw)
        net = {k: v for k, v in p.items() if k != "W1_zero_inputs"}
        value, s = mlp.loss(net, s, xb, tb, train=train, **kw)
        return value + mlp.weight_penalty(p, wd), s  # all of W1's rows, as in the book

    grad_fn = jax.value_and_grad(lambda p, s, xb, tb, kd: net_loss(p, s, xb, tb, True, kd),
                                 has_aux=True)

    def step(carry, xs):
        params, bn, opt_state, finite = carry
        idx, kd = xs
        xb, tb = x_train[idx], t_train[idx]
        (value, bn), grads = grad_fn(params, bn, xb, tb, kd)
        updates, opt_state = opt.update(grads, opt_state, params)
        params = optimizers.apply_updates(params, updates)
        finite = finite & jnp.isfinite(value)
        if config.record_loss == "after_update":
            value, _ = net_loss(params, bn, xb, tb, False)
        elif config.record_loss == "none":
            value = jnp.full((), jnp.nan, dtype)
        return (params, bn, opt_state, finite), value.astype(dtype)

    return step


def make_train_fn(
    config: TrainConfig,
    n_train: int,
    n_eval: int,
    *,
    input_columns=None,
    n_features: int | None = None,
    n_classes: int = N_CLASSES,
) -> Callable[..., History]:
    """The pure function ``train(key, hparams, data) -> History`` of one whole run.

    It is :func:`make_run`'s ``init`` followed by ``advance`` over ``config.epochs`` epochs.

    Args:
        config: static settings of the run.
        n_train: training rows.
        n_eval: evaluation rows.
        input_columns: see :func:`make_run` (requires ``n_features``, the full input width).
        n_features: the full input width (default: the data's width).
        n_classes: the output width.

    Returns:
        ``train(key, hparams, data)``: ``hparams`` holds any of the optimizer's float
        hyperparameters, ``weight_decay``, ``dropout_ratio``, ``init_scale`` (and a
        schedule's numbers); missing keys take :func:`default_hparams`. Every value may be a
        traced scalar, so ``jax.jit(jax.vmap(train, in_axes=(0, 0, None)))`` trains one network
        per lane without recompiling.

    Raises:
        ConfigError: an invalid config.
    """
    _validate(config, n_train, n_eval)
    default_hparams(config)  # an unknown optimizer or schedule fails here
    if input_columns is not None:
        _columns(input_columns, n_features)

    def train(key: jax.Array, hparams: dict, data: Data) -> History:
        width = n_features if n_features is not None else int(data[0].shape[1])
        run = make_run(config, n_train, n_eval, n_features=width, n_classes=n_classes,
                       input_columns=input_columns)
        _, history = run.advance(run.init(key, hparams), hparams, data, config.epochs)
        return history

    return train


def init_run(
    key: jax.Array,
    hparams: dict,
    config: TrainConfig | None = None,
    *,
    n_train: int,
    n_eval: int,
    n_features: int,
    n_classes: int = N_CLASSES,
) -> RunState:
    """Start a run: a fresh :class:`RunState` (see :func:`make_run`).

    Args:
        key: the run's training key.
        hparams: the hyperparameters (missing ones take :func:`default_hparams`).
        config: the static settings (default ``TrainConfig()``).
        n_train: training rows.
        n_eval: evaluation rows.
        n_features: the network's input width.
        n_classes: the output width.

    Returns:
        The run state before the first step.

    Raises:
        ConfigError: an invalid config or hyperparameter.

    Example:
        ```python
        state = init_run(key, {"learning_rate": 0.01}, config, n_train=400, n_eval=100,
                         n_features=784)
        state, history = advance(state, {"learning_rate": 0.01}, data, 10, config)
        ```
    """
    config = TrainConfig() if config is None else config
    run = make_run(config, n_train, n_eval, n_features=n_features, n_classes=n_classes)
    return run.init(key, hparams)


def advance(
    run_state: RunState,
    hparams: dict,
    data: Data,
    epochs: int,
    config: TrainConfig | None = None,
    *,
    n_classes: int = N_CLASSES,
) -> tuple[RunState, History]:
    """Train ``run_state`` for ``epochs`` more epochs; see :func:`make_run`.

    Args:
        run_state: from :func:`init_run` or an earlier :func:`advance`.
        hparams: the hyperparameters (as given to :func:`init_run`).
        data: the training and evaluation sets.
        epochs: how many epochs to train (a static Python int).
        config: the static settings the run was started with (default ``TrainConfig()``).
        n_classes: the output width.

    Returns:
        ``(run_state, history)``: ``history`` covers the ``epochs`` epochs just trained;
        ``history.diverged`` is cumulative (any non-finite loss or parameter so far).
    """
    config = TrainConfig() if config is None else config
    n_features = int(run_state.params["W1"].shape[-2]) + int(
        run_state.params["W1_zero_inputs"].shape[-2] if "W1_zero_inputs" in run_state.params
        else 0)
    run = make_run(config, int(data[0].shape[0]), int(data[2].shape[0]), n_features=n_features,
                   n_classes=n_classes)
    return run.advance(run_state, hparams, data, epochs)


def init_params(sizes, key, config: TrainConfig, init_scale, dtype):
    """A run's initial network: ``mlp.init(sizes, key=key, ...)`` with ``config``'s activation,
    weight init and batch norm, the same values bit for bit, but drawing the weights of all
    same-shaped layers (the book's five 100×100 layers) in one vectorised call: fewer random
    number generators in the program, so it compiles faster. (mlp.init's own draws become
    dead code and are removed by the compiler.)

    Args:
        sizes: the layer sizes, input first (``(784, 100, ..., 10)``).
        key: a typed PRNG key.
        config: the :class:`TrainConfig` (``activation``, ``weight_init``, ``use_batchnorm``).
        init_scale: the weight init's scale (traceable).
        dtype: the parameters' dtype.

    Returns:
        ``(params, bn_state)`` as :func:`jaxch6.mlp.init` returns them.
    """
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
def _compiled(config: TrainConfig, n_train: int, n_eval: int, n_classes: int = N_CLASSES):
    return jax.jit(make_train_fn(config, n_train, n_eval, n_classes=n_classes))


def train(key: jax.Array, hparams: dict, data: Data, config: TrainConfig | None = None) -> History:
    """Train one network: ``jax.jit(make_train_fn(config, n_train, n_eval))(key, hparams, data)``.

    The compiled function is cached per config and data shape.

    Args:
        key: the run's training key.
        hparams: the hyperparameters (missing ones take :func:`default_hparams`).
        data: the training and evaluation sets.
        config: the static settings (default ``TrainConfig()``).

    Returns:
        The run's :class:`History`.

    Raises:
        ConfigError: an invalid config or hyperparameter.
        DataError: ``data`` that is not a :class:`Data` or has bad labels.

    Example:
        ```python
        history = train(jax.random.key(0), {"learning_rate": 0.01}, data,
                        TrainConfig(epochs=10))
        history.eval_acc[-1]
        ```
    """
    config = TrainConfig() if config is None else config
    config = config._replace(hidden_sizes=tuple(config.hidden_sizes))
    if not isinstance(data, Data):
        raise DataError(f"data must be a train.Data, got {type(data).__name__}")
    _validate(config, len(data.x_train), len(data.x_eval))
    _check_hparams(hparams)
    n_classes = n_classes_of(data)
    fn = _compiled(config, data.x_train.shape[0], data.x_eval.shape[0], n_classes)
    return fn(key, {k: jnp.asarray(v) for k, v in hparams.items()}, data)


def n_classes_of(data: Data) -> int:
    """Count the classes of concrete data.

    Args:
        data: the training and evaluation sets (concrete arrays).

    Returns:
        ``max(label) + 1`` over both sets (at least 2).

    Raises:
        DataError: labels that are not integers, or negative.
    """
    import numpy as np

    n = 2
    for name, t in (("t_train", data[1]), ("t_eval", data[3])):
        t = np.asarray(t)
        if t.size == 0:
            continue
        if not np.issubdtype(t.dtype, np.integer):
            raise DataError(f"{name} must hold integer class labels, got dtype {t.dtype}")
        if t.min() < 0:
            raise DataError(f"{name} holds a negative label ({int(t.min())})")
        n = max(n, int(t.max()) + 1)
    return n
