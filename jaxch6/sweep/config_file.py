"""A sweep's config as a TOML file that ``jaxch6 sweep --config FILE`` runs again.

Every run directory holds :data:`CONFIG_FILE` (``sweep.toml``), written by
:func:`jaxch6.sweep.run` when the run starts: the sweep's settings under the names of
``jaxch6 sweep``'s options (``batch_size`` for ``--batch-size``; ``space`` a list of
``--space`` texts), so that ``jaxch6 sweep --config runs/x/sweep.toml --out runs/y`` repeats the
sweep: the same trials and, on the same platform, the same results. A hand-written file takes
any option the same way (``quiet = true``, ``cpu_devices = "auto"``), and options given on the
command line override the file's.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from jaxch6.sweep.config import BOOK_FIELDS

__all__ = ["CONFIG_FILE", "NOT_OPTIONS", "to_toml"]

#: The file name of the config in a run directory.
CONFIG_FILE = "sweep.toml"

#: Fields of :class:`jaxch6.sweep.SweepConfig` that are not options of ``jaxch6 sweep``
#: (set from Python only); a file records them as comments when they differ from the default.
NOT_OPTIONS = ("record_loss", "dtype", "skip_zero_inputs")


#: The key that names a task given from Python (a ``Task`` object, not ``MODULE:NAME``): reading
#: the file without ``--task`` is refused instead of sweeping the book's network.
PYTHON_TASK = "python_task"


def _value(value: Any) -> str:
    """A TOML value: booleans, numbers, strings and lists of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string is a JSON string


def to_toml(config, data: str | None = None,
            extra: Mapping[str, Any] | None = None) -> str:
    """``config`` as the TOML text ``jaxch6 sweep --config`` reads.

    Args:
        config: a :class:`jaxch6.sweep.SweepConfig`.
        data: the ``.npz`` file a task sweep trains on (``--data``), if it came from one.
        extra: options besides the config's, written after them (e.g. an Optuna worker's
            ``sampler``, ``pruner``, ``study`` and ``batch_trials``; None values are left out).

    Returns:
        One ``name = value`` line per option that has a value (``None`` fields, which TOML
        cannot write, are left to their defaults), after a comment saying how to use it; a
        task sweep's ``task`` (``--task MODULE:NAME``) and ``data`` (``--data FILE``) among
        them.
    """
    default = type(config)()
    lines = ["# jaxch6 sweep --config this-file [--out DIR]: the same sweep again",
             "# (options given on the command line override this file's)"]
    for field in dataclasses.fields(config):
        name, value = field.name, getattr(config, field.name)
        if name in NOT_OPTIONS:
            if value != getattr(default, name):
                lines.append(f"# not an option (set from Python): {name} = {_value(value)}")
            continue
        if name == "sampler":  # the config's "random" is the sweep's own sampling
            if value == "grid":
                lines.append('sampler = "grid"')
            continue
        if value is None or (config.task is not None and name in BOOK_FIELDS):
            continue
        if name == "task" and ":" not in str(value):  # a Task object given from Python
            lines.append(f"# task {_value(value)} was given from Python: pass --task "
                         "MODULE:NAME (and --data) to run it from the command line")
            lines.append(f"{PYTHON_TASK} = {_value(value)}")
            continue
        if name == "space":
            value = [p.spec() for p in value]
        elif name == "hidden":
            value = ",".join(str(n) for n in value)
        lines.append(f"{name} = {_value(value)}")
    if data is not None:
        lines.append(f"data = {_value(str(data))}")
    lines += [f"{k} = {_value(v)}" for k, v in (extra or {}).items() if v is not None]
    return "\n".join(lines) + "\n"
