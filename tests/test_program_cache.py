"""The program cache: a process whose task declares a program key deserializes the engine's
programs instead of tracing them, and runs them with the results of the programs compiled
directly; another key, chunk or JAX setting is a miss; an unreadable entry is traced again."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from _task_toy import make_data, make_task

from jaxch6.sweep import SweepConfig, program_cache, run
from jaxch6.sweep.engine import Engine
from jaxch6.sweep.keys import lane_keys

NAMES = ["learning_rate", "weight_decay", "label_smoothing"]
HP = {"learning_rate": np.array([0.05, 0.5, 2.0, 0.2], np.float32),
      "weight_decay": np.array([1e-4, 1e-3, 1e-5, 0.0], np.float32),
      "label_smoothing": np.array([0.0, 0.1, 0.05, 0.2], np.float32)}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """The program cache on, in a folder of its own (JAX's settings untouched)."""
    where = tmp_path / program_cache.FOLDER
    monkeypatch.setattr(program_cache, "directory", lambda: where)
    return where


def counting(key):
    """The toy task with ``key``, and how many times its init and advance were traced."""
    task = make_task()
    calls = {"init": 0, "advance": 0}

    def init(k, hp):
        calls["init"] += 1
        return task.init(k, hp)

    def advance(state, hp, data, epochs):
        calls["advance"] += 1
        return task.advance(state, hp, data, epochs)

    return dataclasses.replace(task, init=init, advance=advance, program_key=key), calls


def train(task, chunk=4, epochs=3):
    """Four fresh lanes trained ``epochs`` epochs (two calls); the engine and the histories."""
    engine = Engine(task, make_data()[0], NAMES, chunk)
    engine.precompile([1, epochs - 1])
    handle = engine.dispatch(1, HP, key_data=lane_keys(3, range(4)))
    _, states = engine.fetch(handle, states=True)
    history, _ = engine.fetch(engine.dispatch(epochs - 1, HP, states=states))
    return engine, {k: np.asarray(v) for k, v in history.items()}


def same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.slow
def test_a_hit_traces_nothing_and_gives_the_direct_programs_results(folder, monkeypatch):
    monkeypatch.setattr(program_cache, "directory", lambda: None)
    _, direct = train(counting("toy")[0])  # the cache off: compiled directly
    monkeypatch.setattr(program_cache, "directory", lambda: folder)
    task, calls = counting("toy")
    first, missed = train(task)
    assert calls["init"] > 0 and calls["advance"] > 0 and first.programs_loaded == 0
    assert len(list(folder.glob("*.bin"))) == 2  # init, advance by gcd(1, 2) = 1 epoch
    task, calls = counting("toy")
    second, hit = train(task)
    assert calls == {"init": 0, "advance": 0} and second.programs_loaded == 2
    same(missed, direct)
    same(hit, direct)
    assert not np.array_equal(direct["val_loss"][0], direct["val_loss"][2])  # lanes differ


@pytest.mark.slow
def test_another_key_chunk_or_jax_setting_is_a_miss(folder):
    train(counting("toy")[0])
    for key, chunk in (("toy, changed", 4), ("toy", 8)):
        task, calls = counting(key)
        engine, _ = train(task, chunk=chunk)
        assert calls["advance"] > 0 and engine.programs_loaded == 0
    parts = ("advance", 4)
    before = program_cache.key("toy", parts)
    old = jax.config.jax_default_matmul_precision
    jax.config.update("jax_default_matmul_precision", "highest")
    try:
        assert program_cache.key("toy", parts) != before
    finally:
        jax.config.update("jax_default_matmul_precision", old)
    assert program_cache.key("toy", parts) == before


@pytest.mark.slow
def test_an_unreadable_entry_is_traced_again_and_rewritten(folder):
    _, direct = train(counting("toy")[0])
    for path in folder.glob("*.bin"):
        path.write_bytes(path.read_bytes()[:100])
    task, calls = counting("toy")
    engine, again = train(task)
    assert calls["advance"] > 0 and engine.programs_loaded == 0
    same(again, direct)
    task, calls = counting("toy")
    assert train(task)[0].programs_loaded == 2 and calls["advance"] == 0


@pytest.mark.slow
def test_a_task_without_a_key_is_never_stored(folder):
    engine = Engine(make_task(), make_data()[0], NAMES, 4)
    engine.precompile([2])
    assert not folder.exists() and engine.programs_loaded == 0


def test_the_cache_is_off_with_jaxs_compilation_cache():
    old = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    try:
        assert program_cache.directory() is None
    finally:
        jax.config.update("jax_enable_compilation_cache", old)


@pytest.mark.slow
def test_the_books_sweep_is_the_same_cold_warm_and_without_the_cache(folder, monkeypatch):
    config = SweepConfig(trials=6, epochs=3, batch_size=10, hidden=(8,), train_size=60,
                         val_fraction=0.2, source="sample", seed=2, dropout=True,
                         batchnorm=True, optimizer="adam")
    runs = []
    for where in (None, folder, folder):
        monkeypatch.setattr(program_cache, "directory", lambda where=where: where)
        runs.append([(t.hparams, t.train_acc, t.val_acc) for t in run(config).trials])
    assert runs[0] == runs[1] == runs[2]
    assert len(list(folder.glob("*.bin"))) == 2


@pytest.mark.slow
def test_the_command_keeps_its_programs_beside_jaxs_cache(tmp_path):
    cache = tmp_path / "cache"
    argv = [sys.executable, "-m", "jaxch6", "sweep", "--trials", "4", "--epochs", "2",
            "--hidden", "8", "--train-size", "60", "--quiet", "--no-plot", "--cpu-devices", "1"]
    # --no-compile-cache turns both caches off, also where the environment names a cache
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "env-cache")}
    outs = []
    for i, where in enumerate((["--compile-cache", str(cache)],) * 2 + (["--no-compile-cache"],)):
        out = tmp_path / f"run{i}"
        subprocess.run([*argv, *where, "--out", str(out)], check=True, capture_output=True,
                       env=env)
        outs.append([json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()])
        if i == 0:
            assert len(list((cache / program_cache.FOLDER).glob("*.bin"))) == 2
    assert outs[0] == outs[1] == outs[2]
    assert not (tmp_path / "env-cache").exists() or not any((tmp_path / "env-cache").rglob("*"))


@pytest.mark.slow
def test_an_entry_filed_under_another_key_is_not_used(folder):
    train(counting("toy")[0])
    a, b = sorted(folder.glob("*.bin"))
    a.write_bytes(b.read_bytes())  # a copy of the other program, under this one's name
    task, calls = counting("toy")
    _, again = train(task)
    assert calls["init"] + calls["advance"] > 0
    _, direct = train(counting("toy")[0])
    same(again, direct)


@pytest.mark.slow
def test_a_source_modified_since_the_process_started_turns_the_cache_off(folder, monkeypatch):
    assert program_cache.source_digest() is not None
    monkeypatch.setattr(program_cache, "process_start", lambda: 0.0)  # every file is newer
    assert program_cache.source_digest() is None and program_cache.key("toy", ()) is None
    task, calls = counting("toy")
    engine, _ = train(task)
    assert calls["advance"] > 0 and not folder.exists()


@pytest.mark.slow
def test_a_program_jax_export_cannot_carry_is_traced_as_without_the_cache(folder, capfd):
    task, _ = counting("toy, loud")
    advance = task.advance

    def loud(state, hp, data, epochs):  # a host callback: jax.export refuses to serialize it
        state, metrics = advance(state, hp, data, epochs)
        jax.debug.print("epochs {e}", e=epochs)
        return state, metrics

    _, direct = train(counting("toy")[0])
    engine, out = train(dataclasses.replace(task, advance=loud))
    same(out, direct)
    assert "epochs" in capfd.readouterr().out
    assert len(list(folder.glob("*.bin"))) == 3  # the first task's two, the loud one's init


def test_storing_removes_half_written_entries_of_killed_writers_only(tmp_path):
    class Exported:
        def serialize(self):
            return b"program"

    old, fresh = tmp_path / ".tmp-old", tmp_path / ".tmp-fresh"
    old.write_bytes(b"half")
    fresh.write_bytes(b"half")
    hours_ago = time.time() - 2 * program_cache.STALE_TMP_S
    os.utime(old, (hours_ago, hours_ago))
    program_cache.store(tmp_path, "k", Exported(), None)
    assert not old.exists() and fresh.read_bytes() == b"half"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp-fresh", "k.bin"]
