"""Optuna-driven sweeps (jaxch6.sweep.optuna_driver / optuna_storage): ask K, train K as one
vmapped program on the shared run loop, tell K; several worker processes on one study; dead
workers' trials failed and re-queued. Skipped without optuna. The bookkeeping tests train a NumPy
stand-in engine (tests/_fake_engine.py); worker processes and the entry points train the toy
model of tests/_sweep_toy.py through the real engine (compiles in well under a second)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from jaxch6.errors import ConfigError  # noqa: E402
from jaxch6.sweep import optuna_driver as D  # noqa: E402
from jaxch6.sweep import optuna_storage as S  # noqa: E402
from jaxch6.sweep.space import BOOK_SPACE, sample  # noqa: E402

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
TrialState = optuna.trial.TrialState


def _fake_trainer(epochs=3):
    """A NumPy stand-in engine: accuracy peaks at lr = 10^-2.5; diverges above lr = 5e-3."""
    from _fake_engine import FakeEngine

    return FakeEngine(epochs)


def _work(study, engine, space=BOOK_SPACE, **kw):
    """One worker over ``engine`` (its trials' epochs) with the plain sweep's seed 0."""
    return D.run_worker(study, engine, space, epochs=engine.epochs, **kw)


def _study(url, name, sampler="random", **kw):
    storage = S.make_storage(url, heartbeat_interval=kw.pop("hb", 1),
                             grace_period=kw.pop("grace", 3), **kw)
    return D.open_study(storage, name, D.make_sampler(sampler, BOOK_SPACE, seed=0))


def _states(study):
    out = {s: [] for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        out[t.state].append(t)
    return out


# -- storage URLs -------------------------------------------------------------------------------
def test_storage_url_and_redact(tmp_path):
    assert S.storage_url(str(tmp_path / "a.db")) == f"sqlite:///{tmp_path / 'a.db'}"
    if _has("psycopg") or _has("psycopg2"):
        assert S.storage_url("postgres://u:p@h:5432/d") in (
            "postgresql+psycopg://u:p@h:5432/d", "postgresql+psycopg2://u:p@h:5432/d")
    assert S.storage_url("postgresql+psycopg2://u@h/d") == "postgresql+psycopg2://u@h/d"
    with pytest.raises(ConfigError, match="unsupported scheme"):
        S.storage_url("redis://localhost")
    with pytest.raises(ConfigError, match="does not exist"):
        S.storage_url("sqlite:////no/such/dir/x.db")
    assert S.redact("postgresql://u:secret@h:5432/d") == "postgresql://u:***@h:5432/d"
    with pytest.raises(ConfigError, match="grace-period"):
        S.make_storage(str(tmp_path / "b.db"), heartbeat_interval=5, grace_period=5)


# -- one worker, in process ---------------------------------------------------------------------
@pytest.mark.slow
def test_random_sampler_is_the_book_method_and_results_land_in_optuna(tmp_path):
    study = _study(f"sqlite:///{tmp_path}/s.db", "one")
    trials = _work(study, _fake_trainer(epochs=3), n_trials=7, batch_trials=3)
    assert sorted(t.id for t in trials) == list(range(7))
    ref = sample(BOOK_SPACE, list(range(7)), seed=0)  # jaxch6 sweep's own draws
    for t in trials:
        for name in ("learning_rate", "weight_decay"):
            assert t.hparams[name] == pytest.approx(ref[name][t.id], rel=1e-12)
    # Optuna's own view, without jaxch6
    loaded = optuna.load_study(study_name="one", storage=f"sqlite:///{tmp_path}/s.db")
    done = loaded.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 7 and len(loaded.trials) == 7
    for ft in done:
        ua = ft.user_attrs
        assert ft.intermediate_values == {}  # no pruner: the curve is one user attribute
        assert len(ua["train_acc"]) == 3 and isinstance(ua["diverged"], bool)
        expect = 0.0 if ua["diverged"] else ua["val_acc"][-1]
        assert ft.value == pytest.approx(expect)
        assert ft.params["learning_rate"] == pytest.approx(ref["learning_rate"][ft.number])
    assert any(ft.user_attrs["diverged"] for ft in done) or max(ref["learning_rate"]) <= 5e-3


def test_random_sampler_draws_each_key_with_a_hyperband_pruner(tmp_path):
    """With a ``HyperbandPruner`` Optuna hands the sampler the trial's bracket (a part of the
    study); the random sampler still draws each trial's values for its key id, as the plain
    sweep does, so no two trials share them."""
    study = D.open_study(S.make_storage(f"sqlite:///{tmp_path}/h.db", heartbeat_interval=30),
                         "brackets", D.make_sampler("random", BOOK_SPACE, seed=0),
                         pruner=optuna.pruners.HyperbandPruner(1, 9, 3))
    trials = _work(study, _fake_trainer(9), n_trials=12, batch_trials=6, rungs=(1, 3, 9))
    assert sorted(t.id for t in trials) == list(range(12))
    ref = sample(BOOK_SPACE, list(range(12)), seed=0)
    for t in trials:
        assert t.hparams["learning_rate"] == pytest.approx(ref["learning_rate"][t.id], rel=1e-12)


@pytest.mark.slow
def test_in_memory_study_equals_the_sqlite_one(tmp_path):
    """The same worker loop on an in-memory storage (no heartbeats) gives the same study."""
    rdb = _study(f"sqlite:///{tmp_path}/a.db", "rdb")
    _work(rdb, _fake_trainer(), n_trials=5, batch_trials=3)
    mem = D.open_study(None, "mem", D.make_sampler("random", BOOK_SPACE, seed=0))
    assert isinstance(S.storage_of(mem), optuna.storages.InMemoryStorage)
    _work(mem, _fake_trainer(), n_trials=5, batch_trials=3)
    assert len(rdb.trials) == len(mem.trials) == 5
    for a, b in zip(rdb.get_trials(), mem.get_trials(), strict=True):
        assert (a.state, a.value, a.params) == (b.state, b.value, b.params)
        assert a.intermediate_values == b.intermediate_values
        assert {k: v for k, v in a.user_attrs.items() if k not in ("worker", "batch_seconds")} \
            == {k: v for k, v in b.user_attrs.items() if k not in ("worker", "batch_seconds")}
    assert a.system_attrs[S.BEAT_ATTR] == a.number and S.BEAT_ATTR not in b.system_attrs


def test_heartbeat_without_heartbeats_is_a_no_op():
    storage = optuna.storages.InMemoryStorage()
    with S.Heartbeat(storage) as heart:
        assert not heart.enabled
        heart.add([0, 1], [0, 1])
        heart.discard([0])
    with S.Heartbeat(None) as heart:
        assert not heart.enabled and heart.interval == 1.0
    study = D.open_study(storage, "mem", None)
    assert S.fail_stale(study) == 0


def test_open_study_checks_the_name(tmp_path):
    st = S.make_storage(f"sqlite:///{tmp_path}/n.db")
    with pytest.raises(ConfigError, match="control character"):
        D.open_study(st, "bad\nname", None)
    with pytest.raises(ConfigError, match="empty"):
        D.open_study(st, "", None)
    assert D.open_study(st, "ok", None).study_name == "ok"


@pytest.mark.slow
def test_a_silent_trial_is_adopted_and_fails(tmp_path):
    """A trial asked by a worker that died before its first heartbeat goes stale too."""
    study = _study(f"sqlite:///{tmp_path}/s.db", "silent", hb=1, grace=2)
    with S.quiet_optuna():
        ghost = study.ask()  # never beats
    assert S.fail_stale(study) == 0
    t0 = time.time()
    while _states(study)[TrialState.RUNNING] and time.time() - t0 < 15:
        S.fail_stale(study)
        time.sleep(0.2)
    assert [t.number for t in _states(study)[TrialState.FAIL]] == [ghost.number]


@pytest.mark.slow
def test_a_dead_workers_retried_trials_keep_their_keys(tmp_path):
    """A worker dies holding trials 4-7; the retries are numbered 8-11 and the trials asked
    after them 12-15: the study still ends with key ids 0-11 and the plain sweep's values."""
    study = _study(f"sqlite:///{tmp_path}/s.db", "dead", hb=1, grace=2, retry_failed=True)
    _work(study, _fake_trainer(), n_trials=12, batch_trials=4, max_batches=1)
    storage = S.storage_of(study)
    with S.quiet_optuna():
        dead, _ = S.ask_batch(study, 4, storage)  # the worker asks, samples, beats once, dies
        D.suggest(study, dead, BOOK_SPACE)
    numbers = [t.number for t in dead]
    beat = S.Heartbeat(storage)
    beat.add(S.trial_ids(study, storage, numbers), numbers)
    beat.close()
    time.sleep(3)  # past the grace period: the next worker re-queues them first
    _work(study, _fake_trainer(), n_trials=12, batch_trials=4,
                 poll_seconds=0.2)
    st = _states(study)
    assert sorted(t.number for t in st[TrialState.FAIL]) == numbers
    done = st[TrialState.COMPLETE]
    assert sorted(t.number for t in done) == [0, 1, 2, 3, *range(8, 16)]
    keys = {t.user_attrs["key_id"]: t.params["learning_rate"] for t in done}
    assert sorted(keys) == list(range(12))
    np.testing.assert_allclose([keys[i] for i in range(12)],
                               sample(BOOK_SPACE, range(12), seed=0)["learning_rate"],
                               rtol=1e-12)
    assert D.key_ids(study.get_trials()) == {**{i: i for i in range(8)},
                                             **{8 + j: 4 + j for j in range(4)},
                                             **{12 + j: 8 + j for j in range(4)}}


def test_export_writes_the_sweep_store_format(tmp_path):
    from jaxch6.sweep import store

    class NanFirst(type(_fake_trainer())):  # the first lane diverges to NaN in its last epoch
        def fetch(self, handle, *, states=False):
            history, st = super().fetch(handle, states=states)
            history["val_acc"][0, -1] = np.nan
            history["diverged"][0] = True
            return history, st

    nan_first = NanFirst(3)

    study = _study(f"sqlite:///{tmp_path}/s.db", "exp")
    _work(study, nan_first, n_trials=5, batch_trials=5)
    D.export(study, tmp_path / "out", {"config": {}, "seed": 0, "x": float("nan")})
    recs = store.read_trials(tmp_path / "out")
    assert recs[0]["diverged"] and recs[0]["val_acc"][-1] is None
    assert [r["id"] for r in recs] == list(range(5))
    summary = store.read_summary(tmp_path / "out")
    assert summary["n_trials"] == 5 and summary["best"][0]["rank"] == 1
    def strict(constant):
        raise AssertionError(f"not standard JSON: {constant}")

    text = (tmp_path / "out" / "trials.jsonl").read_text()
    for line in [*text.splitlines(), (tmp_path / "out" / "summary.json").read_text()]:
        json.loads(line, parse_constant=strict)  # no NaN/Infinity
    assert summary["best"][0]["final_val_acc"] == max(
        r["final_val_acc"] for r in recs if not r["diverged"])


@pytest.mark.slow
def test_other_samplers_run_batches(tmp_path):
    names = ["tpe", "qmc"] + (["cmaes"] if _has("cmaes") else [])
    for name in names:
        study = _study(f"sqlite:///{tmp_path}/{name}.db", name, sampler=name)
        trials = _work(study, _fake_trainer(), n_trials=6, batch_trials=3)
        assert len(trials) == 6
        lrs = [t.hparams["learning_rate"] for t in trials]
        assert len(set(lrs)) == 6 and all(1e-6 <= v <= 1e-2 for v in lrs), name


def test_cmaes_without_package_is_a_config_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda n, *a: None if n == "cmaes" else real(n, *a))
    with pytest.raises(ConfigError, match="pip install cmaes"):
        D.make_sampler("cmaes", BOOK_SPACE, seed=0)


def test_a_worker_with_another_config_is_refused(tmp_path):
    from jaxch6.sweep import SweepConfig

    url = f"sqlite:///{tmp_path}/s.db"
    st = S.make_storage(url)
    D.open_study(st, "cfg", None, config=SweepConfig(epochs=5))
    D.open_study(st, "cfg", None, config=SweepConfig(epochs=5, trials=900))  # more trials: fine
    with pytest.raises(ConfigError, match="differs in: epochs"):
        D.open_study(st, "cfg", None, config=SweepConfig(epochs=6))


def test_surplus_trials_are_given_back(tmp_path):
    """Two workers racing for the last slots: live trials never exceed n_trials."""
    study = _study(f"sqlite:///{tmp_path}/s.db", "race")
    with S.quiet_optuna():
        other = [study.ask() for _ in range(3)]  # another worker holds 3 RUNNING trials
    storage = S.storage_of(study)
    numbers = [t.number for t in other]
    S.Heartbeat(storage).add(S.trial_ids(study, storage, numbers), numbers)
    _work(study, _fake_trainer(), n_trials=5, batch_trials=4, max_batches=1)
    st = _states(study)
    assert len(st[TrialState.COMPLETE]) == 2 and len(st[TrialState.RUNNING]) == 3
    assert len(st[TrialState.WAITING]) == 0


@pytest.mark.slow
def test_a_stop_between_rungs_gives_the_batch_back(tmp_path):
    """Issue 19 item 3: a worker whose ``stop`` is set (the command sets it on a signal)
    between the rungs of a batch raises Interrupted and puts the batch's unfinished trials
    back in the queue: none is left RUNNING to go stale."""
    from jaxch6.sweep.loop import Interrupted

    study = _study(f"sqlite:///{tmp_path}/s.db", "stop")

    class AfterFirstRung:  # set once the batch has reported its first rung
        def is_set(self):
            return any(t.intermediate_values for t in study.get_trials(deepcopy=False))

    with pytest.raises(Interrupted):
        _work(study, _fake_trainer(), n_trials=8, batch_trials=4, rungs=(1, 3),
              stop=AfterFirstRung())
    st = _states(study)
    assert len(st[TrialState.RUNNING]) == 0 and len(st[TrialState.WAITING]) == 4, st


# -- worker processes ---------------------------------------------------------------------------
WORKER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from _sweep_toy import toy_data, toy_task
    from jaxch6.sweep import SweepConfig, optuna_driver as D, optuna_storage as S, runner

    url, name, n, k, hb, grace, retry, delay, flag, go = sys.argv[1:11]
    config, task = runner.configure(SweepConfig(epochs=2, batch_size=10, seed=0), toy_task)
    engine = runner.prepare(config, toy_data(), task, chunk_size=int(k)).engine
    storage = S.make_storage(url, heartbeat_interval=int(hb), grace_period=int(grace),
                             retry_failed=retry == "1")
    study = D.open_study(storage, name, D.make_sampler("random", config.space, seed=0),
                         config=config)
    suggest = D.suggest

    def mid_batch(study, trials, space):  # "I am mid-batch": asked, sampled, before training
        out = suggest(study, trials, space)
        Path(flag).write_text(" ".join(str(i) for i, _ in out))
        time.sleep(float(delay))
        return out

    D.suggest = mid_batch
    while go != "-" and not Path(go).exists():
        time.sleep(0.02)
    mine = D.run_worker(study, engine, config.space, n_trials=int(n), batch_trials=int(k),
                        epochs=config.epochs, seed=config.seed, poll_seconds=0.2)
    print("RAN", " ".join(str(t.id) for t in mine))
    """
)


def _cache_dir(tmp_path):
    """One JAX compilation cache for all worker processes of this test session."""
    d = tmp_path.parent.parent / "jaxch6-optuna-jax-cache"
    d.mkdir(exist_ok=True)
    return d


def _spawn(tmp_path, url, name, *, n, k, hb=1, grace=3, retry=False, delay=0.0, tag="a",
           go="-"):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), str(ROOT)]),
               JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(_cache_dir(tmp_path)),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    args = [sys.executable, str(script), url, name, str(n), str(k), str(hb), str(grace),
            "1" if retry else "0", str(delay), str(tmp_path / f"mid-{tag}"), go]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def _finish(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    ran = [line for line in out.splitlines() if line.startswith("RAN")]
    return [int(x) for x in ran[-1].split()[1:]]


def _two_workers(tmp_path, url, n=12, k=3):
    name = f"two-{uuid.uuid4().hex[:8]}"
    go = tmp_path / "go"
    procs = [_spawn(tmp_path, url, name, n=n, k=k, delay=0.05, tag=tag, go=str(go))
             for tag in "ab"]
    time.sleep(0.5)
    go.write_text("")
    ran = [_finish(p) for p in procs]
    study = optuna.load_study(study_name=name, storage=S.storage_url(url))
    st = _states(study)
    done = st[TrialState.COMPLETE]
    assert len(done) == n
    assert not st[TrialState.RUNNING] and not st[TrialState.FAIL]
    ids = sorted(t.user_attrs["key_id"] for t in done)
    assert len(set(ids)) == n  # every trial once
    assert sorted(ran[0] + ran[1]) == ids  # each one by exactly one worker
    lrs = {t.params["learning_rate"] for t in done}
    assert len(lrs) == n  # distinct hyperparameters
    # the same trials as one worker would make: values drawn per trial number
    ref = sample(BOOK_SPACE, ids, seed=0)
    got = {t.user_attrs["key_id"]: t.params["learning_rate"] for t in done}
    np.testing.assert_allclose([got[i] for i in ids], ref["learning_rate"], rtol=1e-12)
    return ran


@pytest.mark.slow
def test_two_worker_processes_share_one_sqlite_study(tmp_path):
    ran = _two_workers(tmp_path, f"sqlite:///{tmp_path}/study.db")
    assert ran[0] and ran[1], "both workers should have trained some trials"


@pytest.mark.skipif(not os.environ.get("JAXCH6_TEST_POSTGRES_DSN"),
                    reason="set JAXCH6_TEST_POSTGRES_DSN (see .ci/postgres.sh) to run")
@pytest.mark.slow
def test_two_worker_processes_share_one_postgres_study(tmp_path):
    if not (_has("psycopg") or _has("psycopg2")):
        pytest.skip("no PostgreSQL driver (pip install 'jaxch6[optuna]')")
    ran = _two_workers(tmp_path, os.environ["JAXCH6_TEST_POSTGRES_DSN"])
    assert ran[0] and ran[1], "both workers should have trained some trials"


@pytest.mark.slow
def test_killed_worker_trials_fail_and_are_retried(tmp_path):
    url = f"sqlite:///{tmp_path}/study.db"
    name = "kill"
    n, k = 8, 3
    victim = _spawn(tmp_path, url, name, n=n, k=k, delay=120, tag="victim")
    mid = tmp_path / "mid-victim"
    t0 = time.time()
    while not mid.exists():
        assert victim.poll() is None, victim.communicate()[1][-3000:]
        assert time.time() - t0 < 60, "the victim never started a batch"
        time.sleep(0.05)
    killed = [int(x) for x in mid.read_text().split()]
    assert len(killed) == k
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    survivor = _spawn(tmp_path, url, name, n=n, k=k, hb=1, grace=2, retry=True, tag="b")
    ran = _finish(survivor)
    study = optuna.load_study(study_name=name, storage=url)
    st = _states(study)
    failed = st[TrialState.FAIL]
    assert sorted(t.number for t in failed) == killed  # the victim's batch: failed
    done = st[TrialState.COMPLETE]
    assert len(done) == n and not st[TrialState.RUNNING]
    ids = sorted(t.user_attrs["key_id"] for t in done)
    assert len(set(ids)) == n and set(killed) <= set(ids)
    assert sorted(ran) == ids  # the survivor ran them all, the victim's trials again
    retried = {t.system_attrs["failed_trial"]: t for t in done if "failed_trial" in t.system_attrs}
    assert sorted(retried) == killed
    by_number = {t.number: t for t in failed}
    for number, t in retried.items():  # same parameters, same key: the same trial
        assert t.params == by_number[number].params


# -- the command line over the real engine ------------------------------------------------------
def _has(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _parser():
    from jaxch6.commands import sweep as sweep_cmd

    p = argparse.ArgumentParser()
    sweep_cmd.add_arguments(p)
    return p


@pytest.mark.slow
def test_cli_random_study_equals_plain_sweep(tmp_path, capsys):
    """``jaxch6 sweep --sampler random`` trains the very trials of ``jaxch6 sweep``."""
    pytest.importorskip("jaxch6.train")
    from jaxch6.sweep import run

    common = ["--trials", "5", "--epochs", "2", "--hidden", "8", "--train-size", "60",
              "--batch-size", "20", "--source", "sample", "--no-compile-cache", "--no-plot"]
    args = _parser().parse_args([*common, "--sampler", "random", "--batch-trials", "3",
                                 "--out", str(tmp_path / "opt")])
    from jaxch6.commands import sweep_optuna
    from jaxch6.commands.sweep import build_config
    from jaxch6.sweep import store

    assert sweep_optuna.run(args, config=build_config(args)) == 0
    assert "Best-1(val acc:" in capsys.readouterr().out

    plain = run(build_config(_parser().parse_args(common)))
    got = {r["id"]: r for r in store.read_trials(tmp_path / "opt")}
    assert sorted(got) == [t.id for t in plain.trials]
    for t in plain.trials:
        r = got[t.id]
        assert r["hparams"] == pytest.approx(t.hparams, rel=1e-12)
        assert r["val_acc"] == t.val_acc and r["train_acc"] == t.train_acc
        assert r["diverged"] == t.diverged
    assert (tmp_path / "opt" / "study.db").exists()
    assert store.read_summary(tmp_path / "opt")["optuna"]["sampler"] == "random"
    assert store.read_manifest(tmp_path / "opt")["kind"] == "optuna"


def test_study_pins_data_and_lane_width(tmp_path):
    """A later worker adopts the first worker's lane width and refuses different data."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/pin.db")
    study = D.open_study(storage, "pin", D.make_sampler("random", BOOK_SPACE, seed=0))
    a = (np.zeros((4, 3), np.float32), np.arange(4), np.ones((2, 3), np.float32), np.arange(2))
    b = (a[0] + 1, *a[1:])
    pin = {"data_sha256": D.data_fingerprint(a), "lanes": 3}
    D.pin_study(study, pin, "pin")
    assert study.user_attrs["jaxch6_pin"] == pin
    D.pin_study(study, {"data_sha256": D.data_fingerprint(a), "lanes": 5}, "pin")  # same data
    assert study.user_attrs["jaxch6_pin"]["lanes"] == 3
    with pytest.raises(ConfigError, match="different data"):
        D.pin_study(study, {"data_sha256": D.data_fingerprint(b), "lanes": 3}, "pin")


# -- the Python entry point (jaxch6.sweep.optuna.run) over the toy model --------------------------
def _toy_config(**kw):
    from jaxch6.sweep import SweepConfig

    kw.setdefault("epochs", 4)
    return SweepConfig(batch_size=10, seed=0, lanes=1, **kw).validate()


def _toy_run(config, **kw):
    import jax
    from _sweep_toy import toy_data, toy_task

    from jaxch6.sweep import optuna as jo

    return jo.run(config, data=toy_data(), task=toy_task, devices=jax.local_devices(),
                  **kw)


@pytest.mark.slow
def test_python_entry_point_with_a_random_sampler_equals_plain_sweep(tmp_path):
    """``jaxch6.sweep.optuna.run`` (book sampler) trains the very trials of a plain sweep."""
    import jax
    from _sweep_toy import toy_data, toy_task

    from jaxch6.sweep import run, store

    config = _toy_config(trials=6)
    res = _toy_run(config, batch_trials=4, out=tmp_path / "opt")
    plain = run(config, data=toy_data(), task=toy_task, devices=jax.local_devices())
    got = {t.id: t for t in res.trials}
    assert sorted(got) == [t.id for t in plain.trials] == list(range(6))
    for t in plain.trials:
        assert got[t.id].hparams == pytest.approx(t.hparams, rel=1e-12)
        assert got[t.id].val_acc == t.val_acc and got[t.id].train_acc == t.train_acc
        assert got[t.id].diverged == t.diverged
    assert res.timings["trials_run_by_this_worker"] == 6
    assert store.read_manifest(tmp_path / "opt")["kind"] == "optuna"
    assert [r["id"] for r in store.read_trials(tmp_path / "opt")] == list(range(6))


@pytest.mark.slow
def test_random_sampler_searches_categorical_choices_like_a_plain_sweep():
    """A categorical optimizer (one compiled program per group, trials of both groups in one
    batch) and a float rate: every trial COMPLETE, choices stay strings, and each trial equals
    the plain sweep's trial of the same id."""
    import jax
    from _sweep_toy import toy_data, toy_task

    from jaxch6.sweep import Param, run

    config = _toy_config(trials=6, epochs=2, space=(
        Param.categorical("optimizer", ("sgd", "momentum")),
        Param.float("learning_rate", 1e-3, 0.3)))
    res = _toy_run(config, batch_trials=6)
    plain = run(config, data=toy_data(), task=toy_task, devices=jax.local_devices())
    got = {t.id: t for t in res.trials}
    assert sorted(got) == [t.id for t in plain.trials] == list(range(6))
    assert all(t.status == "complete" for t in res.trials)
    assert {t.hparams["optimizer"] for t in res.trials} == {"sgd", "momentum"}
    for t in plain.trials:
        g = got[t.id]
        assert type(g.hparams["optimizer"]) is str and type(g.hparams["learning_rate"]) is float
        assert g.hparams["optimizer"] == t.hparams["optimizer"]
        assert g.hparams["learning_rate"] == pytest.approx(t.hparams["learning_rate"], rel=1e-12)
        assert g.val_acc == t.val_acc and g.train_acc == t.train_acc
        assert g.diverged == t.diverged


@pytest.mark.slow
def test_plain_sweeps_and_optuna_never_share_a_directory(tmp_path):
    import jax
    from _sweep_toy import toy_data, toy_task

    from jaxch6.sweep import run

    config = _toy_config(trials=2, epochs=1)
    run(config, data=toy_data(), task=toy_task, devices=jax.local_devices(),
        out=tmp_path / "plain")
    with pytest.raises(ConfigError, match="never share"):
        _toy_run(config, out=tmp_path / "plain")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        _toy_run(config, out=tmp_path / "other")


@pytest.mark.slow
def test_a_second_worker_continues_an_optuna_directory(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    config = _toy_config(trials=3, epochs=1)
    _toy_run(config, storage=url, study_name="again", out=tmp_path / "o")
    res = _toy_run(config, storage=url, study_name="again", out=tmp_path / "o", n_trials=5)
    assert sorted(t.id for t in res.trials) == list(range(5))
    assert res.timings["trials_run_by_this_worker"] == 2
    with pytest.raises(ConfigError, match="epochs"):
        _toy_run(_toy_config(trials=3, epochs=2), storage=url, study_name="again",
                 out=tmp_path / "o")


@pytest.mark.slow
def test_user_sampler_and_median_pruner_prune_some_trials(tmp_path):
    """A user's TPE sampler and MedianPruner: trials train in rungs (1, 2, 4 epochs); some
    end PRUNED (fewer epochs, status stopped), the rest COMPLETE with every epoch."""
    config = _toy_config(trials=16, epochs=4, min_epochs=1, eta=2,
                         space=(("learning_rate", 1e-4, 3.0, "log"),))
    sampler = optuna.samplers.TPESampler(seed=0, constant_liar=True, n_startup_trials=4)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=4)
    seen = []
    res = _toy_run(config, study_name="pruned", sampler=sampler, pruner=pruner, batch_trials=4,
                   out=tmp_path / "p", progress=seen.append)
    assert res.info["optuna"]["rungs"] == [1, 2, 4]
    states = {t.id: t.status for t in res.trials}
    assert len(states) == 16
    pruned = [t for t in res.trials if t.status == "stopped"]
    complete = [t for t in res.trials if t.status == "complete"]
    assert pruned and complete
    assert all(t.epochs in (1, 2) for t in pruned)
    assert all(t.epochs == 4 for t in complete)
    assert seen[0].step_start and seen[-1].done == 16
    from jaxch6.sweep import store

    recs = {r["id"]: r for r in store.read_trials(tmp_path / "p")}
    assert {i: r["status"] for i, r in recs.items()} == states


@pytest.mark.slow
def test_pruned_rungs_equal_one_long_run(tmp_path):
    """Training in rungs (states continued, survivors compacted) gives each surviving trial
    the very curves of training it all at once."""
    config = _toy_config(trials=6, epochs=4, min_epochs=1, eta=2)
    never = optuna.pruners.ThresholdPruner(lower=-1.0)  # asks at every rung, never prunes
    rung = _toy_run(config, pruner=never, batch_trials=4)
    once = _toy_run(config, batch_trials=4)
    assert rung.info["optuna"]["rungs"] == [1, 2, 4] and once.info["optuna"]["rungs"] is None
    a, b = {t.id: t for t in rung.trials}, {t.id: t for t in once.trials}
    assert sorted(a) == sorted(b) == list(range(6))
    for i in a:
        assert a[i].val_acc == b[i].val_acc and a[i].train_acc == b[i].train_acc


def test_pruner_option_and_default_directory_stays_in_runs():
    from jaxch6.commands import sweep_optuna

    p = argparse.ArgumentParser()
    sweep_optuna.add_arguments(p)
    assert p.parse_args([]).pruner == "none"
    config = _toy_config(trials=2)
    assert D.make_pruner("none", config) is None
    assert isinstance(D.make_pruner("median", config), optuna.pruners.MedianPruner)
    assert isinstance(D.make_pruner("hyperband", config), optuna.pruners.HyperbandPruner)
    assert S.safe_path_component("../../etc") .count("/") == 0


def test_the_batch_ask_beats_marks_and_takes_the_queue_first(tmp_path):
    """The adapter's batch ask (Optuna's public calls and documented storage methods only): new
    trials numbered after the others, RUNNING, each marked as beating with its own number, the
    storage ids returned beside them; trials given back are WAITING and the next batch takes
    them first (re-marked), then creates the rest; a trial finished meanwhile refuses user
    attributes, and ``study.tell`` with ``skip_if_finished`` leaves it as it was."""
    study = _study(f"sqlite:///{tmp_path}/b.db", "batch", hb=30, grace=120)
    storage = S.storage_of(study)
    with S.quiet_optuna(), S.Heartbeat(storage) as heart:
        study.ask()  # trial 0, through Optuna's public ask (never beats)
        trials, ids = S.ask_batch(study, 3, storage, heart)
        assert [t.number for t in trials] == [1, 2, 3]
        assert ids == S.trial_ids(study, storage, [1, 2, 3])
        got = study.get_trials()
        assert [t.system_attrs.get(S.BEAT_ATTR) for t in got] == [None, 1, 2, 3]
        assert [t.state for t in got[1:]] == [TrialState.RUNNING] * 3
        S.give_back(study, storage, trials[1:])
        heart.discard(ids[1:])
        assert [t.state for t in study.get_trials()[2:]] == [TrialState.WAITING] * 2
        again, again_ids = S.ask_batch(study, 3, storage, heart)
        assert [t.number for t in again] == [2, 3, 4]
        assert again_ids[:2] == ids[1:]
        assert [t.system_attrs.get(S.BEAT_ATTR) for t in study.get_trials()[2:]] == [2, 3, 4]
        trials[0].set_user_attr("val_acc", [0.1])
        assert study.tell(trials[0], 0.3, state=TrialState.COMPLETE,
                          skip_if_finished=True).state == TrialState.COMPLETE
        study.tell(again[0], state=TrialState.FAIL)  # e.g. failed as stale by another worker
        told = study.tell(again[0], 0.5, state=TrialState.COMPLETE, skip_if_finished=True)
        assert told.state == TrialState.FAIL
        with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
            trials[0].set_user_attr("x", 1)
    got = study.get_trials()
    assert (got[1].state, got[1].value, got[1].user_attrs) == \
        (TrialState.COMPLETE, 0.3, {"val_acc": [0.1]})
    assert got[2].state == TrialState.FAIL and got[2].value is None


class _Recording(optuna.samplers.RandomSampler):
    """A random sampler that records what ``after_trial`` is handed."""

    def __init__(self):
        super().__init__(seed=0)
        self.seen = []

    def after_trial(self, study, trial, state, values):
        self.seen.append((trial.number, trial.state, state, values, trial.params,
                          trial.intermediate_values, trial.user_attrs))


def _tell_each_way(path, name, fast):
    """Five trials of one study told as a batch: COMPLETE, PRUNED after two reports, PRUNED
    after a NaN report, one failed meanwhile, COMPLETE; through ``tell_batch`` (``fast``) or
    ``study.tell`` each."""
    sampler = _Recording()
    storage = S.make_storage(f"sqlite:///{path}/{name}.db", heartbeat_interval=30)
    study = D.open_study(storage, name, sampler)
    with S.quiet_optuna(), S.Heartbeat(storage) as heart:
        trials, ids = S.ask_batch(study, 5, storage, heart)
        for t in trials:
            t.suggest_float("x", 0.0, 1.0)
            t.set_user_attr("val_acc", [0.25 * t.number])
        trials[1].report(0.5, 0)
        trials[1].report(0.75, 1)
        trials[2].report(float("nan"), 0)
        study.tell(trials[3], state=TrialState.FAIL)
        ending = [(trials[0], TrialState.COMPLETE, 0.125), (trials[1], TrialState.PRUNED, None),
                  (trials[2], TrialState.PRUNED, None), (trials[3], TrialState.COMPLETE, 0.5),
                  (trials[4], TrialState.COMPLETE, float("inf"))]
        told = [(t, i, s, v) for (t, s, v), i in zip(ending, ids, strict=True)]
        got = S.tell_batch(study, storage, told) if fast else S.tell_each(study, told)
    seen = [s for s in sampler.seen if s[0] != 3]  # the FAIL told above
    return got, study.get_trials(), seen


def test_a_batch_told_equals_study_tell_of_each(tmp_path):
    """``tell_batch`` (one read of the study instead of two of each trial) leaves the study
    as ``study.tell(…, skip_if_finished=True)`` of each trial does: states, values (a PRUNED
    trial's last report unless NaN), every attribute; samplers' ``after_trial`` sees the same
    trial before it is finished; a trial failed meanwhile is skipped and keeps its state."""
    fast, slow = _tell_each_way(tmp_path, "fast", True), _tell_each_way(tmp_path, "slow", False)
    assert fast[0] == slow[0] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.PRUNED,
                                  TrialState.FAIL, TrialState.COMPLETE]
    for a, b in zip(fast[1], slow[1], strict=True):
        assert (a.number, a.state, a.values, a.params, a.intermediate_values.keys(),
                a.user_attrs, a.system_attrs) == \
            (b.number, b.state, b.values, b.params, b.intermediate_values.keys(),
             b.user_attrs, b.system_attrs)
    assert [t.values for t in fast[1]] == [[0.125], [0.75], None, None, [float("inf")]]
    assert len(fast[2]) == len(slow[2]) == 4
    for a, b in zip(fast[2], slow[2], strict=True):
        assert a[:5] == b[:5] and a[5].keys() == b[5].keys() and a[6] == b[6]
    assert fast[2][1][5] == {0: 0.5, 1: 0.75} and fast[2][0][1] == TrialState.RUNNING


@pytest.mark.slow
def test_tpe_batches_told_in_batches_equal_those_told_one_by_one(tmp_path, monkeypatch):
    """TPE's later batches read the earlier ones' values (the batch tell empties the study's
    cache of trials that samplers read), so a study told in batches proposes what one told
    through ``study.tell`` of each trial does."""
    def run(name):
        sampler = optuna.samplers.TPESampler(seed=7, constant_liar=True, n_startup_trials=3)
        storage = S.make_storage(f"sqlite:///{tmp_path}/{name}.db", heartbeat_interval=30)
        study = D.open_study(storage, name, sampler)
        _work(study, _fake_trainer(), n_trials=12, batch_trials=3)
        return [(t.params, t.value) for t in study.get_trials()]

    batched = run("batched")
    monkeypatch.setattr(S, "tell_batch", lambda study, _storage, told: S.tell_each(study, told))
    assert run("each") == batched


@pytest.mark.parametrize("pruner", ["median", "hyperband", "asha"])
def test_a_rung_judged_at_once_equals_report_and_should_prune_of_each(tmp_path, monkeypatch,
                                                                     pruner):
    """A rung's pruning from one read of the study (``prune_batch``) leaves the study as
    ``trial.report`` and ``trial.should_prune`` of each trial in turn do: the same trials
    pruned at the same rungs, the same values, reports and system attributes (a successive-
    halving pruner's rung records among them)."""
    def run(name):
        make = {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=2),
                "hyperband": lambda: optuna.pruners.HyperbandPruner(1, 9, 3),
                "asha": lambda: optuna.pruners.SuccessiveHalvingPruner(1, 3)}[pruner]
        storage = S.make_storage(f"sqlite:///{tmp_path}/{name}.db", heartbeat_interval=30)
        study = D.open_study(storage, "rungs", D.make_sampler("random", BOOK_SPACE, seed=0),
                             pruner=make())  # one name: Hyperband's brackets hash it
        _work(study, _fake_trainer(9), n_trials=16, batch_trials=8, rungs=(1, 3, 9))
        return [(t.state, t.values, t.intermediate_values,
                 {k: v for k, v in t.system_attrs.items() if k != S.BEAT_ATTR})
                for t in study.get_trials()]

    at_once = run("at-once")
    monkeypatch.setattr(S, "prune_batch", lambda _study, _storage, reported, step:
                        S.prune_each(reported, step))
    assert run("each") == at_once
    assert {s for s, *_ in at_once} == {TrialState.COMPLETE, TrialState.PRUNED}
    if pruner == "median":  # it answers NumPy bools: a kept trial is kept
        assert "".join(s.name[0] for s, *_ in at_once) == "CCCCCCCCPCCPPPPP"


def test_a_rungs_verdicts_are_should_prunes(tmp_path):
    """``prune_batch`` and ``prune_each`` answer ``bool(trial.should_prune())`` of each trial,
    as Python bools (``MedianPruner`` answers NumPy bools), and None for a trial finished
    meanwhile."""
    storage = S.make_storage(f"sqlite:///{tmp_path}/v.db", heartbeat_interval=30)
    study = D.open_study(storage, "verdicts", D.make_sampler("random", BOOK_SPACE, seed=0),
                         pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    for value in (0.2, 0.4, 0.6):
        study.add_trial(optuna.trial.create_trial(value=value, intermediate_values={0: value}))
    with S.quiet_optuna():
        trials, ids = S.ask_batch(study, 5, storage)
    values = [0.1, 0.5, 0.3, 0.45, 0.9]
    study.tell(trials[4], state=TrialState.FAIL)  # failed as stale meanwhile
    want = [True, False, True, False, None]
    reported = list(zip(trials[:2], ids[:2], values[:2], strict=True))
    assert S.prune_each(reported, 0) == want[:2]
    rest = list(zip(trials[2:], ids[2:], values[2:], strict=True))
    got = S.prune_batch(study, storage, rest, 0)
    assert got == want[2:] and all(type(v) is bool for v in got[:2])


def test_a_failure_while_telling_puts_the_untold_trials_back(tmp_path):
    """A sampler's ``after_trial`` failing on the third trial of a batch: the worker raises,
    the trials told so far stay COMPLETE (as ``study.tell`` writes even when ``after_trial``
    raised) and the rest go back in the queue, WAITING."""
    class Flaky(optuna.samplers.RandomSampler):
        calls = 0

        def after_trial(self, study, trial, state, values):
            Flaky.calls += 1
            if Flaky.calls == 3:
                raise RuntimeError("after_trial failed")

    study = D.open_study(S.make_storage(f"sqlite:///{tmp_path}/f.db", heartbeat_interval=30),
                         "flaky", Flaky(seed=0))
    with pytest.raises(RuntimeError, match="after_trial failed"):
        _work(study, _fake_trainer(), n_trials=8, batch_trials=8)
    states = [t.state for t in study.get_trials()]
    assert states.count(TrialState.COMPLETE) == 3 and states.count(TrialState.WAITING) == 5
