"""Tests of jaxch6.sweep.plan: lanes and chunks from (faked) device memory, errors that say what
to reduce, the CPU rule unchanged, host memory."""

from __future__ import annotations

import types

import pytest

from jaxch6.errors import ConfigError
from jaxch6.sweep import plan
from jaxch6.sweep.plan import Plan, plan_lanes_and_chunk

BOOK_NET = (784, *(100,) * 6, 10)
# the book's search: SGD (no moment buffers), batch 100, 400 + 100 rows evaluated each epoch
BOOK_TRIAL = plan.per_trial_bytes(BOOK_NET, batch_size=100, n_eval_rows=500, optimizer_slots=0)
GiB = 1 << 30


def _gpu(trials, memory, n_devices=1, **kw):
    return plan_lanes_and_chunk(trials, BOOK_TRIAL, platform="gpu", device_memory=memory,
                                n_devices=n_devices, **kw)


def test_book_trial_bytes_is_the_engine_formula():
    n_params, units = 130_010, 784 + 600 + 10
    assert BOOK_TRIAL == 4 * (4 * n_params + 4 * 100 * units + 2 * 500 * units)


@pytest.mark.parametrize("memory", [80 * GiB, 16 * GiB])
def test_the_runtime_runs_the_tested_gpu_plan(memory, monkeypatch):
    """jaxch6.sweep.run plans through the planner tested here (runner.plan_lanes), with the
    book's trial estimate and the data's bytes subtracted."""
    import numpy as np

    from jaxch6.sweep import SweepConfig
    from jaxch6.sweep.runner import plan_lanes

    monkeypatch.setenv(plan.DEVICE_MEMORY_ENV, str(memory))
    data = (np.zeros((400, 784), np.float32), np.arange(400, dtype=np.int32) % 10,
            np.zeros((100, 784), np.float32), np.arange(100, dtype=np.int32) % 10)
    data_bytes = sum(a.nbytes for a in data)
    gpu = types.SimpleNamespace(platform="gpu", memory_stats=lambda: {})
    for trials in (100, 10_000):
        trial_bytes, got = plan_lanes(SweepConfig(trials=trials).validate(), data, [gpu] * 2)
        assert trial_bytes == BOOK_TRIAL
        assert got == _gpu(trials, memory, n_devices=2, data_bytes=data_bytes)


@pytest.mark.parametrize("memory", [80 * GiB, 16 * GiB])
def test_gpu_plan_fills_a_fraction_of_one_device_with_balanced_groups(memory):
    fit = int(0.4 * memory) // BOOK_TRIAL
    assert fit == {80 * GiB: 3475, 16 * GiB: 695}[memory]
    for trials in (100, 1000, 10_000, 100_000):
        p = _gpu(trials, memory)
        groups = -(-trials // fit)
        assert p.lanes == -(-trials // groups) <= fit  # as wide as fits, evenly filled
        assert p.chunk_size == p.lanes
        assert p.bytes_per_device == p.lanes * BOOK_TRIAL <= 0.4 * memory
        assert -(-trials // p.chunk_size) * p.chunk_size - trials < groups  # < 1 pad per group
    assert _gpu(10_000, 80 * GiB) == Plan(3334, 3334, 3334 * BOOK_TRIAL)
    assert _gpu(1000, 80 * GiB).lanes == 1000 and _gpu(1000, 16 * GiB).lanes == 500
    assert _gpu(100_000, 16 * GiB).lanes == 695


def test_gpu_lanes_never_depend_on_the_device_count():
    for n in (1, 2, 8):
        p = _gpu(100_000, 80 * GiB, n_devices=n)
        assert p.lanes == _gpu(100_000, 80 * GiB).lanes and p.chunk_size == n * p.lanes
        assert plan_lanes_and_chunk(100_000, BOOK_TRIAL, platform="tpu", device_memory=16 * GiB,
                                    n_devices=n).lanes == 695


def test_user_lanes_and_chunk_are_kept_and_rounded_to_whole_groups():
    assert _gpu(10_000, 80 * GiB, lanes=1000) == Plan(1000, 1000, 1000 * BOOK_TRIAL)
    assert _gpu(10_000, 80 * GiB, n_devices=2, lanes=1000, chunk_size=3000).chunk_size == 4000
    p = _gpu(10_000, 80 * GiB, chunk_size=1000)  # a chunk bounds the default lane width
    assert (p.lanes, p.chunk_size) == (1000, 1000)
    assert _gpu(10_000, 80 * GiB, n_devices=4, chunk_size=1000).lanes == 250
    # the capped lane width
    assert plan_lanes_and_chunk(10**6, 1 << 10, platform="gpu", device_memory=80 * GiB,
                                n_devices=1).lanes <= plan.CHUNK_CAP["gpu"]


def test_plans_that_do_not_fit_say_what_to_reduce():
    with pytest.raises(ConfigError, match="one trial needs 12.3 GiB but the device offers "
                                          "1.6 GiB usable .*reduce hidden sizes, batch size") as e:
        plan_lanes_and_chunk(10, int(12.3 * GiB), platform="gpu", device_memory=4 * GiB,
                             n_devices=1)
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="lanes=8000 needs .* reduce lanes to at most 7819"):
        _gpu(10_000, 80 * GiB, lanes=8000)
    with pytest.raises(ConfigError, match="less 2.0 GiB of data"):
        plan_lanes_and_chunk(10, 3 * GiB, platform="gpu", device_memory=10 * GiB, n_devices=1,
                             data_bytes=2 * GiB)
    for bad in ({"trials": 0}, {"n_devices": 0}, {"lanes": -1}, {"chunk_size": 2.5}):
        kw = {"trials": 10, "n_devices": 1, **bad}
        with pytest.raises(ConfigError, match="must be a positive int"):
            plan_lanes_and_chunk(kw.pop("trials"), BOOK_TRIAL, platform="gpu",
                                 device_memory=GiB, **kw)
    with pytest.raises(ConfigError, match="memory_fraction"):
        _gpu(10, GiB, memory_fraction=1.5)


def test_cpu_plan_is_todays_rule():
    cpu = dict(platform="cpu", device_memory=8 * GiB)
    assert plan_lanes_and_chunk(100, BOOK_TRIAL, n_devices=2, **cpu) == Plan(
        2, 20, 2 * BOOK_TRIAL)  # the README's "chunk 20 lanes in groups of 2"
    assert plan_lanes_and_chunk(100, BOOK_TRIAL, n_devices=1, **cpu).chunk_size == 20
    assert plan_lanes_and_chunk(100, BOOK_TRIAL, n_devices=4, **cpu).chunk_size == 8
    assert plan_lanes_and_chunk(7, BOOK_TRIAL, n_devices=1, **cpu).chunk_size == 8
    assert plan_lanes_and_chunk(100, 1 << 10, n_devices=1, **cpu).lanes == 100
    assert plan_lanes_and_chunk(100, BOOK_TRIAL, n_devices=2, chunk_size=30, **cpu).chunk_size \
        == 32


def test_a_tasks_cpu_groups_are_narrow_and_its_chunks_unpadded():
    """A small task's 64 trials on 2 CPU devices: groups of CPU_TASK_LANES, a chunk of whole
    groups that divides the round (no padding copies), the book's rule unchanged beside it."""
    cpu = dict(platform="cpu", device_memory=8 * GiB, n_devices=2)
    small = 371 << 10  # a lane of experiments/own_model_regression.py, as its engine measures
    assert plan_lanes_and_chunk(64, small, **cpu) == Plan(64, 128, 64 * small)  # the book's
    task = plan_lanes_and_chunk(64, small, cpu_lanes=plan.CPU_TASK_LANES, **cpu)
    assert task == Plan(8, 16, 8 * small) and 64 % task.chunk_size == 0
    assert plan_lanes_and_chunk(3, small, cpu_lanes=8, **cpu).lanes == 3
    assert plan_lanes_and_chunk(64, 10 << 20, cpu_lanes=8, **cpu).lanes == 2  # 24 MiB rule
    gpu = plan_lanes_and_chunk(64, small, platform="gpu", device_memory=8 * GiB, n_devices=2,
                               cpu_lanes=8)
    assert gpu.lanes == 64  # accelerators: as wide as fits


def test_device_memory_from_the_device_the_override_or_the_environment(monkeypatch):
    gpu = types.SimpleNamespace(platform="gpu", memory_stats=lambda: {"bytes_limit": 5 * GiB})
    cpu = types.SimpleNamespace(platform="cpu", memory_stats=lambda: None)
    monkeypatch.delenv(plan.DEVICE_MEMORY_ENV, raising=False)
    assert plan.device_memory_bytes(gpu) == 5 * GiB
    assert plan.device_memory_bytes(cpu) == plan.physical_memory_bytes()
    assert plan.device_memory_bytes(gpu, override="16G") == 16 * GiB
    monkeypatch.setenv(plan.DEVICE_MEMORY_ENV, "80G")
    assert plan.device_memory_bytes(gpu) == 80 * GiB
    assert plan.plan_for_devices(10_000, BOOK_TRIAL, [gpu]) == _gpu(10_000, 80 * GiB)
    assert plan.plan_for_devices(100, BOOK_TRIAL, [cpu, cpu]) == Plan(2, 20, 2 * BOOK_TRIAL)
    monkeypatch.setenv(plan.DEVICE_MEMORY_ENV, "lots")
    with pytest.raises(ConfigError, match="JAXCH6|memory size"):
        plan.device_memory_bytes(gpu)


def test_parse_and_format_bytes():
    assert plan.parse_bytes("80G") == plan.parse_bytes("80GiB") == plan.parse_bytes("80 gb") \
        == 80 * GiB
    assert plan.parse_bytes("512M") == 512 << 20 and plan.parse_bytes(12345) == 12345
    assert plan.parse_bytes("1.5T") == 3 << 39
    for bad in ("", "G", "-1G", "0", "80X"):
        with pytest.raises(ConfigError):
            plan.parse_bytes(bad)
    assert plan.format_bytes(int(12.3 * GiB)) == "12.3 GiB" and plan.format_bytes(512) == "512 B"


def test_host_bytes_needed():
    need = plan.host_bytes_needed(100, data_bytes=1 << 20, epochs=50, chunk_size=20,
                                  host_memory=8 * GiB)
    assert (1 << 20) + 100 * 1024 < need < 2 << 20
    big = plan.host_bytes_needed(100_000, data_bytes=0, epochs=50, host_memory=8 * GiB)
    assert big > 100_000 * 100 * plan.PY_FLOAT_BYTES
    with pytest.raises(ConfigError, match="host memory .* reduce trials, epochs") as e:
        plan.host_bytes_needed(10**7, data_bytes=0, epochs=50, host_memory=8 * GiB)
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match=r"\(3.0 GiB of data \+ 1 trial x 1,152 B"):
        plan.host_bytes_needed(1, data_bytes=3 * GiB, epochs=1, host_memory=2 * GiB)
