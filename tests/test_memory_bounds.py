"""Memory is bounded before allocation (issue 19, item 4): integer ranges are never
materialised, and the CPU device count has an upper bound. Each case runs in a child process
whose address space is capped (RLIMIT_AS), so a range built in full fails there instead of
taking the machine down."""

from __future__ import annotations

import os
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
        with pytest.raises(ConfigError, match=f"cpu_devices {n} is more than {most}"):
            devices.configure_cpu_devices(str(n))


def test_cli_cpu_devices_bound_is_one_line():
    proc = _capped("""
        from jaxch6.cli import main
        raise SystemExit(main(["sweep", "--cpu-devices", "100000", "--trials", "4",
                               "--epochs", "1", "--train-size", "100", "--no-plot", "--quiet"]))
    """, timeout=60)
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert proc.stderr.count("\n") == 1 and "--cpu-devices 100000 is more than" in proc.stderr
