"""The run loop every driver shares: ask the scheduler, run its step as chunks of lanes on the
engine (double-buffered), record, keep the run states that continue, repeat.

A step is a :class:`jaxch6.sweep.schedulers.base.Step`, or several that train the same epochs
side by side (:class:`~jaxch6.sweep.schedulers.base.SideBySide`): their lanes share the chunks,
and each lane is recorded, kept or stopped by its own part.

A step's lanes are its trials × ``repeats``; a lane is fresh (started from its training key)
or continues a kept run state (its own, or for a PBT copy its parent's, with a fresh key).
Lanes are cut into chunks of the engine's size; the next chunk is dispatched before the
previous one is fetched. A trial is recorded once all its repeats have run the step.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from jaxch6.sweep.keys import child_key, lane_keys
from jaxch6.sweep.records import Trial
from jaxch6.sweep.schedulers.base import SideBySide, Step


class Interrupted(Exception):  # noqa: N818 - a request, not an error
    """The run was stopped on request (its ``stop`` event); what was recorded stays.

    Attributes:
        ran: trials this call recorded before it stopped.
    """

    def __init__(self, ran: int):
        super().__init__(f"stopped after recording {ran} trial(s)")
        self.ran = ran


class Progress(NamedTuple):
    """Reported when a step starts (``step_start``) and after each chunk.

    Attributes:
        label: the scheduler's description of the step.
        done: lanes of this step finished so far.
        total: lanes in this step.
        ran: distinct trials trained by this call so far (all steps).
        run_seconds: time in the engine so far (this call).
        step_start: True for the report that opens a step.
        lanes_per_second: lanes finished per second of engine time (this call).
        best_val_acc: the best final objective (the book's validation accuracy) of the
            complete trials so far.
        lane_epochs: lanes × epochs trained by this call so far (the compute spent).
    """

    label: str
    done: int
    total: int
    ran: int
    run_seconds: float
    step_start: bool = False
    lanes_per_second: float = 0.0
    best_val_acc: float = float("nan")
    lane_epochs: int = 0


@dataclasses.dataclass
class _Lane:
    trial: int
    repeat: int
    hparams: Mapping[str, Any]
    source: tuple  # ("new", key_data) or ("state", entry, key_data or None)
    step: Step  # the step (the part of a SideBySide) the lane trains


def quantise(acc, n: int) -> list[float]:
    """Round accuracies to exact fractions ``k/n`` in float64.

    Args:
        acc: accuracies (of ``n`` rows).
        n: the rows they were measured on.

    Returns:
        ``round(acc · n) / n`` as floats: clean JSON (0.7825, not 0.78249997).
    """
    return [float(v) for v in np.round(np.asarray(acc, np.float64) * n) / n]


def compiling(ran: int = 0, run_seconds: float = 0.0) -> Progress:
    """The report that opens the compile phase."""
    return Progress("compiling", 0, 0, ran, run_seconds, True)


class RunLoop:
    """Runs a scheduler's steps on an engine.

    Args:
        engine: a :class:`jaxch6.sweep.engine.LaneEngine` (an ``Engine``, or a
            ``GroupedEngine`` of one per group of static choices).
        scheduler: a :class:`jaxch6.sweep.schedulers.Scheduler`.
        seed: the sweep's seed (lane keys).
        repeats: training keys per trial.
        epochs: the full number of epochs (a trial that reaches it is complete).
        pool: a :class:`jaxch6.sweep.pool.StatePool` for kept run states.
        record: called with each batch of newly recorded trials (e.g. to append them to disk).
        progress: called with a :class:`Progress`.
        keep_final: also keep the run states of trials that complete (to save them).
        stop: a ``threading.Event`` (anything with ``is_set()``) polled before each step and
            after each chunk is recorded; once set, :meth:`run` raises :class:`Interrupted`.
        compiled: the engine's programs for the scheduler's epoch counts are compiled already
            (and their compile phase reported, :func:`compiling`).
    """

    def __init__(self, engine, scheduler, *, seed: int, repeats: int, epochs: int, pool,
                 record: Callable[[list[Trial]], None] | None = None,
                 progress: Callable[[Progress], None] | None = None, keep_final: bool = False,
                 stop: Any = None, compiled: bool = False):
        self.engine, self.scheduler, self.pool = engine, scheduler, pool
        self.compiled = compiled
        self.stop = stop
        self.seed, self.repeats, self.epochs = seed, repeats, epochs
        self.task = engine.task  # its recorded metrics, their resolution, the direction
        self.record, self.progress, self.keep_final = record, progress, keep_final
        self.run_seconds, self.ran, self.lanes_run, self.lane_epochs = 0.0, 0, 0, 0
        self._ran_ids: set[int] = set()
        self.best = float("nan")

    def run(self, trials: dict[int, Trial]) -> dict[int, Trial]:
        """Run steps until the scheduler is done.

        Every program the scheduler's steps need is compiled before the first step (timed
        apart, as the engine's ``compile_seconds``).

        Args:
            trials: trial id to its record, updated in place (empty, or a resumed sweep's).

        Returns:
            ``trials``.

        Raises:
            Interrupted: ``stop`` was set.
        """
        while (step := self.scheduler.next(trials)) is not None:
            self._check_stop()
            if not self.compiled:
                self._report(compiling(self.ran, self.run_seconds))
                self.engine.precompile(self.scheduler.stop_epochs())
                self.compiled = True
            self.run_step(step, trials)
        return trials

    # -- one step -----------------------------------------------------------------------------
    def run_step(self, step: Step | SideBySide, trials: dict[int, Trial], *,
                 record: bool = True) -> None:
        """Train the step's lanes, record its trials, keep or drop their run states.

        Args:
            step: the scheduler's step (or steps side by side).
            trials: trial id to its record, updated in place.
            record: pass the new records to the ``record`` callback.

        Raises:
            Interrupted: ``stop`` was set.
        """
        self._trials = trials
        parts = step.parts if isinstance(step, SideBySide) else (step,)
        for part in parts:
            self._stop_left_behind(part, trials, record, scoped=isinstance(step, SideBySide))
        lanes = [ln for part in parts for ln in self._lanes(part)]
        self.engine.prepare(dict.fromkeys(self._group(ln) for ln in lanes))  # outside timing
        partial: dict[int, dict[int, tuple]] = {}
        self._report(Progress(step.label, 0, len(lanes), self.ran, self.run_seconds, True))
        done = 0
        keep = any(self._keeps(part) for part in parts)
        for chunk, history, states in self._execute(lanes, step.epochs, keep):
            if keep:  # the lanes whose part keeps its run states (all, but side by side)
                rows = [row for row, ln in enumerate(chunk) if self._keeps(ln.step)]
                self.pool.put([(chunk[r].trial, chunk[r].repeat, chunk[r].step.stop)
                               for r in rows], states, group=self._group(chunk[0]),
                              rows=None if len(rows) == len(chunk) else rows)
            finished = self._collect(chunk, history, partial, trials)
            if record and finished:
                if self.record is not None:
                    self.record(finished)
                self._ran_ids.update(t.id for t in finished)
                self.ran = len(self._ran_ids)
            done += len(chunk)
            self._note_best(finished)
            self._report(Progress(step.label, done, len(lanes), self.ran, self.run_seconds,
                                  lanes_per_second=self.lanes_run / max(self.run_seconds, 1e-9),
                                  best_val_acc=self.best, lane_epochs=self.lane_epochs))
            self._check_stop()
        kept = [t for t in trials.values() if t.status == "running"
                or (self.keep_final and t.status == "complete")]
        self.pool.retain((t.id, r, t.epochs) for t in kept for r in range(self.repeats))

    def _keeps(self, step: Step) -> bool:
        """Whether the run states after ``step`` are kept (to continue, or to save)."""
        return step.keep or (self.keep_final and step.stop == self.epochs)

    def _note_best(self, finished: list[Trial]) -> None:
        for t in finished:
            if t.status == "complete" and not t.diverged and (
                    self.best != self.best or self.task.better(t.final_val_acc, self.best)):
                self.best = t.final_val_acc

    def _stop_left_behind(self, step: Step, trials: dict[int, Trial], record: bool,
                          scoped: bool = False) -> None:
        """Mark ``stopped`` the running trials that stand at the step's start but do not
        continue (successive halving's losers); their run states are dropped after the step.
        ``scoped``: only the trials of the step's round (a part of a SideBySide)."""
        going = set(step.cont) | {c.child for c in step.copies}
        stopped = [dataclasses.replace(t, status="stopped") for t in trials.values()
                   if t.status == "running" and t.epochs == step.start and t.id not in going
                   and (not scoped or t.round == step.round)]
        for t in stopped:
            trials[t.id] = t
        if stopped and record and self.record is not None:
            self.record(stopped)

    def _lanes(self, step: Step) -> list[_Lane]:
        out: list[_Lane] = []
        new_ids = list(step.new)
        if new_ids:
            ids = np.repeat(np.asarray(new_ids, np.int64), self.repeats)
            reps = np.tile(np.arange(self.repeats), len(new_ids))
            keys = lane_keys(self.seed, ids, reps)
            out += [_Lane(int(i), int(r), step.new[int(i)], ("new", k), step)
                    for i, r, k in zip(ids, reps, keys, strict=True)]
        for i in step.cont:
            hp = self._hparams_of(i)
            out += [_Lane(i, r, hp, ("state", (i, r, step.start), None), step)
                    for r in range(self.repeats)]
        for c in step.copies:
            out += [_Lane(c.child, r, c.hparams,
                          ("state", (c.parent, r, step.start),
                           child_key(self.seed, c.parent, step.start, c.child, r)), step)
                    for r in range(self.repeats)]
        return out

    def _hparams_of(self, trial_id: int) -> Mapping[str, Any]:
        return self._trials[trial_id].hparams

    def _execute(self, lanes: Sequence[_Lane], epochs: int, keep: bool):
        """Yield ``(chunk, history, states)`` per chunk, the next chunk dispatched first."""
        size = self.engine.chunk_size
        fresh = [ln for ln in lanes if ln.source[0] == "new"]
        kept = [ln for ln in lanes if ln.source[0] != "new"]
        parts = [g for part in (fresh, kept) for g in self._by_group(part)]
        chunks = [part[s:s + size] for part in parts for s in range(0, len(part), size)]
        pending = None
        t0 = time.perf_counter()
        for chunk in [*chunks, None]:
            handle = self._dispatch(chunk, epochs) if chunk is not None else None
            if pending is not None:
                history, states = self.engine.fetch(pending[1], states=keep)
                now = time.perf_counter()
                self.run_seconds += now - t0
                t0 = now
                self.lanes_run += len(pending[0])
                self.lane_epochs += len(pending[0]) * epochs
                yield pending[0], history, states
                t0 = time.perf_counter()
            pending = (chunk, handle) if chunk is not None else None

    def _group(self, lane: _Lane) -> tuple:
        """The lane's group of static choices (``()`` on a plain engine)."""
        return self.engine.group_of(lane.hparams)

    def _by_group(self, lanes: Sequence[_Lane]) -> list[list[_Lane]]:
        """``lanes`` split by group (first appearance order); a chunk holds one group."""
        out: dict[tuple, list[_Lane]] = {}
        for ln in lanes:
            out.setdefault(self._group(ln), []).append(ln)
        return list(out.values())

    def _dispatch(self, chunk: Sequence[_Lane], epochs: int):
        engine = self.engine.engine(self._group(chunk[0]))
        names = engine.hparam_names
        hp = {k: np.asarray([ln.hparams[k] for ln in chunk]) for k in names}
        if chunk[0].source[0] == "new":  # chunks are all fresh or all continued
            keys = np.stack([ln.source[1] for ln in chunk])
            return engine.dispatch(epochs, hp, key_data=keys)
        new_keys = {row: ln.source[2] for row, ln in enumerate(chunk) if ln.source[2] is not None}
        states = self.pool.take([ln.source[1] for ln in chunk], new_keys,
                                reseed=self.task.reseed)
        return engine.dispatch(epochs, hp, states=states)

    def _collect(self, chunk, history, partial, trials) -> list[Trial]:
        """Fold a chunk's lanes into trial records; return the trials whose repeats have all
        run their step."""
        finished = []
        for row, ln in enumerate(chunk):
            res = ({name: self._values(name, history[name][row]) for name in self.task.recorded},
                   bool(history["diverged"][row]))
            got = partial.setdefault(ln.trial, {})
            got[ln.repeat] = res
            if len(got) == self.repeats:
                trials[ln.trial] = self._merge(ln.step, trials.get(ln.trial), ln, got)
                finished.append(trials[ln.trial])
                del partial[ln.trial]
        return finished

    def _values(self, name: str, values) -> list[float]:
        """A metric's per-epoch values as floats (exact fractions k/n where the task says)."""
        n = self.task.resolution.get(name)
        return quantise(values, n) if n else [float(v) for v in np.asarray(values, np.float64)]

    def _curves(self, values: dict[str, list[float]]) -> dict[str, Any]:
        """A repeat's record: the objective as ``val_acc``, ``train_acc``, other metrics."""
        task = self.task
        others = {k: v for k, v in values.items() if k not in (task.objective, "train_acc")}
        rep = {"train_acc": values.get("train_acc", []), "val_acc": values[task.objective]}
        return {**rep, "metrics": others} if others else rep

    def _merge(self, step: Step, old: Trial | None, lane: _Lane, got: dict) -> Trial:
        """The trial's record after the step: curves extended, status, rung, lineage."""
        reps = []
        for r in range(self.repeats):
            values, div = got[r]
            new = self._curves(values)
            prev = (old.repeats[r] if old is not None and old.repeats else
                    {"train_acc": old.train_acc, "val_acc": old.val_acc,
                     "metrics": old.metrics or {}} if old is not None else {})
            rep = {k: [*prev.get(k, [])[: step.start], *new[k]] for k in ("train_acc", "val_acc")}
            if "metrics" in new:
                rep["metrics"] = {k: [*prev.get("metrics", {}).get(k, [])[: step.start], *v]
                                  for k, v in new["metrics"].items()}
            reps.append({**rep, "diverged": div})
        keep = step.keep or False
        status = "running" if keep else ("complete" if step.stop >= self.epochs else "stopped")
        lineage = list(old.lineage) if old is not None and old.lineage else None
        copy = next((c for c in step.copies if c.child == lane.trial), None)
        if copy is not None:
            lineage = [*(lineage or [{"epoch": 0, "parent": None, "hparams": dict(old.hparams)}]),
                       {"epoch": step.start, "parent": copy.parent, "hparams": dict(copy.hparams)}]
        return Trial(
            id=lane.trial,
            round=old.round if old is not None else step.round,
            hparams=dict(lane.hparams),
            train_acc=_mean([r["train_acc"] for r in reps]),
            val_acc=_mean([r["val_acc"] for r in reps]),
            diverged=any(r["diverged"] for r in reps),
            status=status,
            rung=step.rung,
            repeats=reps if self.repeats > 1 else None,
            lineage=lineage,
            metrics=({k: _mean([r["metrics"][k] for r in reps]) for k in reps[0]["metrics"]}
                     if "metrics" in reps[0] else None),
            objective=self.task.objective,
            direction=self.task.direction,
        )

    def _check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Interrupted(self.ran)

    def _report(self, p: Progress) -> None:
        if self.progress is not None:
            self.progress(p)


def _mean(curves: list[list[float]]) -> list[float]:
    if len(curves) == 1:
        return list(curves[0])
    return [float(v) for v in np.mean(np.asarray(curves, np.float64), axis=0)]
