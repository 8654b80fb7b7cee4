"""The top-level package: lazy submodules, dir(), py.typed, enable_compile_cache."""

from __future__ import annotations

import importlib
import importlib.resources
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest

import jaxch6
from jaxch6.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

SUBMODULES = ("optimizers", "mlp", "train", "sweep", "data", "layers", "initializers",
              "schedules", "gradcheck", "verify", "plots", "experiments")


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_import_jaxch6_does_not_import_jax():
    code = ("import sys, jaxch6; dir(jaxch6); jaxch6.__version__; jaxch6.ConfigError; "
            "assert 'jax' not in sys.modules, 'jax imported'; "
            "import jaxch6.cli; jaxch6.cli.build_parser(); "
            "assert 'jax' not in sys.modules, 'jax imported by the CLI parser'")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_submodules_load_lazily_in_a_fresh_process():
    code = ("import sys, jaxch6; assert 'jaxch6.schedules' not in sys.modules; "
            "m = jaxch6.schedules; assert m is sys.modules['jaxch6.schedules']; "
            "assert 'jax' in sys.modules; assert jaxch6.schedules is m")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", SUBMODULES)
def test_every_listed_submodule_is_an_attribute(name):
    module = getattr(jaxch6, name)
    assert isinstance(module, types.ModuleType)
    assert module is importlib.import_module(f"jaxch6.{name}")


def test_all_and_dir():
    assert set(SUBMODULES) | {"enable_compile_cache"} <= set(jaxch6.__all__)
    assert {"ConfigError", "DataError", "Jaxch6Error", "__version__"} <= set(jaxch6.__all__)
    assert set(jaxch6.__all__) <= set(dir(jaxch6))
    assert not {"importlib", "TYPE_CHECKING", "Any", "annotations"} & set(dir(jaxch6))
    assert callable(jaxch6.enable_compile_cache)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = jaxch6.nope


def test_py_typed_ships_with_the_package():
    assert importlib.resources.files("jaxch6").joinpath("py.typed").is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["jaxch6"]


def test_enable_compile_cache_refuses_a_path_under_a_regular_file(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    target = blocker / "cache"
    with pytest.raises(ConfigError) as err:
        jaxch6.enable_compile_cache(target)
    msg = str(err.value)
    assert str(target) in msg and "\n" not in msg


@pytest.mark.slow
def test_enable_compile_cache_sets_jax_options_in_a_fresh_process(tmp_path):
    target = tmp_path / "nested" / "cache"
    code = (f"import jaxch6, jax; p = jaxch6.enable_compile_cache({str(target)!r}); "
            f"assert p.is_dir() and str(p) == {str(target)!r}; "
            "assert jax.config.jax_compilation_cache_dir == str(p); "
            "assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.2; "
            "assert jax.config.jax_persistent_cache_min_entry_size_bytes == 0")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_enable_compile_cache_before_jax_does_not_import_it_and_jax_then_uses_it(tmp_path):
    target = tmp_path / "cache"
    code = (f"import sys, jaxch6; p = jaxch6.enable_compile_cache({str(target)!r}); "
            "assert 'jax' not in sys.modules; import jax; "
            "assert jax.config.jax_compilation_cache_dir == str(p); "
            "assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.2; "
            "assert jax.config.jax_persistent_cache_min_entry_size_bytes == 0")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr


def test_enable_compile_cache_default_directory(monkeypatch, tmp_path):
    from jaxch6 import cache

    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.default_directory() == tmp_path / ".cache" / "jaxch6" / "jax-compile-cache"
