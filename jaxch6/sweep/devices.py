"""The CPU device set-up ``jaxch6 sweep`` uses, and :func:`jaxch6.sweep.run` by default.

:func:`jaxch6.sweep.run` (given no ``devices``) calls :func:`use_command_line_devices`: while
JAX's backend is not yet initialised (no JAX operation has run), the sweep gets the command
line's CPU devices and so its results; otherwise it says once, in one line, how to get them.
"""

from __future__ import annotations

import os
import sys
import threading

from jaxch6.errors import ConfigError

#: The most CPU devices :func:`configure_cpu_devices` makes: this many per core, and at least
#: :data:`MIN_MAX` (each device pads every chunk to a multiple of its lanes and costs memory).
MAX_PER_CORE = 4
MIN_MAX = 8


def max_cpu_devices(cores: int | None) -> int:
    """The largest device count accepted on a machine with ``cores`` cores."""
    return max(MIN_MAX, MAX_PER_CORE * (cores or 1))


def configure_cpu_devices(spec: str) -> int | None:
    """Make ``N`` single-threaded CPU devices for JAX; call it before any JAX operation runs.

    Sets ``XLA_FLAGS`` to ``--xla_force_host_platform_device_count=N
    --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``: each core trains its
    own share of every chunk with no cross-thread synchronisation inside the many small
    matmuls, and the arithmetic is the same for every ``N >= 2`` (a multi-threaded matmul may
    split its sums differently), so a trial's result does not depend on ``N``. A one-device
    program is compiled without XLA's SPMD pipeline, whose different pass order rewrites a
    division into a multiplication by the reciprocal; last-bit differences that many SGD steps
    can turn into a different accuracy. So ``"auto"`` means one device per core, at least 2.

    Args:
        spec: ``"auto"`` or a positive integer (as a string or int).

    Returns:
        N, or None where nothing was changed (JAX's backend already initialised, or
        ``XLA_FLAGS`` / ``jax_num_cpu_devices`` already choosing a device count).

    Raises:
        ConfigError: ``spec`` is not ``"auto"`` or a positive integer, or is larger than
            :func:`max_cpu_devices`.

    Example:
        ```python
        from jaxch6.sweep.devices import configure_cpu_devices
        configure_cpu_devices("auto")      # before `import jax`
        import jaxch6.sweep
        result = jaxch6.sweep.run()        # the same results as `jaxch6 sweep`
        ```
    """
    _chosen.set()  # the caller chose the set-up: use_command_line_devices stays silent
    return _configure(spec)


def _configure(spec) -> int | None:
    spec = str(spec)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if spec == "auto":  # one per core, at least 2 (see below)
        n = max(2, cores or 1)
    else:
        try:
            n = int(spec)
        except ValueError:
            raise ConfigError(f"cpu_devices must be a positive integer or 'auto', got {spec!r}"
                              ) from None
        if n < 1:
            raise ConfigError(f"cpu_devices must be a positive integer or 'auto', got {spec!r}")
        most = max_cpu_devices(cores)
        if n > most:
            raise ConfigError(f"cpu_devices {n} is more than {most} ({MAX_PER_CORE} per CPU core "
                              f"x {cores or 1} cores, at least {MIN_MAX}): devices beyond the "
                              "cores only pad lanes")
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return None
    if "jax" in sys.modules:  # imported: usable while its backend is not initialised
        import jax

        if jax.config.jax_num_cpu_devices > 0:
            return None
        try:
            jax.config.update("jax_num_cpu_devices", n)
        except RuntimeError:  # "should be updated before backends are initialized"
            return None
    os.environ["XLA_FLAGS"] = (
        f"{flags} --xla_force_host_platform_device_count={n} "
        "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    ).strip()
    return n


_told = threading.Event()
_chosen = threading.Event()

#: What :func:`use_command_line_devices` says when JAX's backend was initialised first.
HOW_TO = ("jaxch6.sweep: JAX was initialised before the sweep, so it runs on {n} CPU device "
          "and its results may differ from the command line's in the last bits; call "
          "jaxch6.sweep.devices.configure_cpu_devices('auto') before any JAX operation to get "
          "its devices")


def use_command_line_devices(file=None) -> int | None:
    """Give a sweep from Python the command line's CPU devices (``--cpu-devices auto``).

    While JAX's backend is not initialised this is :func:`configure_cpu_devices` ``("auto")``.
    Once it is, nothing can change; if that left one CPU device, one line (:data:`HOW_TO`) on
    ``file`` (standard error) says so and how to get the command line's set-up, once per
    process. A device count chosen by ``XLA_FLAGS``, ``jax_num_cpu_devices`` or an earlier
    call of :func:`configure_cpu_devices` (the command line's ``--cpu-devices``) is kept, and
    then nothing is said.

    Args:
        file: where the line goes; standard error by default.

    Returns:
        The number of devices made, or None where nothing was changed.
    """
    n = _configure("auto")
    if n is not None or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS",
                                                                                 ""):
        return n
    import jax

    if jax.config.jax_num_cpu_devices > 0 or _told.is_set() or _chosen.is_set():
        return None
    devices = jax.local_devices()
    if devices[0].platform == "cpu" and len(devices) < 2:
        _told.set()
        print(HOW_TO.format(n=len(devices)), file=file if file is not None else sys.stderr)
    return None
