"""The sweep engine: compiled programs that start and advance chunks of run states as lanes.

A *lane* is one training run (a trial, or one repeat of a trial) with its
:class:`jaxch6.train.RunState`. :meth:`Engine.dispatch` starts fresh lanes or continues given
run states for ``epochs`` epochs; :meth:`Engine.fetch` brings the histories (and, when asked,
the new run states) back to the host, where the run loop keeps, gathers (compaction) and copies
them between calls.

Each device trains its share of a chunk as consecutive *lane groups*: ``vmap`` over a fixed
number of ``lanes`` lanes (the data unbatched, shared by all), inside a ``lax.map`` over the
groups, inside ``shard_map`` over a 1-D mesh named ``"trials"`` spanning all local devices (the
lane axis is sharded, the data replicated). Every chunk has the same size (a short one is padded
with copies of a real lane, whose results are dropped), so a sweep compiles one program to start
lanes and one that advances them by the greatest common divisor of the epoch counts its
scheduler asks for (:meth:`Engine.precompile`), each ahead of time (``lower(...).compile()``,
the two side by side in threads) and timed apart from the run. A longer advance is several
calls of that program, chained on the device: training in pieces equals training at once,
bit for bit, so a halving run with rungs of 1, 2 and 6 epochs compiles one program, not three.

Why fixed lane groups: XLA compiles a ``vmap`` of 2 lanes and one of 50 with different
reduction and fusion strategies, so the same trial's gradients can differ in the last bit
between the two, and 200 SGD steps amplify that into different accuracies. Here every trial is
always computed inside a group of exactly ``lanes`` lanes, by the same per-device code, whatever
the chunk size or the number of devices: its result is bit-for-bit the same. (``lanes`` is part
of the sweep's definition, like the platform.) On the CPU, small groups are also the fast
choice: a group's working set stays in cache.

One exception: a single-device program is compiled without
XLA's SPMD pipeline, and its different pass order rewrites one division of the softmax
gradient into a multiplication by the reciprocal; that last-bit difference changes a few
trials' accuracies after 200 SGD steps. Programs on 2, 4, ... devices agree bit for bit, so
``jaxch6 sweep`` runs at least 2 CPU devices (``--cpu-devices``).

The engine is given each lane's training key (:func:`jaxch6.sweep.keys.lane_keys`): for trial
``i``, ``fold_in(fold_in(key(seed), i), 1)`` (its hyperparameters are sampled from
``fold_in(..., 0)``), and for its repeat ``r >= 1`` that key with ``r`` folded in once more.

The lane width and chunk size come from the one planner, :func:`jaxch6.sweep.plan.plan_for_devices`.
"""

from __future__ import annotations

import abc
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from jaxch6.sweep import keys


class Handle(NamedTuple):
    """A dispatched chunk: ``n`` real lanes (the rest is padding), device arrays in flight.

    ``history`` holds one metrics dict per program call, in order (see :meth:`Engine.fetch`).
    """

    n: int
    states: Any
    history: tuple


class LaneEngine(abc.ABC):
    """What the run loop drives (:class:`jaxch6.sweep.loop.RunLoop`): lanes grouped by their
    static choices (a group is a tuple of ``(name, value)``; ``()`` when nothing static is
    searched), each group trained by an :class:`Engine` of ``chunk_size`` lanes a call.

    :class:`Engine` is one group; :class:`jaxch6.sweep.groups.GroupedEngine` holds one per
    group.
    """

    chunk_size: int

    @abc.abstractmethod
    def group_of(self, hparams: Mapping[str, Any]) -> tuple:
        """The group of a lane with ``hparams``."""

    @abc.abstractmethod
    def engine(self, group: tuple) -> Engine:
        """The :class:`Engine` that trains ``group``'s lanes."""

    @abc.abstractmethod
    def prepare(self, groups: Iterable[tuple]) -> None:
        """Build and compile the engines of ``groups`` (before a step, outside its timing)."""

    @abc.abstractmethod
    def precompile(self, epochs: Sequence[int] = ()) -> None:
        """Compile the programs that start lanes and advance them by ``epochs``."""

    def for_hparams(self, hparams: Mapping[str, Any]) -> Engine:
        """The :class:`Engine` of the lane with ``hparams``."""
        return self.engine(self.group_of(hparams))

    @staticmethod
    def fetch(handle: Handle, *, states: bool = False):
        """Wait for a dispatched chunk (:meth:`Engine.fetch`)."""
        return Engine.fetch(handle, states=states)


class Engine(LaneEngine):
    """Compiled programs that start and advance chunks of lanes, one trial a lane.

    A chunk holds ``chunk_size`` lanes in groups of ``lanes`` (``chunk_size`` is rounded up to
    a multiple of ``lanes ×`` the device count).

    Args:
        task: what to train (:class:`jaxch6.sweep.task.Task`).
        data: a pytree of arrays, placed once, replicated.
        hparam_names: the names whose values arrive per lane (arrays of shape ``(n,)``).
        chunk_size: lanes per compiled call.
        lanes: lanes per ``vmap`` group (part of what fixes a lane's result bit for bit).
        devices: the devices the lane axis is sharded over (default: all local devices).
        dtype: the float hyperparameters' dtype.
        static: hyperparameters every lane of this engine shares, passed as Python values
            (a group's static choices).
        int_names: the names of ``hparam_names`` that arrive as int32 (int parameters).
    """

    def __init__(self, task, data, hparam_names: Sequence[str], chunk_size: int, *,
                 lanes: int = 1, devices: Sequence | None = None, dtype: str = "float32",
                 static: Mapping[str, Any] | None = None, int_names: Sequence[str] = ()):
        import jax
        import jax.numpy as jnp
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        self.task = task
        self.static = dict(static or {})
        self.int_names = frozenset(int_names)
        self.devices = list(devices if devices is not None else jax.local_devices())
        self.lanes = int(lanes)
        step = self.lanes * len(self.devices)
        self.chunk_size = int(math.ceil(chunk_size / step) * step)
        self.hparam_names = tuple(hparam_names)
        self.dtype = jnp.dtype(dtype)
        self.mesh = Mesh(np.asarray(self.devices), ("trials",))
        self.sharded = NamedSharding(self.mesh, PartitionSpec("trials"))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.compile_seconds = 0.0
        self.unit: int | None = None
        self._programs: dict = {}
        self._jitted: dict = {}
        self._exports: dict = {}
        #: programs deserialized from the program cache instead of traced
        self.programs_loaded = 0
        self.data = jax.device_put(data, self.replicated)

    # -- the run loop's interface (one group) -----------------------------------------------------
    def group_of(self, hparams: Mapping[str, Any]) -> tuple:
        """``()``: one engine is one group."""
        return ()

    def engine(self, group: tuple) -> Engine:
        """Itself."""
        return self

    def prepare(self, groups: Iterable[tuple]) -> None:
        """Nothing to build: its programs compile on :meth:`precompile` or first use."""

    # -- programs -------------------------------------------------------------------------------
    def _grouped(self, fn):
        """``fn(*lane_args)`` over the lanes of one device: a ``lax.map`` over groups of
        ``lanes``, each group one ``vmap`` (the data, last argument, shared)."""
        import jax

        L = self.lanes

        def per_device(*args):
            *lane_args, data = args
            n_local = jax.tree.leaves(lane_args)[0].shape[0]
            grouped = jax.tree.map(lambda a: a.reshape(n_local // L, L, *a.shape[1:]),
                                   tuple(lane_args))
            out = jax.lax.map(lambda g: jax.vmap(lambda *a: fn(*a, data))(*g), grouped)
            return jax.tree.map(lambda a: a.reshape(n_local, *a.shape[2:]), out)

        return per_device

    def _jit(self, fn, n_lane_args: int):
        import jax
        from jax.sharding import PartitionSpec

        spec = PartitionSpec("trials")
        in_specs = (*[spec] * n_lane_args, PartitionSpec())
        return jax.jit(
            jax.shard_map(self._grouped(fn), mesh=self.mesh, in_specs=in_specs, out_specs=spec,
                          check_vma=False),
            in_shardings=(*[self.sharded] * n_lane_args, self.replicated),
            out_shardings=self.sharded,
        )

    def _compile(self, name, fn, lane_specs):
        if name not in self._programs:
            t0 = time.perf_counter()
            self._programs[name] = self._lower(name, fn, lane_specs).compile()
            self.compile_seconds += time.perf_counter() - t0
        return self._programs[name]

    def _lower(self, name, fn, lane_specs):
        program = self._jitted.setdefault(name, self._jit(fn, len(lane_specs)))
        args = (*lane_specs, self.data)
        kept = self._exported(name, program, args)
        if kept is not None:
            try:
                return self._from_exported(*kept, len(lane_specs)).lower(*args)
            except Exception:  # noqa: BLE001 - traced as without the cache
                self._exports[name] = None
        return program.lower(*args)

    # -- the program cache (jaxch6.sweep.program_cache) ------------------------------------------
    def _exported(self, name, program, args):
        """``(exported, out_tree)`` of program ``name`` from the program cache (exported and
        stored there on a miss); None where the cache is off, the task has no key, the devices
        are not JAX's default backend's, or the program cannot be exported (then it is traced
        as without the cache)."""
        if name not in self._exports:
            self._exports[name] = self._cached(name, program, args)
        return self._exports[name]

    def _cached(self, name, program, args):
        import jax

        from jaxch6.sweep import program_cache

        task_key = self.task.program_key
        folder = program_cache.directory() if task_key is not None else None
        if folder is None or self.devices[0].platform != jax.default_backend():
            return None
        try:
            parts = self._describe(name, args)
            entry = program_cache.key(task_key, parts)
            if entry is None:
                return None
            kept = program_cache.load(folder, entry)
            if kept is not None:
                self.programs_loaded += 1
                return kept
            kept = self._export(program, args)
        except Exception:  # noqa: BLE001 - e.g. a host callback jax.export cannot serialize
            return None
        if program_cache.key(task_key, parts) == entry:
            program_cache.store(folder, entry, *kept)  # not if a source changed meanwhile
        return kept

    def _describe(self, name, args) -> tuple:
        """What shapes program ``name`` besides the task: the engine's settings, the
        arguments' tree, shapes, dtypes and shardings, the devices (plain values)."""
        import jax

        leaves, tree = jax.tree.flatten(args)
        device = self.devices[0]
        return (repr(name), self.lanes, self.chunk_size, self.hparam_names,
                sorted(self.int_names), sorted((k, repr(v)) for k, v in self.static.items()),
                str(self.dtype), len(self.devices), device.platform, device.device_kind,
                str(tree), [(tuple(a.shape), str(a.dtype), repr(a.sharding.spec))
                            for a in leaves])

    def _export(self, program, args):
        """``program`` on ``args`` as a :func:`jax.export.export` artifact of flat arguments
        and results, and its results' tree."""
        import jax

        leaves, in_tree = jax.tree.flatten(args)
        box = {}

        def flat(*xs):
            ys, box["tree"] = jax.tree.flatten(program(*jax.tree.unflatten(in_tree, xs)))
            return ys

        shardings = [a.sharding for a in leaves]
        specs = [jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding) for a in leaves]
        exported = jax.export.export(
            jax.jit(flat, in_shardings=shardings, out_shardings=self.sharded))(*specs)
        return exported, box["tree"]

    def _from_exported(self, exported, out_tree, n_lane_args: int):
        """The jitted program that calls ``exported`` (the engine's arguments and results)."""
        import jax

        def call(*args):
            return jax.tree.unflatten(out_tree, exported.call(*jax.tree.leaves(args)))

        return jax.jit(call, in_shardings=(*[self.sharded] * n_lane_args, self.replicated),
                       out_shardings=self.sharded)

    def _specs(self):
        import jax

        c = self.chunk_size
        key_spec = jax.ShapeDtypeStruct((c, 2), np.uint32, sharding=self.sharded)
        hp_spec = {n: jax.ShapeDtypeStruct((c,), self._dtype_of(n), sharding=self.sharded)
                   for n in self.hparam_names}
        return key_spec, hp_spec

    def _dtype_of(self, name: str):
        return np.dtype(np.int32) if name in self.int_names else self.dtype

    def _init_program(self):
        return self._compile("init", *self._init_parts())

    def _init_parts(self):
        return self._init_fn, self._specs()

    def _init_fn(self, key_data, hparams, data):
        return self.task.init(keys.wrap(key_data),
                              self.task.with_defaults({**hparams, **self.static}))

    def _advance_fn(self, state, hparams, data, epochs: int):
        """The task's advance; its metrics with the lane's ``diverged`` flag added."""
        hparams = self.task.with_defaults({**hparams, **self.static})
        state, metrics = self.task.advance(state, hparams, data, epochs)
        return state, {**metrics, "diverged": self.task.is_diverged(state, metrics)}

    def state_shape(self):
        """The batched run state of one chunk, as ``jax.ShapeDtypeStruct`` leaves.

        Returns:
            A pytree shaped like a chunk of ``chunk_size`` run states.
        """
        import jax

        key_spec, hp_spec = self._specs()
        program = self._jitted.setdefault("init", self._jit(self._init_fn, 2))
        kept = self._exported("init", program, (key_spec, hp_spec, self.data))
        if kept is None:
            return jax.eval_shape(program, key_spec, hp_spec, self.data)
        exported, out_tree = kept
        return jax.tree.unflatten(out_tree, [
            jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=self.sharded)
            for a in exported.out_avals])

    def _advance_program(self, epochs: int):
        return self._compile(("advance", epochs), *self._advance_parts(epochs))

    def _advance_parts(self, epochs: int):
        import jax

        _, hp_spec = self._specs()
        state_spec = jax.tree.map(
            lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=self.sharded),
            self.state_shape())
        return (lambda s, hp, data: self._advance_fn(s, hp, data, epochs),
                (state_spec, hp_spec))

    def precompile(self, epochs: Sequence[int] = ()) -> None:
        """Compile the start program and one advance program for every count in ``epochs``.

        The advance program trains the greatest common divisor of ``epochs`` (the engine's
        ``unit``); :meth:`dispatch` advances by a multiple of it in as many chained calls.
        They compile side by side in two threads (XLA compiles without holding Python's GIL;
        each program is the same as when compiled alone), the advance program's compilation
        starting while the start program is lowered; the time until both are ready is added
        to ``compile_seconds``.

        Args:
            epochs: the epoch counts the sweep will advance lanes by.
        """
        counts = [int(e) for e in epochs]
        wanted = {"init": self._init_parts}
        if counts:
            self.unit = math.gcd(*counts)
            wanted[("advance", self.unit)] = lambda: self._advance_parts(self.unit)
        t0 = time.perf_counter()
        todo = [name for name in wanted if name not in self._programs]
        if not todo:
            return
        with ThreadPoolExecutor(len(todo)) as pool:  # the longest, advance, lowered first
            started = {name: pool.submit(self._lower(name, *wanted[name]()).compile)
                       for name in reversed(todo)}
            compiled = {name: started[name].result() for name in todo}
        self.compile_seconds += time.perf_counter() - t0
        self._programs.update(compiled)

    def lane_bytes(self) -> int | None:
        """One lane's device memory by XLA's memory analysis of the programs compiled so far
        (:func:`program_bytes` of the one that needs most, on one device), per lane of a
        device's share of the chunk; None before any is compiled, or where the backend
        reports no analysis."""
        import jax

        data_bytes = sum(int(a.nbytes) for a in jax.tree.leaves(self.data))  # no copy
        sizes = [program_bytes(p.memory_analysis(), data_bytes) for p in self._programs.values()]
        if not sizes or None in sizes:
            return None
        return -(-max(sizes) // (self.chunk_size // len(self.devices)))

    @property
    def compiled(self) -> tuple:
        """The programs compiled so far: ``"init"`` and ``("advance", epochs)`` entries."""
        return tuple(self._programs)

    def _pieces(self, epochs: int) -> list[int]:
        """``epochs`` as the program lengths to call: multiples of ``unit`` use its program."""
        if self.unit is not None and epochs % self.unit == 0:
            return [self.unit] * (epochs // self.unit)
        return [epochs]

    # -- running --------------------------------------------------------------------------------
    def dispatch(self, epochs: int, hparams: Mapping[str, np.ndarray], *,
                 key_data: np.ndarray | None = None, states=None) -> Handle:
        """Advance one chunk of ``n <= chunk_size`` lanes by ``epochs`` epochs, asynchronously.

        Args:
            epochs: epochs to train (a multiple of ``unit``: chained calls of its program;
                another count compiles a program of its own).
            hparams: each name of ``hparam_names`` to an array ``(n,)``.
            key_data: ``(n, 2)`` uint32 training keys of fresh lanes (started here), or
            states: their run states (a batched pytree of host or device arrays, ``(n, ...)``).

        Returns:
            A :class:`Handle` for :meth:`fetch`. Pad lanes repeat the first lane.

        Raises:
            ValueError: not exactly one of ``key_data`` and ``states``, or ``n`` outside
                ``1..chunk_size``.

        Example:
            ```python
            handle = engine.dispatch(10, {"learning_rate": lrs}, key_data=keys)
            history, states = engine.fetch(handle, states=True)
            ```
        """
        import jax

        if (key_data is None) == (states is None):
            raise ValueError("dispatch needs exactly one of key_data and states")
        n = len(key_data) if key_data is not None else len(jax.tree.leaves(states)[0])
        if not 0 < n <= self.chunk_size:
            raise ValueError(f"a chunk holds 1..{self.chunk_size} lanes, got {n}")
        hp = {k: _pad(np.asarray(hparams[k], dtype=self._dtype_of(k)), self.chunk_size)
              for k in self.hparam_names}
        hp = jax.device_put(hp, self.sharded)
        if states is None:
            kd = jax.device_put(_pad(np.asarray(key_data, np.uint32), self.chunk_size),
                                self.sharded)
            states = self._init_program()(kd, hp, self.data)
        else:
            states = jax.device_put(
                jax.tree.map(lambda a: _pad(np.asarray(a), self.chunk_size), states),
                self.sharded)
        histories = []
        for piece in self._pieces(int(epochs)):
            states, history = self._advance_program(piece)(states, hp, self.data)
            histories.append(history)
        return Handle(n, states, tuple(histories))

    @staticmethod
    def fetch(handle: Handle, *, states: bool = False):
        """Wait for a dispatched chunk.

        Args:
            handle: what :meth:`dispatch` returned.
            states: also bring the new run states to the host.

        Returns:
            ``(metrics, states)``: the metrics (and ``diverged``) as NumPy arrays ``(n, ...)``,
            per-epoch ones joined over the chained calls, and the new
            run states as a batched pytree of NumPy arrays (``None`` unless ``states=True``).
        """
        import jax

        pieces = [h._asdict() if hasattr(h, "_asdict") else dict(h)
                  for h in jax.device_get(handle.history)]
        history = {k: _join([np.asarray(p[k])[: handle.n] for p in pieces]) for k in pieces[0]}
        out_states = None
        if states:
            out_states = jax.tree.map(lambda a: np.asarray(a)[: handle.n],
                                      jax.device_get(handle.states))
        return history, out_states


def program_bytes(analysis, data_bytes: int) -> int | None:
    """A compiled program's device memory from its ``memory_analysis()``: temporaries, outputs
    and the arguments other than the data (``data_bytes``); None where there is none."""
    if analysis is None:
        return None
    return int(analysis.temp_size_in_bytes + analysis.output_size_in_bytes
               + max(analysis.argument_size_in_bytes - data_bytes, 0))


def _join(pieces: list[np.ndarray]) -> np.ndarray:
    """One metric over chained calls: per-epoch values ``(n, epochs, ...)`` joined along time,
    the per-lane flag ``(n,)`` (``diverged``) true if it was in any call."""
    if len(pieces) == 1:
        return pieces[0]
    if pieces[0].ndim < 2:
        return np.logical_or.reduce(pieces)
    return np.concatenate(pieces, axis=1)


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    """``a`` with rows repeating its first row appended up to ``size`` rows."""
    pad = size - len(a)
    if pad <= 0:
        return a
    return np.concatenate([a, np.repeat(a[:1], pad, axis=0)])
