"""The ``jaxch6 sweep`` command's figures, drawn by a helper process forked at its start.

Importing matplotlib and drawing the figures is single-core work after training. On Linux the
command forks a helper (:func:`start`) before it imports JAX: the helper imports matplotlib and
draws a small figure (fonts, the PNG writer) on the other core while the command imports JAX,
then sleeps until the sweep has trained. The command then sends it
:func:`jaxch6.plots.figure_calls` (plain data: the trials, the space, the titles) and
:meth:`Helper.write` waits for the answer: the helper draws ``top20.png`` while a process
forked from it draws the other figures, with the same functions
(:func:`jaxch6.plots.write_figure_calls`) and the same files as in the command's process.
The helper's standard input and output are ``/dev/null``; what it writes to stderr (warnings)
is passed on to the command's stderr with a successful answer.

Whenever the helper cannot be used — no ``fork``, JAX or another Python thread already running
in the process, the helper failed for any reason (matplotlib missing included), or it was not
ready :data:`READY_S` seconds after training — the figures are drawn in the command's process
exactly as without a helper, and their errors are raised from there.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

#: Seconds the command waits, once trained, for a helper that is not ready yet.
READY_S = 30.0
_HEADER = struct.Struct("<Q")  # a message's length in bytes, then its pickle


def start() -> Helper | None:
    """Fork the helper (None where it cannot be used: see the module docstring)."""
    if not (sys.platform.startswith("linux") and hasattr(os, "fork")
            and "jax" not in sys.modules and threading.active_count() == 1):
        return None
    to_helper, from_command = os.pipe()
    from_helper, to_command = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the helper: never returns, never runs the command's exit handlers
        try:
            os.close(from_command)
            os.close(from_helper)
            _serve(to_helper, to_command)
        finally:
            os._exit(0)
    os.close(to_helper)
    os.close(to_command)
    return Helper(pid, from_command, from_helper)


class Helper:
    """The command's side of the helper process."""

    def __init__(self, pid: int, send_fd: int, recv_fd: int):
        self.pid: int | None = pid
        self._send_fd, self._recv_fd = send_fd, recv_fd
        self._answered = False

    def write(self, result, out_dir, top: int = 20) -> list[str]:
        """:func:`jaxch6.plots.write_sweep_figures` (``result``, ``out_dir``, ``top``), drawn
        by the helper, or in this process where the helper cannot draw them."""
        from jaxch6 import plots

        calls = plots.figure_calls(result, top)
        answer = self._ask(calls, str(out_dir))
        if answer is not None and answer[0] == "ok":
            if answer[2]:
                sys.stderr.write(answer[2])
            return answer[1]
        return plots.write_figure_calls(calls, out_dir)

    def _ask(self, calls, out_dir: str) -> tuple | None:
        """The helper's answer to ``calls``: ``("ok", names, stderr)`` or ``("error", what,
        stderr)``; None when it is not ready in time or did not answer."""
        try:
            ready, _, _ = select.select([self._recv_fd], [], [], READY_S)
            if not ready or _receive(self._recv_fd) != ("ready",):
                return None
            _send(self._send_fd, (calls, out_dir))
            answer = _receive(self._recv_fd)
            self._answered = answer is not None
            return answer
        except Exception:  # noqa: BLE001 - any failure: the figures are drawn in-process
            return None
        finally:
            self.close()

    def close(self) -> None:
        """End the helper (killed unless it answered) and reap it; idempotent."""
        if self.pid is None:
            return
        for fd in (self._send_fd, self._recv_fd):
            os.close(fd)
        if not self._answered:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.waitpid(self.pid, 0)
        self.pid = None


# -- the helper's side --------------------------------------------------------------------------
def _serve(recv_fd: int, send_fd: int) -> None:
    """The helper: get ready, say so, then answer one request (none when the command closes
    the pipe first)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    err = tempfile.TemporaryFile()
    null = os.open(os.devnull, os.O_RDWR)
    for fd, target in ((0, null), (1, null), (2, err.fileno())):
        os.dup2(target, fd)
    warm = _attempt(_warm_up)
    if warm[0] != "ok":
        _send(send_fd, (*warm, ""))
        return
    _send(send_fd, ("ready",))
    request = _receive(recv_fd)
    if request is not None:
        answer = _draw(*request)
        sys.stderr.flush()
        err.seek(0)
        _send(send_fd, (*answer, err.read().decode("utf-8", "replace")))


def _warm_up() -> None:
    """Import matplotlib and :mod:`jaxch6.plots` and draw a small figure with a text into
    memory (fonts loaded, the PNG writer imported)."""
    import io

    from matplotlib.figure import Figure

    import jaxch6.plots  # noqa: F401 - imported here, ahead of the request

    fig = Figure(figsize=(1.0, 1.0))
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
    ax.plot([1, 2], [0.0, 1.0])
    ax.text(1.5, 0.5, "epoch 0.5", fontsize=7)
    fig.savefig(io.BytesIO(), format="png", dpi=20, pil_kwargs={"compress_level": 1})


def _draw(calls: dict, out_dir: str) -> tuple:
    """Draw ``calls``: the first figure here, the others in a process forked from this one;
    ``("ok", names)`` or ``("error", what)``."""
    from jaxch6.plots import write_figure_calls

    names = list(calls)
    if len(names) < 2:
        return _attempt(write_figure_calls, calls, out_dir)
    mine, theirs = {n: calls[n] for n in names[:1]}, {n: calls[n] for n in names[1:]}
    recv_fd, send_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(recv_fd)
            _send(send_fd, _attempt(write_figure_calls, theirs, out_dir))
        finally:
            sys.stderr.flush()  # its warnings, into the helper's stderr file
            os._exit(0)
    os.close(send_fd)
    answers = [_attempt(write_figure_calls, mine, out_dir),
               _receive(recv_fd) or ("error", "the drawing process ended without an answer")]
    os.close(recv_fd)
    os.waitpid(pid, 0)
    failed = [a for a in answers if a[0] != "ok"]
    return failed[0] if failed else ("ok", answers[0][1] + answers[1][1])


def _attempt(function: Callable, *args: Any) -> tuple:
    try:
        return "ok", function(*args)
    except BaseException as exc:  # noqa: BLE001 - reported; the command draws in-process
        return "error", f"{type(exc).__name__}: {exc}"


# -- messages -----------------------------------------------------------------------------------
def _send(fd: int, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _receive(fd: int) -> Any:
    """The next message, or None when the other side closed the pipe first."""
    header = _read(fd, _HEADER.size)
    if header is None:
        return None
    data = _read(fd, _HEADER.unpack(header)[0])
    return None if data is None else pickle.loads(data)


def _read(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
