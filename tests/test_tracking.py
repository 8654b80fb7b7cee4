"""jaxch6.sweep.tracking: every trial's per-epoch metrics reach ``track=`` as they are made;
TensorBoard event files; the MLflow example of docs/tracking.md."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from _sweep_toy import toy_data, toy_task

from jaxch6.sweep import Param, SweepConfig, resume, run
from jaxch6.sweep.tracking import Reporter, TrialMetrics

ROOT = Path(__file__).resolve().parents[1]
SPACE = (Param("lr", 1e-3, 1e-1), Param("weight_decay", 1e-6, 1e-2))


def _toy(**kw):
    base = dict(trials=9, epochs=4, batch_size=8, seed=1, chunk_size=4, lanes=2, space=SPACE)
    return SweepConfig(**{**base, **kw})


def _collect(config, **kw):
    got: list[TrialMetrics] = []
    result = run(config, data=toy_data(), task=toy_task, progress=False,
                 track=got.append, **kw)
    return result, got


def _curves(reports):
    """Each trial's epochs and val_acc as the reports built them, in order."""
    out: dict[int, list] = {}
    for m in reports:
        seen = out.setdefault(m.trial, [])
        assert [e for e, _ in seen] == list(range(1, len(seen) + 1))
        seen += [(e, v["val_acc"]) for e, v in zip(m.epochs, m.metrics, strict=True)]
    return out


@pytest.mark.slow
def test_random_search_reports_every_trial_per_chunk():
    result, got = _collect(_toy())
    # one report per trial (each finishes in one chunk), in chunk order, as they are made
    assert sorted(m.trial for m in got) == [t.id for t in result.trials]
    curves = _curves(got)
    for t in result.trials:
        assert [v for _, v in curves[t.id]] == t.val_acc
        assert set(got[0].metrics[0]) == {"train_acc", "val_acc"}
    assert all(m.status == "complete" and m.epochs == [1, 2, 3, 4] for m in got)


@pytest.mark.slow
def test_halving_reports_each_rung_and_the_stopped_trials():
    result, got = _collect(_toy(scheduler="halving", min_epochs=1, eta=3, epochs=9))
    by_trial = {t.id: t for t in result.trials}
    curves = _curves(got)
    for tid, t in by_trial.items():
        assert [v for _, v in curves[tid]] == t.val_acc  # every epoch once, in order
        last = [m for m in got if m.trial == tid][-1]
        assert last.status == t.status
    # the rungs came one at a time: the survivors were reported more than once
    counts = {tid: sum(m.trial == tid for m in got) for tid in by_trial}
    assert max(counts.values()) >= 3 and min(counts.values()) >= 1
    assert any(m.status == "running" for m in got)


def test_reporter_sends_only_new_epochs():
    from jaxch6.sweep.records import Trial

    got = []
    old = Trial(3, 0, {"lr": 0.1}, [0.1, 0.2], [0.3, 0.4], False, status="running")
    rep = Reporter(got.append, [old])
    rep([Trial(3, 0, {"lr": 0.1}, [0.1, 0.2, 0.5], [0.3, 0.4, 0.6], False)])
    assert got == [TrialMetrics(3, 0, {"lr": 0.1}, [3], [{"train_acc": 0.5, "val_acc": 0.6}],
                                "complete", False)]


@pytest.mark.slow
def test_resume_does_not_send_recorded_epochs_again(tmp_path):
    import threading

    from jaxch6.sweep.loop import Interrupted

    config = _toy(trials=12)
    first: list[TrialMetrics] = []
    stop = threading.Event()

    def track(m):
        first.append(m)
        stop.set()  # stop after the first chunk is recorded

    with pytest.raises(Interrupted):
        run(config, out=tmp_path / "r", data=toy_data(), task=toy_task,
            progress=False, track=track, stop=stop, figures=False)
    rest: list[TrialMetrics] = []
    result = resume(tmp_path / "r", data=toy_data(), task=toy_task, progress=False,
                    track=rest.append, figures=False)
    sent = [m.trial for m in first + rest]
    assert sorted(sent) == [t.id for t in result.trials]  # each trial exactly once


def _events(run_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return acc


@pytest.mark.slow
def test_tensorboard_tracker_writes_a_run_per_trial_with_hparams(tmp_path):
    pytest.importorskip("tensorboardX")
    pytest.importorskip("tensorboard")
    from tensorboard.plugins.hparams import metadata

    from jaxch6.sweep.tracking import TensorBoardTracker

    with TensorBoardTracker(tmp_path / "tb") as tb:
        result = run(_toy(scheduler="halving", min_epochs=1, eta=3, epochs=9),
                     data=toy_data(), task=toy_task, progress=False, track=tb)
    runs = sorted(p.name for p in (tmp_path / "tb").iterdir())
    assert runs == [f"trial-{t.id:05d}" for t in result.trials]
    for t in result.trials:
        acc = _events(tmp_path / "tb" / f"trial-{t.id:05d}")
        assert set(acc.Tags()["scalars"]) == {"train_acc", "val_acc"}
        events = acc.Scalars("val_acc")
        assert [e.step for e in events] == list(range(1, t.epochs + 1))
        assert [e.value for e in events] == pytest.approx(t.val_acc, abs=1e-6)
        content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
        start = metadata.parse_session_start_info_plugin_data(
            content[metadata.SESSION_START_INFO_TAG])
        lr = start.hparams["learning_rate"].number_value
        assert lr == pytest.approx(t.hparams["learning_rate"])
        assert metadata.SESSION_END_INFO_TAG in content  # every trial ended (stopped/complete)
        exp = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
        assert {m.name.tag for m in exp.metric_infos} == {"train_acc", "val_acc"}


def _docs_example(title: str) -> str:
    text = (ROOT / "docs" / "tracking.md").read_text()
    section = text.split(f"## {title}")[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_the_docs_mlflow_example_logs_every_trial(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    import jaxch6.sweep

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setattr(jaxch6.sweep, "run", functools.partial(
        jaxch6.sweep.run, data=toy_data(), task=toy_task, progress=False))
    namespace = {"jaxch6": jaxch6, "config": _toy(trials=4, epochs=2)}
    exec(_docs_example("MLflow"), namespace)
    result, runs = namespace["result"], namespace["runs"]
    client = mlflow.MlflowClient()
    assert sorted(runs) == [t.id for t in result.trials]
    for t in result.trials:
        history = client.get_metric_history(runs[t.id], "val_acc")
        assert [(h.step, h.value) for h in history] == [
            (e + 1, pytest.approx(v)) for e, v in enumerate(t.val_acc)]
        assert client.get_run(runs[t.id]).info.status == "FINISHED"


@pytest.mark.slow
def test_cli_tensorboard_option(tmp_path, monkeypatch, capsys):
    pytest.importorskip("tensorboardX")
    import jaxch6.sweep
    from jaxch6.cli import main

    monkeypatch.setattr(jaxch6.sweep, "run", functools.partial(
        jaxch6.sweep.run, data=toy_data(), task=toy_task))
    argv = ["sweep", "--trials", "3", "--epochs", "2", "--no-compile-cache", "--no-plot",
            "--quiet", "--cpu-devices", "1", "--space", "lr=1e-3:1e-1"]
    assert main([*argv, "--out", str(tmp_path / "r"), "--tensorboard", str(tmp_path / "tb")]) == 0
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == [
        "trial-00000", "trial-00001", "trial-00002"]
    # with --sampler: tests/test_optuna_task.py::test_cli_task_under_a_sampler_tracked
    capsys.readouterr()
    before = sorted(p.name for p in (tmp_path / "tb").rglob("*"))
    for logdir, words in [(tmp_path / "tb", "already holds trial runs"),
                          (tmp_path / "r" / "trials.jsonl", "not a directory")]:
        out = tmp_path / "again"
        assert main([*argv, "--out", str(out), "--tensorboard", str(logdir)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"--tensorboard {logdir}: {words}" in err[0], err
        assert not out.exists()
    assert sorted(p.name for p in (tmp_path / "tb").rglob("*")) == before  # nothing mixed in


@pytest.mark.slow
def test_the_docs_wandb_example_logs_every_trial_offline(tmp_path, monkeypatch):
    """The W&B example of docs/tracking.md with ``WANDB_MODE=offline`` (no account, no
    network): one W&B run per trial, named and configured by it, each epoch logged once at its
    step, every run finished. W&B reads nothing back offline, so its ``Run.log`` is watched."""
    wandb = pytest.importorskip("wandb")
    import jaxch6.sweep

    for name, value in {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path),
                        "WANDB_SILENT": "true"}.items():
        monkeypatch.setenv(name, value)
    logged: dict[str, list] = {}
    real_log = wandb.Run.log

    def log(run, data, step=None, **kw):
        logged.setdefault(run.name, []).append((step, data["val_acc"]))
        return real_log(run, data, step=step, **kw)

    monkeypatch.setattr(wandb.Run, "log", log)
    monkeypatch.setattr(jaxch6.sweep, "run", functools.partial(
        jaxch6.sweep.run, data=toy_data(), task=toy_task, progress=False))
    config = _toy(trials=4, epochs=4, scheduler="halving", min_epochs=1)
    namespace = {"jaxch6": jaxch6, "config": config}
    exec(_docs_example("Weights & Biases"), namespace)
    result, runs = namespace["result"], namespace["runs"]
    assert sorted(runs) == [t.id for t in result.trials]
    assert {t.status for t in result.trials} == {"stopped", "complete"}
    for t in result.trials:
        assert runs[t.id].name == f"trial-{t.id}" and dict(runs[t.id].config) == t.hparams
        assert logged[f"trial-{t.id}"] == [
            (e + 1, pytest.approx(v)) for e, v in enumerate(t.val_acc)]
        with pytest.raises(wandb.errors.UsageError, match="finished"):
            runs[t.id].log({"val_acc": 0.0})  # finish() was called
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == len(result.trials)
