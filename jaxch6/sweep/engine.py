"""The sweep engine: one compiled program trains a chunk of trials at once.

Each device trains its share of a chunk as consecutive *lane groups*: ``vmap`` over a fixed
number of ``lanes`` trials (the data unbatched, shared by all), inside a ``lax.map`` over the
groups, inside ``shard_map`` over a 1-D mesh named ``"trials"`` spanning all local devices (the
trial axis is sharded, the data replicated). Every chunk has the same size (the last one is
padded with copies of a real lane, whose results are dropped), so a sweep compiles exactly one
program, ahead of time (``lower(...).compile()``), and the compile time is measured apart from the
run time.

Why fixed lane groups: XLA compiles a ``vmap`` of 2 lanes and one of 50 with different
reduction and fusion strategies, so the same trial's gradients can differ in the last bit
between the two, and 200 SGD steps amplify that into different accuracies. Here every trial is
always computed inside a group of exactly ``lanes`` lanes, by the same per-device code, whatever
the chunk size or the number of devices: its result is bit-for-bit the same. (``lanes`` is part
of the sweep's definition, like the platform.) On the CPU, small groups are also the fast
choice: a group's working set stays in cache.

One exception, measured on the book's search: a single-device program is compiled without
XLA's SPMD pipeline, and its different pass order rewrites one division of the softmax
gradient into a multiplication by the reciprocal; that last-bit difference changes a few
trials' accuracies after 200 SGD steps. Programs on 2, 4, ... devices agree bit for bit, so
``jaxch6 sweep`` runs at least 2 CPU devices (``--cpu-devices``).

A trial's training key is ``fold_in(fold_in(key(seed), trial_id), 1)`` (its hyperparameters are
sampled from ``fold_in(..., 0)``, see :mod:`jaxch6.sweep.space`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

#: Upper bounds of the default chunk size per device, by platform.
CHUNK_CAP = {"cpu": 1024, "gpu": 16384, "tpu": 16384}
#: On the CPU, a lane group holds about this many bytes of trials (near the caches): on 2
#: cores, the book's search ran at 18.3 trials/s with 2 lanes per device, 16.7 with 5, 13.3
#: with 25 and 12.2 with 50 (one vmap per device; same program, same minute).
CPU_LANE_BYTES = 24 << 20
#: Default upper bound of a CPU chunk (trials per compiled call).
CPU_CHUNK_TRIALS = 24
#: Fraction of a device's memory the default chunk may plan to use.
MEMORY_FRACTION = 0.4


def per_trial_bytes(
    layer_sizes: Sequence[int],
    *,
    batch_size: int,
    n_eval_rows: int,
    optimizer_slots: int = 2,
    itemsize: int = 4,
) -> int:
    """A rough upper estimate of one trial's device memory while it trains.

    Parameters, gradients, updates and ``optimizer_slots`` moment buffers (``4 + slots`` copies
    of the weights), the training batch's activations (kept for the backward pass, ×4 for
    pre-activations, masks and their gradients), and the evaluation activations of all
    ``n_eval_rows`` rows (×2: a layer's input and output live at once).
    """
    n_params = sum(a * b + b for a, b in zip(layer_sizes[:-1], layer_sizes[1:], strict=False))
    units = sum(layer_sizes)
    floats = (4 + optimizer_slots) * n_params + 4 * batch_size * units + 2 * n_eval_rows * units
    return int(floats * itemsize)


def device_memory_bytes(device) -> int:
    """The memory a device offers (accelerators: the allocator's limit; CPU: physical RAM)."""
    try:
        stats = device.memory_stats() or {}
    except Exception:  # noqa: BLE001 - backends without memory stats
        stats = {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def default_lanes(trials_per_round: int, trial_bytes: int, devices: Sequence) -> int:
    """Trials per lane group (one ``vmap``): on the CPU as many as fit in
    :data:`CPU_LANE_BYTES` (2 for the book's network); on accelerators as many as fit in
    ``MEMORY_FRACTION`` of one device's memory, at most :data:`CHUNK_CAP` and at most one round.
    Never depends on the number of devices, so neither do the results."""
    platform = devices[0].platform
    if platform == "cpu":
        lanes = CPU_LANE_BYTES // max(trial_bytes, 1)
    else:
        fit = int(MEMORY_FRACTION * device_memory_bytes(devices[0]) // max(trial_bytes, 1))
        lanes = min(fit, CHUNK_CAP.get(platform, 1024))
    return int(max(1, min(lanes, trials_per_round, CHUNK_CAP.get(platform, 1024))))


def default_chunk_size(
    trials_per_round: int,
    trial_bytes: int,
    devices: Sequence,
    *,
    lanes: int | None = None,
    max_trials: int | None = None,
) -> int:
    """Trials per compiled call: a multiple of ``lanes × devices`` (each device runs whole lane
    groups; ``lanes`` default: :func:`default_lanes` of ``trial_bytes``), at most
    ``max_trials`` (CPU: :data:`CPU_CHUNK_TRIALS`, so progress and the results on disk advance
    every few seconds; accelerators: one group per device), with the number of groups per call
    chosen to waste the fewest padded lanes over a round."""
    if lanes is None:
        lanes = default_lanes(trials_per_round, trial_bytes, devices)
    step = lanes * len(devices)
    if max_trials is None:
        max_trials = CPU_CHUNK_TRIALS if devices[0].platform == "cpu" else step
    if trials_per_round <= max_trials:  # one call may cover the round (padding included)
        max_groups = math.ceil(trials_per_round / step)
    else:
        max_groups = max(1, max_trials // step)
    best = None
    for g in range(max_groups, 0, -1):
        size = g * step
        padded = math.ceil(trials_per_round / size) * size
        if best is None or padded < best[0]:
            best = (padded, size)
    return int(best[1])


class Engine:
    """A compiled sweep program for chunks of ``chunk_size`` trials, in groups of ``lanes``
    (``chunk_size`` is rounded up to a multiple of ``lanes ×`` the device count).

    ``train_fn(key, hparams, data) -> History`` is one trial (jaxch6.train.make_train_fn);
    ``hparam_names`` are the searched names (their values arrive as arrays per chunk);
    ``data`` (a pytree of arrays, e.g. :class:`jaxch6.train.Data`) is placed once, replicated.
    """

    def __init__(
        self,
        train_fn: Callable,
        data,
        hparam_names: Sequence[str],
        chunk_size: int,
        *,
        lanes: int = 1,
        devices: Sequence | None = None,
        dtype: str = "float32",
    ):
        import jax
        import jax.numpy as jnp
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        self.devices = list(devices if devices is not None else jax.local_devices())
        n_dev = len(self.devices)
        self.lanes = int(lanes)
        step = self.lanes * n_dev
        self.chunk_size = int(math.ceil(chunk_size / step) * step)
        self.hparam_names = tuple(hparam_names)
        self.dtype = jnp.dtype(dtype)
        mesh = Mesh(np.asarray(self.devices), ("trials",))
        self.sharded = NamedSharding(mesh, PartitionSpec("trials"))
        self.replicated = NamedSharding(mesh, PartitionSpec())
        L = self.lanes

        def group(trial_key_data, hparams, data):
            trial_keys = jax.random.wrap_key_data(trial_key_data)
            train_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(trial_keys)
            return jax.vmap(train_fn, in_axes=(0, 0, None))(train_keys, hparams, data)

        def per_device(trial_key_data, hparams, data):
            n_local = trial_key_data.shape[0]
            grouped = jax.tree.map(lambda a: a.reshape(n_local // L, L, *a.shape[1:]),
                                   (trial_key_data, hparams))
            out = jax.lax.map(lambda kh: group(kh[0], kh[1], data), grouped)
            return jax.tree.map(lambda a: a.reshape(n_local, *a.shape[2:]), out)

        spec = PartitionSpec("trials")
        program = jax.jit(
            jax.shard_map(per_device, mesh=mesh, in_specs=(spec, spec, PartitionSpec()),
                          out_specs=spec, check_vma=False),
            in_shardings=(self.sharded, self.sharded, self.replicated),
            out_shardings=self.sharded,
        )
        t0 = time.perf_counter()
        self.data = jax.device_put(data, self.replicated)
        c = self.chunk_size
        key_spec = jax.ShapeDtypeStruct((c, 2), jnp.uint32, sharding=self.sharded)
        hp_spec = {
            n: jax.ShapeDtypeStruct((c,), self.dtype, sharding=self.sharded)
            for n in self.hparam_names
        }
        self.compiled = program.lower(key_spec, hp_spec, self.data).compile()
        self.compile_seconds = time.perf_counter() - t0

    def dispatch(self, key_data: np.ndarray, hparams: Mapping[str, np.ndarray]):
        """Start one chunk (``n <= chunk_size`` trials) asynchronously; returns a handle for
        :meth:`fetch`. Pad lanes repeat the first trial and are dropped by :meth:`fetch`."""
        import jax

        n = len(key_data)
        if not 0 < n <= self.chunk_size:
            raise ValueError(f"a chunk holds 1..{self.chunk_size} trials, got {n}")
        pad = self.chunk_size - n
        kd = np.asarray(key_data, np.uint32)
        hp = {k: np.asarray(hparams[k], dtype=self.dtype) for k in self.hparam_names}
        if pad:
            kd = np.concatenate([kd, np.repeat(kd[:1], pad, axis=0)])
            hp = {k: np.concatenate([v, np.repeat(v[:1], pad)]) for k, v in hp.items()}
        kd = jax.device_put(kd, self.sharded)
        hp = jax.device_put(hp, self.sharded)
        return n, self.compiled(kd, hp, self.data)

    @staticmethod
    def fetch(handle) -> dict[str, np.ndarray]:
        """Wait for a dispatched chunk; its History fields as NumPy arrays, pad lanes dropped."""
        import jax

        n, out = handle
        host = jax.device_get(out)
        fields = host._asdict() if hasattr(host, "_asdict") else dict(host)
        return {k: np.asarray(v)[:n] for k, v in fields.items()}

    def run(self, key_data: np.ndarray, hparams: Mapping[str, np.ndarray]) -> dict:
        return self.fetch(self.dispatch(key_data, hparams))
