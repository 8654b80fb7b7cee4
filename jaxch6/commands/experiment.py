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
Progress goes to stderr (a bar per experiment, or a line each when stderr is not a terminal);
--quiet silences it.
"""


def add_arguments(parser) -> None:
    parser.add_argument("name", nargs="?",
                        help="experiment name, or 'all' (see --list; required unless --list)")
    parser.add_argument("--out", default="figures", help="output directory (default: figures)")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default: 0)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings: seconds per run (default: off, the full settings)")
    parser.add_argument("--list", action="store_true",
                        help="list the experiment names and exit (default: off)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress (default: a bar per experiment on stderr; "
                             "a line off a terminal)")


def run(args) -> int:
    import time

    from jaxch6 import experiments
    from jaxch6.errors import ConfigError
    from jaxch6.experiments import common

    if args.list:
        for name in experiments.NAMES:
            print(name)
        return 0
    if not args.name:
        raise ConfigError("give an experiment name or 'all' (see jaxch6 experiment --list)")
    if not 0 <= args.seed < 2**32:
        raise ConfigError(f"--seed must be an integer in [0, 2**32), got {args.seed}")
    names = experiments.NAMES if args.name == "all" else (args.name,)
    modules = [experiments.get(name) for name in names]  # unknown name fails before any work
    if not args.out.strip():
        raise ConfigError("--out must name a directory, got ''")
    common.check_writable(args.out)  # so is an --out that cannot be written
    total = time.perf_counter()
    progress = _progress(getattr(args, "quiet", False))
    try:
        for i, (name, module) in enumerate(zip(names, modules, strict=True)):
            t0 = time.perf_counter()
            progress(f"{name} ({i + 1}/{len(names)})" if len(names) > 1 else name, 0, i)
            try:
                module.run(args.out, seed=args.seed, quick=args.quick)
            except OSError as exc:  # e.g. the disk filled while writing a figure
                if exc.filename is None or not _inside(exc.filename, args.out):
                    raise
                raise common.write_error(exc.filename, exc) from None
            seconds = time.perf_counter() - t0
            progress(name, 1, i + 1, seconds)
            print(f"{name}: {seconds:.1f} s -> {args.out}/{name}.png, {name}.json")
    finally:
        progress.close()
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


class _progress:  # noqa: N801 - a small callable, named like the function it stands for
    """Progress of ``jaxch6 experiment``: each experiment a step of one lane, reported through
    :class:`jaxch6.progress.TqdmProgress` (nothing when ``quiet``)."""

    def __init__(self, quiet: bool):
        from jaxch6.progress import make

        self.reporter = make(quiet, unit="experiment")

    def __call__(self, label: str, done: int, ran: int, seconds: float = 0.0) -> None:
        """Open the step ``label`` (``done`` 0) or report it finished (``done`` 1)."""
        if self.reporter is not None:
            from jaxch6.sweep.loop import Progress

            self.reporter(Progress(label, done, 1, ran, seconds, step_start=done == 0))

    def close(self) -> None:
        if self.reporter is not None:
            self.reporter.close()
