"""The ``jaxch6`` command: a thin layer over the library.

Each sub-command lives in ``jaxch6/commands/<name>.py`` and exposes

- ``HELP``: one line for ``jaxch6 --help``,
- ``add_arguments(parser)``: its options (standard library only at import time),
- ``run(args) -> int``: the work; heavy imports (JAX, matplotlib, …) happen inside;
  ``args.argv`` holds the words after the command's name as parsed (a command's
  ``expand_argv(words)``, if it has one, applied) and ``args.typed`` those the user typed
  (before it), to tell given options from defaults.

Errors users can act on (:class:`jaxch6.errors.Jaxch6Error`) are printed as one line on stderr
with exit status 2; an interrupt exits 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import signal
import sys
import warnings

from jaxch6.commands import signals
from jaxch6.errors import Jaxch6Error

COMMANDS = ("sweep", "verify", "gradcheck", "experiment", "data")
#: Optuna's warnings about what the command uses on purpose (its experimental heartbeat
#: arguments, a study asked outside ``optimize``), by message (matching them by category would
#: import Optuna on every command). Ignored for the whole process, not only around the calls
#: that trigger them: the thread that opens a database server outlives its timeout and can warn
#: after any scoped filter was lifted.
OPTUNA_NOISE = (
    r"Argument ``\w+`` is an experimental feature",
    r".* is experimental \(supported from",
    r"Heartbeat of storage is supposed to be used with",
)


def _load(name: str):
    return importlib.import_module(f"jaxch6.commands.{name}")


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block before it), with any
    database password in the words it echoes replaced by ``***``; exit status 2."""

    def error(self, message: str):
        from jaxch6.sweep.secrets import redact

        self.exit(2, f"{self.prog}: error: {redact(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from jaxch6 import __version__

    parser = OneLineParser(
        prog="jaxch6",
        description="Chapter 6 of Deep Learning from Scratch as pure JAX functions: "
        "vmapped hyperparameter sweeps, update rules verified against optax.",
    )
    parser.add_argument("--version", action="version", version=f"jaxch6 {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = _load(name)
        except ModuleNotFoundError as exc:  # a command still being built
            if exc.name != f"jaxch6.commands.{name}":
                raise
            continue
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _expand(argv: list[str]) -> list[str]:
    """``argv`` with the command's ``expand_argv`` applied to the words after its name (a
    command that reads options from a file, ``jaxch6 sweep --config FILE``)."""
    for i, word in enumerate(argv):
        if word in COMMANDS:
            expand = getattr(_load(word), "expand_argv", None)
            return argv if expand is None else [*argv[: i + 1], *expand(argv[i + 1:])]
        if not word.startswith("-"):
            break
    return argv


def main(argv: list[str] | None = None) -> int:
    old = signals.install()  # first: a signal from here on exits 130 / 143 within 2 s
    for message in OPTUNA_NOISE:
        warnings.filterwarnings("ignore", message=message)
    try:
        return _main(argv)
    finally:
        signals.restore(old)


def _interrupted(command: str | None, exc: KeyboardInterrupt) -> int:
    line = f"jaxch6 {command}: interrupted" if command else "jaxch6: interrupted"
    signals.said(line)
    print(line, file=sys.stderr)
    return getattr(exc, "exit_code", 130)


def _main(argv: list[str] | None) -> int:
    try:
        parser = build_parser()
        try:
            typed = list(sys.argv[1:] if argv is None else argv)
            argv = _expand(typed)
        except Jaxch6Error as exc:
            print(f"jaxch6: error: {exc}", file=sys.stderr)
            return 2
        args = parser.parse_args(argv)
        if getattr(args, "command", None) in typed:  # the words after the command's name
            args.argv = argv[argv.index(args.command) + 1:]
            args.typed = typed[typed.index(args.command) + 1:]
        signals.check()
    except KeyboardInterrupt as exc:
        return _interrupted(None, exc)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        code = int(args._run(args) or 0)
        signals.check()  # a signal that came as the command ended still ends it 130 / 143
        return code
    except Jaxch6Error as exc:
        print(f"jaxch6 {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (143)
        return _interrupted(args.command, exc)
    except BrokenPipeError:  # e.g. `jaxch6 sweep | head`: the reader left; results are on disk
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the exit flush cannot fail
        except OSError:
            pass
        return 141
    except OSError as exc:  # a place the system refuses (a name too long, ...): one line
        where = f": {exc.filename}" if exc.filename else ""
        print(f"jaxch6 {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2


def entry() -> None:
    """The process entry point (the ``jaxch6`` script, ``python -m jaxch6``): :func:`main`, exit.

    Its first act installs the signal handling of :mod:`jaxch6.commands.signals` (a signal
    from then on ends the command with 130 / 143 within 2 s). Once the command has returned,
    its results are written: a late Ctrl-C or SIGTERM while the interpreter tears down (JAX's
    threads and caches) is ignored instead of killing the process with a status that would
    read as a failure. Before the interpreter tears down, every object alive is frozen out of
    the garbage collector (:func:`gc.freeze`): its last collection then skips the modules,
    compiled programs and arrays a command leaves behind, which the exit frees anyway
    (exit handlers still run; files are closed by the commands as they write them).
    """
    signals.install()
    try:
        code = main()
    except KeyboardInterrupt as exc:  # not expected: the handlers never raise
        code = _interrupted(None, exc)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
