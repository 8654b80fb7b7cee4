"""``jaxch6 sweep --config FILE`` (TOML) and the sweep.toml every run directory holds."""

from __future__ import annotations

import argparse
import functools
import json

import pytest
from _sweep_toy import toy_data, toy_task

from jaxch6.cli import main
from jaxch6.commands import sweep as sweep_cmd
from jaxch6.errors import ConfigError
from jaxch6.sweep import Param, SweepConfig
from jaxch6.sweep.config_file import CONFIG_FILE, to_toml


@pytest.fixture
def toy(monkeypatch):
    import jaxch6.sweep

    monkeypatch.setattr(jaxch6.sweep, "run", functools.partial(
        jaxch6.sweep.run, data=toy_data(), task=toy_task))


def _parse(argv):
    parser = argparse.ArgumentParser()
    sweep_cmd.add_arguments(parser)
    return vars(parser.parse_args(sweep_cmd.expand_argv(argv)))


def test_every_option_can_be_set_from_a_file(tmp_path):
    parser = argparse.ArgumentParser()
    sweep_cmd.add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    samples = {"space": ["lr=1e-4:1e-1", "momentum=0.5,0.9"], "hidden": [50, 50],
               "init": 0.05, "val_fraction": 0.25, "storage_timeout": 3.5,
               "sampler": "grid", "pruner": "median", "scheduler": "halving"}
    n = 0
    for name, default in defaults.items():
        if name in sweep_cmd.NOT_IN_FILES:
            continue
        value = samples.get(name, True if default is False else
                            7 if isinstance(default, int) or default is None else f"x-{name}")
        if name in ("out", "resume", "data_dir", "tensorboard", "storage", "study",
                    "compile_cache", "cpu_devices", "optimizer", "activation", "dataset",
                    "source", "schedule", "precision", "task", "data"):
            value = "some-text"
        path = tmp_path / f"{name}.toml"
        path.write_text(f"{name} = {json.dumps(value)}\n")
        got = _parse(["--config", str(path)])[name]
        want = {"space": value, "hidden": "50,50", "init": "0.05"}.get(name, value)
        assert got == want, name
        n += 1
    assert n >= 40


def test_the_command_line_overrides_the_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('trials = 50\nepochs = 3\nspace = ["lr=1e-4:1e-1"]\nbatchnorm = true\n'
                    'batch-size = 20\n')
    args = _parse(["--config", str(path), "--trials", "7", "--space", "weight_decay=1e-6:1e-3"])
    assert args["trials"] == 7 and args["epochs"] == 3 and args["batch_size"] == 20
    assert args["space"] == ["weight_decay=1e-6:1e-3"] and args["batchnorm"] is True


@pytest.mark.parametrize("text, words", [
    ("trails = 5\n", "unknown option 'trails'"),
    ("batchnorm = 1\n", "batchnorm must be true or false"),
    ("trials = [1, 2]\n", "trials must be a number or a text"),
    ("space = 3\n", "space must be a list of --space texts"),
    ("trials = \n", "not valid TOML"),
    ('python_task = "linear3"\ntrials = 5\n',
     "its task 'linear3' was given from Python: pass --task MODULE:NAME (and --data)"),
])
def test_a_bad_file_is_one_line_and_exit_2(tmp_path, capsys, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["sweep", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and str(path) in err
    with pytest.raises(ConfigError):
        sweep_cmd.expand_argv(["--config", str(path)])
    assert main(["sweep", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read it" in capsys.readouterr().err


def test_to_toml_reads_back_as_the_same_config(tmp_path):
    config = SweepConfig(trials=7, epochs=3, batch_size=8, seed=4, hidden=(20, 10),
                         init=0.01, batchnorm=True, scheduler="halving", min_epochs=1,
                         space=(Param("learning_rate", 1e-4, 1e-1),
                                Param.categorical("optimizer", ["sgd", "adam"]),
                                Param.int("width", 10, 40)))
    path = tmp_path / CONFIG_FILE
    path.write_text(to_toml(config))
    args = argparse.Namespace(**_parse(["--config", str(path)]))
    assert sweep_cmd.build_config(args) == config.validate()


@pytest.mark.slow
def test_a_run_directorys_config_reruns_the_same_sweep(toy, tmp_path, capsys):
    argv = ["sweep", "--trials", "5", "--epochs", "2", "--batch-size", "8", "--seed", "3",
            "--space", "lr=1e-3:1e-1", "--space", "weight_decay=1e-6:1e-2", "--no-plot",
            "--quiet", "--no-compile-cache", "--cpu-devices", "1"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / CONFIG_FILE).exists()
    assert main(["sweep", "--config", str(tmp_path / "a" / CONFIG_FILE), "--out",
                 str(tmp_path / "b"), "--no-plot", "--quiet", "--no-compile-cache",
                 "--cpu-devices", "1"]) == 0
    manifests = [json.loads((tmp_path / d / "manifest.json").read_text()) for d in "ab"]
    assert manifests[0]["config"] == manifests[1]["config"]
    trials = [[json.loads(line) for line in (tmp_path / d / "trials.jsonl").open()]
              for d in "ab"]
    assert [(t["id"], t["hparams"], t["val_acc"]) for t in trials[0]] == \
        [(t["id"], t["hparams"], t["val_acc"]) for t in trials[1]]
    assert (tmp_path / "b" / CONFIG_FILE).read_text() == \
        (tmp_path / "a" / CONFIG_FILE).read_text()


def test_a_task_given_from_python_is_a_comment_an_import_path_an_option(tmp_path):
    from jaxch6.sweep.config_file import to_toml as write

    named = SweepConfig(task="toy", space=(Param("learning_rate", 1e-3, 1e-1),))
    text = write(named)
    assert not any(line.startswith("task =") for line in text.splitlines())
    assert "# task \"toy\" was given from Python" in text
    assert 'python_task = "toy"' in text.splitlines()
    path = tmp_path / "s.toml"
    path.write_text(text)
    words = sweep_cmd.expand_argv(["--config", str(path), "--task", "m:f"])
    assert "--space=learning_rate=0.001:0.1:log" in words and words[-2:] == ["--task", "m:f"]
    assert not any(w.startswith("--python") for w in words)  # read, not passed on
    path = SweepConfig(task="my_module:make_task", space=(Param("learning_rate", 1e-3, 1e-1),))
    assert 'task = "my_module:make_task"' in write(path).splitlines()
    with_data = write(path, data="/data/d.npz")
    assert with_data.splitlines()[-1] == 'data = "/data/d.npz"'


@pytest.mark.slow
def test_a_task_sweeps_config_names_its_task_and_data_file(tmp_path, capsys):
    """Issue 21.4: ``--task`` and ``--data`` are in the run directory's sweep.toml, so
    ``--config DIR/sweep.toml`` trains the same task on the same file."""
    import numpy as np
    from _task_toy import make_data

    train, _ = make_data(seed=5)  # not the task's own load_data: the file must be read
    data = tmp_path / "d.npz"
    np.savez(data, **{f"{s}/{k}": v for s, d in train.items() for k, v in d.items()})
    quiet = ["--no-plot", "--quiet", "--no-compile-cache", "--cpu-devices", "1"]
    assert main(["sweep", "--task", "_task_toy:make_task", "--data", str(data), "--trials",
                 "3", "--epochs", "2", "--seed", "4", "--out", str(tmp_path / "a"),
                 *quiet]) == 0
    text = (tmp_path / "a" / CONFIG_FILE).read_text()
    assert 'task = "_task_toy:make_task"' in text.splitlines()
    assert f"data = {json.dumps(str(data))}" in text.splitlines()
    assert main(["sweep", "--config", str(tmp_path / "a" / CONFIG_FILE), "--out",
                 str(tmp_path / "b"), *quiet]) == 0
    manifests = [json.loads((tmp_path / d / "manifest.json").read_text()) for d in "ab"]
    import jax

    from jaxch6.sweep.store import data_fingerprint
    from jaxch6.sweep.task import load_npz

    file_print = data_fingerprint(jax.tree.leaves(load_npz(data)))
    assert [m["data_fingerprint"] for m in manifests] == [file_print, file_print]
    assert manifests[0]["config"] == manifests[1]["config"]
    trials = [[json.loads(line) for line in (tmp_path / d / "trials.jsonl").open()]
              for d in "ab"]
    assert len(trials[0]) == 3
    assert [(t["id"], t["hparams"], t["val_acc"]) for t in trials[0]] == \
        [(t["id"], t["hparams"], t["val_acc"]) for t in trials[1]]
    assert (tmp_path / "b" / CONFIG_FILE).read_text() == text


def test_a_file_that_resumes_takes_no_run_option_even_at_its_default(tmp_path, capsys):
    """``resume`` in a file with ``trials = 100`` (the default): the resumed run would ignore
    it, so it is refused as on the command line."""
    file = tmp_path / "resume.toml"
    file.write_text(f'resume = "{tmp_path / "somewhere"}"\ntrials = 100\n')
    assert main(["sweep", "--config", str(file)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--resume takes no --trials" in err[0], err


class _Reached(Exception):
    """The command got past its checks to the run."""


@pytest.mark.parametrize("text, argv", [
    ('scheduler = "halving"\neta = 2\nmin_epochs = 2\n', ["--scheduler", "random"]),
    ('scheduler = "pbt"\npbt_interval = 1\n', ["--scheduler", "halving"]),
    ('sampler = "grid"\nspace = ["optimizer=sgd,adam"]\ntrials = 2\n',
     ["--space", "optimizer=sgd,adam,momentum"]),
    ('task = "_task_toy:make_task"\nhidden = "100,100,100,100,100,100"\nbatch_size = 100\n', []),
])
def test_a_files_settings_give_way_to_the_command_line_without_a_refusal(
        text, argv, tmp_path, monkeypatch):
    """A run directory's sweep.toml records every setting of its run; run again with another
    scheduler, grid or task on the command line, the settings that no longer apply give way
    (only options typed on the command line that the run would not read are refused)."""
    def reached(args, config, out):
        raise _Reached(config)

    monkeypatch.setattr(sweep_cmd, "_run_sweep", reached)
    file = tmp_path / "sweep.toml"
    file.write_text(text + "epochs = 2\n")
    with pytest.raises(_Reached):
        main(["sweep", "--config", str(file), *argv, "--out", str(tmp_path / "o")])
