"""The README's scheduler examples, at small sizes, through the command line."""

from __future__ import annotations

import json

import pytest

from jaxch6.cli import main
from jaxch6.sweep import load, load_model

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
