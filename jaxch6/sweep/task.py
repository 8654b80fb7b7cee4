"""What the sweep engine trains: a :class:`Task`, the public contract for any JAX model.

A task is two pure functions and a few names:

```python
init(key, hparams) -> state                       # any pytree of arrays
advance(state, hparams, data, epochs) -> (state, metrics)
```

``key`` is a typed JAX key (``jax.random.key``), ``hparams`` a dict of scalars, ``data`` any
pytree of arrays (placed once per device and shared by every lane), ``epochs`` a static Python
int; ``metrics`` is a dict of arrays whose leading axis has one entry per epoch just trained.
Both functions must be jittable and vmappable with every float or int hyperparameter a traced
scalar (numeric choices too); a categorical hyperparameter with other choices (strings) arrives
as its Python value (each combination of them is a *group* with its own compiled program).
Training in pieces must equal training at once: ``advance(advance(s, hp, d, 2)[0], hp, d, 3)``
equals ``advance(s, hp, d, 5)`` (keep a step count and the key in the state), which is what
successive halving, Hyperband, PBT and resume rely on.

The engine marks a lane *diverged* when a recorded metric or a float leaf of its state is not
finite (or, when given, ``task.diverged(state)`` is true). Population-based training copies a
parent's whole state (any pytree) and gives the copy a fresh key through ``task.reseed``
(without one, the copy keeps its parent's randomness).

:func:`from_step` builds ``init`` and ``advance`` from one training step and one evaluation;
:func:`book_task` is the book's network (chapter 6) as a task, what ``jaxch6 sweep`` runs.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from jaxch6.errors import ConfigError
from jaxch6.sweep import keys
from jaxch6.sweep.models import nest
from jaxch6.sweep.space import Param, canonical_name, check_param

DIRECTIONS = ("max", "min")


class TaskError(ConfigError):
    """A task that breaks the contract (one line naming the task and what is wrong)."""


@dataclasses.dataclass(frozen=True)
class Task:
    """A model the sweep can train (see the module's docstring for the contract).

    Attributes:
        name: what errors and the run directory call it.
        init: ``init(key, hparams) -> state``.
        advance: ``advance(state, hparams, data, epochs) -> (state, metrics)``.
        objective: the metric the search ranks by (a key of ``metrics``, measured on the
            validation data).
        direction: ``"max"`` or ``"min"``: whether a larger objective is better.
        space: the declared hyperparameters (:class:`jaxch6.sweep.Param`), the default search
            space; a sweep may search a subset of them, with other ranges.
        defaults: values of hyperparameters a sweep does not search (passed as constants;
            a searched name overrides its default).
        metrics: other metrics to record beside the objective (each a key of ``metrics``).
        static: names whose values are Python constants (default: the categorical ones with
            a choice that is not a number; numeric choices are traced like ranges).
        reseed: ``reseed(state, key) -> state`` gives a PBT copy its own key (optional).
        diverged: ``diverged(state) -> bool array`` (optional; the default checks that every
            float leaf is finite).
        evaluate: ``evaluate(state, hparams, data) -> dict of scalars`` on held-out data such
            as the test split (optional; ``jaxch6 sweep evaluate`` needs it).
        load_data: ``load_data() -> (data, test_data)``: the task's own data (optional; the
            test data may be None).
        resolution: metric name to a row count ``n``: values are fractions ``k/n`` and are
            recorded exactly (accuracies of the book's sets).
        network: ``network(state, hparams) -> (params, MLPState)``: the book network's
            weights in :func:`jaxch6.mlp.init`'s layout, saved beside the state (optional).
        memory: ``memory(config, data) -> bytes`` of one lane, where the task knows better
            than the measurement of its compiled program (optional; the lane width follows
            from it and fixes results bit for bit).
        program_key: a text that, with jaxch6's own source and the libraries' versions, fixes
            every program ``init`` and ``advance`` trace to (the book's network sets it from
            its settings): with it, the sweep engine keeps its programs traced in the program
            cache (:mod:`jaxch6.sweep.program_cache`) and a later process skips tracing them.
            None (the default, right for any task whose code is not jaxch6's: that code is
            not part of the key): traced in every process.
    """

    name: str
    init: Callable[..., Any]
    advance: Callable[..., Any]
    objective: str
    direction: str = "max"
    space: tuple[Param, ...] = ()
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    static: tuple[str, ...] | None = None
    reseed: Callable[..., Any] | None = None
    diverged: Callable[..., Any] | None = None
    evaluate: Callable[..., Any] | None = None
    load_data: Callable[[], Any] | None = None
    resolution: Mapping[str, int] = dataclasses.field(default_factory=dict)
    network: Callable[..., Any] | None = None
    memory: Callable[..., int] | None = None
    program_key: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "space", tuple(Param(*p) for p in self.space))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        if self.direction not in DIRECTIONS:
            raise TaskError(f"task {self.name!r}: direction must be 'max' or 'min', got "
                            f"{self.direction!r}")
        for fn in ("init", "advance"):
            if not callable(getattr(self, fn)):
                raise TaskError(f"task {self.name!r}: {fn} must be a function")

    @property
    def recorded(self) -> tuple[str, ...]:
        """The metrics recorded per epoch: the objective, then :attr:`metrics`."""
        return (self.objective, *[m for m in self.metrics if m != self.objective])

    def load(self) -> tuple[Any, Any]:
        """``load_data()``, checked: ``(data, test_data)``.

        Raises:
            TaskError: no ``load_data``, or it fails or returns no pair (one line).
        """
        if self.load_data is None:
            raise TaskError(f"task {self.name!r}: has no load_data")
        out = _user_code(self.load_data, f"task {self.name!r}: load_data failed")
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TaskError(f"task {self.name!r}: load_data must return (data, test_data), "
                            f"got {type(out).__name__}")
        return out

    def scores(self, state, hparams: Mapping[str, Any], data) -> dict[str, float]:
        """``evaluate(state, hparams, data)`` as plain floats (hparams completed with
        :attr:`defaults`).

        Raises:
            TaskError: no ``evaluate``, or it fails or returns other than a dict of scalars.
        """
        if self.evaluate is None:
            raise TaskError(f"task {self.name!r}: has no evaluate")
        out = _user_code(lambda: self.evaluate(state, self.with_defaults(hparams), data),
                         f"task {self.name!r}: evaluate failed")
        if not isinstance(out, Mapping):
            raise TaskError(f"task {self.name!r}: evaluate must return a dict of scalars, got "
                            f"{type(out).__name__}")
        scores = {}
        for k, v in out.items():
            value = np.asarray(v)
            if value.shape != () or not np.issubdtype(value.dtype, np.number):
                raise TaskError(f"task {self.name!r}: evaluate's {k!r} must be a scalar, got "
                                f"shape {value.shape} of {value.dtype}")
            scores[str(k)] = float(value)
        return scores

    def with_defaults(self, hparams: Mapping[str, Any]) -> dict[str, Any]:
        """``hparams`` completed with :attr:`defaults` (what ``init``/``advance`` receive)."""
        return {**self.defaults, **hparams}

    def static_names(self, space: Sequence[Param]) -> tuple[str, ...]:
        """The names of ``space`` that arrive as Python values (one group per combination)."""
        if self.static is not None:
            return tuple(p.name for p in space if p.name in self.static)
        return tuple(p.name for p in space if p.kind == "categorical"
                     and not all(_is_number(c) for c in p.choices))

    def is_diverged(self, state, metrics: Mapping[str, Any]):
        """Traced: the lane's divergence flag after an advance (see the module docstring)."""
        import jax
        import jax.numpy as jnp

        flag = jnp.zeros((), bool)
        for name in self.recorded:
            flag = flag | ~jnp.all(jnp.isfinite(metrics[name]))
        if self.diverged is not None:
            return flag | jnp.asarray(self.diverged(state), bool)
        for leaf in jax.tree.leaves(state):
            if jnp.issubdtype(leaf.dtype, jnp.inexact):
                flag = flag | ~jnp.all(jnp.isfinite(leaf))
        return flag

    def better(self, a: float, b: float) -> bool:
        """Whether objective value ``a`` is better than ``b``."""
        return a > b if self.direction == "max" else a < b


# -- building tasks -----------------------------------------------------------------------------
def from_step(
    init: Callable[..., Any],
    update: Callable[..., Any],
    evaluate: Callable[..., Mapping[str, Any]],
    *,
    batch_size: int,
    train: str = "train",
    val: str = "val",
) -> tuple[Callable, Callable, Callable]:
    """``init``, ``advance`` and ``reseed`` of a task from one step and one evaluation.

    The data is a dict with a ``train`` and a ``val`` entry (each a pytree of arrays with the
    rows on the leading axis). Each epoch visits the training rows once in a fresh random
    order (``permutation(fold_in(key, epoch))``; ``n_train // batch_size`` steps, the rest of
    the rows skipped), calling ``update(state, batch, hparams, key) -> state`` with the batch's
    rows and a per-step key, then ``evaluate(state, hparams, data[val])`` (a dict of scalars:
    the epoch's metrics). The helper's state is ``{"model": your state, "step", "key"}``.

    Args:
        init: ``init(key, hparams) -> your state``.
        update: ``update(state, batch, hparams, key) -> state``, one optimizer step.
        evaluate: ``evaluate(state, hparams, data) -> {metric: scalar}``.
        batch_size: rows per step.
        train: the data's key of the training split.
        val: the data's key of the validation split.

    Returns:
        ``(init, advance, reseed)`` for :class:`Task`.

    Example:
        ```python
        init, advance, reseed = from_step(my_init, my_update, my_eval, batch_size=64)
        task = Task("mlp", init, advance, "val_loss", "min", space=(...), reseed=reseed)
        ```
    """
    import jax
    import jax.numpy as jnp

    def init_state(key, hparams):
        k_init, k_train = jax.random.split(key)
        return {"model": init(k_init, hparams), "step": jnp.zeros((), jnp.int32),
                "key": jax.random.key_data(k_train)}

    def advance(state, hparams, data, epochs):
        rows = data[train]
        n = _rows(rows, train)
        steps = max(n // batch_size, 1)
        key = keys.wrap(state["key"])

        def one_epoch(model, e):
            epoch_key = jax.random.fold_in(key, e)
            order = jax.random.permutation(epoch_key, n)  # once per epoch

            def one_step(model, i):
                idx = jax.lax.dynamic_slice_in_dim(order, i * batch_size, batch_size)
                batch = jax.tree.map(lambda a: jnp.asarray(a)[idx], rows)
                return update(model, batch, hparams, jax.random.fold_in(epoch_key, i)), None

            model, _ = jax.lax.scan(one_step, model, jnp.arange(steps))
            return model, dict(evaluate(model, hparams, data[val]))

        first = state["step"] // steps
        model, metrics = jax.lax.scan(one_epoch, state["model"], first + jnp.arange(epochs))
        return {"model": model, "step": state["step"] + epochs * steps,
                "key": state["key"]}, metrics

    def reseed(state, key):
        return {**state, "key": jax.random.key_data(key)}

    return init_state, advance, reseed


def _rows(rows, split: str) -> int:
    """The one leading length of every array of ``rows`` (TaskError if they differ: the
    clamped gathers would pair rows silently wrong)."""
    import jax

    lengths = {tuple(np.shape(a))[:1] for a in jax.tree.leaves(rows)}
    if len(lengths) != 1 or lengths == {()}:
        shown = ", ".join(str(n[0]) if n else "a scalar" for n in sorted(lengths))
        raise TaskError(f"from_step: the arrays of data[{split!r}] must share their row count, "
                        f"got {shown}")
    return lengths.pop()[0]


def resolve(task, config=None) -> Task:
    """A :class:`Task` from a task or a function returning one (called with no arguments, or
    with the sweep's :class:`jaxch6.sweep.SweepConfig` when its first parameter is named
    ``config``).

    Raises:
        TaskError: neither.
    """
    if isinstance(task, Task):
        return task
    if callable(task):
        try:
            takes_config = next(iter(inspect.signature(task).parameters), None) == "config"
        except (TypeError, ValueError):
            takes_config = False
        made = _user_code(lambda: task(config) if takes_config else task(),
                          f"task {_name(task)}: calling it failed")
        if isinstance(made, Task):
            return made
        raise TaskError(f"task {_name(task)}: returned {type(made).__name__}, not a "
                        "jaxch6.sweep.Task")
    raise TaskError(f"task {task!r}: not a jaxch6.sweep.Task or a function returning one")


def _user_code(fn, failed: str):
    """``fn()``, the user's code: any exception but a TaskError becomes a TaskError of one
    line, ``failed`` and then the exception's type and first line (at most 200 characters)."""
    try:
        return fn()
    except TaskError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code: one line naming it
        text = str(exc).strip()
        first = f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text \
            else type(exc).__name__
        raise TaskError(f"{failed} ({first})") from None


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _name(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def import_task(path: str):
    """The object ``module:attribute`` names (``attribute`` may be dotted).

    Raises:
        TaskError: a path without ``:``, a module that cannot be imported, a missing name.
    """
    import os
    import sys

    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise TaskError(f"--task {path!r}: give MODULE:NAME (e.g. my_module:make_task)")
    if os.getcwd() not in sys.path:  # a module beside the user, as ASGI servers import apps
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's module
        raise TaskError(f"--task {path}: cannot import {module_name!r} "
                        f"({type(exc).__name__}: {exc})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise TaskError(f"--task {path}: {module_name!r} has no {attr!r}"
                            f"{_shadowed(obj, module_name)}")
        obj = getattr(obj, part)
    return obj


def _shadowed(module, module_name: str) -> str:
    """Why a module of the current directory was not the one imported: another module of
    that name (e.g. the standard library's ``stat``) was imported first ('' if not so)."""
    import os

    mine = os.path.join(os.getcwd(), *module_name.split(".")) + ".py"
    theirs = getattr(module, "__file__", None) or "built in"
    if not os.path.isfile(mine) or (theirs != "built in" and os.path.samefile(theirs, mine)):
        return ""
    return (f" (that name is the module {theirs}, imported before {mine}: rename your "
            "module)")


def load_npz(path) -> dict:
    """Named arrays of an ``.npz`` file as a dict; a name with ``/`` nests (``train/x`` is
    ``data["train"]["x"]``).

    Raises:
        DataError: the file cannot be read.
    """
    from jaxch6.errors import DataError

    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"--data {path}: cannot read named arrays ({exc})") from None
    return nest(arrays)


def fingerprint(path: str) -> str:
    """A SHA-256 of the source of the module ``path`` (``module:name``) names."""
    module = importlib.import_module(path.partition(":")[0])
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        source = repr(getattr(module, "__file__", path))
    return hashlib.sha256(source.encode()).hexdigest()


# -- checking a task ----------------------------------------------------------------------------
def hparam_specs(space: Sequence[Param], static: Sequence[str], dtype) -> dict[str, Any]:
    """Abstract per-lane values of the traced names: float32/64 floats, int32 ints."""
    import jax

    return {p.name: jax.ShapeDtypeStruct((), np.int32 if p.kind == "int" else dtype)
            for p in space if p.name not in static}


def check(task: Task, space: Sequence[Param], data, epochs: int, dtype="float32") -> Any:
    """Trace ``init`` and ``advance`` once on abstract values (nothing runs); return the
    abstract state.

    Raises:
        TaskError: a function that cannot be traced, returns the wrong structure, or lacks
            its objective or metrics (one line naming the task and what is wrong).
    """
    import jax

    static = task.static_names(space)
    hp = hparam_specs(space, static, np.dtype(dtype))
    hp.update({p.name: p.grid_values()[0] for p in space if p.name in static})
    key = keys.shape_key()
    full = task.with_defaults
    state = _trace(task, "init", lambda: jax.eval_shape(
        lambda k, h: task.init(k, full({**h, **_statics(hp, static)})), key,
        _traced(hp, static)))
    out = _trace(task, "advance", lambda: jax.eval_shape(
        lambda s, h, d: task.advance(s, full({**h, **_statics(hp, static)}), d, epochs),
        state, _traced(hp, static), data))
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], Mapping)):
        raise TaskError(f"task {task.name!r}: advance must return (state, metrics dict), got "
                        f"{type(out).__name__}")
    new_state, metrics = out
    if jax.tree.structure(new_state) != jax.tree.structure(state):
        raise TaskError(f"task {task.name!r}: advance returned a state of another structure "
                        "than init's")
    for name in task.recorded:
        if name not in metrics:
            raise TaskError(f"task {task.name!r}: advance's metrics lack {name!r} (it returns "
                            f"{', '.join(map(str, metrics)) or 'none'})")
        shape = tuple(metrics[name].shape)
        if shape != (epochs,):
            raise TaskError(f"task {task.name!r}: metric {name!r} must have one value per "
                            f"epoch, shape ({epochs},), got shape {shape}")
    return state


def _traced(hp, static):
    return {k: v for k, v in hp.items() if k not in static}


def _statics(hp, static):
    return {k: hp[k] for k in static}


def _trace(task: Task, what: str, fn):
    return _user_code(fn, f"task {task.name!r}: {what} cannot be traced with traced "
                          "hyperparameters")


def check_space(task: Task, space: Sequence[Param]) -> tuple[Param, ...]:
    """The search space checked against the task's declared hyperparameters.

    A short name of the book's (``lr``) stands for its long one where the task declares that.

    Raises:
        ConfigError: an undeclared name, a name given twice, a bad range.
    """
    declared = {p.name: p for p in task.space}
    out: list[Param] = []
    for p in space:
        p = check_param(p)
        if p.name not in declared and canonical_name(p.name) in declared:  # lr, wd, ...
            p = p._replace(name=canonical_name(p.name))
        if declared and p.name not in declared:
            raise ConfigError(f"space {p.name}: not a hyperparameter of task {task.name!r} "
                              f"(choose from {', '.join(declared)})")
        if p.name in {q.name for q in out}:
            raise ConfigError(f"space {p.name}: given twice")
        out.append(p)
    if not out:
        raise ConfigError(f"task {task.name!r}: the search space is empty")
    return tuple(out)


# -- the book's network as a task ---------------------------------------------------------------
def book_task(config, data) -> Task:
    """The book's network (:func:`jaxch6.train.make_run`) for ``config`` as a :class:`Task`.

    The static names of :data:`jaxch6.sweep.space.STATIC` arrive as Python values and choose
    the group's :class:`jaxch6.train.TrainConfig`; a traced name a group's optimizer does not
    use is not passed on. With ``config.skip_zero_inputs`` the input columns that are zero in
    every row of ``data`` are skipped by the first layer's matmuls (an optimisation: the same
    network); give the task :func:`book_data`'s data.

    Args:
        config: the validated :class:`jaxch6.sweep.SweepConfig`.
        data: the sweep's :class:`jaxch6.train.Data` (full width).

    Returns:
        The task: objective ``val_acc`` (maximised), also recording ``train_acc``; states are
        :class:`jaxch6.train.RunState`; ``evaluate`` measures ``test_acc`` on ``(x, t)``;
        ``load_data`` gives :func:`book_data` and the test digits of ``config.source``.
    """
    import jax

    from jaxch6.sweep.space import STATIC
    from jaxch6.train import n_classes_of

    n_train, n_val = len(data[0]), len(data[2])
    n_features = int(np.shape(data[0])[1])
    n_classes = n_classes_of(data)
    _, kwargs = drop_zero_columns(data) if config.skip_zero_inputs else (data, {})

    @functools.cache
    def run_for(group):
        from jaxch6 import train
        from jaxch6.sweep.groups import for_group

        cfg = for_group(config, group)
        names = frozenset(p.name for p in cfg.space)
        return train.make_run(cfg.train_config(), n_train, n_val, n_features=n_features,
                              n_classes=n_classes, **kwargs), names

    def split(hparams):
        group = tuple((k, hparams[k]) for k in STATIC if k in hparams)
        run, names = run_for(group)
        return run, {k: v for k, v in hparams.items() if k in names}

    def init(key, hparams):
        run, hp = split(hparams)
        return run.init(key, hp)

    def advance(state, hparams, data, epochs):
        run, hp = split(hparams)
        state, h = run.advance(state, hp, data, epochs)
        return state, {"train_acc": h.train_acc, "val_acc": h.eval_acc,
                       "loss": h.loss.reshape(epochs, -1)}

    def reseed(state, key):
        return state._replace(key=jax.random.key_data(key))

    def evaluate(state, hparams, data):
        """Accuracy on held-out ``(x, t)`` (the test digits), the network in evaluation mode."""
        from jaxch6 import mlp

        params, bn = split(hparams)[0].network(state)
        return {"test_acc": mlp.accuracy(params, bn, jax.numpy.asarray(data[0]), data[1])}

    return Task("book", init, advance, "val_acc", "max", space=config.space,
                metrics=("train_acc",), static=STATIC, reseed=reseed,
                diverged=lambda state: ~state.finite, evaluate=evaluate,
                load_data=lambda: (book_data(config, data), _book_test(config)),
                resolution={"train_acc": n_train, "val_acc": n_val},
                network=lambda state, hparams: split(hparams)[0].network(state),
                memory=lambda config, _: _book_bytes(config, data),
                program_key=repr(("book", config.train_config(), config.space, n_train, n_val,
                                  n_features, n_classes,
                                  [int(c) for c in kwargs.get("input_columns", ())])))


def _book_test(config):
    from jaxch6.sweep.book import book_test_data

    return book_test_data(config, config.source)


def _book_bytes(config, data) -> int:
    from jaxch6.sweep.book import book_lane_bytes

    return book_lane_bytes(config, data)


def book_data(config, data):
    """The data :func:`book_task` trains on: ``data`` without its all-zero input columns when
    ``config.skip_zero_inputs``."""
    return drop_zero_columns(data)[0] if config.skip_zero_inputs else data


def drop_zero_columns(data):
    """The data without the input columns that are zero in every row (MNIST's blank border
    pixels in a small subset), and the make_run options that keep the network the same."""
    x_train, t_train, x_eval, t_eval = data
    n_features = int(np.shape(x_train)[1])
    used = np.flatnonzero(np.any(x_train != 0, axis=0) | np.any(x_eval != 0, axis=0))
    if len(used) in (0, n_features):
        return data, {}
    pruned = type(data)(np.ascontiguousarray(x_train[:, used]), t_train,
                        np.ascontiguousarray(x_eval[:, used]), t_eval)
    return pruned, {"input_columns": used}
