"""``jaxch6 experiment``: run the book's chapter-6 experiments and write their figures."""

from __future__ import annotations

HELP = "run one of the book's chapter-6 experiments (or all) and write its PNG + JSON"
DESCRIPTION = """\
Run the book's chapter-6 experiments on top of the library; each writes NAME.png (the figure)
and NAME.json (the plotted numbers and settings) into --out.

  jaxch6 experiment --list
  jaxch6 experiment optimizer_compare_naive --out figures
  jaxch6 experiment all --out experiments/figures          # full settings: 2.5-7 min on 2 cores
  jaxch6 experiment batch_norm_test --quick                # seconds (the tests' settings)

Data: MNIST through jaxch6.data.load_mnist(source="auto"), i.e. the embedded 4,000-digit
sample when nothing else is available offline (the book trains on 60,000 digits).
"""


def add_arguments(parser) -> None:
    parser.add_argument("name", nargs="?", help="experiment name, or 'all' (see --list)")
    parser.add_argument("--out", default="figures", help="output directory (default: figures)")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default: 0)")
    parser.add_argument("--quick", action="store_true", help="tiny settings: seconds per run")
    parser.add_argument("--list", action="store_true", help="list the experiment names and exit")


def run(args) -> int:
    import time

    from jaxch6 import experiments
    from jaxch6.errors import ConfigError
    from jaxch6.experiments import _common

    if args.list:
        for name in experiments.NAMES:
            print(name)
        return 0
    if not args.name:
        raise ConfigError("give an experiment name or 'all' (see jaxch6 experiment --list)")
    names = experiments.NAMES if args.name == "all" else (args.name,)
    modules = [experiments.get(name) for name in names]  # unknown name fails before any work
    _common.check_writable(args.out)  # so is an --out that cannot be written
    total = time.perf_counter()
    for name, module in zip(names, modules, strict=True):
        t0 = time.perf_counter()
        try:
            module.run(args.out, seed=args.seed, quick=args.quick)
        except OSError as exc:  # e.g. the disk filled while writing a figure
            if exc.filename is None or not _inside(exc.filename, args.out):
                raise
            raise _common.write_error(exc.filename, exc) from None
        print(f"{name}: {time.perf_counter() - t0:.1f} s -> {args.out}/{name}.png, {name}.json")
    if len(names) > 1:
        print(f"all: {time.perf_counter() - total:.1f} s")
    return 0


def _inside(filename, directory) -> bool:
    """Whether ``filename`` lies in ``directory``."""
    from pathlib import Path

    try:
        Path(filename).resolve().relative_to(Path(directory).resolve())
    except (ValueError, OSError, TypeError):
        return False
    return True
