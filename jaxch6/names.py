"""Every list of names the library knows, in one module without JAX.

The modules that implement the names (:mod:`jaxch6.optimizers`, :mod:`jaxch6.schedules`,
:mod:`jaxch6.initializers`, :mod:`jaxch6.precision`, :mod:`jaxch6.data`,
:mod:`jaxch6.sweep.schedulers`) import JAX or NumPy machinery; the config, the command line and
the help text must not. So the names live here, and those modules, the sweep config's
validation, argparse's choices and the help text all derive from them (a test checks that each
implementation offers exactly the names listed here).
"""

from __future__ import annotations

from jaxch6.errors import ConfigError

#: The update rules and the float hyperparameters each takes (each may be a traced array;
#: ``learning_rate`` may also be a schedule), in the book's order.
OPTIMIZER_HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "sgd": ("learning_rate",),
    "momentum": ("learning_rate", "momentum"),
    "nesterov": ("learning_rate", "momentum"),
    "adagrad": ("learning_rate", "eps"),
    "rmsprop": ("learning_rate", "decay_rate", "eps"),
    "adadelta": ("learning_rate", "rho", "eps"),
    "adam": ("learning_rate", "beta1", "beta2", "eps"),
}
#: The update rules.
OPTIMIZERS: tuple[str, ...] = tuple(OPTIMIZER_HYPERPARAMETERS)
#: The parameter-shaped buffers each rule keeps in its state (what a lane's memory plans for).
OPTIMIZER_SLOTS: dict[str, int] = {
    "sgd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1, "adadelta": 2, "adam": 2,
}

#: The hidden layers' activations.
ACTIVATIONS: tuple[str, ...] = ("relu", "sigmoid", "tanh")
#: The named weight initialisers (a number is also accepted: the normal's standard deviation).
INITIALIZERS: tuple[str, ...] = ("he", "relu", "xavier", "sigmoid", "glorot_normal",
                                 "glorot_uniform", "he_uniform", "zeros")
#: The matmul precision policies, fastest last.
PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "bf16")
#: The floating-point types a run computes in.
DTYPES: tuple[str, ...] = ("float32", "float64")
#: The PRNG implementation of every key a run or a sweep makes (JAX's name for it), whatever
#: JAX's default (``jax_default_prng_impl``).
KEY_IMPL = "threefry2x32"
#: When the training loss is recorded.
RECORD_LOSS: tuple[str, ...] = ("after_update", "before_update", "none")

#: The datasets and where they are read from (``auto``: the first that is available).
DATASETS: tuple[str, ...] = ("mnist", "fashion_mnist")
SOURCES: tuple[str, ...] = ("auto", "sample", "idx", "tfds")

#: The learning-rate schedules and the float hyperparameters of each.
SCHEDULE_HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "constant": (),
    "cosine": ("final_lr_fraction",),
    "exponential": ("lr_decay",),
    "warmup_cosine": ("warmup_fraction", "final_lr_fraction"),
}
SCHEDULES: tuple[str, ...] = tuple(SCHEDULE_HYPERPARAMETERS)

#: The sweep's schedulers (:mod:`jaxch6.sweep.schedulers` registers a class for each).
SCHEDULERS: tuple[str, ...] = ("random", "halving", "hyperband", "pbt")
#: How trials' values are drawn, one meaning per name: ``random`` the book's values per trial
#: (:func:`jaxch6.sweep.space.sample`; through an Optuna study too, the same values),
#: ``grid`` every combination of the space's choices, ``tpe``/``cmaes``/``qmc`` Optuna's.
SAMPLERS: tuple[str, ...] = ("random", "grid", "tpe", "cmaes", "qmc")
#: The samplers jaxch6's own schedulers draw with (``SweepConfig.sampler``).
OWN_SAMPLERS: tuple[str, ...] = SAMPLERS[:2]
#: The samplers that drive an Optuna study (``jaxch6 sweep --sampler``, jaxch6[optuna]).
STUDY_SAMPLERS: tuple[str, ...] = ("random", *SAMPLERS[2:])
#: The Optuna pruners ``--pruner`` offers.
PRUNERS: tuple[str, ...] = ("none", "median", "hyperband")

#: The most hidden layers a network may have.
MAX_LAYERS = 1000


def choose(what: str, value, names) -> None:
    """Raise a one-line ConfigError unless ``value`` is one of ``names``.

    Args:
        what: the field's name, e.g. ``"activation"``.
        value: the given value.
        names: the names allowed.

    Raises:
        ConfigError: ``"{what}: unknown {what} 'x' (choose from a, b, c)"``.
    """
    if value not in names:
        raise ConfigError(f"{what}: unknown {what} {value!r} (choose from {', '.join(names)})")


def listing(names) -> str:
    """``"a | b | c"``: the names for help text."""
    return " | ".join(names)


def parse_layers(text: str) -> tuple[int, ...]:
    """Hidden-layer sizes from ``"100x6"`` (six layers of 100), ``"100,50"`` or ``"100/50"``
    (``/`` where ``,`` separates choices), or combinations such as ``"100x2,50"``.

    The layer count is checked before any list is built, so ``"100x99999999999"`` costs nothing.

    Args:
        text: the sizes.

    Returns:
        The sizes.

    Raises:
        ConfigError: ``"'text' is not like 100x6 or 100,50"`` or ``"'text' has N layers; at most
            1000: reduce the layer count"``; callers put the option's name in front.
    """
    parts = [p for p in str(text).replace(" ", "").replace("/", ",").split(",") if p]
    counts = [p.partition("x") for p in parts]
    if not parts or not all(w.isdigit() and (not sep or c.isdigit()) for w, sep, c in counts):
        raise ConfigError(f"{text!r} is not like 100x6 or 100,50")
    layers = sum(int(c) if sep else 1 for _, sep, c in counts)
    if layers > MAX_LAYERS:
        raise ConfigError(f"{text!r} has {layers} layers; at most {MAX_LAYERS}: reduce the "
                          "layer count")
    sizes = tuple(int(w) for w, sep, c in counts for _ in range(int(c) if sep else 1))
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"{text!r} is not like 100x6 or 100,50 (sizes >= 1)")
    return sizes
