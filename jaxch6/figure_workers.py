"""Helper processes that draw a sweep's figures side by side, for the ``jaxch6 sweep`` command.

:class:`FigureWorkers` starts them as the command begins, one after the other: each imports
matplotlib and draws a small figure (:func:`jaxch6.plots.warm_up`) while the command itself
imports JAX, loads the data and compiles, work that keeps only one core busy. Once the trials
are done, :meth:`FigureWorkers.draw` hands the figures out one at a time to whichever worker is
free, so a sweep's figures are drawn on two cores at once and the command need not import
matplotlib. While no worker is ready yet (a sweep of seconds), the command's own process draws
too; a figure no worker drew (none started, one died) is drawn there as well; a file that
cannot be written is the same one-line ``ConfigError`` either way.

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
        self._procs: list[subprocess.Popen | None] = [None] * n
        self._settled = [threading.Event() for _ in range(n)]  # ready, or never will be
        self._closed = threading.Event()
        self._starter = threading.Thread(target=self._start, daemon=True,
                                         name="jaxch6-figure-workers")
        self._starter.start()

    def _start(self) -> None:
        env = dict(os.environ)  # the worker imports this copy of jaxch6
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            for i in range(len(self._procs)):
                proc = None if self._closed.is_set() else _spawn(env)
                if proc is None:
                    return
                self._procs[i] = proc
                self._settled[i].set()
        finally:
            for event in self._settled:
                event.set()

    def draw(self, jobs: list[Job]) -> None:
        """Draw every job, each by a free worker (a worker still starting takes jobs once it
        is ready; while none is ready this process draws too) or, where none is left, here.

        Raises:
            ConfigError: a file cannot be written (the first such error).
        """
        pending: queue.SimpleQueue = queue.SimpleQueue()
        done: queue.SimpleQueue = queue.SimpleQueue()  # (outcome, job, message) per job taken
        for job in jobs:
            pending.put(job)
        threads = [threading.Thread(target=self._serve, args=(i, pending, done), daemon=True)
                   for i in range(len(self._procs))]
        for t in threads:
            t.start()
        outcomes = []
        if all(proc is None for proc in self._procs):  # none ready yet: draw here meanwhile
            outcomes += _draw_here_while_pending(pending)
        while len(outcomes) < len(jobs):
            try:
                outcomes.append(done.get(timeout=0.05))
            except queue.Empty:
                if not any(t.is_alive() for t in threads):  # every worker gone or idle
                    break
        while not done.empty():
            outcomes.append(done.get())
        while not pending.empty():  # no worker took it
            outcomes.append(("left", pending.get(), ""))
        left = [job for outcome, job, _ in outcomes if outcome == "left"]
        if left:
            from jaxch6.plots import draw_job

            for job in left:  # drawn here, where an unexpected error is raised
                draw_job(job)
        errors = [message for outcome, _, message in outcomes if outcome == "config"]
        if errors:
            raise ConfigError(errors[0])

    def _serve(self, i: int, pending: queue.SimpleQueue, done: queue.SimpleQueue) -> None:
        self._settled[i].wait()
        if self._procs[i] is not None:
            _serve_jobs(self._procs[i], pending, done)

    def close(self) -> None:
        """End the workers (their standard input closes; a worker that does not end within a
        few seconds is killed)."""
        self._closed.set()
        self._starter.join()
        for proc in self._procs:
            if proc is not None:
                _end(proc)
        self._procs = [None] * len(self._procs)

    def __enter__(self) -> FigureWorkers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _draw_here_while_pending(pending: queue.SimpleQueue) -> list:
    """Take jobs from ``pending`` and draw them here until none is left (workers that become
    ready meanwhile take the others); the outcomes, as :func:`_serve_jobs` gives them."""
    from jaxch6.plots import draw_job

    outcomes = []
    while True:
        try:
            job = pending.get_nowait()
        except queue.Empty:
            return outcomes
        try:
            draw_job(job)
            outcomes.append(("ok", job, ""))
        except ConfigError as exc:
            outcomes.append(("config", job, str(exc)))


def _spawn(env) -> subprocess.Popen | None:
    """A worker that said it is ready, or None."""
    try:
        proc = subprocess.Popen([sys.executable, "-m", "jaxch6.figure_workers"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    except OSError:
        return None
    try:
        if pickle.load(proc.stdout) == ("ready",):
            return proc
    except (EOFError, OSError, pickle.UnpicklingError):
        pass
    _end(proc)
    return None


def _serve_jobs(proc: subprocess.Popen, pending: queue.SimpleQueue,
                done: queue.SimpleQueue) -> None:
    """Feed ``proc`` jobs until none are left; each job taken gets one outcome in ``done``:
    ``ok``, ``config`` (a ConfigError's message) or ``left`` (to be drawn here)."""
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
            done.put(("left", job, ""))
            return
        if reply[0] in ("ok", "config"):
            done.put((reply[0], job, reply[1]))
        else:  # an unexpected error: drawn here, where it is raised
            done.put(("left", job, ""))


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
