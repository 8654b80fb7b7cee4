"""The two "sweep your own model" examples run in their --quick mode and write their reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, out: Path) -> dict:
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / script), "--quick",
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((out / (Path(script).stem + "_quick.json")).read_text())


@pytest.mark.slow
def test_regression_example_times_the_sweep_against_a_python_loop(tmp_path):
    report = _run("own_model_regression.py", tmp_path)
    assert report["trials"] == 16 and [r["order"] for r in report["rounds"]] == [
        "sweep, loop", "loop, sweep"]
    for r in report["rounds"]:
        assert r["sweep"]["best_val_mse"] > 0 and r["sweep"]["lanes"] <= 8
        assert r["python_loop_over_jit"]["run_seconds"] > 0 and r["wall_ratio_loop_over_sweep"] > 0
        # the same training on both sides: float32 values of the same trials agree closely
        assert r["max_abs_difference_final_val_mse"] < 1e-3
    assert set(report["best"]["test"]) == {"val_mse"}


@pytest.mark.slow
def test_cnn_example_sweeps_a_flax_model(tmp_path):
    pytest.importorskip("flax")
    try:
        report = _run("own_model_cnn.py", tmp_path)
    except AssertionError as exc:
        if "fashion_mnist" in str(exc) and "DataError" in str(exc):
            pytest.skip("Fashion-MNIST is not available offline here")
        raise
    assert report["trials"] == 6 and report["ranking"][0].startswith("Best-1(val acc:")
    assert report["test"] and 0.0 <= report["test"][0]["test"]["val_acc"] <= 1.0
