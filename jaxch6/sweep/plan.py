"""How a sweep uses one machine: lane width and chunk size from the device memory, and whether
the host holds the data, the results and the run states kept between steps.

Pure Python and NumPy; JAX is touched only to ask a device for its memory. The plan:

- **Accelerators** (``"gpu"``, ``"tpu"``): a lane group (one ``vmap``) is as wide as fits in
  ``memory_fraction`` of *one* device's memory (at most :data:`CHUNK_CAP`), balanced over the
  round (10,000 trials that fit 3,475 to a group run as 3 groups of 3,334, not 3,475 + 3,475 +
  3,050 padded to 3 × 3,475), never depending on the number of devices, so neither do the
  results; a chunk is one group per device (``lanes × n_devices``).
- **CPU**: a group holds :data:`CPU_LANE_BYTES` of trials (it stays near the caches; 2 lanes
  for the book's network), and a task's group at most :data:`CPU_TASK_LANES` lanes; a chunk at
  most :data:`CPU_CHUNK_TRIALS` trials with the fewest padded lanes.

This is the one planner: :func:`jaxch6.sweep.run`, the Optuna driver and the benchmarks all plan
through :func:`plan_for_devices`, so a plan tested here for a faked device is the plan that runs.

A plan that cannot fit raises a one-line :class:`~jaxch6.errors.ConfigError` saying what to
reduce. ``$JAXCH6_DEVICE_MEMORY`` (bytes, or ``"80G"``, ``"16GiB"``, ``"512M"``; binary units)
replaces what the devices report, to plan for another device or to test.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import NamedTuple

from jaxch6.errors import ConfigError

__all__ = [
    "CHUNK_CAP",
    "CPU_CHUNK_TRIALS",
    "CPU_LANE_BYTES",
    "CPU_TASK_LANES",
    "DEVICE_MEMORY_ENV",
    "EXPLICIT_FRACTION",
    "HOST_FRACTION",
    "MEMORY_FRACTION",
    "Plan",
    "check_sweep",
    "device_memory_bytes",
    "format_bytes",
    "host_bytes_needed",
    "parse_bytes",
    "per_trial_bytes",
    "physical_memory_bytes",
    "plan_for_devices",
    "plan_lanes_and_chunk",
    "plan_sweep",
]

#: Upper bounds of a lane group (and of the default chunk per device), by platform.
CHUNK_CAP = {"cpu": 1024, "gpu": 16384, "tpu": 16384}
#: On the CPU, a lane group holds about this many bytes of trials (near the caches).
CPU_LANE_BYTES = 24 << 20
#: On the CPU, a task's lane group holds at most this many lanes: a ``vmap`` of many lanes of
#: a small model runs no faster per lane than a narrow one there, and a group wider than a
#: device's share of the round is padding. (The book's network keeps the
#: :data:`CPU_LANE_BYTES` rule alone: its lane width fixes its published results bit for bit.)
CPU_TASK_LANES = 8
#: Default upper bound of a CPU chunk (trials per compiled call).
CPU_CHUNK_TRIALS = 24
#: Fraction of a device's memory the default plan may use (the trial estimate is rough, and
#: XLA needs room for its temporaries).
MEMORY_FRACTION = 0.4
#: Fraction of a device's memory an explicitly requested lane width may use.
EXPLICIT_FRACTION = 0.9
#: Fraction of the host's physical memory the data and results may use.
HOST_FRACTION = 0.8
#: Environment variable that replaces the memory the devices report.
DEVICE_MEMORY_ENV = "JAXCH6_DEVICE_MEMORY"
#: Host bytes of one recorded value kept as a Python float in a list (8-byte pointer + object).
PY_FLOAT_BYTES = 32
#: Host bytes of one trial's record beyond its values (the object, its dict, list headers).
PY_TRIAL_BYTES = 1024

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class Plan(NamedTuple):
    """Trials per ``vmap`` group, trials per compiled call, and the device bytes it plans for."""

    lanes: int
    chunk_size: int
    bytes_per_device: int


def parse_bytes(text: str | int) -> int:
    """A byte count from ``123456``, ``"80G"``, ``"16GiB"``, ``"1.5T"`` or ``"512 MB"``.

    Args:
        text: an int, or a number with an optional K/M/G/T suffix (binary: ``G`` = 2³⁰ bytes;
            a trailing ``B``/``iB`` is ignored).

    Returns:
        The positive number of bytes.

    Raises:
        ConfigError: for anything else.
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:I?B)?\s*", str(text).upper())
    value = float(m.group(1)) * _UNITS[m.group(2)] if m else 0.0
    if not m or value < 1:
        raise ConfigError(f"a memory size must be bytes or a number with K/M/G/T (e.g. 80G), "
                          f"got {text!r}")
    return int(value)


def physical_memory_bytes() -> int:
    """The host's physical memory (8 GiB where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def device_memory_bytes(device, override: str | int | None = None) -> int:
    """The memory a device offers.

    Args:
        device: a ``jax.Device`` (or anything with ``memory_stats()``).
        override: bytes or a size such as ``"80G"``; default ``$JAXCH6_DEVICE_MEMORY`` if set.

    Returns:
        The override if given; else the allocator's ``bytes_limit`` (accelerators); else the
        host's physical memory (the CPU).

    Raises:
        ConfigError: for an override that is not a size.
    """
    if override is None:
        override = os.environ.get(DEVICE_MEMORY_ENV) or None
    if override is not None:
        return parse_bytes(override)
    try:
        stats = device.memory_stats() or {}
    except Exception:  # noqa: BLE001 - backends without memory stats
        stats = {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    return physical_memory_bytes()


def per_trial_bytes(
    layer_sizes: Sequence[int],
    *,
    batch_size: int,
    n_eval_rows: int,
    optimizer_slots: int = 2,
    itemsize: int = 4,
) -> int:
    """A rough upper estimate of one trial's device memory while it trains.

    Args:
        layer_sizes: ``(n_in, *hidden, n_out)``.
        batch_size: training batch rows.
        n_eval_rows: rows evaluated at once (training and validation sets together).
        optimizer_slots: moment buffers of the optimizer (SGD 0, Momentum 1, Adam 2).
        itemsize: bytes per float.

    Returns:
        ``itemsize × ((4 + slots) · parameters + 4 · batch · units + 2 · eval_rows · units)``:
        parameters, gradients, updates and moments; the batch's activations kept for the
        backward pass; a layer's input and output over all evaluation rows.
    """
    n_params = sum(a * b + b for a, b in zip(layer_sizes[:-1], layer_sizes[1:], strict=False))
    units = sum(layer_sizes)
    floats = (4 + optimizer_slots) * n_params + 4 * batch_size * units + 2 * n_eval_rows * units
    return int(floats * itemsize)


_BINARY_UNITS = (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


def _unit_of(n: float) -> str:
    return next((unit for unit, size in _BINARY_UNITS if abs(n) >= size), "B")


def format_bytes(n: float, unit: str | None = None) -> str:
    """``"12.3 GiB"``-style text of a byte count, in ``unit`` when given (the numbers of one
    refusal share their unit, so they add up as printed)."""
    unit = unit or _unit_of(n)
    size = dict(_BINARY_UNITS).get(unit)
    return f"{int(n)} B" if size is None else f"{n / size:.1f} {unit}"


def _exact(n: int) -> str:
    """Bytes written out in full (``"1,363,148 B"``): a factor of a product in a refusal."""
    return f"{int(n):,} B"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _positive(**values) -> None:
    for name, v in values.items():
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise ConfigError(f"{name} must be a positive int, got {v!r}")


def _usable(device_memory: int, fraction: float, data_bytes: int) -> int:
    return int(fraction * device_memory) - data_bytes


def _offers(device_memory: int, fraction: float, data_bytes: int, where: str = "device") -> str:
    """``"the device offers U usable (F% of M, less D of data)"``: U = F × M − D, all three in
    M's unit."""
    unit = _unit_of(device_memory)
    shown = format_bytes(data_bytes, unit)
    if float(shown.split()[0]) == 0:  # too small for M's unit: its own
        shown = format_bytes(data_bytes)
    data = f", less {shown} of data" if data_bytes else ""
    return (f"the {where} offers {format_bytes(_usable(device_memory, fraction, data_bytes), unit)}"
            f" usable ({_percent(fraction)} of {format_bytes(device_memory, unit)}{data})")


def _fit_error(trial_bytes: int, device_memory: int, fraction: float, data_bytes: int) -> str:
    if _usable(device_memory, fraction, data_bytes) <= 0:
        return (f"the data need {format_bytes(data_bytes)} but "
                f"{_offers(device_memory, fraction, 0)}: reduce the training or evaluation set")
    return (f"one trial needs {format_bytes(trial_bytes)} but "
            f"{_offers(device_memory, fraction, data_bytes)}: reduce hidden sizes, "
            f"batch size or the evaluation set")


def _check_lanes(lanes: int, trial_bytes: int, device_memory: int, data_bytes: int) -> None:
    limit = _usable(device_memory, EXPLICIT_FRACTION, data_bytes)
    if lanes * trial_bytes > limit:
        most = max(limit // trial_bytes, 0)
        raise ConfigError(
            f"lanes={lanes} needs {format_bytes(lanes * trial_bytes)} per device ({lanes} x "
            f"{_exact(trial_bytes)}) but {_offers(device_memory, EXPLICIT_FRACTION, data_bytes)}"
            f": reduce lanes to at most {most}")


def _cpu_chunk(trials: int, step: int) -> int:
    """A CPU chunk: at most CPU_CHUNK_TRIALS (one call may cover a small round), whole groups,
    the fewest padded lanes over the round."""
    if trials <= CPU_CHUNK_TRIALS:
        max_groups = math.ceil(trials / step)
    else:
        max_groups = max(1, CPU_CHUNK_TRIALS // step)
    sizes = [g * step for g in range(max_groups, 0, -1)]
    return min(sizes, key=lambda size: math.ceil(trials / size) * size)


def plan_lanes_and_chunk(
    trials: int,
    trial_bytes: int,
    *,
    platform: str,
    device_memory: int,
    n_devices: int,
    lanes: int | None = None,
    chunk_size: int | None = None,
    memory_fraction: float = MEMORY_FRACTION,
    data_bytes: int = 0,
    cpu_lanes: int | None = None,
) -> Plan:
    """Lane width and chunk size of a round of ``trials`` (see the module docstring).

    Args:
        trials: trials in the round.
        trial_bytes: one trial's device memory (:func:`per_trial_bytes`).
        platform: ``"cpu"``, ``"gpu"`` or ``"tpu"`` (other names are planned as accelerators).
        device_memory: bytes of one device (:func:`device_memory_bytes`).
        n_devices: devices the trial axis is sharded over.
        lanes: a requested lane width (checked against :data:`EXPLICIT_FRACTION` of a device).
        chunk_size: requested trials per call; rounded up to whole groups on every device. On
            an accelerator it also bounds the default lane width (``chunk_size / n_devices``).
        memory_fraction: share of a device the default lane width may use.
        data_bytes: bytes of the data replicated on every device.
        cpu_lanes: on the CPU, the most lanes a default group holds (a task's sweep:
            :data:`CPU_TASK_LANES`; None: :data:`CPU_LANE_BYTES` alone decides).

    Returns:
        ``Plan(lanes, chunk_size, bytes_per_device)``; ``chunk_size`` is a multiple of
        ``lanes × n_devices``.

    Raises:
        ConfigError: a non-positive count, or a plan that does not fit, naming what to reduce.
    """
    _positive(trials=trials, trial_bytes=trial_bytes, device_memory=device_memory,
              n_devices=n_devices, lanes=lanes, chunk_size=chunk_size)
    if not 0 < memory_fraction <= 1:
        raise ConfigError(f"memory_fraction must be in (0, 1], got {memory_fraction}")
    usable = _usable(device_memory, memory_fraction, data_bytes)
    if trial_bytes > usable:
        raise ConfigError(_fit_error(trial_bytes, device_memory, memory_fraction, data_bytes))
    cap = CHUNK_CAP.get(platform, CHUNK_CAP["gpu"])
    cpu = platform == "cpu"
    if lanes is not None:
        _check_lanes(lanes, trial_bytes, device_memory, data_bytes)
    elif cpu:
        lanes = max(1, min(CPU_LANE_BYTES // trial_bytes, trials, cap, cpu_lanes or cap))
    else:
        widest = min(usable // trial_bytes, cap, trials)
        if chunk_size is not None:
            widest = min(widest, math.ceil(chunk_size / n_devices))
        lanes = math.ceil(trials / math.ceil(trials / widest))  # balanced groups
    step = lanes * n_devices
    if chunk_size is not None:
        chunk = math.ceil(chunk_size / step) * step
    else:
        chunk = _cpu_chunk(trials, step) if cpu else step
    return Plan(int(lanes), int(chunk), int(lanes * trial_bytes + data_bytes))


def plan_for_devices(trials: int, trial_bytes: int, devices: Sequence, **kwargs) -> Plan:
    """:func:`plan_lanes_and_chunk` for a list of JAX devices (platform, memory and count read
    from them, ``$JAXCH6_DEVICE_MEMORY`` honoured); ``kwargs`` as there."""
    return plan_lanes_and_chunk(
        trials, trial_bytes, platform=devices[0].platform,
        device_memory=device_memory_bytes(devices[0]), n_devices=len(devices), **kwargs)


def host_bytes_needed(
    trials: int,
    *,
    data_bytes: int,
    epochs: int,
    steps: int = 0,
    n_hparams: int = 2,
    chunk_size: int = 0,
    host_memory: int | None = None,
    memory_fraction: float = HOST_FRACTION,
    kept_states: int = 0,
    state_bytes: int = 0,
) -> int:
    """Host memory of a sweep: the data, every trial's record, two chunks of raw results in
    flight (with their run states when states are kept) and the run states the scheduler
    keeps between steps; checked against the host's physical memory.

    Args:
        trials: trials whose records the host keeps.
        data_bytes: bytes of the loaded data on the host.
        epochs: recorded epochs (a training and a validation accuracy each).
        steps: recorded per-step losses fetched per trial (0 when they are not recorded).
        n_hparams: searched hyperparameters per trial.
        chunk_size: trials per compiled call (their float32 results are fetched at once).
        host_memory: bytes of the host (default :func:`physical_memory_bytes`).
        memory_fraction: share of the host memory the sweep may use.
        kept_states: the most run states kept at once
            (:meth:`jaxch6.sweep.schedulers.Scheduler.kept_states`).
        state_bytes: bytes of one lane's run state.

    Returns:
        The estimated bytes.

    Raises:
        ConfigError: when the estimate exceeds ``memory_fraction`` of the host memory, naming
            what to reduce.
    """
    _positive(trials=trials, epochs=epochs)
    record = PY_TRIAL_BYTES + PY_FLOAT_BYTES * (2 * epochs + n_hparams)
    raw = 4 * (steps + 2 * epochs + n_hparams + 3)  # History + hparams + key, float32/uint32
    if kept_states:
        raw += state_bytes  # a chunk's run states are taken from the pool and fetched back
    kept = kept_states * state_bytes
    needed = int(data_bytes + trials * record + 2 * chunk_size * raw + kept)
    host = physical_memory_bytes() if host_memory is None else int(host_memory)
    if needed > memory_fraction * host:
        unit = _unit_of(needed)
        chunks = (f" + 2 chunks x {chunk_size} trials x {_exact(raw)} in flight"
                  if chunk_size else "")
        states = (f" + {kept_states} kept run states x {_exact(state_bytes)}"
                  if kept else "")
        raise ConfigError(
            f"the sweep needs {format_bytes(needed, unit)} of host memory "
            f"({format_bytes(data_bytes, unit)} of data + {trials} trial{'s' * (trials != 1)} x "
            f"{_exact(record)} of results{chunks}{states}) but "
            f"{_offers(host, memory_fraction, 0, 'machine')}: reduce trials, "
            f"{'repeats, hidden sizes, ' if kept else ''}epochs or the training set")
    return needed


def history_bytes(epochs: int, steps: int) -> int:
    """Device bytes of one lane's recorded curves: a loss per step, two accuracies per epoch."""
    return 4 * (steps + 2 * epochs + 1)


def check_sweep(
    *,
    trials: int,
    epochs: int,
    steps: int,
    trial_bytes: int,
    lanes: int | None,
    chunk_size: int | None,
    devices: Sequence,
    data_bytes: int,
    n_hparams: int,
    host_memory: int | None = None,
    kept_states: int = 0,
    state_bytes: int = 0,
) -> None:
    """Refuse a sweep whose plan cannot fit, before anything is trained or written.

    Checks the host memory for the data, every trial's record and the kept run states
    (:func:`host_bytes_needed`),
    then one device's memory for a lane (its training and recorded curves, with the data
    replicated there) and, once planned, a lane group. On the CPU the devices share the host's
    memory, so a whole chunk must fit in it.

    Args:
        trials: trials the sweep records (every round).
        epochs: epochs each trial is trained.
        steps: recorded per-step losses per trial.
        trial_bytes: one trial's training memory (:func:`per_trial_bytes`).
        lanes: trials per lane group (None: not planned yet, only one lane is checked).
        chunk_size: trials per compiled call (None: not planned yet).
        devices: the JAX devices the lanes run on (``$JAXCH6_DEVICE_MEMORY`` honoured).
        data_bytes: bytes of the loaded data.
        n_hparams: searched hyperparameters per trial.
        host_memory: bytes of the host (default :func:`physical_memory_bytes`).
        kept_states: the most run states the scheduler keeps at once.
        state_bytes: bytes of one lane's run state.

    Raises:
        ConfigError: one line naming the field(s) to reduce.
    """
    host_bytes_needed(trials, data_bytes=data_bytes, epochs=epochs, steps=steps,
                      n_hparams=n_hparams, chunk_size=chunk_size or 0, host_memory=host_memory,
                      kept_states=kept_states, state_bytes=state_bytes)
    lane_bytes = trial_bytes + history_bytes(epochs, steps)
    device = devices[0]
    memory = device_memory_bytes(device)
    if device.platform == "cpu" and host_memory is not None:
        memory = min(memory, int(host_memory))
    if lane_bytes > _usable(memory, EXPLICIT_FRACTION, data_bytes):
        raise ConfigError(_fit_error(lane_bytes, memory, EXPLICIT_FRACTION, data_bytes)
                          .replace("reduce hidden sizes", "reduce epochs, hidden sizes"))
    if lanes is None or chunk_size is None:
        return
    _check_lanes(lanes, lane_bytes, memory, data_bytes)
    if device.platform == "cpu":
        need = chunk_size * lane_bytes + len(devices) * data_bytes
        if need > int(EXPLICIT_FRACTION * memory):
            raise ConfigError(
                f"chunk_size={chunk_size} needs {format_bytes(need)} of host memory "
                f"({chunk_size} trials x {_exact(lane_bytes)} + {len(devices)} devices x "
                f"{_exact(data_bytes)} of data) but "
                f"{_offers(memory, EXPLICIT_FRACTION, 0, 'machine')}: reduce chunk_size or lanes")


def plan_sweep(
    *,
    round_trials: int,
    trials: int,
    epochs: int,
    steps: int,
    trial_bytes: int,
    devices: Sequence,
    data_bytes: int,
    n_hparams: int,
    lanes: int | None = None,
    chunk_size: int | None = None,
    cpu_lanes: int | None = None,
    kept_states: int = 0,
    state_bytes: int = 0,
    states_per_chunk: int = 0,
) -> Plan:
    """The plan a sweep runs: checked (:func:`check_sweep`), then planned by
    :func:`plan_for_devices`, then checked whole.

    The lane width is planned from ``round_trials`` alone (a requested ``chunk_size`` never
    changes it, so neither does a driver's batch size: the lane width is part of what makes a
    trial's result bit-identical between drivers); the chunk is then whole groups on every
    device, ``chunk_size`` rounded up or the platform's default.

    Args:
        round_trials: lanes in one round (trials x repeats).
        trials: lanes the whole sweep records (every round, bracket and repeat).
        epochs: epochs each trial is trained.
        steps: recorded per-step losses per trial.
        trial_bytes: one trial's training memory (:func:`per_trial_bytes`).
        devices: the JAX devices the lanes run on.
        data_bytes: bytes of the data replicated on every device.
        n_hparams: searched hyperparameters per trial.
        lanes: a lane width to use (a resumed sweep's, a study's, or requested).
        chunk_size: requested trials per compiled call.
        cpu_lanes: on the CPU, the most lanes a default group holds
            (:func:`plan_lanes_and_chunk`).
        kept_states: the most run states the scheduler keeps at once
            (:meth:`jaxch6.sweep.schedulers.Scheduler.kept_states`).
        state_bytes: bytes of one lane's run state.
        states_per_chunk: run states kept besides, per trial of the planned chunk (a driver
            that keeps its batches' states: an Optuna worker's pruning).

    Returns:
        The :class:`Plan`.

    Raises:
        ConfigError: a plan that cannot fit, naming what to reduce.
    """
    sizes = {"trials": trials, "epochs": epochs, "steps": steps, "trial_bytes": trial_bytes,
             "devices": devices, "data_bytes": data_bytes, "n_hparams": n_hparams,
             "kept_states": kept_states, "state_bytes": state_bytes}
    check_sweep(lanes=None, chunk_size=None, **sizes)
    plan = plan_for_devices(round_trials, trial_bytes, devices, lanes=lanes,
                            data_bytes=data_bytes, cpu_lanes=cpu_lanes)
    if chunk_size is not None:
        plan = plan_for_devices(round_trials, trial_bytes, devices, lanes=plan.lanes,
                                chunk_size=chunk_size, data_bytes=data_bytes)
    sizes["kept_states"] += states_per_chunk * plan.chunk_size
    check_sweep(lanes=plan.lanes, chunk_size=plan.chunk_size, **sizes)
    return plan
