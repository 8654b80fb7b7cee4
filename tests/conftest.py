"""Shared fixtures. Tests run on the CPU, in float64 where a test asks for it, offline."""

from __future__ import annotations

import atexit
import gzip
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# One persistent compilation cache for the session (a fresh directory, removed at exit): the
# many tests that build the same small programs (engines are compiled ahead of time, per
# instance) load them instead of compiling them again. A cached executable is the same program.
_CACHE = tempfile.mkdtemp(prefix="jaxch6-test-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Start JAX's backend once, with its default single CPU device, before any test runs.

    In-process tests expect one CPU device whatever ran before them: without this, the first
    ``jaxch6.sweep.run`` of a session would give the process the command line's devices (it
    does so while JAX's backend is not initialised) and change the device count for every test
    after it. ``run``'s own device set-up is tested in fresh subprocesses.
    """
    import jax

    jax.devices()

SHARED_MNIST = ROOT.parent / "shared" / "datasets" / "mnist"


@pytest.fixture(scope="session")
def shared_mnist_dir() -> Path:
    """Directory of the real MNIST test set (IDX .gz), beside the checkout."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST test set not found at {SHARED_MNIST}")
    return SHARED_MNIST


@pytest.fixture(scope="session")
def mnist_test_set(shared_mnist_dir):
    """The 10,000 real MNIST test digits as (x float32 (N, 784) in [0, 1], t int32 (N,)).

    Read here with plain NumPy, independently of :mod:`jaxch6.data`, so tests of the network and
    training do not depend on the data module (and the data tests can compare against this).
    """
    with gzip.open(shared_mnist_dir / "t10k-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(shared_mnist_dir / "t10k-labels-idx1-ubyte.gz") as f:
        t = np.frombuffer(f.read(), np.uint8, offset=8)
    return x.astype(np.float32) / 255.0, t.astype(np.int32)


@pytest.fixture
def x64():
    """float64 inside the test only: jax_enable_x64 on, restored afterwards."""
    import jax

    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(size)`` mounts a small tmpfs (e.g. ``"64k"``) under ``tmp_path`` and returns its
    path, unmounted after the test; skips where it cannot be mounted (needs root and mount)."""
    mounted = []

    def mount(size: str) -> Path:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a tmpfs needs root")
        mnt = tmp_path / f"tmpfs-{len(mounted)}"
        mnt.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
        mounted.append(mnt)
        return mnt

    yield mount
    for mnt in mounted:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
