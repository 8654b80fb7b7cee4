"""Broken tasks a user might write, each a ``--task`` path for the command line's contract
errors: one that cannot be traced with traced hyperparameters, one whose ``advance`` returns
the wrong structure, one whose metrics lack its objective."""

from __future__ import annotations

import dataclasses

import numpy as np
from _task_toy import make_task


def not_jittable():
    def init(key, hparams):  # a Python float of a traced hyperparameter
        return {"w": np.zeros(3) * float(hparams["learning_rate"])}

    return dataclasses.replace(make_task(), init=init)


def wrong_structure():
    return dataclasses.replace(make_task(), advance=lambda state, hp, data, epochs: state)


def no_objective():
    task = make_task()

    def advance(state, hp, data, epochs):
        state, metrics = task.advance(state, hp, data, epochs)
        return state, {"val_acc": metrics["val_acc"]}

    return dataclasses.replace(task, advance=advance)
