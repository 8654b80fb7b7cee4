"""JAX's persistent compilation cache, switched on for jaxch6's programs.

A compiled program (a sweep's ``jit(vmap(train))``, a training run's ``lax.scan``) is written to
a directory and loaded instead of recompiled the next time the same shapes are compiled, in this
process or a later one. JAX is not imported to switch it on.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from jaxch6.errors import ConfigError

__all__ = ["MIN_COMPILE_TIME_SECS", "default_directory", "enable_compile_cache"]

#: Programs that compile faster than this are not stored (cheap to recompile).
MIN_COMPILE_TIME_SECS = 0.2


def default_directory() -> Path:
    """``~/.cache/jaxch6/jax-compile-cache``, the default cache directory."""
    return Path.home() / ".cache" / "jaxch6" / "jax-compile-cache"


def _writable_directory(path: Path) -> None:
    """Create ``path`` (with parents) and write a probe file there, or raise ConfigError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"compile cache directory {str(path)!r} cannot be created or written: {reason}"
        ) from None


def enable_compile_cache(directory: str | os.PathLike[str] | None = None) -> Path:
    """Turn on JAX's persistent compilation cache in ``directory``.

    Sets ``jax_compilation_cache_dir``, ``jax_persistent_cache_min_compile_time_secs`` (0.2:
    programs compiling faster are not stored) and ``jax_persistent_cache_min_entry_size_bytes``
    (0: no size floor). Affects every later compilation in this process; the sweep engine
    also keeps the book network's traced programs there (``jaxch6-programs/``,
    :mod:`jaxch6.sweep.program_cache`), so a later process skips tracing them. While JAX is
    not yet imported they are set as JAX's environment variables (``JAX_COMPILATION_CACHE_DIR``,
    ..., read when JAX is imported; child processes inherit them), so JAX is not imported here.

    Args:
        directory: the cache directory, created if missing (``~`` is expanded); ``None`` for
            :func:`default_directory`.

    Returns:
        The directory used.

    Raises:
        ConfigError: one line naming the directory when it cannot be created or written
            (for example a path below a regular file, or a read-only location).

    Example:
        >>> import jaxch6
        >>> path = jaxch6.enable_compile_cache("/tmp/my-jax-cache")
    """
    path = default_directory() if directory is None else Path(directory).expanduser()
    _writable_directory(path)
    settings = {"jax_compilation_cache_dir": str(path),
                "jax_persistent_cache_min_compile_time_secs": MIN_COMPILE_TIME_SECS,
                "jax_persistent_cache_min_entry_size_bytes": 0}
    if "jax" not in sys.modules:  # a command importing JAX later (after loading its data)
        os.environ.update({name.upper(): str(value) for name, value in settings.items()})
        return path
    import jax

    for name, value in settings.items():
        jax.config.update(name, value)
    return path


def disable_compile_cache() -> None:
    """Turn off JAX's persistent compilation cache for this process whatever the environment
    sets (``jax_enable_compilation_cache`` false), and with it the traced programs the sweep
    engine keeps there (:mod:`jaxch6.sweep.program_cache`). As :func:`enable_compile_cache`,
    set as JAX's environment variable while JAX is not yet imported."""
    if "jax" not in sys.modules:
        os.environ["JAX_ENABLE_COMPILATION_CACHE"] = "false"
        return
    import jax

    jax.config.update("jax_enable_compilation_cache", False)
