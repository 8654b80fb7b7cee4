"""The sweep API: run(), rounds that narrow, the results on disk, resume()."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from _sweep_toy import toy_data, toy_task

from jaxch6.errors import ConfigError
from jaxch6.sweep import Param, SweepConfig, narrow, rank, resume, run, sample, store
from jaxch6.sweep.records import Trial, format_trial

TOY = SweepConfig(trials=10, epochs=4, batch_size=8, seed=3, chunk_size=4, lanes=2,
                  space=(Param("lr", 1e-4, 1.0), Param("weight_decay", 1e-6, 1e-2)))


def _run(config=TOY, **kw):
    return run(config, data=toy_data(), task=toy_task, **kw)


@pytest.mark.slow
def test_run_records_trials_and_summary(tmp_path):
    seen = []
    res = _run(out=tmp_path, progress=seen.append)
    assert [t.id for t in res.trials] == list(range(10))
    values = sample(TOY.validate().space, range(10), seed=TOY.seed)
    for t in res.trials:
        assert t.hparams == {k: float(v[t.id]) for k, v in values.items()}
        assert len(t.train_acc) == len(t.val_acc) == 4
        # accuracies are exact fractions of the 40 train / 20 validation rows
        assert all(abs(a * 20 - round(a * 20)) < 1e-9 for a in t.val_acc)
        assert t.final_val_acc == t.val_acc[-1]
    # progress: compiling, a round start, then one report per chunk (4 + 4 + 2 trials)
    assert [p.label for p in seen[:2]] == ["compiling", "round 1/1"]
    assert [p.done for p in seen[1:]] == [0, 4, 8, 10] and seen[1].step_start
    assert seen[-1].ran == 10 and seen[-1].lanes_per_second > 0
    lines = (tmp_path / store.TRIALS).read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == list(range(10))
    s = store.read_summary(tmp_path)
    assert s["status"] == "complete" and s["seed"] == 3
    assert SweepConfig.from_dict(s["config"]) == dataclasses.replace(TOY.validate(), task="toy")
    assert s["device_count"] == 1 and s["backend"] == "cpu" and s["chunk_size"] == 4
    assert s["timings"]["compile_seconds"] > 0 and s["timings"]["trials_per_second"] > 0
    assert [b["id"] for b in s["best"]] == [t.id for t in res.ranked]
    assert s["best"][0]["final_val_acc"] == max(t.final_val_acc for t in res.trials)
    assert s["rounds"][0]["space"] == [p.to_dict() for p in TOY.validate().space]


@pytest.mark.slow
def test_out_dir_with_a_sweep_is_refused(tmp_path):
    _run(out=tmp_path)
    with pytest.raises(ConfigError, match="is not empty"):
        _run(out=tmp_path)


def test_rank_and_book_format():
    a = Trial(0, 0, {"learning_rate": 0.001, "weight_decay": 1e-6}, [0.5], [0.75], False)
    b = Trial(1, 0, {"learning_rate": 0.01, "weight_decay": 1e-7}, [0.5], [0.9], True)
    c = Trial(2, 0, {"learning_rate": 0.002, "weight_decay": 1e-5}, [0.5], [0.8], False)
    d = Trial(3, 0, {"learning_rate": 0.003, "weight_decay": 1e-5}, [0.5], [0.8], False)
    assert [t.id for t in rank([a, b, c, d])] == [2, 3, 0, 1]  # diverged last, ties by id
    assert format_trial(1, c) == "Best-1(val acc:0.8) | learning_rate:0.002, weight_decay:1e-05"
    assert format_trial(4, b).endswith("(diverged)")


@pytest.mark.slow
def test_rounds_narrow_to_the_best_trials_span():
    cfg = dataclasses.replace(TOY, rounds=3, keep=3)
    res = _run(cfg)
    assert [t.id for t in res.trials] == list(range(30))
    assert [t.round for t in res.trials] == [r for r in range(3) for _ in range(10)]
    space = cfg.validate().space
    for r in (1, 2):
        prev = [t for t in res.trials if t.round == r - 1]
        top = [t for t in rank(prev) if not t.diverged][:3]
        expect = narrow(space, [t.hparams for t in top])
        got = tuple(Param(**d) for d in res.rounds[r]["space"])
        assert got == expect
        for p, old in zip(got, space, strict=True):
            vals = [t.hparams[p.name] for t in res.trials if t.round == r]
            assert min(vals) >= p.low and max(vals) <= p.high
            assert old.low <= p.low < p.high <= old.high
            assert p.high / p.low < old.high / old.low  # the log-span shrank
        space = got
    assert res.rounds[2]["trial_ids"] == [20, 30]
    # a narrowed round's values are still a function of (seed, trial id, ranges) only
    again = sample(space, [25, 21], seed=cfg.seed)
    by_id = {t.id: t for t in res.trials}
    assert again["learning_rate"].tolist() == [by_id[25].hparams["learning_rate"],
                                               by_id[21].hparams["learning_rate"]]


@pytest.mark.slow
def test_resume_after_a_partial_write_matches_an_uninterrupted_run(tmp_path):
    cfg = dataclasses.replace(TOY, rounds=2, keep=3)
    full = _run(cfg, out=tmp_path / "full")
    part = tmp_path / "part"
    part.mkdir()
    lines = (tmp_path / "full" / store.TRIALS).read_text().splitlines(keepends=True)
    # trials 0..12 landed (round 1 done, part of round 2), then a write was cut short
    (part / store.TRIALS).write_text("".join(lines[:13]) + lines[13][:30])
    summary = json.loads((tmp_path / "full" / store.SUMMARY).read_text())
    summary["status"] = "running"
    store.write_summary(part, summary)
    (part / store.MANIFEST).write_text((tmp_path / "full" / store.MANIFEST).read_text())
    seen = []
    res = resume(part, data=toy_data(), task=toy_task, progress=seen.append)
    assert res.timings["trials_run"] == 7  # 13..19
    assert [t.to_record() for t in res.trials] == [t.to_record() for t in full.trials]
    assert res.rounds == full.rounds
    assert (part / store.TRIALS).read_text() == "".join(lines)
    assert store.read_summary(part)["status"] == "complete"
    assert len(store.read_summary(part)["resumed_at"]) == 1
    # nothing left: resuming again runs nothing and changes nothing
    res2 = resume(part, data=toy_data(), task=toy_task)
    assert res2.timings["trials_run"] == 0 and res2.timings["compile_seconds"] == 0
    assert [t.to_record() for t in res2.trials] == [t.to_record() for t in full.trials]


def test_result_best_and_ranking_lines():
    res = _run()
    best = res.best(3)
    accs = [t.final_val_acc for t in best]
    assert accs == sorted(accs, reverse=True)
    assert accs[0] == max(t.final_val_acc for t in res.trials)
    lines = res.ranking_lines(3)
    assert lines[0].startswith(f"Best-1(val acc:{accs[0]!r}) | learning_rate:")
    assert np.isfinite(res.timings["run_seconds"])


_DEVICE_SCRIPT = """
import sys
{before}
sys.path.insert(0, {tests!r})
from _sweep_toy import toy_data, toy_task
import jaxch6.sweep as S
config = S.SweepConfig(trials=4, epochs=1, batch_size=8, chunk_size=4, lanes=2,
                       space=(S.Param("lr", 1e-3, 1e-1),))
for _ in range(2):
    result = S.run(config, data=toy_data(), task=toy_task, progress=False)
print(result.info["device_count"])
"""


def _device_run(before: str):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    script = _DEVICE_SCRIPT.format(before=before, tests=str(Path(__file__).parent))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stdout.split()[-1]), proc.stderr


@pytest.mark.slow
def test_python_run_uses_the_command_lines_devices_unless_jax_started_first():
    from jaxch6.sweep import devices

    # JAX imported but not yet initialised: the command line's set-up (auto: >= 2 devices)
    n, err = _device_run("import jax")
    assert n >= 2 and "configure_cpu_devices" not in err
    # a JAX operation ran first: one device, and one line (once) saying how to get the set-up
    n, err = _device_run("import jax; jax.numpy.ones(1).block_until_ready()")
    line = devices.HOW_TO.format(n=1)
    assert n == 1 and err.splitlines().count(line) == 1


@pytest.mark.slow
def test_python_run_writes_the_command_lines_figures(tmp_path):
    from jaxch6.plots import sweep_figures

    config = SweepConfig(trials=6, epochs=2, batch_size=8, seed=1, chunk_size=4, lanes=2,
                         space=(Param("lr", 1e-3, 1e-1), Param("weight_decay", 1e-6, 1e-2)))
    result = run(config, out=tmp_path / "r", data=toy_data(), task=toy_task,
                 progress=False)
    names = result.info["figures"]
    assert names == list(sweep_figures(result)) and "top20.png" in names
    for name in names:
        assert (tmp_path / "r" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bare = run(config, out=tmp_path / "s", data=toy_data(), task=toy_task,
               progress=False, figures=False)
    assert "figures" not in bare.info and not list((tmp_path / "s").glob("*.png"))


@pytest.mark.slow
def test_a_sweep_builds_its_scheduler_once(tmp_path, monkeypatch):
    """The scheduler that plans the kept run states, checks the records and runs is one object
    (a halving sweep into a directory, then its resume)."""
    from jaxch6.sweep import schedulers

    made, make = [], schedulers.make
    monkeypatch.setattr(schedulers, "make", lambda c: made.append(c.scheduler) or make(c))
    config = dataclasses.replace(TOY, scheduler="halving", min_epochs=2, trials=6)
    _run(config, out=tmp_path / "run", progress=False, figures=False)
    assert made == ["halving"]
    resume(tmp_path / "run", task=toy_task, data=toy_data(), progress=False, figures=False)
    assert made == ["halving"] * 2
