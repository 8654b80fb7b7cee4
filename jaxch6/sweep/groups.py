"""Trials whose static choices differ train as separate compiled programs, one *group* each.

A searched static name (:data:`jaxch6.sweep.params.STATIC`: optimizer, activation, batchnorm,
batch_size, hidden, width) changes the training's shapes or branches, so the trials of one
combination of their values — a group — share one :class:`jaxch6.sweep.engine.Engine`, built
(and compiled) the first time the group has lanes to run. The run loop cuts a step's lanes into
chunks of one group each and sends each chunk to its group's engine; kept run states are
stored with their group (:class:`jaxch6.sweep.pool.StatePool`).

Every group's engine has the sweep's lane width and chunk size, so a trial's result depends
only on its id, the seed and its group's program: it equals the same trial (same id, same
space with its static choices narrowed to the trial's values) in a sweep of that group alone
with the same ``lanes``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from jaxch6.names import OPTIMIZER_SLOTS
from jaxch6.sweep.engine import LaneEngine
from jaxch6.sweep.params import STATIC, Param, hidden_sizes, searchable_names

Group = tuple[tuple[str, Any], ...]  # ((name, value), ...) of the searched static names


def static_names(space: Sequence[Param]) -> tuple[str, ...]:
    """The searched names that change the compiled program, in the space's order."""
    return tuple(Param(*p).name for p in space if Param(*p).name in STATIC)


def traced_names(space: Sequence[Param]) -> tuple[str, ...]:
    """The searched names that arrive as traced per-lane values."""
    return tuple(Param(*p).name for p in space if Param(*p).name not in STATIC)


def group_of(names: Sequence[str], hparams: Mapping[str, Any]) -> Group:
    """A trial's group: its values of the static ``names``."""
    return tuple((n, hparams[n]) for n in names)


def group_label(group: Group) -> str:
    """``optimizer=adam,batch_size=32`` (``default`` for the one group of a float space)."""
    return ",".join(f"{n}={v}" for n, v in group) or "default"


def group_id(group: Group) -> str:
    """A short stable name of the group (for files)."""
    return hashlib.sha1(json.dumps(list(group)).encode()).hexdigest()[:12]


def group_from_json(value) -> Group:
    """The group :func:`json.dumps` of ``list(group)`` wrote."""
    return tuple((str(n), v) for n, v in (value or ()))


def for_group(config, group: Group):
    """The :class:`jaxch6.sweep.SweepConfig` of one group: its static values set, its space
    the traced parameters its optimizer uses."""
    values = dict(group)
    fields: dict[str, Any] = {}
    if "optimizer" in values:
        fields["optimizer"] = values["optimizer"]
    if "activation" in values:
        fields["activation"] = values["activation"]
    if "batchnorm" in values:
        fields["batchnorm"] = values["batchnorm"] == "on"
    if "batch_size" in values:
        fields["batch_size"] = int(values["batch_size"])
    if "hidden" in values:
        fields["hidden"] = hidden_sizes(values["hidden"])
    if "width" in values:
        fields["hidden"] = (int(values["width"]),) * len(config.hidden)
    if getattr(config, "task", None) is not None:  # a task's: every other name is traced
        space = tuple(p for p in config.space if p.name not in values)
        if "optimizer" in values:  # as space.draw: a trial keeps its optimizer's names
            used = set(searchable_names(values["optimizer"], config.schedule)) | set(STATIC)
            space = tuple(p for p in space if p.name in used)
        return dataclasses.replace(config, space=space)
    used = set(searchable_names(fields.get("optimizer", config.optimizer), config.schedule))
    space = tuple(p for p in config.space if p.name not in STATIC and p.name in used)
    return dataclasses.replace(config, space=space, **fields)


def footprint_config(config):
    """The config with the largest of every searched static choice (the widest network, the
    largest batch, the optimizer with the most state): what a lane's memory is planned for."""
    fields: dict[str, Any] = {}
    for p in config.space:
        values = p.grid_values() if p.kind in ("categorical", "int") else ()
        if p.name == "optimizer":
            fields["optimizer"] = max(values, key=lambda o: OPTIMIZER_SLOTS[o])
        elif p.name == "batch_size":
            fields["batch_size"] = _largest(values)
        elif p.name == "hidden":
            fields["hidden"] = max((hidden_sizes(v) for v in values), key=_n_weights)
        elif p.name == "width":
            fields["hidden"] = (_largest(values),) * len(config.hidden)
    return dataclasses.replace(config, **fields) if fields else config


def footprint_group(space: Sequence[Param], names: Sequence[str]) -> Group:
    """The group of the largest run state among the static ``names`` searched in ``space``:
    :func:`footprint_config`'s choices (the widest network, the optimizer with the most
    state), batch norm on where searched, and a task's own static names at their first
    value."""
    out = []
    for p in (Param(*q) for q in space if Param(*q).name in names):
        values = p.grid_values()
        if p.name == "optimizer":
            value = max(values, key=lambda o: OPTIMIZER_SLOTS[o])
        elif p.name in ("batch_size", "width"):
            value = _largest(values)
        elif p.name == "hidden":
            value = max(values, key=lambda v: _n_weights(hidden_sizes(v)))
        elif p.name == "batchnorm" and "on" in values:
            value = "on"
        else:
            value = values[0]
        out.append((p.name, value))
    return tuple(out)


def _largest(values: Sequence) -> Any:
    """``max(values)``; an int range's last value without walking it."""
    return values[-1] if isinstance(values, range) else max(values)


def _n_weights(sizes: Sequence[int]) -> int:
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False)) + sum(sizes)


def record_names(config) -> list[str] | None:
    """The hyperparameter names every trial record holds (None when they vary by trial:
    the space searches ``optimizer`` and a traced name some optimizer does not use)."""
    names = [p.name for p in config.space]
    opt = next((p for p in config.space if p.name == "optimizer"), None)
    if opt is None:
        return names
    for o in opt.choices:
        used = set(searchable_names(o, config.schedule)) | set(STATIC)
        if any(n not in used for n in names):
            return None
    return names


class GroupedEngine(LaneEngine):
    """The engines of a sweep's groups behind the one interface the run loop uses
    (:class:`jaxch6.sweep.engine.LaneEngine`).

    Args:
        config: the validated sweep config.
        build: ``build(group) -> Engine`` (each with the same chunk size and lanes).
        chunk_size: lanes per call, as every group's engine rounds it.
        names: the static names (default: :func:`static_names` of the space).
        task: the task every group's engine trains (:class:`jaxch6.sweep.task.Task`).
    """

    def __init__(self, config, build: Callable[[Group], Any], chunk_size: int,
                 names: Sequence[str] | None = None, task=None):
        self.config, self._build, self.chunk_size = config, build, int(chunk_size)
        self.task = task
        self.names = tuple(names) if names is not None else static_names(config.space)
        self.engines: dict[Group, Any] = {}
        #: compile seconds of engines built before these and not used (counted in
        #: :attr:`compile_seconds`)
        self.spent_seconds = 0.0
        self._epochs: tuple[int, ...] | None = None

    @property
    def compile_seconds(self) -> float:
        return self.spent_seconds + sum(e.compile_seconds for e in self.engines.values())

    def group_of(self, hparams: Mapping[str, Any]) -> Group:
        return group_of(self.names, hparams)

    def engine(self, group: Group):
        """The group's engine, built (and, once :meth:`precompile` was called, compiled) on
        first use."""
        group = tuple(group)
        if group not in self.engines:
            eng = self._build(group)
            self.engines[group] = eng
            if self._epochs is not None:
                eng.precompile(self._epochs)
        return self.engines[group]

    def precompile(self, epochs: Sequence[int] = ()) -> None:
        """Compile the programs of every group built so far (and of later ones when built);
        with no static name searched, the single group is built now."""
        self._epochs = tuple(int(e) for e in epochs)
        if not self.names:
            self.engine(())
        for eng in self.engines.values():
            eng.precompile(self._epochs)

    def prepare(self, groups: Iterable[Group]) -> None:
        """Build and compile the engines of ``groups`` (before a step, outside its timing)."""
        for g in groups:
            self.engine(g)

    def treedef(self, group: Group):
        """The run state's pytree structure in ``group``."""
        import jax

        return jax.tree.structure(self.engine(group).state_shape())

    def labels(self) -> list[str]:
        return [group_label(g) for g in self.engines]



def n_groups(space: Sequence[Param]) -> int:
    """How many groups the space can produce (the product of its static names' values)."""
    return math.prod(len(Param(*p).grid_values()) for p in space if Param(*p).name in STATIC)
