"""A sweep's trials as a flat table: one row per trial, one column per hyperparameter.

Columns, in order: ``id``, ``rank`` (1 = best, :func:`jaxch6.sweep.records.rank`), ``round``
(random search round or hyperband bracket), ``status`` (``complete``, ``stopped`` or
``running``), ``epochs`` (trained), ``rung``, ``final_val_acc``, ``final_train_acc``
(mean over repeats), ``diverged``, ``val_acc_std`` (over repeats; empty for one), then one
``hp.NAME`` column per hyperparameter (the values in effect at the trial's last epoch: for
population-based training, its final values). The ``hp.`` prefix keeps hyperparameter names
apart from the fixed columns whatever is searched. A task's sweep names its objective instead
of the book's validation accuracy (``final_OBJECTIVE``, ``OBJECTIVE_std``; the rank follows its
direction) and adds ``final_METRIC`` per other recorded metric before the hyperparameters.

:func:`write_csv` needs only the standard library (every sweep writes ``trials.csv``);
:func:`to_dataframe` needs pandas (extra ``jaxch6[pandas]``), imported when called.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jaxch6.errors import ConfigError

CSV = "trials.csv"
HP_PREFIX = "hp."
COLUMNS = ("id", "rank", "round", "status", "epochs", "rung", "final_val_acc",
           "final_train_acc", "diverged", "val_acc_std")
PANDAS_HINT = "pip install 'jaxch6[pandas]'"


def hparam_names(trials: Iterable, names: Sequence[str] = ()) -> list[str]:
    """``names`` (e.g. the space's order) followed by any other hyperparameter the trials hold."""
    out = list(names)
    for t in trials:
        out += [k for k in t.hparams if k not in out]
    return out


def _final(curve: Sequence[float]) -> float:
    return float(curve[-1]) if len(curve) else math.nan


def columns(trials: Sequence, names: Sequence[str] = ()) -> list[str]:
    """The table's columns for these trials (see the module docstring)."""
    return [*_fixed(trials), *(HP_PREFIX + k for k in hparam_names(trials, names))]


def _objective(trials: Sequence) -> str:
    return trials[0].objective if len(trials) else "val_acc"


def _metric_names(trials: Sequence) -> list[str]:
    out: list[str] = []
    for t in trials:
        out += [k for k in (t.metrics or {}) if k not in out]
    return out


def _fixed(trials: Sequence) -> list[str]:
    obj = _objective(trials)
    if obj == "val_acc":
        return list(COLUMNS)
    rename = {"final_val_acc": f"final_{obj}", "val_acc_std": f"{obj}_std"}
    return [rename.get(c, c) for c in COLUMNS] + [f"final_{m}" for m in _metric_names(trials)]


def trial_rows(trials: Sequence, names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The table's rows (dicts keyed by column), in trial-id order.

    Args:
        trials: :class:`jaxch6.sweep.Trial` objects.
        names: hyperparameter names to put first (the rest follow as first seen).

    Returns:
        One dict per trial with the keys of :data:`COLUMNS` and ``hp.NAME`` per
        hyperparameter (None where a trial lacks one).
    """
    from jaxch6.sweep.records import rank

    ranks = {t.id: i + 1 for i, t in enumerate(rank(trials))}
    hp = hparam_names(trials, names)
    rows = []
    for t in sorted(trials, key=lambda t: t.id):
        row = {"id": t.id, "rank": ranks[t.id], "round": t.round, "status": t.status,
               "epochs": t.epochs, "rung": t.rung, "final_val_acc": _final(t.val_acc),
               "final_train_acc": _final(t.train_acc), "diverged": bool(t.diverged),
               "val_acc_std": t.val_acc_std}
        obj = t.objective
        if obj != "val_acc":
            row[f"final_{obj}"], row[f"{obj}_std"] = row.pop("final_val_acc"), row.pop(
                "val_acc_std")
            row.update({f"final_{m}": _final((t.metrics or {}).get(m, ()))
                        for m in _metric_names(trials)})
        row.update({HP_PREFIX + k: t.hparams.get(k) for k in hp})
        rows.append(row)
    return rows


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def write_csv(path: str | os.PathLike, trials: Sequence, names: Sequence[str] = ()) -> Path:
    """Write the table as CSV (header row; empty cells for missing or non-finite values),
    atomically (temporary file, then rename).

    Args:
        path: the file, or a directory to write ``trials.csv`` into.
        trials: :class:`jaxch6.sweep.Trial` objects.
        names: hyperparameter names to put first.

    Returns:
        The path written.

    Raises:
        ConfigError: "cannot write PATH: <reason>".
    """
    path = Path(path)
    if path.is_dir():
        path = path / CSV
    rows = trial_rows(trials, names)
    header = columns(trials, names)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in header])
    from jaxch6.sweep import store

    return store.write_file(path, buf.getvalue())


def require_pandas():
    """The pandas module, or ConfigError naming the extra to install."""
    try:
        import pandas
    except ImportError:
        raise ConfigError(f"a sweep's DataFrame needs pandas: {PANDAS_HINT}") from None
    return pandas


def to_dataframe(trials: Sequence, names: Sequence[str] = ()):
    """The table as a ``pandas.DataFrame`` (one row per trial, in id order; ``rung`` is a
    nullable integer column, missing floats NaN).

    Raises:
        ConfigError: pandas is not installed (names ``pip install 'jaxch6[pandas]'``).
    """
    pd = require_pandas()
    df = pd.DataFrame(trial_rows(trials, names), columns=columns(trials, names))
    df["rung"] = df["rung"].astype("Int64")
    std = "val_acc_std" if _objective(trials) == "val_acc" else f"{_objective(trials)}_std"
    df[std] = df[std].astype("float64")
    return df
