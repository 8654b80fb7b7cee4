"""Every benchmark the README quotes runs in its quick (or ``--cpu``) mode, so a change that
breaks one fails here: each script runs as a user runs it, and its results file holds numbers."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"

pytestmark = pytest.mark.slow


def _run(script: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, str(EXPERIMENTS / script), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _positive(x) -> bool:
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


def test_bench_sweep_quick(tmp_path):
    _run("bench_sweep.py", "--quick", "--out", str(tmp_path))
    r = json.loads((tmp_path / "bench_sweep_quick.json").read_text())
    methods = [row["method"] for row in r["rows"]]
    assert any(m.startswith("(b)") for m in methods) and any(m.startswith("(c)") for m in methods)
    assert all(_positive(row["wall_seconds"]) for row in r["rows"])
    assert r["loop_final_val_acc_equal_to_sweep"] == "4/4"
    cases = [c["case"] for c in r["commands"]]
    assert cases == ["cold compilation cache", "warm compilation cache", "warm, --no-plot",
                     "warm compilation cache (again)", "warm, --no-plot (again)",
                     "random, 9 trials, warm", "halving, 9 trials, warm"]
    for c in r["commands"]:  # each process ran the command: its own timings came back
        assert _positive(c["wall_seconds"]) and _positive(c["run_seconds"])
        assert 0 < c["first_output_seconds"] <= c["compiling_line_seconds"] <= c["wall_seconds"]
        assert 0 <= c["after_last_line_seconds"] < c["wall_seconds"]
    assert set(r["phases"]) >= {"import", "data", "compile", "run", "figures"}
    assert _positive(r["phases"]["figures"]) and _positive(r["phases"]["import"]["jax"])
    assert _positive(r["phases"]["figures by the command's helper process"])  # Linux: forked
    assert set(r["phases"]["jax"]) == {"tracing to jaxprs", "lowering to MLIR",
                                       "XLA compile or cache load"}
    assert _positive(r["phases"]["jax"]["tracing to jaxprs"])
    assert set(r["peak_gflops_by_size"]) == {"128", "256"}
    assert (tmp_path / "bench_sweep_quick.md").read_text().count("|") > 10


def test_time_to_quality_quick(tmp_path):
    _run("bench_sweep.py", "--time-to-quality", "--quick", "--out", str(tmp_path))
    r = json.loads((tmp_path / "time_to_quality_quick.json").read_text())
    (case,) = r["cases"]
    assert r["seeds"] == [0, 1]
    assert [row["scheduler"].split()[0] for row in case["rows"]] == \
        ["random", "halving", "hyperband", "pbt"]
    for row in case["rows"]:  # one run per seed, summarised as median and range
        assert [run["seed"] for run in row["runs"]] == [0, 1]
        total = row["total_seconds"]
        assert _positive(total["min"]) and total["min"] <= total["median"] <= total["max"]
    randoms = [run["best"] for run in case["rows"][0]["runs"]]
    assert case["target"] == pytest.approx(sum(randoms) / 2 - 0.01)  # the median of two
    # a random run reaches the target exactly when its final best is at least the target
    assert case["rows"][0]["seconds_to_target"]["reached"] == \
        sum(b >= case["target"] for b in randoms)
    assert set(case["goals"]) == {"halving_median_to_target_over_random_median_total",
                                  "halving_below_random_median_to_target"}
    # halving runs HALVING's factor × random's trials; each run names its winner, and every
    # other scheduler how far it trained random search's winner of that seed
    assert case["rows"][1]["trials"] == round(r["halving"]["factor"] * 9)
    for k, rnd in enumerate(case["rows"][0]["runs"]):
        assert rnd["complete_trials"] == 9 and 0 <= rnd["winner"] < 9
        halving = case["rows"][1]["runs"][k]
        assert 1 <= halving["complete_trials"] < halving["trials"]
        assert 1 <= halving["watched_epochs"] <= 3
    assert "| seed |" in (tmp_path / "time_to_quality_quick.md").read_text()


def test_bench_compile_quick(tmp_path):
    _run("bench_compile.py", "--quick", "--out", str(tmp_path))
    r = json.loads((tmp_path / "bench_compile_quick.json").read_text())
    assert [row["variant"] for row in r["rows"]] == ["nested", "library"]
    assert all(_positive(row["compile_s"]) for row in r["rows"])
    assert r["rows"][1]["max_val_acc_diff_vs_nested"] is not None


def test_bench_precision_quick(tmp_path):
    _run("bench_precision.py", "--quick", "--out", str(tmp_path))
    assert json.loads((tmp_path / "bench_precision_quick.json").read_text())["searches"]


def test_bench_gpu_cpu_smoke(tmp_path):
    _run("bench_gpu.py", "--cpu", "--out", str(tmp_path))
    r = json.loads((tmp_path / "bench_gpu_cpu.json").read_text())
    assert [(row["precision"], row["status"]) for row in r["rows"]] == \
        [(p, "measured") for p in ("fp32", "tf32", "bf16")]
    assert all(row["chunk"] >= row["lanes"] >= 1 for row in r["rows"])  # the runtime's plan
    assert [(p["precision"], p["status"]) for p in r["processes"]] == \
        [(p, "measured") for p in ("fp32", "tf32", "bf16")]
    assert all(_positive(p["wall_seconds"]) for p in r["processes"])
    assert r["halving"]["status"] == "measured" and _positive(r["halving"]["halving_total_s"])


def test_bench_gpu_without_an_accelerator_says_not_measured(tmp_path):
    proc = _run("bench_gpu.py", "--out", str(tmp_path))
    assert "not measured (no accelerator)" in proc.stdout and not list(tmp_path.iterdir())


def test_halving_replayed_on_random_search_picks_what_its_run_picks():
    """halving_settings.replay: successive halving fed random search's curves ends with the
    best, lane-epochs and completed trials of the real halving run of the same seed."""
    import dataclasses
    import importlib.util

    from jaxch6 import sweep

    spec = importlib.util.spec_from_file_location("halving_settings",
                                                  EXPERIMENTS / "halving_settings.py")
    hs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hs)
    config = sweep.SweepConfig(trials=27, epochs=9, hidden=(16, 16), seed=3).validate()
    data, _ = sweep.load_data(config)
    rnd = sorted(sweep.run(config, data=data, progress=False, figures=False).trials,
                 key=lambda t: t.id)
    halving = sweep.run(dataclasses.replace(config, scheduler="halving", min_epochs=1, eta=3),
                        data=data, progress=False, figures=False)
    done = [t for t in halving.trials if t.status == "complete" and not t.diverged]
    got = hs.replay(3, 27, 1, 3, [t.val_acc for t in rnd], [t.diverged for t in rnd])
    assert got == (max(t.final_val_acc for t in done), halving.timings["lane_epochs"],
                   len(done))
    assert got[1] == 27 * 1 + 9 * 2 + 3 * 6  # rungs 1, 3, 9: 27 → 9 → 3 trials
