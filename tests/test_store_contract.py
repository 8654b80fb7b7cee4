"""The run-directory contract (jaxch6.sweep.store): lock, claim, manifest, validated records,
strict JSON, write failures; and ``jaxch6 experiment --out`` write errors. Real files, real
processes; a full or read-only disk is a small tmpfs (skipped where it cannot be mounted)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _checks import one_line

from jaxch6 import cli
from jaxch6.errors import ConfigError
from jaxch6.sweep import store

ROOT = Path(__file__).resolve().parents[1]


def _rec(i, acc=0.5, epochs=2, **kw):
    rec = {"id": i, "round": 0, "hparams": {"learning_rate": 10.0 ** -(i + 1),
                                            "weight_decay": 1e-6},
           "final_val_acc": acc, "diverged": False, "train_acc": [acc] * epochs,
           "val_acc": [acc] * epochs}
    return rec | kw


# -- lock ---------------------------------------------------------------------------------------
HOLDER = """
import sys
from jaxch6.sweep import store
held = store.lock(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_second_process_cannot_lock_a_directory_in_use(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError) as e:
            store.lock(out)
        one_line(e, f"{out} is in use by another sweep (pid {proc.pid})")
    finally:
        proc.send_signal(signal.SIGKILL)  # a crash: the kernel releases the lock
        proc.wait()
    with store.lock(out) as held:  # free again
        assert held.held
        with pytest.raises(ConfigError, match=f"in use by another sweep .pid {os.getpid()}"):
            store.lock(out)  # the same process twice is refused too
    assert not held.held
    store.lock(out).release()  # released by the with block


def test_lock_creates_the_directory_and_refuses_files(tmp_path):
    out = tmp_path / "a" / "b"
    held = store.lock(out)
    assert (out / store.LOCK).read_text().strip() == str(os.getpid())  # guards the live run
    held.release()
    assert out.is_dir() and not (out / store.LOCK).exists()  # a finished run leaves no .lock
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ConfigError) as e:
        store.lock(f)
    one_line(e, f"cannot use {f} as a run directory: it is a file")
    with pytest.raises(ConfigError) as e:
        store.lock(f / "sub")
    one_line(e, f"cannot create {f / 'sub'}: Not a directory ({f} is a file)")


# -- claim --------------------------------------------------------------------------------------
def test_claim_a_new_directory(tmp_path):
    assert store.claim(tmp_path / "new", "sweep") is None  # does not exist: fine
    out = tmp_path / "run"
    with store.lock(out):  # only our .lock in it: fine
        assert store.claim(out, "sweep") is None
    (out / "notes.txt").write_text("mine")
    (out / "zzz").mkdir()
    with pytest.raises(ConfigError) as e:
        store.claim(out, "optuna")
    one_line(e, f"{out} is not empty (holds notes.txt and 1 more)", "never replaced")
    with pytest.raises(ConfigError, match="run kind must be one of sweep, optuna"):
        store.claim(out, "plain")
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(ConfigError, match="it is a file"):
        store.claim(f, "sweep")


def test_an_optuna_worker_stopped_before_its_manifest_can_be_run_again(tmp_path):
    """Issue 19 item 3: a worker stopped between opening its study and writing its manifest
    left study.db (and SQLite's journals) in its directory; the next worker joins that study,
    while a plain sweep still refuses the directory."""
    out = tmp_path / "run"
    out.mkdir()
    for name in store.STUDY_FILES[:3]:
        (out / name).write_bytes(b"")
    with store.lock(out):
        assert store.claim(out, "optuna") is None
        with pytest.raises(ConfigError, match="is not empty"):
            store.claim(out, "sweep")
    (out / "other.txt").write_text("x")
    with store.lock(out), pytest.raises(ConfigError, match=r"holds other.txt\)"):
        store.claim(out, "optuna")


def test_claim_for_resume_checks_the_kind(tmp_path):
    out = tmp_path / "run"
    with store.lock(out):
        store.write_manifest(out, store.make_manifest("optuna", {"epochs": 2}, "ab", lanes=4))
        with pytest.raises(ConfigError) as e:
            store.claim(out, "sweep")  # a new run: the manifest is named
        one_line(e, "holds manifest.json")
        assert store.claim(out, "optuna", resume=True)["lanes"] == 4
        with pytest.raises(ConfigError) as e:
            store.claim(out, "sweep", resume=True)
        one_line(e, "holds a 'optuna' run, not a 'sweep' run")
    with pytest.raises(ConfigError) as e:
        store.claim(tmp_path / "empty", "sweep", resume=True)
    one_line(e, "no manifest.json there")


# -- manifest -----------------------------------------------------------------------------------
def _manifest(**config):
    data = (np.zeros((4, 3), np.float32), np.arange(4))
    cfg = {"epochs": 50, "hidden": (100, 100), "optimizer": "sgd"} | config
    return store.make_manifest("sweep", cfg, store.data_fingerprint(data), lanes=8,
                               command_line=["jaxch6", "sweep", "--epochs", "50"])


def test_manifest_roundtrip_written_once(tmp_path):
    m = _manifest()
    assert set(m) == {*store.MANIFEST_FIELDS, store.DIGEST}
    assert set(m["versions"]) == {"jaxch6", "jax", "jaxlib", "optax"}
    store.write_manifest(tmp_path, m)
    back = store.read_manifest(tmp_path)
    assert back["config"]["hidden"] == [100, 100] and back["command_line"][1] == "sweep"
    assert store.check_manifest(back, m) == []  # tuple vs list: the same config
    with pytest.raises(ConfigError) as e:
        store.write_manifest(tmp_path, m)
    one_line(e, "manifest.json already exists")
    (tmp_path / store.MANIFEST).write_text('{"kind": "sweep"}')
    with pytest.raises(ConfigError, match="manifest.json: missing field 'config'"):
        store.read_manifest(tmp_path)
    (tmp_path / store.MANIFEST).write_text('{"kind": ')
    with pytest.raises(ConfigError, match="manifest.json: not valid JSON"):
        store.read_manifest(tmp_path)


def test_manifest_mismatches_name_the_first_difference():
    old = _manifest()
    cases = [
        (_manifest(epochs=5), "resume: config field 'epochs' was 50, now 5"),
        (_manifest(momentum=0.9), "resume: config field 'momentum' was absent, now 0.9"),
        (_manifest(optimizer="adam"), "resume: config field 'optimizer' was \"sgd\", now \"adam\""),
        (old | {"data_fingerprint": "f" * 64}, "resume: the data changed (fingerprint "),
        (old | {"lanes": 16}, "resume: lanes was 8, now 16"),
        (old | {"kind": "optuna"}, "holds a 'sweep' run, this is a 'optuna' run"),
    ]
    for new, message in cases:
        with pytest.raises(ConfigError) as e:
            store.check_manifest(old, new)
        one_line(e, message)
    assert store.check_manifest(old, _manifest(epochs=5), allow=["epochs"]) == []
    task = _manifest(task="mine:make_task")
    with pytest.raises(ConfigError) as e:  # a task's data: where it comes from is the hint
        store.check_manifest(task, task | {"data_fingerprint": "f" * 64})
    assert str(e.value).endswith("; a task's data: give the same --data FILE (or data=) again")
    newer = old | {"versions": old["versions"] | {"jax": "99.0"}}
    warnings = store.check_manifest(old, newer)
    assert len(warnings) == 1 and "jax was" in warnings[0] and "now 99.0" in warnings[0]


def test_data_fingerprint():
    a = (np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(2))
    same = (np.asfortranarray(a[0]), a[1].copy())
    assert store.data_fingerprint(a) == store.data_fingerprint(same)
    assert store.data_fingerprint(a) != store.data_fingerprint((a[0].reshape(3, 2), a[1]))
    assert store.data_fingerprint(a) != store.data_fingerprint((a[0].astype(np.float64), a[1]))
    from jaxch6.sweep import optuna_driver

    assert optuna_driver.data_fingerprint(a) == store.data_fingerprint(a)  # one implementation


def test_manifest_command_line_has_no_password(tmp_path):
    m = store.make_manifest("optuna", {}, "ab", lanes=1, command_line=[
        "jaxch6", "sweep", "--storage", "postgresql://u:s3cr%40t@db:5432/x",
        "--storage=postgresql://:s3cret@db/x?sslpassword=s3cret2"])
    store.write_manifest(tmp_path, m)
    text = (tmp_path / store.MANIFEST).read_text()
    assert "s3cr" not in text and "u:***@db:5432/x" in text


# -- records ------------------------------------------------------------------------------------
def _validator():
    return store.make_validator(range(10), 2, ["learning_rate", "weight_decay"])


BAD = [
    ({"id": "x"}, "id 'x' is not an integer"),
    ({"id": 3}, "missing field(s) round, hparams"),
    (_rec(1, hparams=[1, 2]), "hparams must be an object of name: value, got list"),
    (_rec(1, hparams={"learning_rate": 0.1}), "hparams lack weight_decay"),
    (_rec(1, hparams={"learning_rate": 0.1, "weight_decay": 0, "x": 1}), "hparams have unknown x"),
    (_rec(1, val_acc=[]), "val_acc has 0 values, expected one per epoch (2)"),
    (_rec(1, train_acc=[0.5, 1.5]), "train_acc[1] = 1.5 is not an accuracy in [0, 1] or null"),
    (_rec(1, train_acc="0.5"), "train_acc must be a list of accuracies, got str"),
    (_rec(999), "id 999 is not in the plan (0..9)"),
    (_rec(1, round=-1), "round -1 is not a non-negative integer"),
    (_rec(1, diverged="no"), "diverged 'no' is not true or false"),
    (_rec(1, final_val_acc="high"), "final_val_acc 'high' is not an accuracy"),
    ([1, 2], "not a JSON object but list"),
]


def test_bad_records_are_one_line_errors_with_the_line_number(tmp_path):
    path = tmp_path / store.TRIALS
    for bad, message in BAD:
        path.write_text(json.dumps(_rec(0)) + "\n" + json.dumps(bad) + "\n")
        with pytest.raises(ConfigError) as e:
            store.read_trials(tmp_path, validate=_validator())
        one_line(e, f"{path} line 2: {message}")
    path.write_text(json.dumps(_rec(0)) + "\n" + json.dumps(_rec(0)) + "\n")
    with pytest.raises(ConfigError) as e:
        store.read_trials(tmp_path)
    one_line(e, "line 2: trial id 0 appears twice (first on line 1)")
    # categorical values, nulls in curves, a null final accuracy: fine
    good = _rec(4, hparams={"learning_rate": 0.1, "weight_decay": "none"}, final_val_acc=None,
                val_acc=[0.5, None])
    path.write_text(json.dumps(good) + "\n")
    assert store.read_trials(tmp_path, validate=_validator()) == [good]
    ragged = store.make_validator({4}, lambda r: 2, None)
    assert store.read_trials(tmp_path, validate=ragged)[0]["id"] == 4


def test_a_cut_short_last_line_is_still_dropped_with_validation(tmp_path):
    store.append_trials(tmp_path, [_rec(0), _rec(1)])
    path = tmp_path / store.TRIALS
    good = path.read_bytes()
    path.write_bytes(good + json.dumps(_rec(2)).encode()[:30])
    assert [r["id"] for r in store.read_trials(tmp_path, validate=_validator())] == [0, 1]
    with pytest.raises(ConfigError) as e:  # appending onto a partial line is refused
        store.append_trials(tmp_path, [_rec(2)])
    one_line(e, "ends with a partial line")
    store.read_trials(tmp_path, repair=True)
    assert path.read_bytes() == good
    store.append_trials(tmp_path, [_rec(2)])
    assert len(store.read_trials(tmp_path, validate=_validator())) == 3


# -- strict JSON --------------------------------------------------------------------------------
def _strict(text: str):
    def refuse(name):
        raise AssertionError(f"non-standard JSON literal {name}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_floats_are_written_as_null(tmp_path):
    nan, inf = float("nan"), float("inf")
    assert store.to_json_safe({"a": (nan, 1.0, [inf, -inf]), 2: np.float32(np.nan),
                               "n": np.int64(3), "b": np.bool_(True),
                               "arr": np.array([1.0, np.nan])}) == \
        {"a": [None, 1.0, [None, None]], "2": None, "n": 3, "b": True, "arr": [1.0, None]}
    store.append_trials(tmp_path, [_rec(0, acc=nan)])
    store.write_summary(tmp_path, {"best": nan, "timings": {"run_seconds": inf}})
    store.write_manifest(tmp_path, store.make_manifest("sweep", {"x": nan}, "ab", lanes=1))
    for name in (store.TRIALS, store.SUMMARY, store.MANIFEST):
        for line in (tmp_path / name).read_text().splitlines() if name == store.TRIALS else \
                [(tmp_path / name).read_text()]:
            _strict(line)
    rec = store.read_trials(tmp_path)[0]
    assert rec["final_val_acc"] is None and rec["val_acc"] == [None, None]
    assert store.read_summary(tmp_path) == {"best": None, "timings": {"run_seconds": None}}
    # files of older versions with NaN literals still read (as null)
    (tmp_path / store.SUMMARY).write_text('{"best": NaN}')
    assert store.read_summary(tmp_path) == {"best": None}


def test_summary_is_replaced_and_readable_for_merging(tmp_path):
    store.write_summary(tmp_path, {"status": "complete", "timings": {"run_seconds": 3.5}})
    old = store.read_summary(tmp_path)
    store.write_summary(tmp_path, old | {"status": "running", "resumed_at": ["t"]})
    assert store.read_summary(tmp_path)["timings"] == {"run_seconds": 3.5}
    (tmp_path / store.SUMMARY).write_text("[1]")
    with pytest.raises(ConfigError, match="not a summary"):
        store.read_summary(tmp_path)


# -- write failures -----------------------------------------------------------------------------
def test_writes_under_a_file_are_one_line_errors(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    for out in (f, f / "sub"):
        with pytest.raises(ConfigError) as e:
            store.append_trials(out, [_rec(0)])
        one_line(e, f"cannot write {out / store.TRIALS}: Not a directory ({f} is a file)")
        with pytest.raises(ConfigError) as e:
            store.write_summary(out, {"a": 1})
        one_line(e, f"cannot write {out / store.SUMMARY}: Not a directory")
    assert f.read_text() == "x"


@pytest.fixture
def small_fs(tmpfs):
    """A 64 KiB tmpfs (needs root and mount); skipped where it cannot be mounted."""
    return tmpfs("64k")


def test_a_full_disk_keeps_what_was_written(small_fs):
    out = small_fs / "run"
    held = store.lock(out)
    store.write_summary(out, {"status": "running"})
    path = out / store.TRIALS
    written, size = 0, 0
    with pytest.raises(ConfigError) as e:
        for _ in range(1000):
            chunk = [_rec(i, epochs=20) for i in range(written, written + 40)]
            size = path.stat().st_size if path.exists() else 0
            store.append_trials(out, chunk)
            written += len(chunk)
    one_line(e, f"cannot write {path}: No space left on device")
    assert written > 0 and path.stat().st_size == size  # the failed chunk was truncated away
    assert [r["id"] for r in store.read_trials(out)] == list(range(written))
    with pytest.raises(ConfigError) as e:
        store.write_summary(out, {"status": "complete", "pad": "x" * 100_000})
    one_line(e, f"cannot write {out / store.SUMMARY}: No space left on device")
    assert store.read_summary(out) == {"status": "running"}
    assert not list(out.glob("*.tmp"))
    held.release()


def test_a_read_only_disk_is_a_one_line_error(small_fs, capsys):
    store.lock(small_fs / "run").release()
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    for call, name in ((lambda: store.lock(small_fs / "run"), store.LOCK),
                       (lambda: store.append_trials(small_fs / "run", [_rec(0)]), store.TRIALS),
                       (lambda: store.write_summary(small_fs / "run", {}), store.SUMMARY),
                       (lambda: store.lock(small_fs / "new"), "new")):
        with pytest.raises(ConfigError) as e:
            call()
        one_line(e, name, "Read-only file system")
    assert cli.main(["experiment", "batch_norm_test", "--quick", "--out",
                     str(small_fs / "figs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Read-only file system" in err, err


# -- jaxch6 experiment --out --------------------------------------------------------------------
def test_experiment_out_that_cannot_be_written_exits_2(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    for out, reason in ((f, "it is a file, not a directory"),
                        (f / "figs", f"Not a directory ({f} is a file)")):
        assert cli.main(["experiment", "batch_norm_test", "--quick", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and reason in err and str(out) in err, err
    assert f.read_text() == "x"


def test_to_json_safe_keeps_plain_values():
    obj = {"s": "x", "i": 1, "b": False, "n": None, "f": 0.25, "l": [1, "a"]}
    assert store.to_json_safe(obj) == obj
