"""The README's scheduler examples, at small sizes, through the command line."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from jaxch6.cli import main
from jaxch6.schedules import SCHEDULE_HYPERPARAMETERS, SCHEDULES
from jaxch6.sweep import load, load_model

ROOT = Path(__file__).resolve().parents[1]

SMALL = ["--epochs", "3", "--hidden", "8", "--batch-size", "20", "--train-size", "100",
         "--source", "sample", "--no-compile-cache", "--quiet", "--cpu-devices", "1", "--no-plot"]


@pytest.mark.slow
def test_halving_with_saved_winners(tmp_path, capsys):
    out = tmp_path / "h"
    code = main(["sweep", "--scheduler", "halving", "--trials", "9", "--min-epochs", "1",
                 "--eta", "3", "--save-best", "2", "--out", str(out), *SMALL])
    assert code == 0
    text = capsys.readouterr().out
    assert "scheduler halving: 9 trials" in text and "Best-1(val acc:" in text
    res = load(out)
    # rungs at 1 and 3 epochs: 9 trials to epoch 1, the best 9 // 3 = 3 to epoch 3
    assert sorted(t.status for t in res.trials) == ["complete"] * 3 + ["stopped"] * 6
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scheduler"]["rungs"] == [1, 3] and len(summary["models"]) == 2
    best = res.ranked[0]
    model = load_model(out, best.id)
    assert model.meta["trial"] == best.id and model.step == 3 * 4


@pytest.mark.slow
def test_pbt_with_repeats_and_categorical_halving(tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["sweep", "--scheduler", "pbt", "--trials", "4", "--pbt-interval", "1",
                 "--repeats", "2", "--out", str(out), *SMALL]) == 0
    res = load(out)
    assert all(len(t.repeats) == 2 for t in res.trials)
    assert any(t.lineage and len(t.lineage) > 1 for t in res.trials)
    out = tmp_path / "c"
    assert main(["sweep", "--scheduler", "halving", "--trials", "6", "--min-epochs", "1",
                 "--space", "optimizer=sgd,momentum", "--space", "lr=1e-3:1e-1",
                 "--save-best", "1", "--out", str(out), *SMALL]) == 0
    res = load(out)
    assert {t.hparams["optimizer"] for t in res.trials} <= {"sgd", "momentum"}
    best = res.ranked[0]
    assert load_model(out, best.id).meta["hparams"]["optimizer"] == best.hparams["optimizer"]
    assert (out / "trials.csv").read_text().splitlines()[0].startswith("id,")


# ------------------------------------------------ every sweep the docs show, in a quick form
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# options whose value is shrunk to a quick one; the rest of each command is kept as written
QUICK = {"--trials": "9", "--epochs": "3", "--min-epochs": "1", "--pbt-interval": "1",
         "--batch-trials": "3", "--keep": "2", "--rounds": "2"}
TINY = ["--hidden", "8", "--batch-size", "20", "--train-size", "100", "--source", "sample",
        "--no-compile-cache", "--quiet", "--cpu-devices", "1", "--no-plot"]


def _needs_more(cmd: str) -> bool:
    """An action on an existing run directory (``jaxch6 sweep show DIR``, ``evaluate``,
    ``export-optuna``), or a sweep of a user's own task module (``--task my_module:...``; the
    command line's task sweeps are tests/test_task_cli.py's): nothing a shrunk sweep runs alone."""
    words = shlex.split(cmd)[2:]
    return bool(words and not words[0].startswith("-")) or "--task" in words


def _doc_sweeps() -> list[tuple[str, str]]:
    """Every ``jaxch6 sweep`` command inside a code block of the README and the docs pages."""
    found = []
    for path in DOCS:
        blocks = re.findall(r"```[a-z]*\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
        for block in blocks:
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip().removeprefix("$ ")
                cmd = line[line.find("jaxch6 sweep"):] if "jaxch6 sweep" in line else ""
                if cmd and not line.startswith("#") and "--resume" not in cmd \
                        and not _needs_more(cmd):
                    found.append((path.name, cmd))
    return found


def _quick(cmd: str, tmp: Path) -> list[str]:
    words = shlex.split(cmd)[2:]  # after "jaxch6 sweep"
    out = ["sweep"]
    i = 0
    while i < len(words):
        word = words[i]
        if word in QUICK or word in ("--out", "--storage"):
            value = {"--out": str(tmp / "run"), "--storage": f"sqlite:///{tmp / 'study.db'}"}
            out += [word, value.get(word, QUICK.get(word))]
            i += 2
            continue
        out.append(word)
        i += 1
    for word in ("--epochs", "--trials"):
        if word not in out:
            out += [word, QUICK[word]]
    if "--out" not in out:
        out += ["--out", str(tmp / "run")]
    return out + TINY


def test_the_docs_show_sweeps():
    """The extraction below finds the sweeps (a change of format would silently test none)."""
    commands = [c for _, c in _doc_sweeps()]
    assert len(commands) >= 5 and any("--scheduler halving" in c for c in commands)


@pytest.mark.slow
@pytest.mark.parametrize("where, command", _doc_sweeps())
def test_every_documented_sweep_runs(tmp_path, capsys, where, command):
    """Each sweep command of the README and the docs, shrunk, exits 0 with a ranking."""
    assert main(_quick(command, tmp_path)) == 0, (where, command)
    assert "Best-1(val acc:" in capsys.readouterr().out
    assert load(tmp_path / "run").trials


@pytest.mark.slow
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_a_scheduled_sweep_end_to_end(tmp_path, schedule):
    """``--schedule`` for every schedule, its numbers searched (issue 19 item 1: never worked)."""
    space = [w for name in SCHEDULE_HYPERPARAMETERS[schedule]
             for w in ("--space", f"{name}={'0.01:0.3:lin' if 'fraction' in name else '0.05:0.5'}")]
    out = tmp_path / "s"
    argv = ["sweep", "--schedule", schedule, "--trials", "4", "--space", "lr=1e-2:1e-1", *space,
            "--out", str(out), *SMALL]
    assert main(argv) == 0
    res = load(out)
    assert len(res.trials) == 4 and res.config.schedule == schedule
    for t in res.trials:
        assert set(SCHEDULE_HYPERPARAMETERS[schedule]) <= set(t.hparams)
        assert len(t.val_acc) == 3


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", ["pbt", "random"])
def test_resuming_a_finished_sweep_with_saved_models_changes_nothing(tmp_path, capsys, scheduler):
    """Issue 19 items 5 and 13: a finished PBT sweep with --save-best could not be resumed (its
    winners were trained again from scratch and could not reproduce their curves), and a
    finished sweep's resume retrained saved models and reset its lanes_run."""
    out = tmp_path / "s"
    extra = ["--pbt-interval", "1"] if scheduler == "pbt" else []
    assert main(["sweep", "--scheduler", scheduler, "--trials", "4", "--save-best", "2",
                 *extra, "--out", str(out), *SMALL]) == 0
    models = {p.name: p.read_bytes() for p in (out / "models").iterdir()}
    before = json.loads((out / "summary.json").read_text())
    capsys.readouterr()
    assert main(["sweep", "--resume", str(out), "--no-compile-cache", "--quiet",
                 "--cpu-devices", "1", "--no-plot"]) == 0, capsys.readouterr().err
    after = json.loads((out / "summary.json").read_text())
    assert {p.name: p.read_bytes() for p in (out / "models").iterdir()} == models
    for name in ("lanes_run", "lane_epochs", "trials_run"):
        assert after["timings"][name] == before["timings"][name], name
    assert after["models"] == before["models"] and after["best"] == before["best"]
    assert not (out / "states").exists() and not (out / ".lock").exists()


# ---------------------------------------------------- the README's Python and its sample output
def _readme_blocks(kind: str) -> list[str]:
    """The README's code blocks marked ``kind`` (``""``: unmarked), in order."""
    blocks = re.findall(r"```([a-z]*)\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"),
                        re.S)
    return [text for marked, text in blocks if marked == kind]


@pytest.mark.slow
def test_the_readmes_optimizer_example_takes_adams_first_step():
    """The README's optimizer snippet as written, given ``params`` and ``grads``: Adam's first
    step moves each weight by the learning rate against its gradient's sign."""
    import jax.numpy as jnp
    import numpy as np

    code = next(b for b in _readme_blocks("python") if "O.adam" in b)
    scope = {"params": {"w": jnp.ones(3)}, "grads": {"w": jnp.array([1.0, -2.0, 0.0])}}
    exec(code, scope)  # noqa: S102
    np.testing.assert_allclose(scope["params"]["w"], [1 - 1e-3, 1 + 1e-3, 1.0], rtol=1e-5)


@pytest.mark.slow
def test_the_readmes_python_sweep_runs(tmp_path, monkeypatch, capsys):
    """The README's Python sweep as written, made small through the SweepConfig it imports
    (trials, epochs, network and data; its optimizer, scheduler and space kept)."""
    import jaxch6.sweep

    code = next(b for b in _readme_blocks("python") if "jaxch6.sweep.run" in b)
    small = {"trials": 9, "epochs": 3, "hidden": (8,), "batch_size": 20, "train_size": 100,
             "source": "sample"}
    config_class = jaxch6.sweep.SweepConfig
    monkeypatch.setattr(jaxch6.sweep, "SweepConfig", lambda **kw: config_class(**{**kw, **small}))
    monkeypatch.chdir(tmp_path)
    exec(code, {})  # noqa: S102
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("(")[0] for line in lines] == [f"Best-{k}" for k in range(1, 6)], lines
    result = load(tmp_path / "runs" / "momentum")
    assert len(result.trials) == 9 and result.config.scheduler == "halving"
    assert result.config.optimizer == "momentum"
    assert {p.name for p in result.config.space} == {"learning_rate", "momentum"}


@pytest.mark.slow
def test_the_readmes_sample_output_is_what_jaxch6_sweep_prints(tmp_path):
    """``jaxch6 sweep`` on 2 CPU devices with the embedded sample prints the README's sample
    output: every line but the elided timing line, the rankings after Best-3 and the run
    directory's name."""
    import os
    import subprocess
    import sys

    block = next(b for b in _readme_blocks("") if b.startswith("data: "))
    proc = subprocess.run(
        [sys.executable, "-m", "jaxch6.cli", "sweep", "--source", "sample", "--cpu-devices", "2",
         "--no-plot", "--no-compile-cache", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = proc.stdout.splitlines()
    shown = [line for line in block.splitlines() if "…" not in line and line != "..."]
    assert [line for line in printed if line in shown] == shown, printed
