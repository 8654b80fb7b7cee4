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


def metric_per_row():
    task = make_task()

    def advance(state, hp, data, epochs):  # one value per epoch and row: an extra axis
        state, metrics = task.advance(state, hp, data, epochs)
        return state, {**metrics, "val_loss": metrics["val_loss"][:, None] * np.ones(4)}

    return dataclasses.replace(task, advance=advance)


def load_not_a_pair():
    task = make_task()
    return dataclasses.replace(task, load_data=lambda: task.load_data()[0])


def factory_wrong_signature(config, extra):
    return make_task()


def factory_raises():
    raise RuntimeError("boom in the user's factory")
