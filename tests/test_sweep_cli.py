"""``jaxch6 sweep``: option errors exit 2 with one line; a tiny run prints the book's ranking
and writes its files; a real process killed mid-sweep resumes to the uninterrupted result."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from jaxch6.cli import main
from jaxch6.sweep import SweepConfig, store

TINY = ["--trials", "6", "--epochs", "3", "--hidden", "8", "--batch-size", "10",
        "--train-size", "50", "--source", "sample", "--no-compile-cache", "--quiet",
        "--cpu-devices", "1"]  # in-process: never change this test process's XLA_FLAGS


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--space", "lr=1e-2:1e-6"], "low must be below high"),
        (["--space", "lr=0:1e-2:log"], "log range needs 0 < low"),
        (["--space", "lr=-1e-3:1e-2"], "log range needs 0 < low"),
        (["--space", "lr=x:1e-2"], "bounds must be numbers"),
        (["--space", "momentum=0.5:0.9:lin"], "not a hyperparameter of optimizer 'sgd'"),
        (["--space", "bogus=1:2"], "not a hyperparameter"),
        (["--optimizer", "adamw"], "unknown optimizer 'adamw'"),
        (["--trials", "0"], "--trials must be a positive integer"),
        (["--hidden", "100xx"], "--hidden"),
        (["--rounds", "2", "--keep", "1"], "--keep must be between 2"),
        (["--resume", "/nonexistent/sweep"], "--resume takes no --out"),
    ],
)
def test_bad_options_exit_2_with_one_line(argv, words, capsys, tmp_path):
    code = main(["sweep", *argv, "--out", str(tmp_path / "o"), "--no-compile-cache",
                 "--cpu-devices", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("jaxch6 sweep: error: ") and words in err and "\n" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_tiny_sweep_prints_the_books_ranking_and_writes_files(capsys, tmp_path):
    out = tmp_path / "run"
    code = main(["sweep", *TINY, "--top", "3", "--out", str(out),
                 "--space", "lr=1e-3:1e-1", "--space", "weight_decay=1e-8:1e-4"])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "data: mnist from source 'sample'" in stdout and "40 train / 10 validation" in stdout
    assert re.search(r"compile \d+\.\d\d s, run \d+\.\d\d s \(6 trials, [\d.]+ trials/s\)", stdout)
    best = [x for x in stdout.splitlines() if x.startswith("Best-")]
    assert len(best) == 3
    pat = r"^Best-(\d)\(val acc:([0-9.]+)\) \| learning_rate:([0-9.e-]+), weight_decay:([0-9.e-]+)$"
    parsed = [re.match(pat, x) for x in best]
    assert all(parsed) and [int(m.group(1)) for m in parsed] == [1, 2, 3]
    accs = [float(m.group(2)) for m in parsed]
    assert accs == sorted(accs, reverse=True)
    records = store.read_trials(out)
    assert len(records) == 6
    top = max(records, key=lambda r: (r["final_val_acc"], -r["id"]))
    assert float(parsed[0].group(3)) == top["hparams"]["learning_rate"]
    summary = store.read_summary(out)
    assert summary["status"] == "complete" and summary["config"]["trials"] == 6
    assert summary["data"]["source"] == "sample"
    assert (out / "top20.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wrote = [x for x in stdout.splitlines() if x.startswith(f"wrote {out}/: ")]
    assert len(wrote) == 1  # it names every file in the directory, sweep.toml among them
    assert sorted(wrote[0].partition("/: ")[2].split(", ")) == sorted(os.listdir(out))
    assert "sweep.toml" in os.listdir(out) and "top20.png" in os.listdir(out)


@pytest.mark.slow
def test_killed_sweep_resumes_to_the_uninterrupted_result(tmp_path):
    out = tmp_path / "killed"
    cache = tmp_path / "cache"
    argv = ["--trials", "24", "--epochs", "6", "--hidden", "64x2", "--batch-size", "100",
            "--train-size", "500", "--source", "sample", "--seed", "11", "--chunk-size", "2",
            "--lanes", "1", "--quiet", "--no-plot", "--compile-cache", str(cache)]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen([sys.executable, "-m", "jaxch6", "sweep", *argv, "--out", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    trials = out / store.TRIALS
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if trials.exists() and trials.stat().st_size > 0:
                break
            time.sleep(0.002)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    landed = store.read_trials(out)
    assert 1 <= len(landed) < 24
    assert store.read_summary(out)["status"] == "running"

    done = subprocess.run([sys.executable, "-m", "jaxch6", "sweep", "--resume", str(out),
                           "--quiet", "--no-plot", "--compile-cache", str(cache)],
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Best-1(val acc:" in done.stdout
    summary = store.read_summary(out)
    assert summary["status"] == "complete" and summary["timings"]["trials_run"] == 24 - len(
        landed)
    resumed = store.read_trials(out)
    assert [r["id"] for r in resumed] == list(range(24))

    assert SweepConfig.from_dict(summary["config"]).lanes == 1
    ref = tmp_path / "uninterrupted"  # same options, another chunk size, not killed
    argv_ref = [a if a != "2" else "6" for a in argv]
    full = subprocess.run([sys.executable, "-m", "jaxch6", "sweep", *argv_ref, "--out", str(ref)],
                          env=env, capture_output=True, text=True, timeout=240)
    assert full.returncode == 0, full.stderr[-2000:]
    assert store.read_summary(ref)["chunk_size"] != summary["chunk_size"]
    assert store.read_trials(ref) == resumed
    assert summary["best"] == store.read_summary(ref)["best"]


@pytest.mark.slow
def test_cpu_devices_are_configured_before_jax_starts(monkeypatch):
    from jaxch6.errors import ConfigError
    from jaxch6.sweep.devices import configure_cpu_devices

    code = ("import sys; from jaxch6.cli import build_parser; build_parser(); "
            "assert 'jax' not in sys.modules, 'the CLI imported JAX too early'; "
            "from jaxch6.sweep.devices import configure_cpu_devices as c; n = c('3'); "
            "import jax; print(n, jax.local_device_count())")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["3", "3"]
    import jax

    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert jax.local_device_count() >= 1
    assert configure_cpu_devices("4") is None  # JAX already runs in this process: no change
    assert "XLA_FLAGS" not in os.environ
    for bad in ("0", "-2", "many"):
        with pytest.raises(ConfigError, match="cpu_devices"):
            configure_cpu_devices(bad)


#: Every command and sweep action, with the fewest words that parse (their options' defaults).
HELP_PATHS = {("sweep",): [], ("verify",): [], ("gradcheck",): [], ("experiment",): [],
              ("data",): ["info"], ("sweep", "show"): ["DIR"], ("sweep", "evaluate"): ["DIR"],
              ("sweep", "export-optuna"): ["DIR", "--storage", "sqlite:///x.db"]}


def _help_options(path, capsys) -> dict[str, str]:
    """``jaxch6 PATH --help``'s options section: each option (``--name``) and its help text."""
    import re

    from jaxch6.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args([*path, "--help"])
    text = capsys.readouterr().out.split("\noptions:\n", 1)[1]  # and every option group after
    options, name = {}, None
    for line in text.splitlines():
        if not line.startswith("  "):  # a blank line, a group's heading, the epilog
            name = None
        elif line.startswith("  -"):  # "  -x, --name METAVAR   help text" (text may wrap)
            flags, _, help_text = line.strip().partition("  ")
            name = re.findall(r"--?[\w-]+", flags)[-1]
            options[name] = help_text.strip()
        elif name:
            options[name] += " " + line.strip()
    options.pop("--help", None)
    options.pop("--version", None)
    return options


def test_every_option_of_every_command_has_help_text_and_shows_its_default(capsys):
    """``jaxch6 COMMAND --help``: each option says what it does and what it is when not given
    (read from the help text users see, the value from what ``parse_args`` fills in)."""
    from jaxch6.cli import COMMANDS, build_parser

    assert {path[0] for path in HELP_PATHS} == set(COMMANDS)
    seen = 0
    for path, words in HELP_PATHS.items():
        options = _help_options(path, capsys)
        defaults = vars(build_parser().parse_args([*path, *words]))
        for name, text in options.items():
            seen += 1
            assert len(text.split()) >= 3, (path, name)
            assert "default" in text or "required" in text, (path, name, text)
            default = defaults.get(name.lstrip("-").replace("-", "_"))
            if default not in (None, False, True) and "required" not in text:
                shown = (",".join(map(str, default)) if isinstance(default, tuple)
                         else str(default))
                assert shown in text, (path, name, text)
    assert seen >= 50


# -- options that would be ignored (issue 19 item 10) ------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["--storage", "sqlite:///x.db"], "--storage is an option of an Optuna study"),
    (["--pruner", "median"], "--pruner is an option of an Optuna study"),
    (["--study", "s", "--sampler", "grid", "--space", "optimizer=sgd,adam"],
     "--study is an option of an Optuna study"),
    (["--sampler", "random", "--scheduler", "halving"],
     "--scheduler halving works with the sweep's own sampling, not with --sampler random"),
    (["--resume", "somewhere", "--pruner", "median"], "--resume takes no --pruner"),
    (["--resume", "somewhere", "--storage", "sqlite:///x.db"], "--resume takes no --storage"),
    (["--resume", "somewhere", "--study", "s"], "--resume takes no --study"),
    (["--resume", "somewhere", "--batch-trials", "4"], "--resume takes no --batch-trials"),
    # given at their default values, they would be ignored as well
    (["--resume", "somewhere", "--trials", "100"], "--resume takes no --trials"),
    (["--resume", "somewhere", "--seed", "0"], "--resume takes no --seed"),
    (["--resume", "somewhere", "--optimizer", "sgd"], "--resume takes no --optimizer"),
    (["--out", ""], "--out must name a directory, got ''"),
    (["--pbt-interval", "3"], "--pbt-interval is a setting of pbt: --scheduler random does not "
                              "read it"),
    (["--scheduler", "pbt", "--eta", "5"], "--eta is a setting of halving and hyperband: "
                                           "--scheduler pbt does not read it"),
    (["--sampler", "random", "--min-epochs", "2"], "--min-epochs is a setting of halving and "
                                                   "hyperband: --sampler random without "
                                                   "--pruner does not read it"),
    (["--no-compile-cache", "--compile-cache", "elsewhere"],
     "--compile-cache DIR does not apply with --no-compile-cache"),
])
def test_an_option_that_would_be_ignored_is_one_line(argv, needle, capsys, tmp_path,
                                                     monkeypatch):
    from jaxch6.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["sweep", *argv, "--trials", "2", "--epochs", "1"]
                if "--resume" not in argv else ["sweep", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_both_storage_timeout_options_default_to_the_storages_own():
    """``--storage-timeout`` of a run and of ``export-optuna`` default to one constant."""
    from jaxch6.cli import build_parser
    from jaxch6.sweep.optuna_storage import CONNECT_TIMEOUT_S

    parser = build_parser()
    export = ["sweep", "export-optuna", "DIR", "--storage", "sqlite:///x.db"]
    assert parser.parse_args(["sweep"]).storage_timeout == CONNECT_TIMEOUT_S
    assert parser.parse_args(export).storage_timeout == CONNECT_TIMEOUT_S


def test_the_grid_refuses_a_trials_count_that_is_not_its_size(capsys, tmp_path):
    from jaxch6.cli import main

    argv = ["sweep", "--sampler", "grid", "--space", "lr=0.1,0.01", "--epochs", "1",
            "--out", str(tmp_path / "g")]
    assert main([*argv, "--trials", "7"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["jaxch6 sweep: error: --sampler grid runs every point of its grid "
                   "(2 trials): --trials 7 does not apply"]
    assert not (tmp_path / "g").exists()
