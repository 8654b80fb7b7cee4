"""The results store: append + fsync per chunk, tolerant reading, atomic summary."""

from __future__ import annotations

import json

import pytest

from jaxch6.errors import ConfigError
from jaxch6.sweep import store


def _rec(i, acc=0.5):
    return {"id": i, "round": 0, "hparams": {"learning_rate": 10.0 ** -i}, "final_val_acc": acc,
            "diverged": False, "train_acc": [acc], "val_acc": [acc]}


def test_append_and_read_back(tmp_path):
    store.append_trials(tmp_path, [_rec(0), _rec(1)])
    store.append_trials(tmp_path, [_rec(2, 0.75)])
    got = store.read_trials(tmp_path)
    assert [r["id"] for r in got] == [0, 1, 2]
    assert got[2]["final_val_acc"] == 0.75 and got[1]["hparams"]["learning_rate"] == 0.1
    assert (tmp_path / store.TRIALS).read_text().count("\n") == 3


def test_partial_last_line_is_dropped_and_repaired(tmp_path):
    store.append_trials(tmp_path, [_rec(0), _rec(1)])
    path = tmp_path / store.TRIALS
    good = path.read_bytes()
    full = json.dumps(_rec(2))
    path.write_bytes(good + full[:25].encode())  # a write cut short
    assert [r["id"] for r in store.read_trials(tmp_path)] == [0, 1]
    assert path.read_bytes() != good  # not repaired unless asked
    store.read_trials(tmp_path, repair=True)
    assert path.read_bytes() == good
    # a complete JSON object without its newline is also treated as cut short
    path.write_bytes(good + full.encode())
    assert [r["id"] for r in store.read_trials(tmp_path, repair=True)] == [0, 1]
    assert path.read_bytes() == good
    store.append_trials(tmp_path, [_rec(2)])
    assert [r["id"] for r in store.read_trials(tmp_path)] == [0, 1, 2]


def test_corrupt_line_in_the_middle_is_an_error(tmp_path):
    path = tmp_path / store.TRIALS
    path.write_text(json.dumps(_rec(0)) + "\n{garbage\n" + json.dumps(_rec(1)) + "\n")
    with pytest.raises(ConfigError, match="trials.jsonl line 2: not a trial record"):
        store.read_trials(tmp_path)
    # a complete last line that parses but is not a record is an error, not a cut-short write
    path.write_text(json.dumps(_rec(0)) + "\n" + json.dumps({"id": 999}) + "\n")
    with pytest.raises(ConfigError, match="line 2: missing field"):
        store.read_trials(tmp_path)


def test_summary_roundtrip_and_missing(tmp_path):
    store.write_summary(tmp_path, {"status": "running", "seed": 3})
    store.write_summary(tmp_path, {"status": "complete", "seed": 3})
    assert store.read_summary(tmp_path) == {"status": "complete", "seed": 3}
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(ConfigError, match="no summary.json"):
        store.read_summary(tmp_path / "nope")


def test_replace_trials_is_atomic_and_strict(tmp_path):
    store.append_trials(tmp_path, [_rec(0), _rec(1)])
    store.replace_trials(tmp_path, [_rec(2, float("nan")), _rec(1)])
    text = (tmp_path / store.TRIALS).read_text()
    assert "NaN" not in text and not list(tmp_path.glob("*.tmp"))
    got = store.read_trials(tmp_path)
    assert [r["id"] for r in got] == [1, 2] and got[1]["final_val_acc"] is None


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_take_the_umask_as_any_new_file_does(tmp_path, umask, mode):
    """A run directory's files (summary, manifest, figures, ...) are as readable as the user's
    umask makes new files, like trials.jsonl (they were 0600 whatever the umask)."""
    import os
    import stat

    old = os.umask(umask)
    try:
        store.write_file(tmp_path / "summary.json", "{}\n")
        store.append_file(tmp_path / "trials.jsonl", "{}\n")
    finally:
        os.umask(old)
    for name in ("summary.json", "trials.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json", "trials.jsonl"]
