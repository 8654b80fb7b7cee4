"""Progress reports on a terminal (tqdm bars) or as plain lines (logs, CI, pipes).

:class:`TqdmProgress` is a callable taking a :class:`jaxch6.sweep.Progress`, the reports that
:func:`jaxch6.sweep.run` (and ``jaxch6 sweep``, ``jaxch6 experiment``) send:

1. a report labelled ``"compiling"`` while the programs compile: shown as ``compiling… 3.1 s``,
   counting up on a terminal (a plain ``compiling…`` line when it starts, elsewhere);
2. a ``step_start`` report when a step (a round, a rung) begins: its label on a line of its own;
3. one report per chunk of lanes: a bar with lanes done, the rate, the ETA and the best
   validation accuracy so far.

and, through :meth:`TqdmProgress.announce`, the lines that say where the data came from (as
soon as it is loaded) and which devices train (:func:`setup_lines`), before training starts.

Off a terminal and outside a notebook (a log file, CI, a pipe) the reports are plain lines, a
log rather than a flood: at most one line per step (when it ends) and one per
:data:`PLAIN_INTERVAL_S` seconds while a step runs. In a Jupyter notebook the bars are tqdm's
notebook widgets (``tqdm.auto``).

Example:
    ```python
    import jaxch6
    from jaxch6.progress import TqdmProgress

    config = jaxch6.sweep.SweepConfig(trials=100)
    with TqdmProgress() as progress:
        result = jaxch6.sweep.run(config, progress=progress)
    ```
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any

from tqdm import tqdm

#: The label of the report sent before the programs are compiled.
COMPILING = "compiling"
#: Off a terminal, the least time between two progress lines of a running step.
PLAIN_INTERVAL_S = 10.0


def _is_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is an interactive terminal (``isatty``; False if it cannot say)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (where tqdm.auto draws notebook widgets)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _bar_class():
    """tqdm's notebook bar in a Jupyter kernel (``tqdm.auto``), its text bar elsewhere."""
    if _in_notebook():
        from tqdm.auto import tqdm as auto_tqdm

        return auto_tqdm
    return tqdm


def setup_lines(info: dict[str, Any]) -> list[str]:
    """The lines that say where a sweep's data came from and which devices train it.

    Args:
        info: a sweep's ``result.info`` (or the same keys as known before training): ``data``
            (``dataset``, ``source``, ``location``, ``n_train``, ``n_val``; a task's:
            ``dataset="task"``, ``task``, ``source``, with ``objective`` and ``direction``),
            ``device_count``,
            ``device_kind``, ``backend``, ``chunk_size``, ``lanes``, ``jax_version``.

    Returns:
        ``["data: …", "devices: …"]`` (:func:`data_line`, :func:`devices_line`).
    """
    return [data_line(info), devices_line(info)]


def data_line(info: dict[str, Any]) -> str:
    """``data: …``: where a sweep's data came from (``info`` as in :func:`setup_lines`; only
    ``data``, ``objective`` and ``direction`` are read)."""
    data = info["data"]
    if data["dataset"] == "task":  # a jaxch6.sweep.Task's own data
        minimised = info.get("direction") == "min"
        return (f"data: task {data['task']} ({data['source']}), objective "
                f"{info.get('objective')} ({'minimised' if minimised else 'maximised'})")
    return (f"data: {data['dataset']} from source {data['source']!r} "
            f"({data.get('location', '')}): {data['n_train']} train / {data['n_val']} "
            "validation")


def devices_line(info: dict[str, Any]) -> str:
    """``devices: …``: which devices train a sweep, in chunks and groups of how many lanes
    (``info`` as in :func:`setup_lines`)."""
    return (f"devices: {info['device_count']} x {info['device_kind']} ({info['backend']}), "
            f"chunk {info['chunk_size']} lanes in groups of {info['lanes']}, "
            f"jax {info['jax_version']}")


class TqdmProgress:
    """A progress reporter: a tqdm bar per step on a terminal, plain lines elsewhere.

    A lane is one training run (one trial, or one of its repeats). Call :meth:`close` (or use
    the reporter as a context manager) when the run ends or fails, so that a bar still open is
    finished and the compile counter stops.

    Args:
        file: where to write; standard error by default.
        unit: what a lane is called in the bar (``"trial"``, or ``"lane"`` when trials have
            several repeats).
        plain: plain lines instead of bars; by default, when ``file`` is not a terminal and
            this is not a Jupyter kernel.
        refresh_seconds: how often the compile counter is redrawn on a terminal.

    Example:
        >>> import io
        >>> from jaxch6.sweep import Progress
        >>> out = io.StringIO()
        >>> progress = TqdmProgress(out, plain=True)
        >>> progress(Progress("round 1/1", 0, 4, 0, 0.0, step_start=True))
        >>> progress(Progress("round 1/1", 4, 4, 4, 0.5))
        >>> out.getvalue().startswith("round 1/1: 4/4 trials")
        True
    """

    def __init__(self, file: IO[str] | None = None, *, unit: str = "trial",
                 plain: bool | None = None, refresh_seconds: float = 0.2):
        self.file = file if file is not None else sys.stderr
        self.unit = unit
        if plain is None:
            plain = not (_is_terminal(self.file) or (file is None and _in_notebook()))
        self.plain = plain
        self.refresh_seconds = refresh_seconds
        self._bar: Any = None
        self._compile_start: float | None = None
        self._step_start = 0.0
        self._ticker: tuple[threading.Thread, threading.Event] | None = None
        self._last_line = 0.0  # when the last plain progress line was written
        self._pending: Any = None  # plain mode: the step's last report not yet written

    def __call__(self, p: Any) -> None:
        """Show one report (a :class:`jaxch6.sweep.Progress`)."""
        if p.step_start:
            self._end_phase()
            if p.label == COMPILING:
                self._begin_compile()
            else:
                self._begin_step(p)
            return
        self._chunk(p)

    def announce(self, lines: list[str]) -> None:
        """Write ``lines`` (the data and device lines of :func:`setup_lines`) as they are."""
        for line in lines:
            self._write(line)

    def close(self) -> None:
        """Finish the open bar or compile counter, if any (safe to call more than once)."""
        self._end_phase()

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- phases -----------------------------------------------------------------------------
    def _begin_compile(self) -> None:
        self._compile_start = time.perf_counter()
        if self.plain:
            self._write("compiling…")
            return
        self._bar = _bar_class()(file=self.file, bar_format="{desc}", desc="compiling…",
                                 leave=True)
        self._start_ticker()

    def _start_ticker(self) -> None:
        """Redraw the open bar every ``refresh_seconds`` (its clock runs between reports)."""
        stop = threading.Event()
        thread = threading.Thread(target=self._tick, args=(self._bar, stop), daemon=True)
        self._ticker = (thread, stop)
        thread.start()

    def _tick(self, bar: Any, stop: threading.Event) -> None:
        """Redraw ``bar`` (the compile counter's text, or the bar's clock) until ``stop``."""
        while not stop.wait(self.refresh_seconds):
            if self._compile_start is not None:
                bar.set_description_str(self._compile_text())
            else:
                bar.refresh()

    def _compile_text(self) -> str:
        return f"compiling… {time.perf_counter() - (self._compile_start or 0.0):.1f} s"

    def _begin_step(self, p: Any) -> None:
        self._step_start = self._last_line = time.perf_counter()
        if self.plain:  # its one line comes when it ends (or PLAIN_INTERVAL_S passed)
            self._pending = None
            return
        self._write(p.label)
        self._bar = _bar_class()(total=p.total, unit=self.unit, file=self.file, leave=True,
                                 dynamic_ncols=True)
        self._start_ticker()

    def _chunk(self, p: Any) -> None:
        note = self._note(p)
        if self.plain:
            self._pending = p
            now = time.perf_counter()
            if p.done >= p.total or now - self._last_line >= PLAIN_INTERVAL_S:
                self._write_pending()
            return
        if self._bar is None:  # a chunk without its step's opening report
            self._begin_step(p)
        self._bar.set_postfix_str(note, refresh=False)
        self._bar.update(max(p.done - self._bar.n, 0))
        if p.done >= p.total:
            self._end_phase()

    def _note(self, p: Any) -> str:
        """The end of a chunk's line: the best accuracy so far and the time spent running."""
        best = f"best val {p.best_val_acc:.4f}  " if p.best_val_acc == p.best_val_acc else ""
        return f"{best}run {p.run_seconds:.1f} s"

    def _rate(self, p: Any) -> str:
        """``12.3 trials/s  ETA 00:04`` from the wall-clock time since the step began."""
        elapsed = time.perf_counter() - self._step_start
        if p.done <= 0 or elapsed <= 0:
            return f"? {self.unit}s/s"
        rate = p.done / elapsed
        eta = tqdm.format_interval((p.total - p.done) / rate)
        return f"{rate:.1f} {self.unit}s/s  ETA {eta}"

    def _write_pending(self) -> None:
        """Plain mode: the line of the step's latest report (once)."""
        p, self._pending = self._pending, None
        if p is None or p.done <= 0:
            return
        self._last_line = time.perf_counter()
        self._write(f"{p.label}: {p.done}/{p.total} {self.unit}s  {self._rate(p)}  "
                    f"{self._note(p)}")

    def _end_phase(self) -> None:
        """Close the bar or compile counter that is open (writing the compile time)."""
        self._write_pending()
        if self._ticker is not None:
            thread, stop = self._ticker
            stop.set()
            thread.join()
            self._ticker = None
        if self._compile_start is not None:
            text = self._compile_text()
            self._compile_start = None
            if self._bar is not None:
                self._bar.set_description_str(text)
            else:
                self._write(text)
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _write(self, line: str) -> None:
        if self._bar is not None:
            self._bar.write(line, file=self.file)
        else:
            self.file.write(line + "\n")
            self.file.flush()


def make(quiet: bool = False, *, unit: str = "trial", file: IO[str] | None = None
         ) -> TqdmProgress | None:
    """The command line's reporter: None when ``quiet``, else a :class:`TqdmProgress`.

    Args:
        quiet: report nothing.
        unit: what a lane is called (see :class:`TqdmProgress`).
        file: where to write; standard error by default.

    Returns:
        A reporter to pass as ``progress=``, or None.
    """
    return None if quiet else TqdmProgress(file, unit=unit)


__all__ = ["COMPILING", "TqdmProgress", "make"]
