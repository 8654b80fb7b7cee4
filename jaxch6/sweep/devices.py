"""The CPU device set-up ``jaxch6 sweep`` uses, for Python callers who want the same results.

Call :func:`configure_cpu_devices` before anything imports JAX; then :func:`jaxch6.sweep.run`
shards trials over those devices exactly as the command line does.
"""

from __future__ import annotations

import os
import sys

from jaxch6.errors import ConfigError


def configure_cpu_devices(spec: str) -> int | None:
    """Make ``N`` single-threaded CPU devices for JAX; call it before JAX is imported.

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
        N, or None where nothing was changed (JAX already imported, or ``XLA_FLAGS`` already
        choosing a device count).

    Raises:
        ConfigError: ``spec`` is not ``"auto"`` or a positive integer.

    Example:
        ```python
        from jaxch6.sweep.devices import configure_cpu_devices
        configure_cpu_devices("auto")      # before `import jax`
        import jaxch6.sweep
        result = jaxch6.sweep.run()        # the same results as `jaxch6 sweep`
        ```
    """
    spec = str(spec)
    if spec == "auto":  # one per core, at least 2 (see below)
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        n = max(2, n or 1)
    else:
        try:
            n = int(spec)
        except ValueError:
            raise ConfigError(f"cpu_devices must be a positive integer or 'auto', got {spec!r}"
                              ) from None
        if n < 1:
            raise ConfigError(f"cpu_devices must be a positive integer or 'auto', got {spec!r}")
    flags = os.environ.get("XLA_FLAGS", "")
    if "jax" in sys.modules or "xla_force_host_platform_device_count" in flags:
        return None
    os.environ["XLA_FLAGS"] = (
        f"{flags} --xla_force_host_platform_device_count={n} "
        "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    ).strip()
    return n
