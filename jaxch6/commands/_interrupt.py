"""Ctrl-C and SIGTERM for long commands: stop within :data:`GRACE_S` seconds, exit 130 / 143.

The work runs in a worker thread and is handed a ``threading.Event`` to poll (a sweep polls it
after recording each chunk). The main thread only waits, so a signal is handled at once even
while the worker is blocked in a compiled program. On a signal the event is set, the worker gets
up to :data:`GRACE_S` seconds to finish what it is recording, then the process prints one line,
flushes its streams and leaves with ``os._exit``: the interpreter is not torn down while XLA's
threads may still be running the program in flight (its results are lost; everything recorded
before stays). Outside the worker (before it starts, after it ends) a signal raises
:class:`Interrupt`, which ``jaxch6.cli`` turns into the exit status.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

#: Exit status per signal (128 + the signal number, as a shell reports it).
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
#: Seconds the worker gets to finish recording after a signal.
GRACE_S = 1.5


class Interrupt(KeyboardInterrupt):
    """A signal outside the worker; ``exit_code`` is 130 (SIGINT) or 143 (SIGTERM)."""

    def __init__(self, exit_code: int = 130):
        super().__init__(exit_code)
        self.exit_code = exit_code


def raise_interrupt(signum: int, _frame: Any = None) -> None:
    """A signal handler that raises :class:`Interrupt` with the signal's exit status."""
    raise Interrupt(EXIT_CODES.get(signum, 128 + signum))


def run_interruptible(work: Callable[[threading.Event], Any],
                      on_interrupt: Callable[[], str]) -> Any:
    """``work(stop)`` in a worker thread, stopped by SIGINT or SIGTERM.

    Args:
        work: the work; it should return soon after ``stop`` is set.
        on_interrupt: returns the line printed (to stderr) when a signal stopped the work.

    Returns:
        What ``work`` returned (its exception is re-raised here).

    Raises:
        Interrupt: a signal arrived after the work ended (the caller's handlers apply again).

    A signal during the work does not return: the process exits with 130 or 143.
    """
    stop = threading.Event()
    received: list[int] = []
    box: dict[str, Any] = {}

    def handler(signum, _frame):
        received.append(signum)
        stop.set()

    def target():
        try:
            box["result"] = work(stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            box["error"] = exc

    old = {s: signal.signal(s, handler) for s in EXIT_CODES}
    worker = threading.Thread(target=target, name="jaxch6-work", daemon=True)
    try:
        worker.start()
        while worker.is_alive() and not received:
            worker.join(0.05)
        if received:
            worker.join(GRACE_S)
            _exit(EXIT_CODES[received[0]], on_interrupt())
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if "error" in box:
        raise box["error"]
    return box["result"]


def _exit(code: int, line: str) -> None:
    """Print ``line``, flush the streams and leave at once (no interpreter teardown)."""
    try:
        print(line, file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
