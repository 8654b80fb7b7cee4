"""The book's ``MultiLayerNet`` / ``MultiLayerNetExtend`` as pure functions.

Architecture (book ``common/multi_layer_net_extend.py``), per hidden layer l = 1 … L:

```text
Affine_l → [BatchNorm_l] → activation → [Dropout_l]
```

then ``Affine_{L+1}`` and softmax cross-entropy. Usage:

```python
params, state = mlp.init((784, 100, 100, 10), key=k, weight_init="he", use_batchnorm=True)
logits, state = mlp.apply(params, state, x, train=True)
(value, state), grads = jax.value_and_grad(mlp.loss, has_aux=True)(
    params, state, x, t, train=True, weight_decay=1e-4)
```

``params`` is a flat dict with the book's names (``W1``, ``b1``, ``gamma1``, ``beta1``, …, the
last layer ``W{L+1}``/``b{L+1}``). ``state`` is an :class:`MLPState`: the batch-norm running
statistics (``mean1``, ``var1``, …, zeros at the start like the book) as data, and the activation
name as static metadata — returned by every call, never trained. Dropout is switched on by
passing ``dropout_ratio`` (it may be a traced array) to :func:`apply`/:func:`loss`/
:func:`accuracy`, with a ``key`` in training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxch6 import initializers, layers
from jaxch6 import precision as _precision
from jaxch6.errors import ConfigError

__all__ = [
    "CE_EPS",
    "MLPState",
    "accuracy",
    "apply",
    "cross_entropy",
    "init",
    "loss",
    "n_hidden",
    "weight_penalty",
]

#: The book's ``cross_entropy_error`` adds 1e-7 inside the log.
CE_EPS = 1e-7


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class MLPState:
    """Non-trained state of an MLP: batch-norm running statistics, and the activation name.

    ``bn``: ``{"mean1": (n1,), "var1": (n1,), …}`` (empty without batch norm).
    ``activation``: static (part of the pytree structure, not a leaf).
    """

    bn: dict
    activation: str = dataclasses.field(default="relu", metadata={"static": True})


def n_hidden(params: dict) -> int:
    """Count the hidden layers L of an MLP's params (it has L + 1 affine layers).

    Args:
        params: the parameters :func:`init` made.

    Returns:
        L.
    """
    return sum(1 for k in params if k.startswith("W")) - 1


def init(
    sizes: Sequence[int],
    *,
    key: jax.Array,
    activation: str = "relu",
    weight_init="he",
    use_batchnorm: bool = False,
    init_scale=1.0,
    dtype=jnp.float32,
) -> tuple[dict, MLPState]:
    """Initialise the parameters and state of a network ``sizes = (n_in, *hidden, n_out)``.

    Weights ``W_l`` ~ ``initializers.get(weight_init, init_scale)`` with its own key per layer;
    biases 0; with batch norm γ = 1, β = 0 and running mean = var = 0.

    Args:
        sizes: the layer widths, input and output included.
        key: the PRNG key (layer ``l`` uses the ``l``-th of ``split(key, len(sizes) - 1)``).
        activation: the hidden layers' activation (:data:`jaxch6.layers.ACTIVATIONS`).
        weight_init: an initializer name or a number, the std (like the book's
            ``weight_init_std``; the book's default ``'relu'`` is He).
        use_batchnorm: add batch norm after every hidden affine layer.
        init_scale: multiplies the std; may be traced.
        dtype: the parameters' dtype.

    Returns:
        ``(params, state)``: ``{"W1", "b1", …}`` (and ``gamma``/``beta``) and an
        :class:`MLPState`.

    Raises:
        ConfigError: bad sizes, an unknown activation or initializer.

    Example:
        ```python
        params, state = init((784, 100, 10), key=jax.random.key(0))
        logits, _ = apply(params, state, x, train=False)
        ```
    """
    sizes = tuple(sizes)
    if len(sizes) < 2 or not all(isinstance(n, int) and n >= 1 for n in sizes):
        raise ConfigError(f"sizes must be >= 2 positive ints (n_in, *hidden, n_out), got {sizes}")
    if activation not in layers.ACTIVATIONS:
        raise ConfigError(
            f"unknown activation {activation!r}; use one of {sorted(layers.ACTIVATIONS)}"
        )
    init_w = initializers.get(weight_init, init_scale)
    keys = jax.random.split(key, len(sizes) - 1)
    params, bn = {}, {}
    for l in range(1, len(sizes)):
        params[f"W{l}"] = init_w(keys[l - 1], (sizes[l - 1], sizes[l]), dtype)
        params[f"b{l}"] = jnp.zeros((sizes[l],), dtype)
        if use_batchnorm and l < len(sizes) - 1:
            p, s = layers.batch_norm_init(sizes[l], dtype)
            params[f"gamma{l}"], params[f"beta{l}"] = p["gamma"], p["beta"]
            bn[f"mean{l}"], bn[f"var{l}"] = s["mean"], s["var"]
    return params, MLPState(bn=bn, activation=activation)


def _check(params: dict, state: MLPState, x: jax.Array) -> int:
    if not isinstance(state, MLPState):
        raise ConfigError(f"state must be the MLPState returned by mlp.init, got {type(state)}")
    L = n_hidden(params)
    if L < 0 or f"W{L + 1}" not in params:
        raise ConfigError(f"params must hold W1 … W{{L+1}} as made by mlp.init, got {list(params)}")
    n_in = params["W1"].shape[0]
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ConfigError(f"x must have shape (batch, {n_in}), got {tuple(x.shape)}")
    for l in range(1, L + 1):
        if f"gamma{l}" in params and f"mean{l}" not in state.bn:
            raise ConfigError(f"params have batch norm at layer {l}; state lacks mean{l}/var{l}")
    return L


def apply(
    params: dict,
    state: MLPState,
    x: jax.Array,
    *,
    train: bool,
    key: jax.Array | None = None,
    dropout_ratio=None,
    dropout_form: str = "book",
    precision: str = "fp32",
) -> tuple[jax.Array, MLPState]:
    """Run the network forward (the book's ``predict``).

    Args:
        params: the parameters (:func:`init`).
        state: the batch-norm statistics and activation (:func:`init`).
        x: inputs ``(N, n_in)``.
        train: True: batch norm on batch statistics (updating the running ones), dropout
            masks drawn from ``key`` (layer l uses ``fold_in(key, l)``); False: running
            statistics, dropout as ``× (1 − ratio)`` (book form).
        key: the dropout key (needed when training with dropout).
        dropout_ratio: the dropout ratio; None: no dropout layers.
        dropout_form: ``"book"`` or another form of :func:`jaxch6.layers.dropout`.
        precision: the affine layers' matmul policy, ``"fp32"`` (default), ``"tf32"`` or
            ``"bf16"`` (:mod:`jaxch6.precision`; parameters, state and logits stay float32).

    Returns:
        ``(logits, state)``: logits ``(N, n_out)`` and the new state.

    Raises:
        ConfigError: params, state and ``x`` that do not match, or dropout training without
            a key.
    """
    _precision.check(precision)
    L = _check(params, state, x)
    act = layers.ACTIVATIONS[state.activation]
    if train and dropout_ratio is not None and key is None:
        raise ConfigError("training with dropout needs an explicit PRNG key (key=...)")
    bn = dict(state.bn)
    h = x
    for l in range(1, L + 1):
        h = _precision.matmul(h, params[f"W{l}"], precision) + params[f"b{l}"]
        if f"gamma{l}" in params:
            p = {"gamma": params[f"gamma{l}"], "beta": params[f"beta{l}"]}
            s = {"mean": bn[f"mean{l}"], "var": bn[f"var{l}"]}
            h, s = layers.batch_norm(p, s, h, train=train)
            bn[f"mean{l}"], bn[f"var{l}"] = s["mean"], s["var"]
        h = act(h)
        if dropout_ratio is not None:
            k = jax.random.fold_in(key, l) if train else None
            h = layers.dropout(h, ratio=dropout_ratio, train=train, key=k, form=dropout_form)
    logits = _precision.matmul(h, params[f"W{L + 1}"], precision) + params[f"b{L + 1}"]
    return logits, MLPState(bn=bn, activation=state.activation)


def _labels(t: jax.Array, logits: jax.Array) -> jax.Array:
    if t.ndim == logits.ndim:  # one-hot, as the book allows
        return jnp.argmax(t, axis=-1)
    if t.ndim != logits.ndim - 1 or t.shape[0] != logits.shape[0]:
        raise ConfigError(
            f"labels must be ({logits.shape[0]},) ints or one-hot, got shape {tuple(t.shape)}"
        )
    return t


def cross_entropy(logits: jax.Array, t: jax.Array, *, eps: float | None = None) -> jax.Array:
    """The book's ``SoftmaxWithLoss``: softmax cross-entropy with the book's gradient.

    Value −mean_n log(y[n, t_n] + 1e-7) with y = softmax(logits); gradient the book's
    backward, (y − onehot(t)) / N.

    The book's ``backward`` ignores the 1e-7 of its ``forward``; so does this function: the value
    is the book's (``cross_entropy_error``), and ``jax.grad`` gives exactly the book's
    ``(y − t) / batch_size`` (the gradient of −mean log y_t). Differentiating the 1e-7 as written
    instead would scale the gradient by y_t / (y_t + 1e-7), i.e. make it vanish (×1e-6 and less)
    whenever the network is confidently wrong, which the book's training never does. The
    numerical gradient of the value therefore differs from ``jax.grad`` by the same ~1e-7 as the
    book's own gradient check shows (set :data:`CE_EPS` to 0 to make them agree exactly).

    Compared with ``optax.softmax_cross_entropy_with_integer_labels``: the same gradient; its
    value has no 1e-7 (within ~1e-7 per sample).

    Args:
        logits: ``(N, C)``.
        t: int labels ``(N,)`` or one-hot ``(N, C)``.
        eps: replaces the 1e-7 (default :data:`CE_EPS`); ``eps=0`` is the plain
            cross-entropy, whose exact gradient this is.

    Returns:
        The scalar loss.

    Raises:
        ConfigError: labels of the wrong shape.
    """
    eps = CE_EPS if eps is None else eps
    t = _labels(t, logits)
    log_y_t = jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1),
                                  t[:, None].astype(jnp.int32), axis=-1)[:, 0]
    book = -jnp.mean(jnp.log(jnp.exp(log_y_t) + eps))
    plain = -jnp.mean(log_y_t)
    return plain + jax.lax.stop_gradient(book - plain)


def weight_penalty(params: dict, weight_decay) -> jax.Array:
    """The weight-decay penalty ½ λ Σ_l ‖W_l‖², over the weights only (not biases, not γ/β).

    Args:
        params: the parameters.
        weight_decay: λ (may be traced).

    Returns:
        The scalar penalty.
    """
    total = sum(jnp.sum(v**2) for k, v in params.items() if k.startswith("W"))
    return 0.5 * weight_decay * total


def loss(
    params: dict,
    state: MLPState,
    x: jax.Array,
    t: jax.Array,
    *,
    train: bool = False,
    weight_decay=0.0,
    key: jax.Array | None = None,
    dropout_ratio=None,
    dropout_form: str = "book",
    ce_eps: float | None = None,
    precision: str = "fp32",
) -> tuple[jax.Array, MLPState]:
    """The training loss ``cross_entropy(apply(x), t) + ½ λ Σ_l ‖W_l‖²`` and the new state.

    Use with ``jax.value_and_grad(loss, has_aux=True)``.

    Args:
        params: as in :func:`apply`.
        state: as in :func:`apply`.
        x: as in :func:`apply`.
        t: int labels ``(N,)`` or one-hot ``(N, C)``.
        train: False by default, as in the book's ``MultiLayerNetExtend.loss(train_flg=False)``;
            the book's ``gradient`` uses True.
        weight_decay: λ (may be traced).
        key: as in :func:`apply`.
        dropout_ratio: as in :func:`apply`.
        dropout_form: as in :func:`apply`.
        ce_eps: the epsilon inside the cross-entropy's log (default the book's 1e-7; it
            changes the value only, see :func:`cross_entropy`).
        precision: the matmul policy (see :func:`apply`); the loss itself is always computed
            in float32.

    Returns:
        ``(value, state)``.

    Raises:
        ConfigError: as :func:`apply` and :func:`cross_entropy`.
    """
    logits, state = apply(
        params, state, x, train=train, key=key, dropout_ratio=dropout_ratio,
        dropout_form=dropout_form, precision=precision,
    )
    value = cross_entropy(logits, t, eps=ce_eps)
    if not (isinstance(weight_decay, int | float) and weight_decay == 0):
        value = value + weight_penalty(params, weight_decay)
    return value, state


def accuracy(
    params: dict,
    state: MLPState,
    x: jax.Array,
    t: jax.Array,
    *,
    dropout_ratio=None,
    dropout_form: str = "book",
    precision: str = "fp32",
) -> jax.Array:
    """The fraction of ``argmax(logits) == t`` in evaluation mode (book ``accuracy``).

    Args:
        params: as in :func:`apply`.
        state: as in :func:`apply`.
        x: as in :func:`apply`.
        t: int labels ``(N,)`` or one-hot ``(N, C)``.
        dropout_ratio: as in :func:`apply`.
        dropout_form: as in :func:`apply`.
        precision: as in :func:`apply`.

    Returns:
        The scalar accuracy.
    """
    logits, _ = apply(
        params, state, x, train=False, dropout_ratio=dropout_ratio, dropout_form=dropout_form,
        precision=precision,
    )
    return jnp.mean(jnp.argmax(logits, axis=-1) == _labels(t, logits))
