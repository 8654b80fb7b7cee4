"""jaxch6.verify and ``jaxch6 verify``: the rule × stream × reference table and its pass/fail."""

from __future__ import annotations

import json

import jax
import optax
import pytest

from jaxch6 import cli, verify
from jaxch6 import optimizers as O
from jaxch6.errors import ConfigError


@pytest.mark.slow
def test_cli_end_to_end_all_rows_pass(tmp_path, capsys):
    out = tmp_path / "verify.json"
    assert cli.main(["verify", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    rows = doc["rows"]
    assert doc["steps"] == 200 and doc["all_passed"] is True
    checked = [r for r in rows if r["checked"]]
    assert checked and all(r["status"] == "pass" for r in checked)
    assert all(r["max_abs_diff"] <= 1e-12 for r in checked)
    # every rule × stream has a checked row against optax and (but standard Nesterov) NumPy
    for stream in verify.STREAMS:
        for rule in ("sgd", "momentum", "nesterov(book)", "adagrad", "rmsprop", "adadelta",
                     "adam"):
            refs = {r["reference"] for r in checked if r["rule"] == rule and r["stream"] == stream}
            if rule == "adadelta" and stream == verify.COMPLEX_STREAM:
                # optax's adadelta squares g itself: shown, not checked
                assert not refs
                continue
            # the book's NumPy classes are real: no NumPy reference on the complex stream
            assert (stream == verify.COMPLEX_STREAM) != any(
                ref.startswith("numpy") for ref in refs), (rule, stream)
            assert any(not ref.startswith("numpy") for ref in refs), (rule, stream)
    # ... and, with the learning-rate schedule on both sides, every rule against optax
    assert {r["lr"] for r in rows} == {"constant", verify.SCHEDULE_LABEL}
    for stream in verify.STREAMS:
        for rule in ("sgd", "momentum", "nesterov(book)", "nesterov(standard)", "adagrad",
                     "rmsprop", "adadelta", "adam"):
            assert any(r["rule"] == rule and r["stream"] == stream
                       and r["lr"] == verify.SCHEDULE_LABEL for r in checked) or (
                rule == "adadelta" and stream == verify.COMPLEX_STREAM), (rule, stream)
    info = {(r["rule"], r["stream"]): r for r in rows
            if r["status"] == "info" and r["lr"] == "constant"}
    # the direct differences are real, and shown rather than failed
    assert info[("nesterov(book)", "normal")]["max_abs_diff"] > 1e-3
    assert info[("adam", "normal*1e-4")]["max_abs_diff"] > 1e-5
    assert all(r["tolerance"] is None for r in info.values())
    status = {(r["rule"], r["reference"], r["stream"]): r["status"] for r in rows}
    assert status[("adam", "optax.adam(eps=1e-7)", "normal")] == "info"
    assert status[("nesterov(standard)", "optax.sgd(nesterov=True)", "normal")] == "pass"
    per_stream = sum(len(g) for g in verify.checks().values())
    n_numpy = sum(c.ref_kind == "numpy" for g in verify.checks().values() for c in g)
    assert len(rows) == len(verify.STREAMS) * per_stream - n_numpy
    # complex parameters: the rules that square gradients agree with optax's |g|^2
    for rule in ("adagrad", "rmsprop", "adam"):
        assert any(r["rule"] == rule and r["stream"] == verify.COMPLEX_STREAM
                   and r["status"] == "pass" for r in rows), rule
    for r in rows:  # book comparison lrs on the quadratic, book defaults on the random streams
        name = r["rule"].split("(")[0]
        want = dict(O.DEFAULTS[name])
        if r["stream"] == "quadratic":
            want["learning_rate"] = verify.QUADRATIC_LR[name]
        assert r["hparams"] == want
    sched_info = {(r["rule"], r["stream"]): r for r in rows
                  if r["status"] == "info" and r["lr"] != "constant"}
    assert sched_info[("momentum", "normal")]["max_abs_diff"] > 1e-3  # book v vs optax trace
    text = capsys.readouterr().out
    assert "max|Δparams|" in text and verify.SCHEDULE_LABEL in text
    assert "informational" in text and "FAIL" not in text
    assert len(text.splitlines()) >= len(rows) + 2
    assert not jax.config.jax_enable_x64  # x64 switched on only inside the command


def _plus(rule, delta):
    """``rule`` with ``delta`` added to every update (a deliberately wrong rule)."""

    def factory(**hp):
        inner = rule(**hp)

        def update(grads, state, params=None):
            u, state = inner.update(grads, state, params)
            return jax.tree.map(lambda x: x + delta, u), state

        return optax.GradientTransformation(inner.init, update)

    return factory


def test_a_perturbed_rule_fails_its_rows():
    rows = verify.run(steps=20, rules=["sgd"], optimizers={"sgd": _plus(O.sgd, 1e-11)})
    assert {r["rule"] for r in rows} == {"sgd"}
    assert not verify.all_passed(rows)
    assert {r["status"] for r in rows} == {"FAIL"}
    assert all(1e-12 < r["max_abs_diff"] < 1e-8 for r in rows)
    assert "FAIL" in verify.format_table(rows)


def _sgd_schedule_one_step_ahead(learning_rate=0.01):
    """SGD that calls its schedule with count + 1 (the off-by-one the scheduled rows catch)."""
    if callable(learning_rate):
        return O.sgd(lambda c: learning_rate(c + 1))
    return O.sgd(learning_rate)


def test_an_off_by_one_schedule_count_fails_only_the_scheduled_rows():
    rows = verify.run(steps=20, rules=["sgd"], optimizers={"sgd": _sgd_schedule_one_step_ahead})
    status = {(r["lr"], r["stream"]): r["status"] for r in rows}
    assert {s for (lr, _), s in status.items() if lr == "constant"} == {"pass"}
    assert status[(verify.SCHEDULE_LABEL, "normal")] == "FAIL"
    assert status[(verify.SCHEDULE_LABEL, "normal*1e-4")] == "FAIL"


def test_a_diverging_rule_fails_not_passes():
    rows = verify.run(steps=5, rules=["sgd"], optimizers={"sgd": _plus(O.sgd, float("nan"))})
    assert rows and all(r["status"] == "FAIL" for r in rows)
    assert all(r["max_abs_diff"] != r["max_abs_diff"] for r in rows)  # NaN


def test_all_passed_and_table_format():
    row = {"rule": "r", "stream": "s", "reference": "x", "max_abs_diff": 0.0,
           "tolerance": 1e-12, "checked": True, "status": "pass", "note": ""}
    info = {**row, "checked": False, "status": "info", "tolerance": None, "max_abs_diff": 1.0}
    assert verify.all_passed([row, info])
    assert not verify.all_passed([row, {**row, "status": "FAIL"}])
    lines = verify.format_table([row, {**info, "lr": "exp_decay"}]).splitlines()
    assert len(lines) == 4 and lines[0].startswith("rule")
    assert lines[0].split()[:3] == ["rule", "lr", "stream"]
    assert "constant" in lines[2] and "exp_decay" in lines[3]
    assert len({line.index("result") if "result" in line else None for line in lines[:1]}) == 1


def test_bad_arguments():
    with pytest.raises(ConfigError, match="valid"):
        verify.run(rules=["lion"])
    for kwargs, word in (({"steps": 0}, "steps"), ({"steps": verify.MAX_STEPS + 1}, "steps"),
                         ({"steps": 1.5}, "steps"), ({"seed": -1}, "seed"),
                         ({"seed": 2**32}, "seed"), ({"tolerance": float("nan")}, "tolerance"),
                         ({"tolerance": -1.0}, "tolerance")):
        with pytest.raises(ConfigError, match=word):
            verify.run(**kwargs)


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--steps", "100001"], ["--seed", "-1"],
                                  ["--seed", str(2**32)]])
def test_cli_bad_numbers_are_one_line_errors(capsys, argv):
    assert cli.main(["verify", *argv]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("jaxch6 verify: error: " + argv[0]) and "\n" not in err
    assert "Traceback" not in err and captured.out == ""


@pytest.mark.parametrize("where, words", [("", "--json must name a file, got ''"),
                                          (".", "--json .: is a directory"),
                                          ("missing/v.json", "--json missing/v.json: directory ")])
def test_a_json_path_that_cannot_be_written_is_one_line_before_any_work(
        where, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(verify, "run", lambda **kw: pytest.fail("verified before the check"))
    assert cli.main(["verify", "--steps", "2", "--json", where]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"jaxch6 verify: error: {words}"), err
    assert list(tmp_path.iterdir()) == []
