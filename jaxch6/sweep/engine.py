"""The sweep engine: one compiled program trains a chunk of trials at once.

The program is ``jit(vmap(train_fn, in_axes=(0, 0, None)))`` over (trial key, hyperparameters),
with the data unbatched (shared by all trials). Its trial axis is sharded over all local devices
(:class:`jax.sharding.NamedSharding` over a 1-D mesh named ``"trials"``); the data is replicated.
Every chunk has the same size (the last one is padded with copies of a real lane, whose results
are dropped), so a sweep compiles exactly one program, ahead of time (``lower(...).compile()``),
and the compile time is measured apart from the run time.

A trial's training key is ``fold_in(fold_in(key(seed), trial_id), 1)`` (its hyperparameters are
sampled from ``fold_in(..., 0)``, see :mod:`jaxch6.sweep.space`): since each lane computes only
from its own key and values, a trial's result does not depend on the chunk size, its lane, or
the number of devices.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

#: Upper bounds of the default chunk size per device, by platform.
CHUNK_CAP = {"cpu": 1024, "gpu": 16384, "tpu": 16384}
#: On the CPU, a device's lanes per chunk are limited to what fits in about this many bytes
#: (near its caches): on 2 cores, the book's search ran at 18.3 trials/s with 2 lanes per
#: device, 16.7 with 5, 13.3 with 25 and 12.2 with 50 (same program, same minute).
CPU_LANE_BYTES = 24 << 20
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


def default_chunk_size(
    trials_per_round: int, trial_bytes: int, devices: Sequence, *, cap: int | None = None
) -> int:
    """Trials per compiled call: as many as fit in ``MEMORY_FRACTION`` of the devices' memory,
    at most ``cap`` (default: :data:`CHUNK_CAP` lanes per device; on the CPU also at most
    :data:`CPU_LANE_BYTES` of trials per device) and at most one round; then evened out
    over the chunks a round needs (1000 trials with room for 930: two chunks of 500, not
    930 + 70 padded to 930) and rounded up to a multiple of the device count."""
    n_dev = len(devices)
    platform = devices[0].platform
    if cap is None:
        lanes = CHUNK_CAP.get(platform, 1024)
        if platform == "cpu":
            lanes = min(lanes, max(1, CPU_LANE_BYTES // max(trial_bytes, 1)))
        cap = lanes * n_dev
    per_device = device_memory_bytes(devices[0])
    if platform == "cpu":  # host "devices" share one memory
        per_device //= n_dev
    fit = max(1, int(MEMORY_FRACTION * per_device // max(trial_bytes, 1))) * n_dev
    largest = max(1, min(trials_per_round, fit, cap))
    # as few chunks as that allows, of equal size (no mostly-padding last chunk)
    n_chunks = math.ceil(trials_per_round / largest)
    size = math.ceil(trials_per_round / n_chunks)
    return int(math.ceil(size / n_dev) * n_dev)


class Engine:
    """A compiled sweep program for chunks of ``chunk_size`` trials.

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
        devices: Sequence | None = None,
        dtype: str = "float32",
    ):
        import jax
        import jax.numpy as jnp
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        self.devices = list(devices if devices is not None else jax.local_devices())
        n_dev = len(self.devices)
        if chunk_size % n_dev:
            chunk_size = int(math.ceil(chunk_size / n_dev) * n_dev)
        self.chunk_size = int(chunk_size)
        self.hparam_names = tuple(hparam_names)
        self.dtype = jnp.dtype(dtype)
        mesh = Mesh(np.asarray(self.devices), ("trials",))
        self.sharded = NamedSharding(mesh, PartitionSpec("trials"))
        self.replicated = NamedSharding(mesh, PartitionSpec())

        def batched(trial_key_data, hparams, data):
            trial_keys = jax.random.wrap_key_data(trial_key_data)
            train_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(trial_keys)
            return jax.vmap(train_fn, in_axes=(0, 0, None))(train_keys, hparams, data)

        t0 = time.perf_counter()
        self.data = jax.device_put(data, self.replicated)
        c = self.chunk_size
        key_spec = jax.ShapeDtypeStruct((c, 2), jnp.uint32, sharding=self.sharded)
        hp_spec = {
            n: jax.ShapeDtypeStruct((c,), self.dtype, sharding=self.sharded)
            for n in self.hparam_names
        }
        program = jax.jit(
            batched,
            in_shardings=(self.sharded, self.sharded, self.replicated),
            out_shardings=self.sharded,
        )
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
