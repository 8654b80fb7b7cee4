"""``jaxch6 verify``: every update rule beside optax and the book's NumPy code (float64)."""

from __future__ import annotations

import argparse
import math

from jaxch6.errors import ConfigError

HELP = "check every update rule against optax and a NumPy port of the book (float64)"
DESCRIPTION = """\
Run each update rule of jaxch6.optimizers for --steps steps in float64 on four gradient
streams (the book's quadratic f(x,y)=x^2/20+y^2 from (-7,2); N(0,1) gradients on a nested dict
of arrays; the same times 1e-4; complex N(0,1) parameters and gradients, against optax
only) beside optax in the equivalent configuration and beside a NumPy
port of the book's classes, and print max |delta params| per rule x learning rate x stream x
reference. Each rule runs with a constant learning rate and with a learning-rate schedule
(optax.exponential_decay(lr, 50, 0.5), lr column "exp_decay") given to both sides.

Rows that can only match a documented equivalent form (book Nesterov via mu*u_optax - lr*g;
AdaGrad/Adam with eps=0 on both sides; Adam with optax's eps scheduled as eps/sqrt(1-b2^t);
book Momentum under a schedule as optax's scale_by_learning_rate then trace) say so in the
note column. Informational rows (result "info") show direct differences and never fail. Exit
status 0 only when every checked row is within the tolerance (1e-12); 2 on a bad option."""


def _finite_or_none(x: float) -> float | None:
    """JSON has no NaN/inf: a non-finite difference (a diverged rule, a FAIL row) is null."""
    return x if math.isfinite(x) else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=200,
                        help="update steps per run, 1..100000 (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random streams, 0 <= seed < 2**32 (default %(default)s)")
    parser.add_argument("--json", metavar="FILE",
                        help="also write the rows as JSON to FILE (default: none)")


def run(args: argparse.Namespace) -> int:
    import json

    from jaxch6 import verify

    verify.check_arguments(args.steps, args.seed, prefix="--")
    _check_json_path(args.json)  # before the work, not after it
    rows = verify.run(steps=args.steps, seed=args.seed)
    ok = verify.all_passed(rows)
    print(f"jaxch6 verify: {args.steps} steps, float64, seed {args.seed}, "
          f"tolerance {verify.TOLERANCE:g}")
    print(verify.format_table(rows))
    n_checked = sum(r["checked"] for r in rows)
    n_failed = sum(r["status"] == "FAIL" for r in rows)
    print(f"{n_checked - n_failed}/{n_checked} checked rows pass"
          f" ({len(rows) - n_checked} informational)")
    if args.json:
        finite = [{**r, "max_abs_diff": _finite_or_none(r["max_abs_diff"])} for r in rows]
        doc = {"steps": args.steps, "seed": args.seed, "tolerance": verify.TOLERANCE,
               "all_passed": ok, "rows": finite}
        from jaxch6.sweep.store import write_file  # atomic, never through a link

        write_file(args.json, json.dumps(doc, indent=2) + "\n")
    return 0 if ok else 1


def _check_json_path(path: str | None) -> None:
    """ConfigError (one line) for a ``--json`` that cannot name a file to write."""
    import os

    if path is None:
        return
    if not path.strip():
        raise ConfigError("--json must name a file, got ''")
    if os.path.isdir(path):
        raise ConfigError(f"--json {path}: is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ConfigError(f"--json {path}: directory {parent} does not exist")
