"""Helper processes that draw a sweep's figures side by side, for the ``jaxch6 sweep`` command.

:class:`FigureWorkers` starts them as the command begins, one after the other: each imports
matplotlib and draws a small figure (:func:`jaxch6.plots.warm_up`) while the command itself
imports JAX, loads the data and compiles, work that keeps only one core busy. Once the trials
are done, :meth:`FigureWorkers.draw` hands the figures out one at a time to whichever worker is
free, so a sweep's figures are drawn on two cores at once and the command never imports
matplotlib. A figure no worker drew (none started, one died) is drawn in the command's own
process; a file that cannot be written is the same one-line ``ConfigError`` as there.

Each worker is ``python -m jaxch6.figure_workers``: pickled jobs on its standard input,
pickled replies on its standard output; it ignores Ctrl-C (the command handles it) and ends
when its standard input closes, which happens at the latest when the command exits.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import threading
from pathlib import Path

from jaxch6.errors import ConfigError

#: A job: (file name, name of the :mod:`jaxch6.plots` function, args, kwargs, path to write).
Job = tuple[str, str, tuple, dict, str]


class FigureWorkers:
    """Up to ``n`` worker processes, started one after the other in a background thread (the
    next once the previous is ready). Close them with :meth:`close` (or ``with``)."""

    def __init__(self, n: int = 2):
        self._ready: list[subprocess.Popen] = []
        self._closed = threading.Event()
        self._starter = threading.Thread(target=self._start, args=(n,), daemon=True,
                                         name="jaxch6-figure-workers")
        self._starter.start()

    def _start(self, n: int) -> None:
        env = dict(os.environ)  # the worker imports this copy of jaxch6
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        for _ in range(n):
            if self._closed.is_set():
                return
            try:
                proc = subprocess.Popen([sys.executable, "-m", "jaxch6.figure_workers"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
            except OSError:
                return
            try:
                ready = pickle.load(proc.stdout) == ("ready",)
            except (EOFError, OSError, pickle.UnpicklingError):
                ready = False
            if not ready or self._closed.is_set():
                _end(proc)
                return
            self._ready.append(proc)

    def draw(self, jobs: list[Job]) -> None:
        """Draw every job, each by a free worker or, failing that, here.

        Raises:
            ConfigError: a file cannot be written (the first such error).
        """
        self._starter.join()
        pending: queue.SimpleQueue = queue.SimpleQueue()
        for job in jobs:
            pending.put(job)
        leftovers: list[Job] = []
        errors: list[str] = []
        threads = [threading.Thread(target=_serve_jobs, args=(proc, pending, leftovers, errors),
                                    daemon=True) for proc in self._ready]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        while not pending.empty():  # no worker took it
            leftovers.append(pending.get())
        if leftovers:
            from jaxch6.plots import draw_job

            for job in leftovers:
                draw_job(job)
        if errors:
            raise ConfigError(errors[0])

    def close(self) -> None:
        """End the workers (their standard input closes; a worker that does not end within a
        few seconds is killed)."""
        self._closed.set()
        self._starter.join()
        for proc in self._ready:
            _end(proc)
        self._ready = []

    def __enter__(self) -> FigureWorkers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _serve_jobs(proc: subprocess.Popen, pending: queue.SimpleQueue, leftovers: list,
                errors: list) -> None:
    """Feed ``proc`` jobs until none are left; a job it cannot draw goes to ``leftovers``."""
    while True:
        try:
            job = pending.get_nowait()
        except queue.Empty:
            return
        try:
            pickle.dump(job, proc.stdin)
            proc.stdin.flush()
            reply = pickle.load(proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError):  # it died: drawn here instead
            leftovers.append(job)
            return
        if reply[0] == "config":
            errors.append(reply[1])
        elif reply[0] != "ok":  # an unexpected error: drawn here, where it is raised
            leftovers.append(job)


def _end(proc: subprocess.Popen) -> None:
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()


def main() -> None:
    """A worker: warm up, say ready, then draw the jobs read from standard input."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the command's whole group
    out, inp = sys.stdout.buffer, sys.stdin.buffer
    sys.stdout = sys.stderr  # nothing but replies on the pipe
    import jaxch6.sweep.records  # noqa: F401 - the class of the pickled trials
    from jaxch6 import plots

    plots.warm_up()
    pickle.dump(("ready",), out)
    out.flush()
    while True:
        try:
            job = pickle.load(inp)
        except EOFError:
            return
        try:
            plots.draw_job(job)
            reply: tuple = ("ok", job[0])
        except ConfigError as exc:
            reply = ("config", str(exc))
        except Exception as exc:  # noqa: BLE001 - reported; the command draws it again
            reply = ("error", f"{type(exc).__name__}: {exc}")
        pickle.dump(reply, out)
        out.flush()


if __name__ == "__main__":
    main()
