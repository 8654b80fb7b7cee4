"""The engine: one compiled vmapped program per sweep; results independent of chunking,
padding, lane and device count; diverged lanes isolated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from _sweep_toy import toy_data, toy_task, toy_train_fn

from jaxch6.sweep import Param, SweepConfig, run
from jaxch6.sweep.engine import Engine
from jaxch6.sweep.keys import lane_keys
from jaxch6.sweep.plan import per_trial_bytes

TOY = SweepConfig(trials=12, epochs=3, batch_size=8, hidden=(4,), seed=1, lanes=1,
                  space=(Param("lr", 1e-3, 1.0), Param("weight_decay", 1e-6, 1e-2)))


def _toy_run(**kw):
    import dataclasses

    cfg = dataclasses.replace(TOY, **kw)
    return run(cfg, data=toy_data(), task=toy_task)


def _lanes(eng, key_data, hparams, epochs):
    """Fresh lanes trained ``epochs`` epochs by the engine: their history as NumPy arrays."""
    return eng.fetch(eng.dispatch(epochs, hparams, key_data=key_data))[0]


def _arrays(result):
    return {t.id: (t.hparams, t.train_acc, t.val_acc, t.diverged) for t in result.trials}


def test_default_lanes_and_chunk_size_rules():
    from jaxch6.sweep.plan import CPU_CHUNK_TRIALS, CPU_LANE_BYTES, plan_for_devices

    cpu = jax.devices("cpu")

    def plan(trials, trial_bytes, devices, **kw):
        p = plan_for_devices(trials, trial_bytes, devices, **kw)
        return p.lanes, p.chunk_size

    # lanes: what fits in the CPU budget, at most one round; never the device count
    assert plan(100, CPU_LANE_BYTES // 2, cpu)[0] == 2  # the book's ~10 MB trial
    assert plan(100, 1 << 10, cpu)[0] == 100
    assert plan(100, CPU_LANE_BYTES * 2, cpu)[0] == 1
    assert plan(100, CPU_LANE_BYTES // 2, cpu * 4)[0] == 2
    # chunks: whole lane groups per device, at most CPU_CHUNK_TRIALS, fewest padded lanes
    assert CPU_CHUNK_TRIALS == 24
    assert plan(100, 1, cpu, lanes=2)[1] == 20  # 5 chunks of 10 groups, no padding
    assert plan(100, 1, cpu * 2, lanes=2)[1] == 20  # 5 chunks of 5 groups per device
    assert plan(100, 1, cpu * 4, lanes=2)[1] == 8  # 13 x 8 = 104 beats 5 x 24 = 120
    assert plan(7, 1, cpu, lanes=2)[1] == 8  # one padded lane at most
    assert plan(100, 1, cpu, lanes=100)[1] == 100  # a group is never split
    assert plan(100, 1, cpu, lanes=2, chunk_size=4)[1] == 4

    class FakeGPU:
        platform = "gpu"

        def memory_stats(self):
            return {"bytes_limit": 80 << 30}

    gpus = [FakeGPU()] * 4
    lanes, chunk = plan(100_001, 8 << 20, gpus)
    assert lanes <= 0.4 * (80 << 30) / (8 << 20) and lanes <= 16384
    assert chunk == 4 * lanes  # a group per device
    assert plan(100, CPU_LANE_BYTES // 2, cpu) == plan(100, 1, cpu, lanes=2)
    assert plan(10, 1, gpus)[0] == 10


def test_per_trial_bytes_of_the_book_net():
    b = per_trial_bytes((784, *(100,) * 6, 10), batch_size=100, n_eval_rows=500,
                        optimizer_slots=0)
    n_params = 784 * 100 + 100 + 5 * (100 * 100 + 100) + 100 * 10 + 10
    assert n_params == 130_010
    units = 784 + 600 + 10
    assert b == 4 * (4 * n_params + 4 * 100 * units + 2 * 500 * units)


@pytest.mark.slow
def test_chunking_and_padding_do_not_change_results():
    ref = _arrays(_toy_run(chunk_size=100))  # one padded chunk of 100 for 12 trials
    for c in (7,):
        assert _arrays(_toy_run(chunk_size=c)) == ref
    # the learning rates span three decades, so the trials really differ
    accs = {v[2][-1] for v in ref.values()}
    assert len(accs) > 3


@pytest.mark.slow
def test_engine_lane_results_match_single_trial():
    data = toy_data()
    fn = toy_train_fn(TOY)
    eng = Engine(toy_task(TOY), data,
                 ["learning_rate"], chunk_size=4)
    assert eng.chunk_size == 4
    kd = lane_keys(0, [0, 1, 2])
    lrs = np.array([0.01, 0.1, 1.0])
    out = _lanes(eng, kd, {"learning_rate": lrs}, 3)
    assert eng.compile_seconds > 0
    assert out["train_acc"].shape == (3, 3)
    for j in range(3):
        key = jax.random.wrap_key_data(kd[j])
        single = jax.jit(fn)(key, {"learning_rate": np.float32(lrs[j])}, data)
        np.testing.assert_array_equal(out["val_acc"][j], np.asarray(single["val_acc"]))
        np.testing.assert_allclose(out["loss"][j], np.asarray(single["loss"]), rtol=1e-5)


@pytest.mark.slow
def test_diverged_toy_lanes_are_isolated():
    import dataclasses

    wild = dataclasses.replace(TOY, space=(Param("lr", 1e-3, 1e6),), trials=10)
    res = run(wild, data=toy_data(), task=toy_task)
    div = [t for t in res.trials if t.diverged]
    assert div and len(div) < len(res.trials)
    assert all(t.diverged for t in res.ranked[-len(div):])
    # re-running only the finite trials' lanes (without the diverging ones) changes nothing
    keep = [t for t in res.trials if not t.diverged]
    eng = Engine(toy_task(wild), toy_data(),
                 ["learning_rate"], chunk_size=len(keep))
    out = _lanes(eng, lane_keys(wild.seed, [t.id for t in keep]),
                 {"learning_rate": np.array([t.hparams["learning_rate"] for t in keep])},
                 wild.epochs)
    for j, t in enumerate(keep):
        assert np.allclose(out["val_acc"][j], t.val_acc, atol=1e-6)


# -- the real training function (jaxch6.train) -------------------------------------------------
# lr up to 10 with weight decay up to 100: W <- (1 - lr wd) W - lr g blows up where lr wd >> 2
REAL = SweepConfig(trials=8, epochs=5, batch_size=10, hidden=(8,), train_size=50,
                   val_fraction=0.2, source="sample", seed=5, lanes=1,
                   space=(Param("lr", 1e-3, 10.0), Param("weight_decay", 1e-3, 1e2)))


@pytest.mark.slow
def test_real_training_divergence_isolated_and_chunk_invariant():
    import dataclasses

    a = run(dataclasses.replace(REAL, chunk_size=8))
    b = run(dataclasses.replace(REAL, chunk_size=3))  # three chunks, the last one padded
    assert _arrays(a) == _arrays(b)
    decay = {t.id: t.hparams["learning_rate"] * t.hparams["weight_decay"] for t in a.trials}
    div = {t.id for t in a.trials if t.diverged}
    assert div, f"no trial diverged: lr * weight_decay = {decay}"
    assert all(decay[i] > 2 for i in div)  # only unstable trials blow up
    assert {t.id for t in a.ranked[-len(div):]} == div  # ranked last
    # the finite trials alone (a different lane layout, no NaN neighbours) give the same results
    finite = [t for t in a.trials if not t.diverged]
    assert finite
    from jaxch6.sweep.runner import load_data

    data, _ = load_data(REAL.validate())
    from jaxch6.sweep.task import book_data, book_task

    eng = Engine(book_task(REAL.validate(), data), book_data(REAL.validate(), data),
                 ["learning_rate", "weight_decay"], chunk_size=len(finite))
    out = _lanes(eng, lane_keys(REAL.seed, [t.id for t in finite]),
                 {k: np.array([t.hparams[k] for t in finite])
                  for k in ("learning_rate", "weight_decay")}, REAL.epochs)
    for j, t in enumerate(finite):
        np.testing.assert_allclose(out["val_acc"][j], t.val_acc, atol=1e-6)
        np.testing.assert_allclose(out["train_acc"][j], t.train_acc, atol=1e-6)
        assert not out["diverged"][j]


SCRIPT = textwrap.dedent(
    """
    import json, sys, jax
    from jaxch6.sweep import Param, SweepConfig, run
    cfg = SweepConfig(**json.loads(sys.argv[1]))
    res = run(cfg)
    print(json.dumps({"devices": jax.local_device_count(), "chunk": res.info["chunk_size"],
                      "trials": [t.to_record() for t in res.trials]}))
    """
)


@pytest.mark.slow
def test_four_host_devices_give_the_same_trials():
    cfg = {"trials": 6, "epochs": 2, "batch_size": 10, "hidden": [8], "train_size": 50,
           "source": "sample", "seed": 2, "chunk_size": 4}
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(cfg)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    four = json.loads(proc.stdout.strip().splitlines()[-1])
    assert four["devices"] == 4 and four["chunk"] % 4 == 0
    assert jax.local_device_count() == 1
    one = run(SweepConfig(**{**cfg, "hidden": (8,), "chunk_size": 5}))
    assert [t.to_record() for t in one.trials] == four["trials"]


BOOKISH = {"trials": 12, "epochs": 3, "source": "sample", "seed": 4, "lanes": 2}


@pytest.mark.slow
def test_book_network_chunk_invariance():
    """The book's network and data (3 epochs): chunk 4 and chunk 12 give bit-identical trials
    (without fixed lane groups, a vmap of 2 and one of 50 lanes differed in the last bit)."""
    a = run(SweepConfig(**BOOKISH, chunk_size=4))
    b = run(SweepConfig(**BOOKISH, chunk_size=12))
    assert a.info["lanes"] == b.info["lanes"] == 2
    assert [t.to_record() for t in a.trials] == [t.to_record() for t in b.trials]
    assert len({t.final_val_acc for t in a.trials}) > 2


@pytest.mark.slow
def test_book_network_two_and_four_devices_agree():
    out = []
    for n_dev, chunk in ((2, 4), (4, 12)):
        env = {**os.environ, "JAX_PLATFORMS": "cpu",
               "XLA_FLAGS": f"--xla_force_host_platform_device_count={n_dev} "
                            "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
        cfg = {**BOOKISH, "chunk_size": chunk}
        proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(cfg)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert [o["devices"] for o in out] == [2, 4]
    assert out[0]["trials"] == out[1]["trials"]


@pytest.mark.slow
def test_one_advance_program_serves_every_rung_length():
    """Rungs of 2, 4 and 6 epochs compile one 2-epoch program; chained calls of it equal one
    6-epoch program bit for bit (histories and run states)."""
    run_, data = toy_task(TOY), toy_data()
    kd, hp = lane_keys(0, [0, 1, 2]), {"learning_rate": np.array([0.01, 0.1, 1.0])}
    eng = Engine(run_, data, ["learning_rate"], chunk_size=4)
    eng.precompile([2, 4, 6])
    assert eng.unit == 2
    chained = Engine.fetch(eng.dispatch(6, hp, key_data=kd), states=True)
    rung = Engine.fetch(eng.dispatch(4, hp, key_data=kd))[0]
    assert eng.compiled == ("init", ("advance", 2))
    once = Engine(run_, data, ["learning_rate"], chunk_size=4)
    straight = Engine.fetch(once.dispatch(6, hp, key_data=kd), states=True)
    assert once.compiled == ("init", ("advance", 6))
    assert chained[0]["val_acc"].shape == (3, 6)
    for a, b in zip(jax.tree.leaves(chained), jax.tree.leaves(straight), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(rung["val_acc"], straight[0]["val_acc"][:, :4])


@pytest.mark.parametrize("n_dev", [1])
def test_engine_shards_over_devices(n_dev):
    eng = Engine(toy_task(TOY), toy_data(),
                 ["learning_rate"], chunk_size=3, devices=jax.devices()[:n_dev])
    assert eng.sharded.spec == jax.sharding.PartitionSpec("trials")
    assert eng.sharded.mesh.axis_names == ("trials",)


# -- train.py options the sweep uses --------------------------------------------------------------
@pytest.mark.slow
def test_skipping_zero_input_columns_is_the_same_training():
    from jaxch6.sweep.task import drop_zero_columns
    from jaxch6.train import Data, TrainConfig, make_train_fn

    rng = np.random.default_rng(0)
    x = rng.random((60, 30), np.float32)
    x[:, [0, 1, 7, 29]] = 0.0  # blank "border pixels"
    t = rng.integers(0, 10, 60).astype(np.int32)
    full = Data(x[:40], t[:40], x[40:], t[40:])
    pruned, kw = drop_zero_columns(full)
    assert pruned.x_train.shape == (40, 26)
    kw["n_features"] = 30
    assert kw["input_columns"].tolist() == [c for c in range(30) if c not in (0, 1, 7, 29)]
    cfg = TrainConfig(hidden_sizes=(16, 16), epochs=3, batch_size=10, record_loss="before_update")
    a_fn = jax.jit(jax.vmap(make_train_fn(cfg, 40, 20), in_axes=(0, 0, None)))
    b_fn = jax.jit(jax.vmap(make_train_fn(cfg, 40, 20, **kw), in_axes=(0, 0, None)))
    keys = jax.random.split(jax.random.key(1), 3)
    hp = {"learning_rate": np.array([0.05, 0.1, 0.2], np.float32),
          "weight_decay": np.array([0.0, 1e-3, 1e-1], np.float32)}
    a, b = a_fn(keys, hp, full), b_fn(keys, hp, pruned)
    np.testing.assert_allclose(b.loss, a.loss, rtol=2e-5)  # same run, shorter sums
    np.testing.assert_array_equal(b.train_acc, a.train_acc)
    np.testing.assert_array_equal(b.eval_acc, a.eval_acc)
    # the dropped rows of W1 still exist: a weight decay that blows them up is still caught
    wild = {"learning_rate": np.full(3, 10.0, np.float32),  # the same 3 lanes: no new compile
            "weight_decay": np.full(3, 30.0, np.float32)}
    assert a_fn(keys, wild, full).diverged.all() and b_fn(keys, wild, pruned).diverged.all()


@pytest.mark.slow
def test_grouped_init_equals_mlp_init():
    import jax.numpy as jnp

    from jaxch6 import mlp
    from jaxch6.train import TrainConfig, init_params

    sizes = (30, 16, 16, 16, 10)  # two 16×16 layers: drawn in one vectorised call
    keys = jax.random.split(jax.random.key(3), 3)
    for wi, bn in (("he", False), (0.01, True), ("glorot_uniform", False)):
        cfg = TrainConfig(weight_init=wi, use_batchnorm=bn)
        a, _ = jax.jit(jax.vmap(lambda k, s, wi=wi, bn=bn: mlp.init(
            sizes, key=k, weight_init=wi, use_batchnorm=bn, init_scale=s)))(keys, jnp.ones(3))
        b, _ = jax.jit(jax.vmap(lambda k, s, cfg=cfg: init_params(sizes, k, cfg, s, jnp.float32)))(
            keys, jnp.ones(3))
        assert a.keys() == b.keys()
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])
