"""Library messages in the command line's words: ``space lr: …`` → ``--space lr: …``.

Shared by ``jaxch6 sweep`` and its Optuna options (:mod:`jaxch6.commands.sweep_optuna`).
"""

from __future__ import annotations

#: Arguments of :func:`jaxch6.sweep.optuna.run` that are options too (beside the config's
#: fields), and the names whose option is not ``--`` + the name with dashes.
OPTUNA_ARGUMENTS = {"study", "pruner", "batch_trials", "n_trials"}
RENAMED = {"n_trials": "--trials"}


def flag_words(message: str) -> str:
    """A library message that starts with a config field (or an argument of the Optuna
    driver), with it as its option: ``space lr: …`` → ``--space lr: …``."""
    import dataclasses
    import re

    from jaxch6.sweep import SweepConfig

    head = re.match(r"[a-z_]+", message)
    fields = {f.name for f in dataclasses.fields(SweepConfig)} - {"record_loss", "dtype",
                                                                 "skip_zero_inputs"}
    if head is None or head.group() not in fields | OPTUNA_ARGUMENTS:
        return message
    name = head.group()
    return RENAMED.get(name, "--" + name.replace("_", "-")) + message[head.end():]
