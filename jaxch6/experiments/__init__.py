"""The book's chapter-6 experiments, one module each, as importable functions.

Every experiment (:data:`NAMES`) is a module ``jaxch6.experiments.<name>`` that exposes
``run(out_dir, *, seed=0, quick=False) -> dict``, which writes ``<name>.png`` (the figure) and
``<name>.json`` (the plotted numbers, the settings and how they differ from the book's) into
``out_dir`` and returns the JSON's content. ``quick=True`` shrinks the run to seconds (used by
the tests); the default is the book's settings, scaled to the data available offline (the
embedded 4,000-digit MNIST sample where the book uses 60,000 digits — recorded in each JSON
under ``"data"``).

The helpers they share are modules too: :mod:`~jaxch6.experiments.common` (output files,
JSON, smoothing, data, timing), :mod:`~jaxch6.experiments.race` (networks trained side by side
on the same mini-batches) and :mod:`~jaxch6.experiments.overfit` (the two overfitting
experiments' body).

Run one from the shell with ``jaxch6 experiment NAME`` (or ``jaxch6 experiment all``), or from
Python:

```python
from jaxch6 import experiments
summary = experiments.run("optimizer_compare_naive", "figures", seed=0, quick=True)
```

Modules are imported on demand, so importing this package needs neither JAX nor matplotlib.
"""

from __future__ import annotations

import importlib

from jaxch6.errors import ConfigError

#: The experiments, in the book's order (also the order of ``jaxch6 experiment all``).
NAMES = (
    "optimizer_compare_naive",
    "optimizer_compare_mnist",
    "weight_init_activation_histogram",
    "weight_init_compare",
    "batch_norm_test",
    "batch_norm_gradient_check",
    "overfit_weight_decay",
    "overfit_dropout",
    "hyperparameter_optimization",
)


def get(name: str):
    """The module of experiment ``name``; :class:`ConfigError` for an unknown name."""
    if name not in NAMES:
        raise ConfigError(f"unknown experiment {name!r}; choose one of: {', '.join(NAMES)}")
    return importlib.import_module(f"jaxch6.experiments.{name}")


def run(name: str, out_dir, *, seed: int = 0, quick: bool = False) -> dict:
    """Run experiment ``name``, writing ``<name>.png`` and ``<name>.json`` into ``out_dir``."""
    return get(name).run(out_dir, seed=seed, quick=quick)


def script_main(name: str, default_out: str, argv: list[str] | None = None) -> int:
    """``main()`` of the thin script ``experiments/<name>.py``: ``[--out DIR] [--seed N]
    [--quick]``, the same as ``jaxch6 experiment NAME``; errors are one line, exit 2."""
    import argparse
    import os
    import sys

    parser = argparse.ArgumentParser(description=f"The book's ch06/{name}.py on jaxch6.")
    parser.add_argument("--out", default=default_out, help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed")
    parser.add_argument("--quick", action="store_true", help="tiny settings (seconds)")
    args = parser.parse_args(argv)
    try:
        run(name, args.out, seed=args.seed, quick=args.quick)
    except ConfigError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {os.path.join(args.out, name)}.png and .json")
    return 0


__all__ = ["NAMES", "get", "run", "script_main"]
