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


def _run(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
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
    assert (tmp_path / "bench_sweep_quick.md").read_text().count("|") > 10


def test_time_to_quality_quick(tmp_path):
    _run("bench_sweep.py", "--time-to-quality", "--quick", "--out", str(tmp_path))
    r = json.loads((tmp_path / "time_to_quality_quick.json").read_text())
    (case,) = r["cases"]
    assert [row["scheduler"].split()[0] for row in case["rows"]] == \
        ["random", "halving", "hyperband", "pbt"]
    assert all(_positive(row["wall_seconds"]) for row in case["rows"])


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
    assert list(tmp_path.glob("bench_gpu_cpu.*"))
