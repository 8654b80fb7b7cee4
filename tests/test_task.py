"""The task contract (jaxch6.sweep.Task): a user's own model under every scheduler, minimised,
on image-shaped one-hot data with a dict state; resume, saved winners that continue training,
the test split measured once, and one clear error per broken task."""

from __future__ import annotations

import dataclasses
import json
import threading

import jax
import numpy as np
import pytest
from _task_toy import make_data, make_task, make_task_with_activation

from jaxch6.errors import ConfigError
from jaxch6.sweep import Param, SweepConfig, Task, TaskError, load, load_state, resume, run
from jaxch6.sweep.loop import Interrupted

BASE = SweepConfig(trials=6, epochs=3, seed=1, lanes=2, chunk_size=4)
jax.local_devices()  # start the backend as the other sweep tests see it (run() keeps it)


def _run(**kw):
    data, _ = make_data()
    out = kw.pop("out", None)
    task = kw.pop("task", None) or make_task()
    return run(dataclasses.replace(BASE, **kw), task=task, data=data, out=out)


def _records(res):
    return [t.to_record() for t in sorted(res.trials, key=lambda t: t.id)]


@pytest.mark.slow
def test_minimised_objective_ranks_smallest_first_and_labels_the_outputs(tmp_path):
    res = _run(out=tmp_path / "r")
    assert res.config.task == "linear3" and res.info["objective"] == "val_loss"
    done = [t for t in res.ranked if not t.diverged]
    finals = [t.final_val_acc for t in done]
    assert finals == sorted(finals) and len(set(finals)) > 1  # smallest loss first
    best = res.ranked[0]
    assert best.objective == "val_loss" and best.direction == "min"
    assert set(best.metrics) == {"val_acc"} and len(best.metrics["val_acc"]) == 3
    assert best.train_acc == [] and set(best.hparams) == {
        "learning_rate", "weight_decay", "label_smoothing"}
    assert res.ranking_lines(1)[0].startswith("Best-1(val_loss:")
    header = (tmp_path / "r" / "trials.csv").read_text().splitlines()[0].split(",")
    assert header[6] == "final_val_loss" and "final_val_acc" in header
    again = load(tmp_path / "r")
    assert [t.id for t in again.ranked] == [t.id for t in res.ranked]
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["direction"] == "min" and summary["best"][0]["id"] == best.id


@pytest.mark.slow
@pytest.mark.parametrize("kw", [
    {"scheduler": "halving", "trials": 9, "min_epochs": 1},
    {"scheduler": "hyperband", "min_epochs": 1},
    {"sampler": "grid", "trials": 4, "space": (
        Param.categorical("learning_rate", [0.1, 1.0]),
        Param.categorical("weight_decay", [1e-4, 1e-3]))},
    {"repeats": 2, "trials": 4},
    {"rounds": 2, "keep": 2, "trials": 4},
])
def test_every_scheduler_runs_a_task(kw):
    res = _run(**kw)
    assert res.trials and all(t.objective == "val_loss" for t in res.trials)
    complete = [t for t in res.trials if t.status == "complete"]
    assert complete and all(t.epochs == 3 for t in complete)
    if kw.get("scheduler") == "halving":  # survivors: the smallest loss at the first rung
        at1 = sorted(res.trials, key=lambda t: (t.val_acc[0], t.id))
        assert {t.id for t in complete} == {t.id for t in at1[: len(complete)]}
    if kw.get("repeats"):
        assert all(len(t.repeats) == 2 and "metrics" in t.repeats[0] for t in res.trials)


@pytest.mark.slow
def test_pbt_copies_a_dict_state_without_a_key_field():
    res = _run(scheduler="pbt", trials=6, epochs=4, pbt_interval=1)
    copied = [t for t in res.trials if t.lineage and len(t.lineage) > 1]
    assert copied and all(t.epochs == 4 for t in res.trials)
    # a parent's state, copied with a fresh key: the model leaves equal, the key differs
    from jaxch6.sweep.pool import StatePool

    task = make_task()
    state = task.init(jax.random.key(0), {"learning_rate": 0.1})
    batch = jax.tree.map(lambda a: np.stack([np.asarray(a)] * 2), state)
    pool = StatePool(jax.tree.structure(state))
    pool.put([(0, 0, 1), (1, 0, 1)], batch)
    taken = pool.take([(0, 0, 1), (0, 0, 1)], {1: np.array([7, 9], np.uint32)},
                      reseed=task.reseed)
    np.testing.assert_array_equal(taken["model"]["w"][0], taken["model"]["w"][1])
    assert taken["key"][1].tolist() == [7, 9] and taken["key"][0].tolist() != [7, 9]


@pytest.mark.slow
def test_static_choice_makes_groups_and_pbt_refuses_it():
    res = _run(task=make_task_with_activation(), sampler="grid", trials=4, space=(
        Param.categorical("activation", ["linear", "tanh"]),
        Param.categorical("learning_rate", [0.1, 1.0])))
    assert sorted(res.info["groups"]) == ["activation=linear", "activation=tanh"]
    with pytest.raises(ConfigError, match="pbt cannot search"):
        _run(task=make_task_with_activation(), scheduler="pbt", pbt_interval=1, space=(
            Param.categorical("activation", ["linear", "tanh"]),))


@pytest.mark.slow
def test_resume_after_a_stop_is_bit_identical(tmp_path):
    data, _ = make_data()
    cfg = dataclasses.replace(BASE, scheduler="halving", trials=9, min_epochs=1)
    full = run(cfg, task=make_task(), data=data, out=tmp_path / "full")
    stop = threading.Event()

    def progress(p):
        if p.done and not p.step_start:
            stop.set()

    with pytest.raises(Interrupted):
        run(cfg, task=make_task(), data=data, out=tmp_path / "part", progress=progress,
            stop=stop)
    with pytest.raises(ConfigError, match="pass it again"):
        resume(tmp_path / "part", data=data)
    res = resume(tmp_path / "part", task=make_task(), data=data)
    assert _records(res) == _records(full)


@pytest.mark.slow
def test_saved_winner_keeps_its_tree_and_continues_bit_for_bit(tmp_path):
    data, test = make_data()
    task = make_task()
    res = _run(out=tmp_path / "s", scheduler="halving", trials=4, save_best=2)
    best = res.ranked[0]
    loaded = load_state(tmp_path / "s", best.id, task)
    in_memory = res.models[best.id][0]
    assert jax.tree.structure(loaded) == jax.tree.structure(in_memory)
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(in_memory), strict=True):
        np.testing.assert_array_equal(a, b)
    hp = {k: np.float32(v) for k, v in best.hparams.items()}
    more = jax.jit(task.advance, static_argnums=3)
    a_state, a_m = more(loaded, hp, data, 2)
    b_state, b_m = more(in_memory, hp, data, 2)
    for a, b in zip(jax.tree.leaves((a_state, a_m)), jax.tree.leaves((b_state, b_m)),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    # the test split, once, recorded apart from the ranking
    report = res.evaluate(test, task=task, k=1)
    assert [r["id"] for r in report["trials"]] == [best.id]
    assert set(report["trials"][0]["test"]) == {"val_loss", "val_acc"}
    on_disk = json.loads((tmp_path / "s" / "test.json").read_text())
    assert on_disk["trials"][0]["test"] == report["trials"][0]["test"]
    assert load(tmp_path / "s").evaluate(test, task=task)["trials"][0]["test"] == \
        report["trials"][0]["test"]


@pytest.mark.slow
def test_a_saved_winner_continued_equals_an_uninterrupted_engine_run(tmp_path):
    """Every trial saved after 2 epochs, loaded and trained 2 more by the sweep's engine,
    equals the same sweep trained 4 epochs without a stop: curves and states, bit for bit."""
    from jaxch6.sweep.runner import build_engines

    data, _ = make_data()
    task = make_task()
    short = _run(out=tmp_path / "two", trials=4, epochs=2, save_best=4)
    straight = _run(out=tmp_path / "four", trials=4, epochs=4, save_best=4)
    ids = [t.id for t in short.trials]
    loaded = [load_state(tmp_path / "two", i, task) for i in ids]
    batch = jax.tree.map(lambda *leaves: np.stack(leaves), *loaded)
    engines = build_engines(short.config, data, 4, short.info["lanes"], jax.local_devices(),
                            task)
    hp = {k: np.array([t.hparams[k] for t in short.trials]) for k in short.trials[0].hparams}
    engine = engines.for_hparams(short.trials[0].hparams)
    history, states = engine.fetch(engine.dispatch(2, hp, states=batch), states=True)
    by_id = {t.id: t for t in straight.trials}
    for row, i in enumerate(ids):
        assert list(history["val_loss"][row]) == by_id[i].val_acc[2:]  # the objective's curve
        again = load_state(tmp_path / "four", i, task)
        for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(states), strict=True):
            np.testing.assert_array_equal(a, b[row])


@pytest.mark.slow
def test_the_search_never_reads_the_test_split():
    class Poison(dict):
        def __getitem__(self, key):
            raise AssertionError("the search read the test split")

    data, _ = make_data()
    task = dataclasses.replace(make_task(), load_data=lambda: (data, Poison()))
    res = run(dataclasses.replace(BASE, trials=2), task=task)
    assert len(res.trials) == 2


def _broken(**changes):
    task = make_task()
    return dataclasses.replace(task, **changes)


def test_a_task_that_is_not_jittable_is_one_clear_error():
    data, _ = make_data()

    def init(key, hparams):
        return {"w": np.zeros(3) * float(hparams["learning_rate"])}

    with pytest.raises(TaskError, match=r"task 'linear3': init cannot be traced .*Concret"):
        run(dataclasses.replace(BASE, trials=2), task=_broken(init=init), data=data)


def test_a_task_with_the_wrong_structure_or_metrics_is_one_clear_error():
    data, _ = make_data()
    task = make_task()
    with pytest.raises(TaskError, match=r"advance must return \(state, metrics dict\)"):
        run(BASE, task=_broken(advance=lambda s, h, d, e: s), data=data)
    with pytest.raises(TaskError, match="metrics lack 'val_loss'"):
        run(BASE, task=_broken(objective="val_loss", advance=lambda s, h, d, e: (
            task.advance(s, h, d, e)[0], {"val_acc": task.advance(s, h, d, e)[1]["val_acc"]})),
            data=data)
    with pytest.raises(TaskError, match="one value per epoch"):
        run(BASE, task=_broken(advance=lambda s, h, d, e: (
            s, {"val_loss": np.zeros(()), "val_acc": np.zeros(())})), data=data)
    with pytest.raises(TaskError, match="direction must be 'max' or 'min'"):
        Task("t", task.init, task.advance, "val_loss", "down")
    with pytest.raises(ConfigError, match="space momentum: not a hyperparameter of task"):
        run(dataclasses.replace(BASE, space=(Param.float("momentum", 0.1, 0.9),)), task=task,
            data=data)


def test_a_task_without_data_or_loader_is_refused():
    with pytest.raises(ConfigError, match="give data"):
        run(BASE, task=_broken(load_data=None))


@pytest.mark.slow
def test_non_finite_metrics_mark_a_lane_diverged_and_rank_it_last():
    import jax.numpy as jnp

    task = make_task()

    def advance(state, hp, data, epochs):
        state, metrics = task.advance(state, hp, data, epochs)
        bad = jnp.where(hp["learning_rate"] > 0.3, jnp.nan, 1.0)
        return state, {**metrics, "val_loss": metrics["val_loss"] * bad}

    res = _run(task=dataclasses.replace(task, advance=advance), trials=8)
    wild = {t.id for t in res.trials if t.hparams["learning_rate"] > 0.3}
    assert wild and wild != {t.id for t in res.trials}
    assert {t.id for t in res.trials if t.diverged} == wild
    assert {t.id for t in res.ranked[-len(wild):]} == wild


def test_the_class_count_comes_from_the_labels():
    from jaxch6.train import Data, n_classes_of

    x = np.zeros((4, 2), np.float32)
    assert n_classes_of(Data(x, np.array([0, 1, 2, 1]), x, np.array([2, 0, 1, 0]))) == 3


@pytest.mark.slow
def test_a_new_sweep_is_planned_from_its_engines_compiled_programs(monkeypatch):
    """On the CPU a new sweep of a task measures its lane from the engine's own compiled
    programs, with no separate compile of one lane: the recorded lane bytes are that measure
    (more than the run state's bytes, the bound the engine was first planned from). Where the
    measure changes the plan, the engine is built again for the measured plan, the first
    compile still counts, and the trials equal a sweep given that lane width."""
    from jaxch6.sweep import plan, runner, schedulers

    data, _ = make_data()
    monkeypatch.setattr(runner, "lane_bytes", lambda *a: pytest.fail("a one-lane compile"))
    config, task = runner.configure(dataclasses.replace(BASE, lanes=None, chunk_size=None),
                                    make_task())
    setup = runner.prepare(config, data, task, scheduler=schedulers.make(config))
    engine, measured = setup.engine.engine(()), setup.info["per_trial_bytes_estimate"]
    assert measured == engine.lane_bytes() > 2 * runner.state_bytes(task, config)
    assert engine.compiled == ("init", ("advance", 3)) and setup.info["lanes"] == 6
    monkeypatch.setattr(plan, "CPU_LANE_BYTES", 3 * measured)  # the state's bytes allow 6
    again = runner.prepare(config, data, task, scheduler=schedulers.make(config))
    assert again.info["lanes"] == 3 and again.engine.engines == {}
    assert again.engine.compile_seconds > 0  # the discarded engine's compile
    res = run(dataclasses.replace(config, lanes=None, chunk_size=None), task=task, data=data,
              progress=False)
    same = run(dataclasses.replace(config, lanes=3, chunk_size=None), task=task, data=data,
               progress=False)
    assert res.info["lanes"] == 3 and _records(res) == _records(same)


def test_a_tasks_own_choices_are_numbers_or_strings_and_the_books_stay_numbers():
    from jaxch6.sweep.params import check_param

    def choices(name, values):
        return check_param(Param.categorical(name, values)).choices

    assert choices("act", ["a", " b"]) == ("a", "b")
    units = choices("units", [8, np.int64(16)])
    assert units == (8, 16) and all(type(u) is int for u in units)
    assert choices("units", ["8", "16"]) == (8, 16)  # as --space units=8,16 gives them
    assert choices("scale", [1, 2.5]) == (1.0, 2.5)
    assert choices("learning_rate", [1, 2]) == (1.0, 2.0)
    for name, values, match in [("act", ["a", 1], "all numbers or all non-empty strings"),
                                ("act", ["a", ""], "all numbers or all non-empty strings"),
                                ("scale", [1.0, float("nan")], "finite numbers"),
                                ("learning_rate", ["a", "b"], "finite numbers")]:
        with pytest.raises(ConfigError, match=match):
            choices(name, values)


@pytest.mark.slow
def test_a_tasks_static_choices_arrive_as_python_strings_and_ints():
    seen = set()

    def init(key, hp):
        seen.add((hp["act"], hp["units"]))
        return {"w": jax.numpy.zeros((hp["units"],))}  # an int choice sizes an array

    def advance(state, hp, data, epochs):
        def body(s, _):
            w = s["w"] - hp["learning_rate"] * (s["w"] - (1.0 if hp["act"] == "a" else 2.0))
            return {"w": w}, jax.numpy.mean(w)
        state, means = jax.lax.scan(body, state, None, length=epochs)
        return state, {"mean": means}

    space = (Param.categorical("learning_rate", [0.05, 0.1]),
             Param.categorical("act", ["a", "b"]), Param.categorical("units", [2, 3]))
    task = Task("own", init, advance, "mean", "max", space=space, static=("act", "units"))
    res = run(SweepConfig(trials=8, epochs=2, seed=0, sampler="grid"), task=task,
              data={"x": np.zeros(1, np.float32)})
    assert seen == {(a, u) for a in "ab" for u in (2, 3)}
    for t in res.trials:
        assert type(t.hparams["act"]) is str and type(t.hparams["units"]) is int


def test_evaluate_gives_plain_floats_or_one_line_naming_the_task():
    def task_with(evaluate):
        return dataclasses.replace(make_task(), evaluate=evaluate)

    assert task_with(lambda s, hp, d: {"acc": np.float32(0.5)}).scores(None, {}, None) == {
        "acc": 0.5}
    for evaluate, words in [
            (lambda s, hp, d: d["x"], "evaluate failed (KeyError: 'x')"),
            (lambda s, hp, d: np.float32(0.5), "evaluate must return a dict of scalars, got "
                                               "float32"),
            (lambda s, hp, d: {"mse": np.zeros((3, 1))}, "evaluate's 'mse' must be a scalar, "
                                                         "got shape (3, 1) of float64")]:
        with pytest.raises(TaskError) as err:
            task_with(evaluate).scores(None, {}, {})
        assert str(err.value) == f"task 'linear3': {words}"


def test_from_step_refuses_training_arrays_of_different_row_counts():
    data, _ = make_data()
    data["train"]["y"] = data["train"]["y"][:10]  # 48 inputs, 10 labels
    with pytest.raises(TaskError, match=r"data\['train'\] must share their row count, got "
                                        r"10, 48"):
        run(dataclasses.replace(BASE, trials=2), task=make_task(), data=data)
