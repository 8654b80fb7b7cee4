"""Ctrl-C and SIGTERM for every command: exit 130 / 143 within 2 s of the signal, whenever it
comes, without a crash.

The handler (:func:`on_signal`, installed by ``jaxch6.cli`` as its first act) never raises: a
``KeyboardInterrupt`` raised in the middle of an import or of a callback from JAX's C++ code can
be swallowed (the command then runs to the end) or turned into an abort. It records the signal
and starts a watchdog that ends the process :data:`DEADLINE_S` after the signal; the command
checks for a recorded signal at its safe points (:func:`check`) and leaves sooner.

Long work runs in a worker thread (:func:`run_interruptible`) and is handed a
``threading.Event`` to poll (a sweep polls it after recording each chunk). The main thread only
waits, so on a signal the event is set, the worker gets up to :data:`GRACE_S` seconds from the
signal to finish what it is recording, then the process prints one line, flushes its streams
and leaves with ``os._exit``: the interpreter is not torn down while XLA's threads may still be
running the program in flight (its results are lost; everything recorded before stays, as after
a kill).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

#: Exit status per signal (128 + the signal number, as a shell reports it).
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
#: Seconds (from the signal) the worker gets to finish recording.
GRACE_S = 1.5
#: Seconds (from the signal) after which the watchdog ends the process whatever it is doing.
DEADLINE_S = 1.8

_received: list[tuple[int, float]] = []  # (signal, monotonic time) in arrival order
_said: list[str] = []  # the line printed on the way out, once


class Interrupt(KeyboardInterrupt):
    """A signal outside the worker; ``exit_code`` is 130 (SIGINT) or 143 (SIGTERM)."""

    def __init__(self, exit_code: int = 130):
        super().__init__(exit_code)
        self.exit_code = exit_code


def _code(signum: int) -> int:
    return EXIT_CODES.get(signum, 128 + signum)


def on_signal(signum: int, _frame: Any = None) -> None:
    """Record the signal and, on the first, start the watchdog; never raises."""
    _received.append((signum, time.monotonic()))
    if len(_received) == 1:
        threading.Thread(target=_watchdog, name="jaxch6-signal-watchdog", daemon=True).start()


def _watchdog() -> None:
    signum, t0 = _received[0]
    time.sleep(max(0.0, t0 + DEADLINE_S - time.monotonic()))
    _exit(_code(signum), "" if _said else "jaxch6: interrupted")


def install() -> dict:
    """Install :func:`on_signal` for SIGINT and SIGTERM (main thread only) and forget earlier
    signals; returns the previous handlers for :func:`restore`."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    if signal.getsignal(signal.SIGINT) is not on_signal:  # not already ours (see cli.entry)
        _received.clear()
        _said.clear()
    return {s: signal.signal(s, on_signal) for s in EXIT_CODES}


def restore(old: dict) -> None:
    for s, h in old.items():
        if h is not None:
            signal.signal(s, h)


def said(line: str) -> None:
    """Note that ``line`` was printed on the way out (the watchdog then prints nothing)."""
    _said.append(line)


def check() -> None:
    """Raise :class:`Interrupt` if a signal has arrived (call where raising is safe)."""
    if _received:
        raise Interrupt(_code(_received[0][0]))


def run_interruptible(work: Callable[[threading.Event], Any],
                      on_interrupt: Callable[[], str]) -> Any:
    """``work(stop)`` in a worker thread, stopped by SIGINT or SIGTERM.

    Args:
        work: the work; it should return soon after ``stop`` is set.
        on_interrupt: returns the line printed (to stderr) when a signal stopped the work.

    Returns:
        What ``work`` returned (its exception is re-raised here).

    A signal before or during the work does not return: the process exits with 130 or 143
    (after the work, the caller's :func:`check` and the watchdog apply).
    """
    stop = threading.Event()
    box: dict[str, Any] = {}

    def target():
        try:
            box["result"] = work(stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            box["error"] = exc

    old = {s: signal.signal(s, on_signal) for s in EXIT_CODES}
    worker = threading.Thread(target=target, name="jaxch6-work", daemon=True)
    try:
        if not _received:
            worker.start()
        while worker.is_alive() and not _received:
            worker.join(0.05)
        if _received:
            signum, t0 = _received[0]
            stop.set()
            if worker.is_alive():
                worker.join(max(0.0, t0 + GRACE_S - time.monotonic()))
            _exit(_code(signum), on_interrupt())
    finally:
        restore(old)
    if "error" in box:
        raise box["error"]
    return box["result"]


def _exit(code: int, line: str) -> None:
    """Print ``line`` (if any), flush the streams and leave at once (no interpreter teardown)."""
    try:
        if line:
            _said.append(line)
            print(line, file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
