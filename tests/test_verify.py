"""jaxch6.verify and ``jaxch6 verify``: the rule × stream × reference table and its pass/fail."""

from __future__ import annotations

import json

import jax
import optax
import pytest

from jaxch6 import cli, verify
from jaxch6 import optimizers as O
from jaxch6.errors import ConfigError


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
            assert any(ref.startswith("numpy") for ref in refs), (rule, stream)
            assert any(not ref.startswith("numpy") for ref in refs), (rule, stream)
    info = {(r["rule"], r["stream"]): r for r in rows if r["status"] == "info"}
    # the direct differences are real, and shown rather than failed
    assert info[("nesterov(book)", "normal")]["max_abs_diff"] > 1e-3
    assert info[("adam", "normal*1e-4")]["max_abs_diff"] > 1e-5
    assert all(r["tolerance"] is None for r in info.values())
    status = {(r["rule"], r["reference"], r["stream"]): r["status"] for r in rows}
    assert status[("adam", "optax.adam(eps=1e-7)", "normal")] == "info"
    assert status[("nesterov(standard)", "optax.sgd(nesterov=True)", "normal")] == "pass"
    assert len(rows) == len(verify.STREAMS) * sum(len(g) for g in verify.checks().values())
    for r in rows:  # book comparison lrs on the quadratic, book defaults on the random streams
        name = r["rule"].split("(")[0]
        want = dict(O.DEFAULTS[name])
        if r["stream"] == "quadratic":
            want["learning_rate"] = verify.QUADRATIC_LR[name]
        assert r["hparams"] == want
    text = capsys.readouterr().out
    assert "max|Δparams|" in text and "informational" in text and "FAIL" not in text
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
    lines = verify.format_table([row, info]).splitlines()
    assert len(lines) == 4 and lines[0].startswith("rule")
    assert len({line.index("result") if "result" in line else None for line in lines[:1]}) == 1


def test_bad_arguments():
    with pytest.raises(ConfigError, match="valid"):
        verify.run(rules=["lion"])
    with pytest.raises(ConfigError, match="steps"):
        verify.run(steps=0)
    assert cli.main(["verify", "--steps", "0"]) == 2
