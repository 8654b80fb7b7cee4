"""Test data once, at the end (the chapter's 6.5.1): validation data chooses the
hyperparameters, test data measures the chosen networks once.

The search never reads the test split (:func:`jaxch6.sweep.run` takes the training and
validation data only; a task's ``load_data`` test part is dropped). :func:`evaluate` measures
the best saved trials of a finished sweep on the test data with the task's ``evaluate`` and
writes ``DIR/test.json``, apart from the validation ranking (``summary.json``, ``trials.jsonl``
are not touched).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from jaxch6.errors import ConfigError
from jaxch6.sweep.book import book_test_data, load_data

TEST_FILE = "test.json"


def evaluate(result, test_data, task, k: int | None = None) -> dict[str, Any]:
    """Measure the ``k`` best saved trials of ``result`` on ``test_data``.

    Args:
        result: a :class:`jaxch6.sweep.SweepResult` with saved trials (``save_best``; in
            memory, or under its run directory).
        test_data: the held-out data, as the task's ``evaluate`` takes it.
        task: the :class:`jaxch6.sweep.Task` the sweep trained.
        k: how many of the best saved trials (default: all saved).

    Returns:
        ``{"objective", "direction", "trials": [{"id", "rank", "hparams", "val", "test",
        "test_repeats"}]}``, best first by the validation ranking; ``test`` is the mean over
        repeats of each metric ``task.evaluate`` returns. Written to ``DIR/test.json`` when the
        result has a run directory.

    Raises:
        ConfigError: the task has no ``evaluate``, or no trial was saved.
    """
    if task.evaluate is None:
        raise ConfigError(f"task {task.name!r}: has no evaluate(state, hparams, data); "
                          "cannot measure the test split")
    ranks = {t.id: i + 1 for i, t in enumerate(result.ranked)}
    saved = [t for t in result.ranked if t.id in _saved_ids(result)]
    if not saved:
        raise ConfigError("no saved trials to evaluate: run the sweep with save_best "
                          "(--save-best K)")
    rows = []
    for t in saved[: k or len(saved)]:
        states = _states(result, t, task)
        scores = [task.scores(s, t.hparams, test_data) for s in states]
        mean = {m: float(np.mean([s[m] for s in scores])) for m in scores[0]}
        rows.append({"id": t.id, "rank": ranks[t.id], "hparams": t.hparams,
                     "val": t.final_val_acc, "test": mean,
                     "test_repeats": scores if len(scores) > 1 else None})
    report = {"objective": task.objective, "direction": task.direction,
              "evaluated_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
              "trials": rows}
    if result.out_dir is not None:
        _write(Path(result.out_dir) / TEST_FILE, report)
    return report


def _saved_ids(result) -> set[int]:
    if result.models:
        return set(result.models)
    if result.out_dir is None:
        return set()
    from jaxch6.sweep.models import MODELS

    names = os.listdir(Path(result.out_dir) / MODELS) \
        if (Path(result.out_dir) / MODELS).is_dir() else []
    return {int(n.split("-")[1].split(".")[0]) for n in names
            if n.startswith("trial-") and n.endswith(".npz")}


def _states(result, trial, task) -> list:
    if trial.id in result.models:
        return list(result.models[trial.id])
    from jaxch6.sweep.models import load_state

    return [load_state(result.out_dir, trial.id, task, r)
            for r in range(max(1, result.config.repeats))]


def _write(path: Path, report: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def task_of(result, task=None):
    """The task ``result``'s sweep trained: ``task`` if given, the book's network (rebuilt on
    the sweep's training data, from the source it used), or its recorded import path.

    Raises:
        ConfigError: a task given by name only (pass it).
    """
    import dataclasses

    from jaxch6.sweep import task as T

    config = result.config
    if task is not None:
        return T.resolve(task, config)
    if config.task is None:
        source = (result.info.get("data") or {}).get("source", config.source)
        data, _ = load_data(dataclasses.replace(config, source=source))
        return T.book_task(config, data)
    if ":" in config.task:
        return T.resolve(T.import_task(config.task), config)
    raise ConfigError(f"the sweep trained task {config.task!r}: pass it (task=...)")


def test_data_of(result, task):
    """The test split: the book's test digits of the source the sweep used, or the second
    part of the task's ``load_data``.

    Raises:
        ConfigError: a task without ``load_data`` (give the test data).
    """
    if result.config.task is None:
        source = (result.info.get("data") or {}).get("source", result.config.source)
        return book_test_data(result.config, source)
    test = task.load()[1] if task.load_data is not None else None
    if test is None:
        raise ConfigError(f"task {task.name!r}: no test data from load_data; give it "
                          "(--data FILE.npz)")
    return test
