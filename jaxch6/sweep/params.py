"""What a sweep searches: :class:`Param` (one hyperparameter's range or choices), the names
it may take, their checks, and their command-line and JSON forms (:func:`parse_param`,
:func:`space_from_dicts`). How trials draw values from a space, and how it narrows, is
:mod:`jaxch6.sweep.space`.

Names: the optimizer's float hyperparameters, :data:`TRAINING_HYPERPARAMETERS` and a
schedule's numbers are *traced* (one compiled program takes any value; float range or numeric
choices); the names in :data:`STATIC` change the compiled program (categorical, or an int range
for :data:`INT_NAMES`), and the sweep compiles one program per distinct combination of them.
When ``optimizer`` is searched, a traced name that a trial's optimizer does not use (e.g.
``momentum`` for ``sgd``) is left out of that trial's hyperparameters.

The book (``ch06/hyperparameter_optimization.py``) draws ``lr = 10 ** U(-6, -2)`` and
``weight_decay = 10 ** U(-8, -4)``: :data:`BOOK_SPACE`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from jaxch6.errors import ConfigError
from jaxch6.hparams import check_range
from jaxch6.names import (
    ACTIVATIONS,
    OPTIMIZER_HYPERPARAMETERS,
    SCHEDULE_HYPERPARAMETERS,
    SCHEDULES,
    parse_layers,
)

#: Hyperparameters of the training itself (beside the optimizer's own).
TRAINING_HYPERPARAMETERS = ("weight_decay", "dropout_ratio", "init_scale")

#: Names that change the compiled program (one program per combination of their values):
#: ``width`` is every hidden layer's width (the layer count stays the config's).
STATIC = ("optimizer", "activation", "batchnorm", "batch_size", "hidden", "width")

#: Static names that take an integer range (``batch_size=16:128:int``).
INT_NAMES = ("batch_size", "width")

#: Short names accepted on the command line.
ALIASES = {
    "lr": "learning_rate",
    "wd": "weight_decay",
    "weight-decay": "weight_decay",
    "dropout": "dropout_ratio",
    "batch-size": "batch_size",
}

SCALES = ("log", "lin")
KINDS = ("float", "int", "categorical")
_ON, _OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0")


class Param(NamedTuple):
    """One searched hyperparameter.

    ``Param(name, low, high, scale)`` is a float range (as :meth:`float`); :meth:`int` and
    :meth:`categorical` build the other kinds.

    Attributes:
        name: the hyperparameter (aliases such as ``lr`` are canonicalised by validation).
        low: the range's low end (None for categorical).
        high: the range's high end (float: excluded; int: included; None for categorical).
        scale: ``"log"`` or ``"lin"`` (``""`` for categorical).
        kind: ``"float"``, ``"int"`` or ``"categorical"``.
        choices: the categorical values (strings, ints or floats; None otherwise).
    """

    name: str
    low: Any = None
    high: Any = None
    scale: str = "log"
    kind: str = "float"
    choices: tuple | None = None

    @classmethod
    def float(cls, name: str, low: float, high: float, *, log: bool = True) -> Param:
        """A float range ``[low, high)``, log-uniform (default) or uniform."""
        return cls(name, low, high, "log" if log else "lin")

    @classmethod
    def int(cls, name: str, low: int, high: int, *, log: bool = False) -> Param:
        """An integer range ``low..high`` (both included), uniform or log-uniform."""
        return cls(name, low, high, "log" if log else "lin", "int")

    @classmethod
    def categorical(cls, name: str, choices: Iterable) -> Param:
        """One of ``choices`` (each equally likely)."""
        return cls(name, None, None, "", "categorical", tuple(choices))

    def to_dict(self) -> dict:
        """The JSON form :func:`space_from_dicts` reads back."""
        if self.kind == "categorical":
            return {"name": self.name, "kind": self.kind, "choices": list(self.choices)}
        d = {"name": self.name, "low": self.low, "high": self.high, "scale": self.scale}
        return d if self.kind == "float" else {**d, "kind": self.kind}

    def spec(self) -> str:
        """The command-line form :func:`parse_param` reads back.

        Returns:
            ``name=low:high:scale``, ``name=low:high:int[:log]`` or ``name=a,b,c``.
        """
        if self.kind == "categorical":
            return f"{self.name}={','.join(_text(c) for c in self.choices)}"
        if self.kind == "int":
            return f"{self.name}={self.low}:{self.high}:int" + (":log" if self.scale == "log"
                                                               else "")
        return f"{self.name}={self.low!r}:{self.high!r}:{self.scale}"

    def grid_values(self) -> Sequence:
        """Every value of a categorical or int parameter (an int range as a lazy ``range``:
        never materialised, so ``len`` and indexing cost nothing at any width).

        Raises:
            ConfigError: a float range.
        """
        if self.kind == "categorical":
            return tuple(self.choices)
        if self.kind == "int":
            return range(self.low, self.high + 1)
        raise ConfigError(f"space {self.name}: a grid needs listed values (e.g. "
                          f"{self.name}=0.1,0.01), not a float range")


#: The book's search: lr = 10^U(-6, -2), weight decay = 10^U(-8, -4).
BOOK_SPACE = (
    Param("learning_rate", 1e-6, 1e-2, "log"),
    Param("weight_decay", 1e-8, 1e-4, "log"),
)


def _text(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def canonical_name(name: str) -> str:
    """``lr`` → ``learning_rate`` etc.; other names unchanged."""
    return ALIASES.get(name.strip(), name.strip())


def searchable_names(optimizer: str, schedule: str = "constant") -> tuple[str, ...]:
    """The float hyperparameters a sweep with ``optimizer`` may search.

    Args:
        optimizer: the optimizer's name.
        schedule: the learning-rate schedule (its own hyperparameters are added).

    Returns:
        The names: the optimizer's, the training ones, and the schedule's.

    Raises:
        ConfigError: an unknown optimizer or schedule.
    """
    if optimizer not in OPTIMIZER_HYPERPARAMETERS:
        known = ", ".join(sorted(OPTIMIZER_HYPERPARAMETERS))
        raise ConfigError(f"unknown optimizer {optimizer!r} (choose from {known})")
    out = tuple(OPTIMIZER_HYPERPARAMETERS[optimizer]) + TRAINING_HYPERPARAMETERS
    if schedule != "constant":
        if schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {schedule!r} (choose from "
                              f"{', '.join(SCHEDULES)})")
        out += SCHEDULE_HYPERPARAMETERS[schedule]
    return out


#: Every hyperparameter of the book's network, static or traced under any optimizer and
#: schedule: its choices are checked as the book takes them (a task's own are numbers or
#: strings).
BOOK_NAMES = frozenset((*STATIC, *(n for o in OPTIMIZER_HYPERPARAMETERS for s in SCHEDULES
                                   for n in searchable_names(o, s))))


def check_param(param: Param) -> Param:
    """Validate one parameter's range or choices (not its name).

    Args:
        param: the parameter.

    Returns:
        The parameter in canonical form (float or int bounds, normalised choices).

    Raises:
        ConfigError: a bad range or choices (one line).
    """
    param = Param(*param)
    if param.kind == "categorical":
        return param._replace(choices=_check_choices(param.name, param.choices))
    if param.kind == "int":
        return _check_int(param)
    if param.kind != "float":
        raise ConfigError(f"space {param.name}: kind must be one of {', '.join(KINDS)}, "
                          f"got {param.kind!r}")
    name, low, high, scale = param[:4]
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        raise ConfigError(f"space {name}: bounds must be numbers, got {low!r}:{high!r}") from None
    if scale not in SCALES:
        raise ConfigError(f"space {name}: scale must be 'log' or 'lin', got {scale!r}")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(f"space {name}: bounds must be finite, got {low!r}:{high!r}")
    if low >= high:
        raise ConfigError(f"space {name}: low must be below high, got {low!r}:{high!r}")
    if scale == "log" and low <= 0:
        raise ConfigError(
            f"space {name}: a log range needs 0 < low < high, got {low!r}:{high!r} "
            "(use ':lin' for a linear range)"
        )
    return Param(name, low, high, scale)


def _check_int(param: Param) -> Param:
    name, low, high, scale = param[:4]
    if any(isinstance(v, bool) or not isinstance(v, int | np.integer) for v in (low, high)):
        raise ConfigError(f"space {name}: an int range needs integer bounds, got {low!r}:{high!r}")
    low, high = int(low), int(high)
    if scale not in SCALES:
        raise ConfigError(f"space {name}: scale must be 'log' or 'lin', got {scale!r}")
    if low > high:
        raise ConfigError(f"space {name}: low must not exceed high, got {low}:{high}")
    if scale == "log" and low < 1:
        raise ConfigError(f"space {name}: a log int range needs 1 <= low, got {low}:{high}")
    return Param(name, low, high, scale, "int")


def _check_choices(name: str, choices) -> tuple:
    if choices is None or isinstance(choices, str | bytes) or not isinstance(choices, Iterable):
        raise ConfigError(f"space {name}: choices must be a list of values, got {choices!r}")
    choices = tuple(choices)
    if name in BOOK_NAMES:
        choices = tuple(_choice_value(name, c) for c in choices)
    else:
        choices = _task_choices(name, choices)
    if not choices:
        raise ConfigError(f"space {name}: no choices given")
    dup = next((c for i, c in enumerate(choices) if c in choices[:i]), None)
    if dup is not None:
        raise ConfigError(f"space {name}: choice {_text(dup)!r} given twice")
    if len({type(c) for c in choices}) > 1:
        raise ConfigError(f"space {name}: choices must all be of one type, got "
                          f"{', '.join(_text(c) for c in choices)}")
    return choices


def _task_choices(name: str, choices: tuple) -> tuple:
    """A task's own choices: all numbers (ints if all are integers, else finite floats; text
    that reads as a number counts as one) or all non-empty strings."""
    numbers = [_number(c) for c in choices]
    if all(n is not None for n in numbers):
        if all(isinstance(n, int) for n in numbers):
            return tuple(numbers)
        floats = tuple(float(n) for n in numbers)
        bad = next((c for c, f in zip(choices, floats, strict=True) if not math.isfinite(f)),
                   None)
        if bad is not None:
            raise ConfigError(f"space {name}: choices must be finite numbers, got {bad!r}")
        return floats
    if not all(isinstance(c, str) and c.strip() for c in choices):
        raise ConfigError(f"space {name}: choices must be all numbers or all non-empty "
                          f"strings, got {', '.join(repr(c) for c in choices)}")
    return tuple(c.strip() for c in choices)


def _number(value):
    """``value`` as an int or float (a number, or text that reads as one), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value.strip())
            except ValueError:
                continue
    return None


def _choice_value(name: str, value):
    """One choice in canonical form: batchnorm ``"on"``/``"off"``, an int for int names, a
    string for the other static names, a finite float for traced names."""
    if name == "batchnorm":
        text = str(value).strip().lower()
        if text not in _ON + _OFF:
            raise ConfigError(f"space batchnorm: choices are on and off, got {value!r}")
        return "on" if text in _ON else "off"
    if name in INT_NAMES:
        try:
            v = int(value) if not isinstance(value, bool | float) else None
        except (TypeError, ValueError):
            v = None
        if v is None or v < 1:
            raise ConfigError(f"space {name}: choices must be positive integers, got {value!r}")
        return v
    if name in STATIC:
        text = str(value).strip()
        if not text:
            raise ConfigError(f"space {name}: an empty choice")
        return text
    try:
        v = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v):
        raise ConfigError(f"space {name}: choices must be finite numbers, got {value!r}")
    return v


def parse_param(text: str) -> Param:
    """Parse one parameter's text form.

    The forms: ``NAME=LOW:HIGH[:log|:lin]`` (a float range, default ``log``),
    ``NAME=LOW:HIGH:int[:log|:lin]`` (an int range) or ``NAME=A,B,C`` (choices).

    Args:
        text: e.g. ``lr=1e-6:1e-2``, ``batch_size=16:128:int``, ``optimizer=sgd,adam``.

    Returns:
        The validated :class:`Param` (aliases canonicalised).

    Raises:
        ConfigError: text not in one of the forms, or a bad range or choices.

    Example:
        ```python
        assert parse_param("lr=1e-6:1e-2") == Param("learning_rate", 1e-6, 1e-2, "log")
        ```
    """
    if "=" not in text:
        raise ConfigError(f"space {text!r}: expected NAME=LOW:HIGH[:log|:lin] or NAME=A,B,...")
    name, _, rng = text.partition("=")
    name = canonical_name(name)
    if not name:
        raise ConfigError(f"space {text!r}: missing the hyperparameter name")
    if ":" not in rng:
        choices = [c.strip() for c in rng.split(",")]
        if not any(choices):
            raise ConfigError(f"space {name}: no choices given")
        return check_param(Param.categorical(name, choices))
    parts = [x.strip() for x in rng.split(":")]
    if len(parts) == 2 or (len(parts) == 3 and parts[2].lower() in SCALES):
        scale = parts[2].lower() if len(parts) == 3 else "log"
        low, high = _bounds(name, parts, float, "bounds must be numbers")
        return check_param(Param(name, low, high, scale))
    if len(parts) in (3, 4) and parts[2].lower() == "int":
        scale = parts[3].lower() if len(parts) == 4 else "lin"
        low, high = _bounds(name, parts, int, "an int range needs integer bounds")
        return check_param(Param(name, low, high, scale, "int"))
    if len(parts) == 3:
        raise ConfigError(f"space {name}: scale must be 'log', 'lin' or 'int', got {parts[2]!r}")
    raise ConfigError(f"space {text!r}: expected NAME=LOW:HIGH[:log|:lin] or NAME=A,B,...")


def _bounds(name: str, parts: list[str], cast, need: str):
    """``(cast(parts[0]), cast(parts[1]))``, or the one-line ConfigError ``space NAME: need``."""
    try:
        return cast(parts[0]), cast(parts[1])
    except ValueError:
        raise ConfigError(f"space {name}: {need}, got {parts[0]!r}:{parts[1]!r}") from None


def check_space(space: Iterable[Param], optimizer: str, *, schedule: str = "constant",
                dropout: bool | None = None) -> tuple[Param, ...]:
    """Validate every parameter of a search space.

    Checks each parameter's range or choices, its name against the optimizers it may meet
    (``optimizer``, or every choice of a searched ``optimizer``) and ``schedule``, and its kind
    (static names: choices, or an int range for :data:`INT_NAMES`; traced names: a float range
    or numeric choices).

    Args:
        space: the parameters.
        optimizer: the sweep's optimizer (when the space does not search ``optimizer``).
        schedule: the learning-rate schedule.
        dropout: when not None, whether dropout is on (which ``dropout_ratio`` needs).

    Returns:
        The parameters in canonical form.

    Raises:
        ConfigError: an invalid parameter (one line naming it).
    """
    params = [Param(*p) for p in space]
    params = [p._replace(name=canonical_name(p.name)) for p in params]
    if not params:
        raise ConfigError("the search space is empty: give at least one parameter")
    opt = next((check_param(p) for p in params if p.name == "optimizer"), None)
    if opt is not None and opt.kind == "categorical":
        _check_static_choices(opt)
    optimizers = opt.choices if opt is not None and opt.kind == "categorical" else (optimizer,)
    allowed = tuple({n: None for o in optimizers for n in searchable_names(o, schedule)})
    out: list[Param] = []
    for p in params:
        if p.name not in STATIC and p.name not in allowed:
            which = (f"optimizer {optimizer!r}" if optimizers == (optimizer,)
                     else f"any searched optimizer ({', '.join(optimizers)})")
            raise ConfigError(f"space {p.name}: not a hyperparameter of {which} (choose from "
                              f"{', '.join((*allowed, *STATIC))})")
        if p.name in {q.name for q in out}:
            raise ConfigError(f"space {p.name}: given twice")
        p = check_param(p)
        _check_kind(p)
        out.append(p)
    by_name = {p.name: p for p in out}
    if "hidden" in by_name and "width" in by_name:
        raise ConfigError("space hidden and width: search one of them (width sets every "
                          "hidden layer's size)")
    if dropout is False and "dropout_ratio" in by_name:
        raise ConfigError("space dropout_ratio: needs dropout on (dropout=True)")
    return tuple(out)


def _check_kind(p: Param) -> None:
    if p.name in STATIC:
        if p.kind == "float" or (p.kind == "int" and p.name not in INT_NAMES):
            how = "choices or an int range" if p.name in INT_NAMES else "choices (a,b,...)"
            raise ConfigError(f"space {p.name}: takes {how}, not a {p.kind} range")
        if p.kind == "categorical":
            _check_static_choices(p)
    elif p.kind == "int":
        raise ConfigError(f"space {p.name}: a float hyperparameter: give a float range or "
                          "numbers, not an int range")
    elif p.kind == "categorical":
        for c in p.choices:
            check_range(p.name, c, c)
    else:
        check_range(p.name, p.low, p.high)


def _check_static_choices(p: Param) -> None:
    if p.name == "optimizer":
        try:
            for c in p.choices:
                searchable_names(c)
        except ConfigError as exc:
            raise ConfigError(f"space optimizer: {exc}") from None
    elif p.name == "activation":
        bad = [c for c in p.choices if c not in ACTIVATIONS]
        if bad:
            raise ConfigError(f"space activation: unknown activation {bad[0]!r} (choose from "
                              f"{', '.join(ACTIVATIONS)})")
    elif p.name == "hidden":
        for c in p.choices:
            hidden_sizes(c)


def hidden_sizes(text: str) -> tuple[int, ...]:
    """Parse a hidden choice's layer sizes.

    Args:
        text: ``"100x6"`` (six layers of 100) or ``"100/50"`` (``/`` separates layers, since
            ``,`` separates choices).

    Returns:
        The sizes, e.g. ``(100,) * 6`` or ``(100, 50)``.

    Raises:
        ConfigError: text not of that form.
    """
    try:
        return parse_layers(text)
    except ConfigError as exc:
        raise ConfigError(f"space hidden: choice {exc}") from None


def space_from_dicts(items: Sequence[Mapping]) -> tuple[Param, ...]:
    """Rebuild the parameters :meth:`Param.to_dict` wrote.

    Args:
        items: the dicts.

    Returns:
        The :class:`Param` tuple.
    """
    out = []
    for d in items:
        kind = d.get("kind", "float")
        if kind == "categorical":
            out.append(Param.categorical(d["name"], d["choices"]))
        elif kind == "int":
            out.append(Param(d["name"], int(d["low"]), int(d["high"]), d["scale"], "int"))
        else:
            out.append(Param(d["name"], float(d["low"]), float(d["high"]), d["scale"]))
    return tuple(out)
