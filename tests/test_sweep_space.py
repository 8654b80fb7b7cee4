"""Search spaces: parsing, validation, sampling (per-trial keys), narrowing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jaxch6.errors import ConfigError
from jaxch6.sweep.space import (
    BOOK_SPACE,
    Param,
    check_space,
    narrow,
    parse_param,
    sample,
    values_from_uniforms,
)


def test_parse_param_forms():
    assert parse_param("lr=1e-6:1e-2") == Param("learning_rate", 1e-6, 1e-2, "log")
    assert parse_param("weight_decay=1e-8:1e-4:log") == Param("weight_decay", 1e-8, 1e-4, "log")
    assert parse_param("momentum=0.5:0.99:lin") == Param("momentum", 0.5, 0.99, "lin")
    assert parse_param("init_scale=-1:1:LIN") == Param("init_scale", -1.0, 1.0, "lin")


@pytest.mark.parametrize(
    "spec, words",
    [
        ("lr=1e-2:1e-6", "low must be below high"),
        ("lr=0.1:0.1", "low must be below high"),
        ("lr=0:1e-2", "log range needs 0 < low"),
        ("lr=-1:1", "log range needs 0 < low"),
        ("lr=-1:1:log", "log range needs 0 < low"),
        ("lr=abc:1", "bounds must be numbers"),
        ("lr", "expected NAME=LOW:HIGH"),
        ("lr=1:2:3:4", "expected NAME=LOW:HIGH"),
        ("lr=1:2:cubic", "scale must be 'log', 'lin' or 'int'"),
        ("lr=", "no choices given"),
        ("batch_size=8:x:int", "an int range needs integer bounds"),
        ("lr=nan:1", "bounds must be finite"),
        ("=1:2", "missing the hyperparameter name"),
    ],
)
def test_parse_param_errors_are_one_line(spec, words):
    with pytest.raises(ConfigError) as exc:
        parse_param(spec)
    msg = str(exc.value)
    assert words in msg and "\n" not in msg and "--" not in msg


def test_a_single_value_is_one_choice():
    assert parse_param("lr=1e-3") == Param.categorical("learning_rate", (1e-3,))


def test_check_space_names_follow_the_optimizer():
    assert check_space(BOOK_SPACE, "sgd") == BOOK_SPACE
    with pytest.raises(ConfigError, match="not a hyperparameter of optimizer 'sgd'"):
        check_space([Param("momentum", 0.5, 0.9, "lin")], "sgd")
    ok = check_space([Param("lr", 1e-3, 1e-1), Param("momentum", 0.5, 0.9, "lin")], "momentum")
    assert [p.name for p in ok] == ["learning_rate", "momentum"]
    assert [p.name for p in check_space([Param("beta2", 0.9, 0.9999, "lin")], "adam")] == ["beta2"]
    with pytest.raises(ConfigError, match="given twice"):
        check_space([Param("lr", 1e-3, 1e-1), Param("learning_rate", 1e-3, 1e-1)], "sgd")
    with pytest.raises(ConfigError, match="unknown optimizer"):
        check_space(BOOK_SPACE, "lbfgs")
    with pytest.raises(ConfigError, match="empty"):
        check_space([], "sgd")


def test_values_from_uniforms_formula():
    space = (Param("learning_rate", 1e-6, 1e-2, "log"), Param("momentum", 0.5, 0.9, "lin"))
    u = np.array([[0.0, 0.0], [0.5, 0.5], [0.25, 0.75]])
    v = values_from_uniforms(space, u)
    np.testing.assert_allclose(v["learning_rate"], [1e-6, 1e-4, 10 ** -5.0], rtol=1e-12)
    np.testing.assert_allclose(v["momentum"], [0.5, 0.7, 0.8], rtol=1e-12)


@pytest.mark.slow
def test_sample_in_range_and_log_uniform():
    v = sample(BOOK_SPACE, range(4000), seed=0)
    lr, wd = np.log10(v["learning_rate"]), np.log10(v["weight_decay"])
    assert lr.min() >= -6 and lr.max() < -2 and wd.min() >= -8 and wd.max() < -4
    # log10 of the values is U(-6, -2): mean -4, std 4/sqrt(12) = 1.1547; loose 5-sigma bounds
    assert abs(lr.mean() + 4) < 5 * 1.1547 / math.sqrt(4000)
    assert abs(lr.std() - 4 / math.sqrt(12)) < 0.05
    # the two parameters are drawn from different keys: uncorrelated
    assert abs(np.corrcoef(lr, wd)[0, 1]) < 0.1


@pytest.mark.slow
def test_sample_depends_only_on_seed_and_trial_id():
    all_ = sample(BOOK_SPACE, range(20), seed=3)
    part = sample(BOOK_SPACE, [13, 5, 7], seed=3)
    for name in ("learning_rate", "weight_decay"):
        np.testing.assert_array_equal(part[name], all_[name][[13, 5, 7]])
    other = sample(BOOK_SPACE, range(20), seed=4)
    assert not np.any(other["learning_rate"] == all_["learning_rate"])
    assert len(set(all_["learning_rate"].tolist())) == 20


def test_narrow_to_span_of_best():
    best = [
        {"learning_rate": 1e-3, "weight_decay": 1e-7, "momentum": 0.6},
        {"learning_rate": 5e-3, "weight_decay": 1e-5, "momentum": 0.8},
        {"learning_rate": 2e-3, "weight_decay": 1e-6, "momentum": 0.7},
    ]
    space = (*BOOK_SPACE, Param("momentum", 0.5, 0.99, "lin"))
    new = narrow(space, best)
    assert new == (
        Param("learning_rate", 1e-3, 5e-3, "log"),
        Param("weight_decay", 1e-7, 1e-5, "log"),
        Param("momentum", 0.6, 0.8, "lin"),
    )
    # a degenerate span (one value) keeps the old range
    assert narrow(space, best[:1]) == space
