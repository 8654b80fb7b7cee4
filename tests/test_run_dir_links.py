"""No file of a run is written through a symbolic link or outside the run directory (issue 19,
item 2), the lock file leaves with the run (issue 21, item 7), and the store imports where
``fcntl`` does not exist. Real files; every planted link points at an outside file that must
keep its bytes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from _checks import one_line

from jaxch6.errors import ConfigError
from jaxch6.sweep import store
from jaxch6.sweep.pool import StatePool

OUTSIDE = b"outside: not the run's\n"


@pytest.fixture
def outside(tmp_path):
    """A file outside the run directory that a planted link points at."""
    path = tmp_path / "outside.txt"
    path.write_bytes(OUTSIDE)
    yield path
    assert path.read_bytes() == OUTSIDE  # never truncated, appended to or replaced


@pytest.fixture
def run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    return out


def _rec(i):
    return {"id": i, "round": 0, "hparams": {"learning_rate": 0.1}, "final_val_acc": 0.5,
            "diverged": False, "train_acc": [0.5], "val_acc": [0.5]}


def test_a_lock_link_is_refused(run, outside):
    (run / store.LOCK).symlink_to(outside)
    with pytest.raises(ConfigError) as e:
        store.lock(run)
    one_line(e, f"refusing to write {run / store.LOCK}: it is a symbolic link")


def test_records_are_never_appended_through_a_link(run, outside):
    (run / store.TRIALS).symlink_to(outside)
    with pytest.raises(ConfigError) as e:
        store.append_trials(run, [_rec(0)])
    one_line(e, "it is a symbolic link")


@pytest.mark.parametrize("name", [store.SUMMARY, store.MANIFEST, store.TRIALS])
def test_replaced_files_replace_a_link_and_never_follow_it(run, outside, name):
    (run / name).symlink_to(outside)
    (run / f"{name}.tmp").symlink_to(outside)  # the old fixed temporary name
    if name == store.MANIFEST:
        (run / name).unlink()  # a manifest is written once: only its temporary is planted
        store.write_manifest(run, store.make_manifest("sweep", {"epochs": 1}, "ab", lanes=2))
    elif name == store.SUMMARY:
        store.write_summary(run, {"status": "running"})
    else:
        store.replace_trials(run, [_rec(0)])
    assert not (run / name).is_symlink() and (run / name).stat().st_size > 0


@pytest.mark.parametrize("sub", ["states", "models"])
def test_a_linked_subdirectory_is_refused(run, tmp_path, sub):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run / sub).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ConfigError) as e:
        if sub == "states":
            StatePool(None, run / sub)
        else:
            store.write_file(run / sub / "trial-0.npz", b"x")
    one_line(e, f"refusing to write into {run / sub}: it is a symbolic link")
    assert list(elsewhere.iterdir()) == []


def test_state_blocks_and_index_never_follow_links(run, outside):
    import jax

    states = run / "states"
    states.mkdir()
    (states / "index.jsonl").symlink_to(outside)
    (states / "block-000000.npz").symlink_to(outside)
    pool = StatePool(jax.tree.structure((0,)), states)
    with pytest.raises(ConfigError, match="is a symbolic link"):
        pool.put([(0, 0, 0)], (np.zeros((1, 2), np.float32),))


def test_a_figure_replaces_a_link_and_never_follows_it(run, outside):
    from jaxch6 import plots
    from jaxch6.sweep.records import Trial

    (run / "top20.png").symlink_to(outside)
    plots.sweep_top_grid([Trial(0, 0, {"learning_rate": 0.1}, [0.5, 0.6], [0.4, 0.5], False)],
                         run / "top20.png")
    assert (run / "top20.png").read_bytes()[:4] == b"\x89PNG"


def test_experiment_figures_and_summaries_replace_a_link(run, outside):
    """``jaxch6 experiment`` writes its figures and JSON like a sweep's (store.write_file)."""
    from jaxch6.experiments import common

    plt = common.pyplot()
    for name in ("naive.png", "naive.json", "scatter.png"):
        (run / name).symlink_to(outside)
    common.write_outputs(run, "naive", plt.figure(figsize=(1, 1)), {"x": 1})
    common.save_figure(plt.figure(figsize=(1, 1)), run / "scatter.png")
    assert (run / "naive.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "scatter.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "naive.json").read_text() == '{\n "x": 1\n}\n'
    (run / f".jaxch6-write-test-{os.getpid()}").symlink_to(outside)  # the writability probe
    with pytest.raises(ConfigError, match="cannot write"):
        common.check_writable(run)


@pytest.mark.parametrize("name", ["study.db", "study.db-wal", "study.db-journal"])
def test_a_linked_sqlite_study_is_refused(run, outside, name):
    """An Optuna worker's study.db (or its journal) that is a link: SQLite would write
    through it, so the storage is refused before SQLite opens it."""
    from jaxch6.sweep import optuna_storage as S

    (run / name).symlink_to(outside)
    with pytest.raises(ConfigError) as e:
        S.storage_url(f"sqlite:///{run}/study.db")
    one_line(e, f"refusing {run / name}: it is a symbolic link")


@pytest.mark.slow
def test_an_optuna_worker_refuses_a_linked_study_db(run, outside):
    """The command: a worker whose run directory holds a study.db link (a directory a worker
    may join) stops with one line before SQLite opens it."""
    (run / "study.db").symlink_to(outside)
    r = subprocess.run([sys.executable, "-m", "jaxch6", "sweep", "--sampler", "random",
                        "--trials", "2", "--epochs", "1", "--train-size", "100", "--source",
                        "sample", "--no-plot", "--quiet", "--out", str(run)],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr[-2000:]
    assert f"refusing {run / 'study.db'}: it is a symbolic link" in r.stderr


def test_a_csv_replaces_a_link(run, outside):
    from jaxch6.sweep.tables import write_csv

    (run / "trials.csv").symlink_to(outside)
    write_csv(run, [])
    assert (run / "trials.csv").read_text().startswith("id,")


def test_a_finished_lock_leaves_no_file_and_a_new_owner_can_take_it(run):
    held = store.lock(run)
    with pytest.raises(ConfigError, match="in use by another sweep"):
        store.lock(run)
    held.release()
    assert not (run / store.LOCK).exists()
    store.lock(run).release()
    assert list(run.iterdir()) == []


def test_the_store_imports_and_locks_without_fcntl(tmp_path):
    """``import jaxch6.sweep`` where there is no fcntl (Windows): the lock is filelock's."""
    code = ("import sys; sys.modules['fcntl'] = None\n"
            "import jaxch6.sweep\n"
            "from jaxch6.sweep import store\n"
            "assert 'fcntl' not in sys.modules or sys.modules['fcntl'] is None\n"
            f"h = store.lock({str(tmp_path / 'r')!r}); h.release(); print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_a_directory_left_by_a_kill_before_its_manifest_can_be_claimed(run):
    """A kill while the manifest was being written leaves a temporary file (and the lock file):
    the directory is still empty for a new run, which removes the leftover."""
    (run / store.LOCK).write_text("12345\n")
    (run / ".manifest.json.ab_cd123.tmp").write_text("{")
    assert store.claim(run, "sweep") is None
    assert [p.name for p in run.iterdir()] == [store.LOCK]
    (run / "notes.tmp").write_text("mine")
    with pytest.raises(ConfigError, match="is not empty .holds notes.tmp"):
        store.claim(run, "sweep")


# -- damaged states/ (issue 19 item 6): one line naming the file, never a raw traceback ---------
def _pool_with_a_block(states_dir):
    import jax

    pool = StatePool(jax.tree.structure((0, 0)), states_dir)
    pool.put([(0, 0, 2), (1, 0, 2)], (np.ones((2, 3), np.float32), np.zeros((2,), np.int32)))
    return jax.tree.structure((0, 0))


@pytest.mark.parametrize("damage, needle", [
    (lambda d: (d / "block-000000.npz").write_bytes(b"PK\x03\x04 not a zip"), "block-000000.npz"),
    (lambda d: (d / "block-000000.npz").write_bytes(b""), "block-000000.npz"),
    (lambda d: (d / "index.jsonl").write_text('{"block": 0\n{"block": 1}\n'),
     "index.jsonl: a kept"),
    (lambda d: (d / "index.jsonl").write_text('{"block": "x", "entries": []}\n'), "line 1 is not"),
    (lambda d: (d / "index.jsonl").write_text('{"block": 0, "entries": [[0, 0, 2]]}\n'),
     "no run state of trial 1, repeat 0, epoch 2"),
])
def test_a_damaged_state_pool_is_one_line_naming_the_file(tmp_path, damage, needle):
    states = tmp_path / "states"
    treedef = _pool_with_a_block(states)
    damage(states)
    with pytest.raises(ConfigError) as e:
        StatePool(treedef, states).take([(0, 0, 2), (1, 0, 2)])
    one_line(e, needle, "damaged or missing")


def test_a_pickled_state_block_is_refused(tmp_path):
    states = tmp_path / "states"
    treedef = _pool_with_a_block(states)
    np.savez(states / "block-000000.npz", leaf0=np.array([object()], dtype=object),
             leaf1=np.zeros(2))
    with pytest.raises(ConfigError) as e:
        StatePool(treedef, states).take([(0, 0, 2)])
    one_line(e, "block-000000.npz", "ValueError")


# -- raw exceptions that are one line now (issue 19 item 12) ------------------------------------
def test_deeply_nested_json_isone_line(run):
    (run / store.MANIFEST).write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(ConfigError) as e:
        store.read_manifest(run)
    one_line(e, "nested too deeply")
    (run / store.TRIALS).write_text("[" * 100000 + "]" * 100000 + "\n" + '{"id": 0}\n')
    with pytest.raises(ConfigError) as e:
        store.read_trials(run)
    one_line(e, "line 1")


@pytest.mark.parametrize("data, needle", [
    (("x",), "must be (x_train, t_train, x_val, t_val)"),
    ((np.zeros(10), np.zeros(10, int), np.zeros((4, 3)), np.zeros(4, int)), "x_train must be 2-D"),
    ((np.zeros((10, 3, 2)), np.zeros(10, int), np.zeros((4, 3)), np.zeros(4, int)),
     "x_train must be 2-D"),
    ((np.zeros((10, 3)), np.zeros(10, int), np.zeros((4, 5)), np.zeros(4, int)),
     "x_train has 3 features, x_val 5"),
    ((np.array([["a"] * 3] * 10), np.zeros(10, int), np.zeros((4, 3)), np.zeros(4, int)),
     "x_train must hold numbers"),
    (([[1, 2], [3]], np.zeros(2, int), np.zeros((4, 2)), np.zeros(4, int)), "x_train: not an"),
    ((np.zeros((10, 3)), np.zeros(9, int), np.zeros((4, 3)), np.zeros(4, int)),
     "t_train must be 1-D with one label per row"),
    ((np.zeros((10, 3)), np.zeros(10), np.zeros((4, 3)), np.zeros(4, int)),
     "t_train must hold integer labels"),
])
def test_bad_data_for_the_book_network_is_a_data_error(data, needle):
    from jaxch6.errors import DataError
    from jaxch6.sweep.runner import check_book_data

    with pytest.raises(DataError) as e:
        check_book_data(data)
    one_line(e, needle)


def test_load_model_of_a_bad_file_or_id_isone_line(run):
    from jaxch6.sweep import load_model

    (run / "models").mkdir()
    (run / "models" / "trial-3.npz").write_bytes(b"not an archive")
    np.savez(run / "models" / "trial-4.npz", params=np.zeros(2))  # no meta
    for trial, needle in ((3, "not a saved model"), (4, "not a saved model"),
                          ("x", "trial id must be an integer >= 0"),
                          (-1, "trial id must be an integer >= 0")):
        with pytest.raises(ConfigError) as e:
            load_model(run, trial)
        one_line(e, needle)


def test_a_name_too_long_isone_line(tmp_path, capsys):
    from jaxch6.cli import main

    long = tmp_path / ("a" * 300)
    for argv in (["sweep", "show", str(long)], ["sweep", "--resume", str(long)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "File name too long" in err, err
