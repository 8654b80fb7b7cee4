"""jaxch6.experiments: each experiment in quick mode reproduces the book's conclusion.

Each quick run takes seconds; the outputs (PNG + JSON) go to a temporary directory.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from jaxch6 import experiments
from jaxch6.cli import main as cli_main
from jaxch6.errors import ConfigError


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("experiments")


def _run(name, out, seed=0):
    summary = experiments.run(name, out, seed=seed, quick=True)
    assert (out / f"{name}.png").stat().st_size > 1000
    with open(out / f"{name}.json") as fh:
        assert json.load(fh) == summary
    return summary


def test_an_empty_out_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    """``--out ''`` wrote into the current directory and named the files ``/NAME.png``."""
    monkeypatch.chdir(tmp_path)
    assert cli_main(["experiment", "optimizer_compare_naive", "--quick", "--out", ""]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["jaxch6 experiment: error: --out must name a directory, got ''"]
    assert list(tmp_path.iterdir()) == []


def test_unknown_name_is_a_config_error(capsys):
    with pytest.raises(ConfigError, match="unknown experiment"):
        experiments.get("nope")
    assert cli_main(["experiment", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxch6 experiment: error: unknown experiment 'nope'")
    assert "\n" not in err


def test_list_names_every_module(capsys):
    assert cli_main(["experiment", "--list"]) == 0
    assert capsys.readouterr().out.split() == list(experiments.NAMES)
    for name in experiments.NAMES:
        assert callable(experiments.get(name).run)


def test_smooth_curve_is_the_books_kaiser_window():
    from jaxch6.experiments.common import smooth_curve

    x = np.arange(50.0)
    y = smooth_curve(x)
    assert y.shape == x.shape
    assert np.allclose(y[10:-10], x[10:-10])  # a symmetric window keeps a line in the middle
    w = np.kaiser(11, 2)
    s = np.r_[x[10:0:-1], x, x[-1:-11:-1]]
    assert np.allclose(y, np.convolve(w / w.sum(), s, mode="valid")[5:-5])


@pytest.mark.slow
def test_optimizer_compare_naive_every_rule_reaches_the_minimum(out):
    summary = _run("optimizer_compare_naive", out)
    assert len(summary["final"]) == 7
    for label, end in summary["final"].items():
        assert math.hypot(end["x"], end["y"]) < 1.0, label  # started 7.3 away at (-7, 2)
        assert end["f"] < 0.15, label  # f(-7, 2) = 6.45
    # the book's SGD zig-zags: y changes sign at every step
    ys = np.array(summary["paths"]["SGD"]["y"][:10])
    assert np.all(ys[:-1] * ys[1:] < 0)
    # AdaDelta with its default eps barely moves in 30 steps
    ad = summary["adadelta_default_eps"]
    assert math.hypot(ad["x"][-1] + 7, ad["y"][-1] - 2) < 0.2


@pytest.mark.slow
def test_activation_histogram_shapes(out):
    stats = _run("weight_init_activation_histogram", out)["stats_per_layer"]
    # sigmoid, std 1: activations pile up at 0 and 1 in every layer
    assert min(stats["sigmoid/std=1"]["saturated_min_over_seeds"]) > 0.4
    # sigmoid, std 0.01: everything collapses to 0.5
    assert max(stats["sigmoid/std=0.01"]["std_max_over_seeds"][1:]) < 0.02
    assert np.allclose(stats["sigmoid/std=0.01"]["mean"], 0.5, atol=0.01)
    # sigmoid, Xavier: spread out, not saturated
    assert min(stats["sigmoid/Xavier"]["std_min_over_seeds"]) > 0.1
    assert max(stats["sigmoid/Xavier"]["saturated_max_over_seeds"]) < 0.01
    # ReLU: He keeps the spread layer after layer, Xavier and std 0.01 shrink it
    he, xavier = stats["relu/He"]["std"], stats["relu/Xavier"]["std"]
    assert max(he) / min(he) < 1.3
    assert xavier[-1] < 0.5 * xavier[0]
    assert stats["relu/std=0.01"]["std"][-1] < 1e-3


@pytest.mark.slow
def test_optimizer_compare_mnist_sgd_is_slowest(out):
    summary = _run("optimizer_compare_mnist", out)
    final = {k: v["mean"] for k, v in summary["final_smoothed_loss"].items()}
    assert len(final) == 7
    others = [v for k, v in final.items() if k != "SGD"]
    assert final["SGD"] > max(others), final
    assert final["SGD"] > 2 * max(others), final  # by a wide margin, not by noise
    assert not any(any(v) for v in summary["diverged"].values())


@pytest.mark.slow
def test_weight_init_compare_std001_does_not_learn(out):
    summary = _run("weight_init_compare", out)
    final = {k: v["mean"] for k, v in summary["final_smoothed_loss"].items()}
    first = {k: v["mean"][0] for k, v in summary["smoothed_loss"].items()}
    assert abs(final["std=0.01"] - np.log(10)) < 0.01  # stuck at chance: log 10 = 2.303
    assert abs(first["std=0.01"] - final["std=0.01"]) < 0.01
    assert final["Xavier"] < 2.1 and final["He"] < 1.0, final
    assert final["He"] < final["Xavier"] < final["std=0.01"]
    assert summary["test_acc"]["std=0.01"][0] < 0.2 < summary["test_acc"]["He"][0] - 0.5


@pytest.mark.slow
def test_batch_norm_learns_faster_in_most_cells(out):
    summary = _run("batch_norm_test", out)
    assert summary["cells_where_batchnorm_learns_faster"] >= 12  # of 16
    # at tiny scales the plain net does not learn at all (chance ~ 0.1)
    assert max(summary["train_acc"]["plain"]["mean"][-1][-4:]) < 0.2
    tiny_bn = summary["train_acc"]["batchnorm"]["mean"][-1][-4:]
    assert max(tiny_bn) > max(summary["train_acc"]["plain"]["mean"][-1][-4:]) + 0.05


@pytest.mark.parametrize("name", ["overfit_weight_decay", "overfit_dropout"])
@pytest.mark.slow
def test_regularisation_narrows_the_gap(out, name):
    summary = _run(name, out)
    assert summary["gap_off"] > 0.1  # overfitting: train well above test
    assert summary["gap_book_value"] < summary["gap_off"] - 0.02


@pytest.mark.slow
def test_hyperparameter_search_best_trials_have_large_lr(out):
    summary = _run_multi("hyperparameter_optimization", out)
    best = summary["best_lr_round1"][:2]
    assert all(lr > 1e-3 for lr in best), best
    # every trial that learned something (val acc >= 0.25, chance is 0.1) had lr > 1e-3
    learned = [t["learning_rate"] for t in summary["trials"] if t["final_val_acc"] >= 0.25]
    assert learned and min(learned) > 1e-3, learned
    assert (out / "hyperparameter_optimization_scatter.png").stat().st_size > 1000


@pytest.mark.slow
def test_batch_norm_gradient_check_passes(out):
    summary = _run("batch_norm_gradient_check", out)
    assert summary["passed"]
    assert max(summary["mean_abs_diff"]["batchnorm"].values()) < 1e-6
    assert set(summary["mean_abs_diff"]["batchnorm"]) >= {"W1", "gamma1", "beta1", "W3", "b3"}


def _run_multi(name, out):
    """Like _run, for an experiment that writes its PNG itself (the sweep's top-20 grid)."""
    return _run(name, out)


@pytest.mark.slow
def test_thin_script_runs(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "experiments" / "optimizer_compare_naive.py"
    proc = subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "optimizer_compare_naive.png").exists()
    assert json.loads((tmp_path / "optimizer_compare_naive.json").read_text())["final"]
