"""Memory is bounded before allocation (issue 19, item 4): integer ranges are never
materialised, and the CPU device count has an upper bound. Each case runs in a child process
whose address space is capped (RLIMIT_AS), so a range built in full fails there instead of
taking the machine down."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap

import pytest

from jaxch6.errors import ConfigError
from jaxch6.sweep import devices

CAP = 3 << 30  # 3 GiB of address space: the plan and JAX fit, a range of 10^8 ints does not


def _capped(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    prelude = (f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({CAP}, {CAP}))\n")
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"})


@pytest.mark.slow
def test_a_huge_int_range_in_python_is_never_built():
    proc = _capped("""
        from jaxch6.sweep import Param, SweepConfig
        from jaxch6.sweep.groups import footprint_config, n_groups
        from jaxch6.sweep.space import grid
        space = (Param.int("batch_size", 1, 10**9), Param.int("width", 1, 10**8),
                 Param.float("lr", 1e-4, 1e-1, log=True))
        config = SweepConfig(space=space, trials=4).validate()
        big = footprint_config(config)
        assert big.batch_size == 10**9 and big.hidden[0] == 10**8, big
        assert n_groups(config.space) == 10**17
        assert list(grid(space[:2], [10**17 - 1])["width"]) == [10**8]
        print("ok")
    """)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-1500:]


@pytest.mark.slow
@pytest.mark.parametrize("space", ["width=1:100000000:int", "batch_size=1:2000000000:int"])
def test_a_huge_int_range_on_the_command_line_is_one_line(space):
    proc = _capped(f"""
        from jaxch6.cli import main
        raise SystemExit(main(["sweep", "--space", "{space}", "--trials", "4", "--epochs", "1",
                               "--train-size", "100", "--source", "sample", "--no-plot",
                               "--quiet", "--no-compile-cache"]))
    """)
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert proc.stderr.count("\n") == 1 and "one trial needs" in proc.stderr, proc.stderr


def test_cpu_devices_have_an_upper_bound(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    most = devices.max_cpu_devices(os.cpu_count())
    assert most >= devices.MIN_MAX
    for n in (most + 1, 999, 100000):
        with pytest.raises(ConfigError, match=f"cpu_devices {n} is more than {most}") as e:
            devices.configure_cpu_devices(str(n))
        per, cores, least = map(int, re.search(r"\((\d+) per CPU core x (\d+) cores, at least "
                                               r"(\d+)\)", str(e.value)).groups())
        assert most == max(least, per * cores)  # the numbers it prints give its bound


def test_cli_cpu_devices_bound_is_one_line():
    proc = _capped("""
        from jaxch6.cli import main
        raise SystemExit(main(["sweep", "--cpu-devices", "100000", "--trials", "4",
                               "--epochs", "1", "--train-size", "100", "--no-plot", "--quiet"]))
    """, timeout=60)
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert proc.stderr.count("\n") == 1 and "--cpu-devices 100000 is more than" in proc.stderr


# -- the refusals' arithmetic (issue 19 item 13) -------------------------------------------------
_UNIT = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_S = r"(-?[\d.,]+ (?:B|KiB|MiB|GiB|TiB))"


def _size(text: str) -> tuple[float, float]:
    """Bytes of a printed size, and half its last printed digit (its rounding)."""
    num, unit = text.rsplit(" ", 1)
    return float(num.replace(",", "")) * _UNIT[unit], (0 if unit == "B" else 0.05 * _UNIT[unit])


def _term(text: str) -> tuple[float, float]:
    """``"N trials x 4,288 B in flight"``, ``"2 chunks x 20 trials x 420 B"``, ``"0.1 GiB of
    data"``: its bytes (integer factors times a size) and its rounding."""
    size = re.search(_S, text)
    factor = math.prod(int(n) for n in re.findall(r"\b(\d+)(?: [a-z]+)* x", text))
    value, err = _size(size.group(1))
    return factor * value, factor * err


def _check_arithmetic(line: str) -> int:
    """Assert every sum and product ``line`` prints adds up; return how many were checked."""
    checked = 0
    offers = re.search(rf"offers {_S} usable \(([\d.]+)% of {_S}(?:, less {_S} of data)?\)",
                       line)
    if offers:
        (usable, e1), pct, (memory, e2) = _size(offers[1]), float(offers[2]), _size(offers[3])
        data, e3 = _size(offers[4]) if offers[4] else (0, 0)
        assert abs(pct / 100 * memory - data - usable) <= e1 + pct / 100 * e2 + e3 + 1, line
        checked += 1
    needs = re.search(rf"needs {_S} (?:of host memory |per device )?\((.*)\) but", line)
    if needs:
        total, err = _size(needs[1])
        terms = [_term(t) for t in needs[2].split(" + ")]
        assert abs(sum(v for v, _ in terms) - total) <= err + sum(e for _, e in terms) + 1, line
        checked += 1
    most = re.search(r"lanes=(\d+) needs .* x ([\d,]+ B)\).*at most (\d+)$", line)
    if most and offers:
        per, k = _size(most[2])[0], int(most[3])
        assert k * per <= usable + e1 and usable - e1 < (k + 1) * per, line
        checked += 1
    return checked


def test_every_memory_refusal_adds_up():
    """Issue 19 item 13: the memory refusals' numbers add up as printed (the host line's
    total had chunks in flight it did not show; the lanes line left out the data; the CPU
    chunk line left out the data and its 90%)."""
    import types

    from jaxch6.sweep import plan

    gib = 1 << 30
    gpu = dict(platform="gpu", n_devices=1)
    cpu = types.SimpleNamespace(platform="cpu", memory_stats=lambda: None)
    sizes = dict(epochs=5, steps=10, n_hparams=2, host_memory=8 * gib)
    cases = [  # (call, how many sums/products its line holds)
        (lambda: plan.plan_lanes_and_chunk(10, int(12.3 * gib), device_memory=4 * gib, **gpu), 1),
        (lambda: plan.plan_lanes_and_chunk(10, 3 * gib, device_memory=10 * gib, data_bytes=2 * gib,
                                           **gpu), 1),
        (lambda: plan.plan_lanes_and_chunk(10, gib, device_memory=10 * gib, data_bytes=20 * gib,
                                           **gpu), 1),
        (lambda: plan.plan_lanes_and_chunk(10_000, 1_363_148, device_memory=10 * gib,
                                           lanes=8000, data_bytes=123_456_789,
                                           platform="gpu", n_devices=4, chunk_size=64_000), 3),
        (lambda: plan.host_bytes_needed(10**7, data_bytes=55_000_000, epochs=50, chunk_size=20,
                                        host_memory=8 * gib), 2),
        (lambda: plan.host_bytes_needed(10**6, data_bytes=0, epochs=500, host_memory=gib), 2),
        (lambda: plan.host_bytes_needed(200, data_bytes=5_000_000, epochs=9, chunk_size=24,
                                        host_memory=64 << 20, kept_states=266,
                                        state_bytes=520_057), 2),
        (lambda: plan.check_sweep(trials=100, trial_bytes=50_000_000, lanes=2, chunk_size=200,
                                  devices=[cpu] * 8, data_bytes=300_000_000, **sizes), 2),
        (lambda: plan.check_sweep(trials=100, trial_bytes=500_000_000, lanes=16, chunk_size=32,
                                  devices=[cpu] * 2, data_bytes=10**6, **sizes), 3),
    ]
    for call, expected in cases:
        with pytest.raises(ConfigError) as e:
            call()
        line = str(e.value)
        assert "\n" not in line and _check_arithmetic(line) == expected, line


@pytest.mark.slow
def test_cli_memory_refusals_add_up():
    """The refusals as the command prints them, on several CPU devices and with a chunk."""
    base = ["sweep", "--trials", "8", "--epochs", "1", "--train-size", "100", "--source",
            "sample", "--no-plot", "--quiet", "--no-compile-cache", "--cpu-devices", "4"]
    for extra, needle in ((["--hidden", "100000"], "one trial needs"),
                          (["--lanes", "2", "--chunk-size", "8", "--hidden", "20000"],
                           "needs")):
        proc = _capped(f"""
            import os
            os.environ["JAXCH6_DEVICE_MEMORY"] = "2G"
            from jaxch6.cli import main
            raise SystemExit(main({base + extra!r}))
        """)
        assert proc.returncode == 2, proc.stderr[-1500:]
        line = proc.stderr.strip()
        assert "\n" not in line and needle in line and _check_arithmetic(line) >= 1, line


# -- the run states the schedulers keep between steps ----------------------------------------
def _config(scheduler: str, **kw):
    from jaxch6.sweep import SweepConfig

    return SweepConfig(trials=200, epochs=9, scheduler=scheduler, train_size=100,
                       source="sample", **kw).validate()


def test_each_scheduler_bounds_its_kept_states():
    """Rungs 1, 3, 9 of 200 trials keep 200 + 66 states (+ 22 to save the best); PBT keeps two
    intervals' states at most; random search none."""
    from jaxch6.sweep import schedulers

    def kept(scheduler, repeats=1, keep_final=False, **kw):
        return schedulers.make(_config(scheduler, **kw)).kept_states(repeats, keep_final)

    assert kept("random") == kept("random", 3, True) == 0
    assert kept("halving") == 266 and kept("halving", 2) == 532
    assert kept("halving", keep_final=True) == 288
    hb = schedulers.make(_config("hyperband"))
    assert kept("hyperband") == sum(b.survivors(k) for b in hb.brackets
                                    for k in range(len(b.rungs) - 1)) > 0
    assert kept("pbt") == 200 and kept("pbt", keep_final=True) == 400
    assert kept("pbt", 2, pbt_interval=1) == 800


@pytest.mark.parametrize("scheduler", ["halving", "hyperband", "pbt"])
def test_kept_run_states_are_refused_before_training(scheduler, monkeypatch, tmp_path):
    """A host that holds the data and the records but not the run states the scheduler keeps
    refuses the sweep in one line that adds up, before anything is trained or written; a
    random search of the same size fits."""
    from jaxch6.sweep import plan, runner, schedulers

    monkeypatch.setattr(plan, "physical_memory_bytes", lambda: 256 << 20)
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"kept run states x [\d,]+ B\) but") as e:
        runner.run(_config(scheduler, repeats=3), out=out, progress=False, figures=False)
    line = str(e.value)
    assert "\n" not in line and _check_arithmetic(line) == 2, line
    assert not out.exists()
    config = _config("random", repeats=3)
    data = runner.load_data(config)[0]
    assert runner.kept_run_states(config, schedulers.make(config), None, data) == (0, 0)
    runner.plan_lanes(config, data, __import__("jax").devices())  # no refusal


def test_prepare_plans_the_kept_states_of_the_scheduler_it_is_given(monkeypatch):
    """prepare plans for the run states of the scheduler that will run, the one it is given
    (its Setup holds it), and builds none of its own: a host with room for a random search
    refuses the same sweep given successive halving, which keeps run states."""
    from jaxch6.sweep import plan, runner, schedulers

    monkeypatch.setattr(plan, "physical_memory_bytes", lambda: 256 << 20)
    config = _config("random", repeats=3)
    random, halving = schedulers.make(config), schedulers.make(_config("halving", repeats=3))
    made, make = [], schedulers.make
    monkeypatch.setattr(schedulers, "make", lambda c: made.append(c) or make(c))
    with pytest.raises(ConfigError, match=r"kept run states x [\d,]+ B\) but"):
        runner.prepare(config, scheduler=halving)
    assert runner.prepare(config, scheduler=random).scheduler is random
    assert made == []
    runner.prepare(config)  # no scheduler given: the config's, built once to plan with
    assert made == [config]


def test_an_optuna_worker_that_prunes_counts_its_batches_states(monkeypatch):
    """A pruning worker keeps its batch's run states between rungs: two batches are planned
    for; without a pruner none are kept."""
    import optuna

    from jaxch6.sweep import optuna as jo
    from jaxch6.sweep import plan, runner, schedulers

    monkeypatch.setattr(plan, "physical_memory_bytes", lambda: 256 << 20)
    config = _config("random", repeats=3)
    with pytest.raises(ConfigError, match=r"\+ 1200 kept run states x [\d,]+ B\) but") as e:
        jo.run(config, pruner=optuna.pruners.MedianPruner(), batch_trials=200)
    assert _check_arithmetic(str(e.value)) == 2, e.value
    with pytest.raises(ConfigError, match=r"^chunk_size=\d+ needs") as e:  # the host has room
        jo.run(config, batch_trials=200)  # (the next check, one chunk's lanes, does not)
    data = runner.load_data(config)[0]
    assert runner.kept_run_states(config, schedulers.make(config), None, data) == (0, 0)
