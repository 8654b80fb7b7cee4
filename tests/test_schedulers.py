"""Resumable training, the schedulers' decisions, compaction, PBT copies, repeats, saved
winners, and resuming mid-halving / mid-PBT after a hard kill."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from _sweep_toy import toy_data, toy_task

from jaxch6.sweep import Param, SweepConfig, load_model, resume, run
from jaxch6.sweep.records import Trial
from jaxch6.sweep.schedulers import PopulationBasedTraining, SuccessiveHalving, rungs

TOY = SweepConfig(trials=9, epochs=4, batch_size=8, hidden=(4,), seed=2, lanes=2, chunk_size=4,
                  space=(Param("lr", 1e-3, 1.0), Param("weight_decay", 1e-6, 1e-2)))
SPACE = TOY.validate().space


def _toy(cfg=TOY, **kw):
    return run(dataclasses.replace(cfg, **kw), data=toy_data(), task=toy_task)


def _curves(result):
    return {t.id: (t.train_acc, t.val_acc, t.diverged) for t in result.trials}


# -- training as a state machine -------------------------------------------------------------
@pytest.mark.slow
def test_advance_in_pieces_equals_training_at_once(mnist_test_set):
    """50 epochs at once, 10 + 40 and 10 + 15 + 25: the same histories and run states, bit for
    bit (batch norm, dropout and Adam: every part of the state is carried)."""
    from jaxch6.train import Data, TrainConfig, make_run

    x, t = mnist_test_set
    x = x[:, 200:264]  # 64 central pixels: a small network, the same code
    data = Data(x[:100], t[:100], x[100:150], t[100:150])
    cfg = TrainConfig(hidden_sizes=(16,), epochs=50, batch_size=50, optimizer="adam",
                      use_batchnorm=True, use_dropout=True)
    r = make_run(cfg, 100, 50, n_features=64)
    hp = {"learning_rate": 0.01, "dropout_ratio": 0.2}
    advance = jax.jit(r.advance, static_argnums=3)
    start = jax.jit(r.init)(jax.random.key(4), hp)
    outs = []
    for pieces in ((50,), (10, 40), (10, 15, 25)):
        state, hist = start, []
        for k in pieces:
            state, h = advance(state, hp, data, k)
            hist.append(h)
        joined = jax.tree.map(lambda *a: np.concatenate([np.atleast_1d(v) for v in a]), *hist)
        outs.append((state, joined.loss, joined.train_acc, joined.eval_acc))
    assert outs[0][1].shape == (100,) and outs[0][3].shape == (50,)
    assert outs[0][3][-1] > outs[0][3][0]  # it learned: the pieces are not trivially equal
    for other in outs[1:]:
        for a, b in zip(jax.tree.leaves(outs[0]), jax.tree.leaves(other), strict=True):
            np.testing.assert_array_equal(a, b)


# -- decisions on a tiny deterministic problem (no JAX) --------------------------------------
def _fake(i, epochs, acc, hp=None):
    return Trial(i, 0, hp or {"learning_rate": 0.01, "weight_decay": 1e-5}, [acc] * epochs,
                 [acc] * epochs, False, status="running")


@pytest.mark.slow
def test_successive_halving_keeps_the_top_third_at_each_rung():
    assert rungs(1, 3, 4) == (1, 3, 4) and rungs(2, 2, 20) == (2, 4, 8, 16, 20)
    sh = SuccessiveHalving(SPACE, trials=9, epochs=4, seed=0, min_epochs=1, eta=3)
    first = sh.next({})
    assert (first.start, first.stop, sorted(first.new), first.keep) == (0, 1, list(range(9)), True)
    trials = {i: _fake(i, 1, (i % 5) / 10) for i in range(9)}  # accs 0 .1 .2 .3 .4 0 .1 .2 .3
    step = sh.next(trials)
    assert (step.start, step.stop) == (1, 3) and step.cont == (4, 3, 8)  # ties by id
    trials.update({i: _fake(i, 3, a) for i, a in ((4, 0.5), (3, 0.7), (8, 0.6))})
    step = sh.next(trials)
    assert (step.start, step.stop, step.cont, step.keep) == (3, 4, (3,), False)
    assert (first.label, step.label) == ("rung 1/3: 9 trials to 1 epoch",
                                         "rung 3/3: 1 trial to 4 epochs")
    trials[3] = _fake(3, 4, 0.8)
    assert sh.next(trials) is None
    # a rung half done (a resumed sweep) lists only what is left
    trials = {i: _fake(i, 1, (i % 5) / 10) for i in range(9)}
    trials[4] = _fake(4, 3, 0.5)
    assert sh.next(trials).cont == (3, 8)


def test_pbt_bottom_quartile_copies_the_top_and_explores_within_ranges():
    pbt = PopulationBasedTraining(SPACE, trials=8, epochs=6, seed=1, interval=2)
    assert pbt.boundaries() == [2, 4, 6] and pbt.stop_epochs() == (2,)
    trials = {i: _fake(i, 2, i / 10, {"learning_rate": 0.01 * (i + 1), "weight_decay": 1e-4})
              for i in range(8)}
    step = pbt.next(trials)
    assert (step.start, step.stop) == (2, 4)
    assert sorted(c.child for c in step.copies) == [0, 1]
    assert all(c.parent in (6, 7) for c in step.copies)
    assert sorted(step.cont) == [2, 3, 4, 5, 6, 7]
    for c in step.copies:
        for p in SPACE:
            assert p.low <= c.hparams[p.name] < p.high
    assert step == pbt.next(trials)  # a decision is a function of the records


# -- the engine and loop on the toy model -----------------------------------------------------
@pytest.mark.slow
def test_halving_survivors_equal_the_same_trials_trained_straight():
    halving = _toy(scheduler="halving", min_epochs=1, eta=3)
    straight = _curves(_toy())
    by_id = {t.id: t for t in halving.trials}
    statuses = sorted(t.status for t in halving.trials)
    assert statuses == ["complete"] + ["stopped"] * 8
    assert sorted(t.epochs for t in halving.trials) == [1] * 6 + [3] * 2 + [4]
    for t in halving.trials:  # compaction and lane sharing change nothing
        full_train, full_val, _ = straight[t.id]
        assert t.val_acc == full_val[: t.epochs] and t.train_acc == full_train[: t.epochs]
    best = halving.ranked[0]
    assert best.epochs == 4 and by_id[best.id].status == "complete"


@pytest.mark.slow
def test_repeats_record_each_curve_and_rank_by_the_mean():
    one = _curves(_toy(trials=4))
    two = _toy(trials=4, repeats=2)
    for t in two.trials:
        assert len(t.repeats) == 2
        assert t.repeats[0]["val_acc"] == one[t.id][1]  # repeat 0 is the trial's own key
        mean = np.mean([r["val_acc"] for r in t.repeats], axis=0)
        np.testing.assert_allclose(t.val_acc, mean, rtol=0, atol=1e-12)
        assert t.val_acc_std == pytest.approx(np.std([r["val_acc"][-1] for r in t.repeats]))


@pytest.mark.slow
def test_pbt_records_lineage_and_a_copy_continues_as_its_parent_would():
    from jaxch6.sweep.engine import Engine
    from jaxch6.sweep.keys import lane_keys
    from jaxch6.sweep.pool import StatePool

    res = _toy(scheduler="pbt", trials=8, epochs=6, pbt_interval=2)
    copied = [t for t in res.trials if t.lineage and len(t.lineage) > 1]
    assert copied and all(t.epochs == 6 for t in res.trials)
    for t in copied:
        assert t.lineage[0]["epoch"] == 0 and t.lineage[0]["parent"] is None
        assert all(e["parent"] is not None for e in t.lineage[1:])
        assert t.hparams == t.lineage[-1]["hparams"]
    # copy semantics: a lane taken from the pool continues exactly as the original
    cfg = TOY.validate()
    eng = Engine(toy_task(cfg), toy_data(),
                 ["learning_rate"], chunk_size=2, lanes=2)
    hp = {"learning_rate": np.array([0.1, 0.3])}
    h, s = eng.fetch(eng.dispatch(2, hp, key_data=lane_keys(0, [0, 1])), states=True)
    pool = StatePool(jax.tree.structure(s))
    pool.put([(0, 0, 2), (1, 0, 2)], s)
    parent = pool.take([(1, 0, 2), (1, 0, 2)])  # lane 0 copies lane 1
    cont, _ = eng.fetch(eng.dispatch(2, {"learning_rate": np.array([0.3, 0.3])}, states=parent))
    straight, _ = eng.fetch(eng.dispatch(4, hp, key_data=lane_keys(0, [0, 1])))
    np.testing.assert_array_equal(cont["val_acc"][0], straight["val_acc"][1][2:])
    np.testing.assert_array_equal(cont["val_acc"][1], straight["val_acc"][1][2:])


# -- winners and resume -----------------------------------------------------------------------
@pytest.mark.slow
def test_save_best_round_trips_to_the_recorded_accuracy(tmp_path):
    from jaxch6 import mlp
    from jaxch6.sweep.runner import load_data

    # one step per epoch: the book records accuracy after an epoch's first step, so only then
    # is the last recorded accuracy that of the final run state
    cfg = SweepConfig(trials=4, epochs=3, batch_size=80, hidden=(16,), train_size=100,
                      source="sample", seed=1, save_best=2, space=(Param("lr", 1e-2, 0.3),),
                      skip_zero_inputs=False)  # evaluated with the very same matmuls
    res = run(cfg, out=tmp_path / "s")
    data, _ = load_data(cfg.validate())
    assert len(res.models) == 2 and sorted(os.listdir(tmp_path / "s" / "models")) == sorted(
        f"trial-{i}.npz" for i in res.models)
    for tid in res.models:
        model = load_model(tmp_path / "s", tid)
        acc = float(mlp.accuracy(model.params, model.state, data.x_eval, data.t_eval))
        recorded = {t.id: t for t in res.trials}[tid].final_val_acc
        assert round(acc * len(data.x_eval)) == round(recorded * len(data.x_eval))
        assert model.meta["trial"] == tid and model.step == 3


KILL = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, sys.argv[1])
    from _sweep_toy import toy_data, toy_task
    from jaxch6.sweep import SweepConfig, run, resume
    from jaxch6.sweep.space import space_from_dicts
    cfg = json.loads(sys.argv[2]); cfg["space"] = space_from_dicts(cfg["space"])
    cfg = SweepConfig(**{**cfg, "hidden": tuple(cfg["hidden"])})
    steps = []
    def progress(p):
        if p.step_start and p.label != "compiling":
            steps.append(p.label)
            if len(steps) == int(sys.argv[4]) + 1:
                os._exit(9)  # killed between steps: no cleanup at all
    run(cfg, out=sys.argv[3], data=toy_data(), task=toy_task, progress=progress)
""")


@pytest.mark.slow
@pytest.mark.parametrize("kw", [dict(scheduler="halving", min_epochs=1, eta=3),
                                dict(scheduler="pbt", trials=8, epochs=6, pbt_interval=2),
                                dict(scheduler="hyperband", trials=34, epochs=9, min_epochs=1,
                                     eta=3)])
def test_resume_after_a_kill_between_steps_equals_the_uninterrupted_run(tmp_path, kw):
    cfg = dataclasses.replace(TOY, **kw)
    full = run(cfg, out=tmp_path / "full", data=toy_data(), task=toy_task)
    tests = os.path.dirname(__file__)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", KILL, tests, json.dumps(cfg.validate().to_dict()),
                           str(tmp_path / "part"), "2"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 9, proc.stderr[-2000:]
    assert (tmp_path / "part" / "states").is_dir()  # run states kept between steps
    res = resume(tmp_path / "part", data=toy_data(), task=toy_task)
    assert [t.to_record() for t in res.trials] == [t.to_record() for t in full.trials]


# -- the registry and Hyperband ----------------------------------------------------------------
def test_hyperband_runs_whole_brackets_nearest_to_the_trials_asked():
    from jaxch6.sweep.schedulers import Hyperband

    one = Hyperband(SPACE, epochs=9, seed=0, min_epochs=1, eta=3)  # one iteration: 9 + 5 + 3
    assert [len(b.ids) for b in one.brackets] == [9, 5, 3] and one.total_trials == 17
    assert one.notes() == []
    asked = Hyperband(SPACE, epochs=9, seed=0, min_epochs=1, eta=3, trials=1000)
    sizes = [len(b.ids) for b in asked.brackets]
    assert sizes[:6] == [9, 5, 3, 9, 5, 3] and asked.total_trials == sum(sizes) == 1000
    assert asked.notes() == [] and len(sizes) == 176  # 58 iterations of 17, then 9 + 5
    rounded = Hyperband(SPACE, epochs=9, seed=0, min_epochs=1, eta=3, trials=1002)
    assert rounded.total_trials == 1003  # 1000 + a bracket of 3
    assert rounded.notes() == ["hyperband runs 1003 trials in 177 whole brackets (the "
                               "nearest to the 1002 asked)"]
    assert Hyperband(SPACE, epochs=9, seed=0, trials=34).total_trials == 34  # two iterations
    assert Hyperband(SPACE, epochs=9, seed=0, trials=2).total_trials == 9  # one bracket at least
    assert SweepConfig(scheduler="hyperband", trials=34, epochs=9).validate().total_trials == 34


def test_hyperband_runs_the_rungs_that_train_the_fewest_epochs_side_by_side():
    from jaxch6.sweep.schedulers import Hyperband, SideBySide

    # brackets 1-3: ids 0-8 (rungs 1, 3, 9), 9-13 (3, 9), 14-16 (9); brackets 4-6: 17-33 alike
    hb = Hyperband(SPACE, epochs=9, seed=0, min_epochs=1, eta=3, trials=34)
    first = hb.next({})  # brackets 1 and 4 start together: 1 epoch, the fewest
    assert isinstance(first, SideBySide) and first.epochs == 1
    assert [(p.round, sorted(p.new), p.start, p.stop, p.rung) for p in first.parts] == [
        (0, list(range(9)), 0, 1, 0), (3, list(range(17, 26)), 0, 1, 0)]
    trials = {i: _fake(i, 1, (i % 7) / 10) for p in first.parts for i in p.new}
    step = hb.next(trials)  # their second rungs (2 epochs) before the 3-epoch brackets
    assert [(p.round, p.start, p.stop, len(p.cont)) for p in step.parts] == [
        (0, 1, 3, 3), (3, 1, 3, 3)]
    assert set(step.parts[0].cont) <= set(range(9))
    acc = {i: t.final_val_acc for i, t in trials.items()}  # the same curves, longer
    trials.update({i: _fake(i, 3, acc[i]) for p in step.parts for i in p.cont})
    step = hb.next(trials)  # brackets 2 and 5 start: 3 epochs
    assert [(p.round, sorted(p.new), p.stop) for p in step.parts] == [
        (1, list(range(9, 14)), 3), (4, list(range(26, 31)), 3)]
    trials.update({i: _fake(i, 3, i / 100) for p in step.parts for i in p.new})
    step = hb.next(trials)  # every bracket's rung to 9 epochs (6 more): four brackets at once
    assert [(p.round, p.start, p.stop, p.cont, p.keep) for p in step.parts] == [
        (0, 3, 9, (6,), False), (1, 3, 9, (13,), False), (3, 3, 9, (20,), False),
        (4, 3, 9, (30,), False)]  # each bracket's best at 3 epochs
    assert step.label == "brackets 1, 2, 4, 5 side by side: 4 trials, 6 epochs each"
    acc.update({i: trials[i].final_val_acc for i in trials})
    trials.update({i: _fake(i, 9, acc[i]) for p in step.parts for i in p.cont})
    last = hb.next(trials)
    assert [(p.round, sorted(p.new), p.stop) for p in last.parts] == [
        (2, [14, 15, 16], 9), (5, [31, 32, 33], 9)]
    with pytest.raises(ValueError, match="same epochs"):
        SideBySide((first.parts[0], last.parts[0]))


class _OneBracketAtATime:
    """Hyperband's brackets one after another, each rung a step of its own: how its brackets
    ran before they went side by side."""

    def __init__(self, hyperband):
        self.hyperband = hyperband

    def __getattr__(self, name):
        return getattr(self.hyperband, name)

    def next(self, trials):
        for b in self.hyperband.brackets:
            if (step := b.next(trials, self.hyperband.new_values)) is not None:
                return step
        return None


@pytest.mark.slow
@pytest.mark.parametrize("kw, fewer", [
    (dict(trials=34, epochs=9, min_epochs=1, eta=3), True),
    # parts of different starts, one keeping its run states and one ending its bracket
    (dict(trials=10, epochs=4, min_epochs=1, eta=2), False)])
def test_hyperband_side_by_side_equals_its_brackets_run_one_after_another(monkeypatch, kw,
                                                                           fewer):
    """Every trial's record (curves, rung, round, status) is the same whether Hyperband's
    brackets run side by side or one rung of one bracket at a time; side by side takes fewer
    engine calls where rungs of different brackets meet."""
    from jaxch6.sweep import schedulers
    from jaxch6.sweep.engine import Engine

    calls = []
    dispatch = Engine.dispatch
    monkeypatch.setattr(Engine, "dispatch", lambda self, *a, **k: (
        calls.append(a[0]), dispatch(self, *a, **k))[1])
    kw = dict(scheduler="hyperband", **kw)
    both = _toy(**kw)
    side_by_side, calls[:] = len(calls), []
    make = schedulers.make
    monkeypatch.setattr(schedulers, "make", lambda config: _OneBracketAtATime(make(config)))
    alone = _toy(**kw)
    assert len(both.trials) == len(alone.trials) == kw["trials"]
    assert [t.to_record() for t in both.trials] == [t.to_record() for t in alone.trials]
    assert side_by_side < len(calls) if fewer else side_by_side <= len(calls)
