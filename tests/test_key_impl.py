"""A sweep's keys are Threefry keys whatever JAX's default PRNG implementation: with
``JAX_DEFAULT_PRNG_IMPL=rbg`` the book's search and a user's task train, copy states (PBT) and
save winners exactly as under the default, and the library's runs refuse another
implementation's key in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import pytest

from jaxch6.errors import ConfigError

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from _sweep_toy import toy_data
    from _task_toy import make_data, make_task
    from jaxch6.sweep import Param, SweepConfig, load_state, run

    out = sys.argv[1]
    space = (Param("lr", 1e-3, 1.0), Param("weight_decay", 1e-6, 1e-2))
    book = SweepConfig(trials=6, epochs=4, batch_size=8, hidden=(4,), seed=2, lanes=2,
                       chunk_size=4, scheduler="pbt", pbt_interval=2, save_best=1, space=space)
    from jaxch6.train import Data
    res = run(book, data=Data(*toy_data()), out=out + "/book", progress=False, figures=False)
    task = make_task()
    mine = SweepConfig(trials=6, epochs=4, seed=1, lanes=2, chunk_size=4, scheduler="pbt",
                       pbt_interval=2, save_best=1)
    res2 = run(mine, task=task, data=make_data()[0], out=out + "/task", progress=False,
               figures=False)
    best = res2.ranked[0]
    state = load_state(out + "/task", best.id, task)
    print(json.dumps({
        "book": [t.to_record() for t in sorted(res.trials, key=lambda t: t.id)],
        "task": [t.to_record() for t in sorted(res2.trials, key=lambda t: t.id)],
        "state": [np.asarray(a).tolist() for a in __import__("jax").tree.leaves(state)],
    }))
""")


def _sweep(tmp_path: Path, impl: str | None) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)]),
           "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_DEFAULT_PRNG_IMPL", None)
    if impl:
        env["JAX_DEFAULT_PRNG_IMPL"] = impl
    out = tmp_path / (impl or "default")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_sweep_is_the_same_under_another_default_prng(tmp_path):
    default, rbg = _sweep(tmp_path, None), _sweep(tmp_path, "rbg")
    assert len(default["book"]) == 6 and len(default["task"]) == 6
    assert any(t.get("lineage") for t in default["book"])  # PBT copied states
    assert any(t.get("lineage") for t in default["task"])
    assert rbg == default


def test_a_run_refuses_another_implementations_key_in_one_line():
    from jaxch6.train import TrainConfig, make_run

    run = make_run(TrainConfig(hidden_sizes=(4,), epochs=1, batch_size=4), 8, 4, n_features=6)
    with pytest.raises(ConfigError, match=r"^runs use threefry2x32 keys, got a rbg key: make it "
                                          r"with jax.random.key\(seed, impl='threefry2x32'\)$"):
        run.init(jax.random.key(0, impl="rbg"), {"learning_rate": 0.1})
    state = run.init(jax.random.key(0, impl="threefry2x32"), {"learning_rate": 0.1})
    assert state.key.shape == (2,)
