"""Run a sweep: load the data, build the engine, own the run directory, run the loop, summarise.

:func:`run` is the API research code calls (``jaxch6 sweep`` is a thin layer over it);
:func:`resume` finishes a sweep directory that was interrupted.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxch6.errors import ConfigError
from jaxch6.sweep import keys, plan, schedulers, store
from jaxch6.sweep.book import book_lane_bytes, check_book_data, load_data, n_classes
from jaxch6.sweep.config import SweepConfig
from jaxch6.sweep.config_file import CONFIG_FILE, to_toml
from jaxch6.sweep.engine import Engine, program_bytes
from jaxch6.sweep.groups import GroupedEngine, record_names
from jaxch6.sweep.loop import Progress, RunLoop, compiling
from jaxch6.sweep.records import Trial, best_records
from jaxch6.sweep.result import SweepResult
from jaxch6.sweep.tracking import TrialMetrics

#: Files and folders of the run directory that belong to the run (besides store's).
STATES, MODELS = "states", "models"


# -- engine -------------------------------------------------------------------------------------
def plan_lanes(config: SweepConfig, data, devices, *, lanes: int | None = None,
               chunk_size: int | None = None, task=None, kept_batches: int = 0,
               scheduler=None, trial_bytes: int | None = None):
    """Plan and check the sweep's lanes: one lane's estimated memory and the
    :class:`jaxch6.sweep.plan.Plan` (:func:`jaxch6.sweep.plan.plan_sweep`, the one planner).

    Every driver of the engine must use this: the lane width is part of what makes a trial's
    result bit-identical between them. A task's lane is measured from the compiled program of
    one lane (:func:`lane_bytes`) unless the task gives its own ``memory`` or ``trial_bytes``
    is given (:func:`prepare` measures the engine's own programs where it can:
    :func:`plan_from_engine`); the book's network (``task=None``, or
    :func:`jaxch6.sweep.task.book_task`) uses :func:`book_lane_bytes`.

    Args:
        config: the sweep's settings.
        data: the sweep's data (the book's :class:`jaxch6.train.Data`, or the task's).
        devices: the devices the lanes are sharded over.
        lanes: the lanes per group to use when ``config.lanes`` is unset (e.g. a resumed
            sweep's or a study's); when both are unset, the planner chooses.
        chunk_size: trials per compiled call instead of ``config.chunk_size`` (e.g. an Optuna
            batch); when both are unset, the planner chooses.
        task: the :class:`jaxch6.sweep.Task` (None: the book's network).
        kept_batches: batches of ``chunk_size`` trials (each ``repeats`` lanes) whose run
            states the driver keeps besides its scheduler's (an Optuna worker that prunes: 2,
            the batch a step starts from and the one it makes).
        scheduler: the sweep's :class:`jaxch6.sweep.schedulers.Scheduler`, whose kept run
            states are planned for (None: the config's, built here).
        trial_bytes: one lane's device memory to plan with instead of measuring it.

    Returns:
        ``(trial_bytes, plan)``.

    Raises:
        ConfigError: a plan that does not fit in the host's or a device's memory (one line).
    """
    import jax

    if trial_bytes is None and task is None:
        trial_bytes = book_lane_bytes(config, data)
    elif trial_bytes is None:
        trial_bytes = (lane_bytes(task, config, data) if task.memory is None
                       else int(task.memory(config, data)))
    if config.task is None:  # the book's per-step losses come back to the host
        steps = config.epochs * -(-len(data[0]) // config.batch_size)
    else:
        steps = config.epochs * len(task.recorded)
    if scheduler is None:
        scheduler = schedulers.make(config)
    kept, state_bytes = kept_run_states(config, scheduler, task, data, kept_batches > 0)
    chosen = plan.plan_sweep(
        round_trials=config.trials * config.repeats,
        trials=scheduler.total_trials * config.repeats, epochs=config.epochs, steps=steps,
        trial_bytes=trial_bytes, devices=devices,
        data_bytes=sum(int(np.asarray(a).nbytes) for a in jax.tree.leaves(data)),
        n_hparams=len(config.space), lanes=config.lanes or lanes,
        chunk_size=chunk_size or config.chunk_size,
        cpu_lanes=None if config.task is None else plan.CPU_TASK_LANES,
        kept_states=kept, state_bytes=state_bytes,
        states_per_chunk=kept_batches * config.repeats)
    return trial_bytes, chosen


def keeps_final(config: SweepConfig, scheduler) -> bool:
    """Whether the run loop keeps complete trials' run states (to save the best)."""
    return config.save_best > 0 and scheduler.keeps_final


def kept_run_states(config: SweepConfig, scheduler, task, data,
                    sized: bool = False) -> tuple[int, int]:
    """``(states, bytes)``: the most run states ``scheduler`` (the sweep's) keeps on the host at
    once (:meth:`jaxch6.sweep.schedulers.Scheduler.kept_states`), and one lane's run state's
    bytes (its structure traced, nothing allocated; 0 when none is kept, unless ``sized``).
    ``task`` None is the book's network on ``data``."""
    kept = scheduler.kept_states(config.repeats, keeps_final(config, scheduler))
    if not kept and not sized:
        return 0, 0
    if task is None:
        from jaxch6.sweep import task as T

        task = T.book_task(config, data)
    return kept, state_bytes(task, config)


def _state_shape(task, config: SweepConfig):
    """The shapes of one lane's run state (``jax.eval_shape`` of ``task.init``) for the group
    of the largest state (:func:`jaxch6.sweep.groups.footprint_group`)."""
    import jax

    from jaxch6.sweep import task as T
    from jaxch6.sweep.groups import footprint_group

    static = task.static_names(config.space)
    values = dict(footprint_group(config.space, static))
    hp = T.hparam_specs(config.space, static, np.dtype(config.dtype))
    key = jax.ShapeDtypeStruct((2,), np.uint32)
    return jax.eval_shape(lambda k, h: task.init(keys.wrap(k),
                                                 task.with_defaults({**h, **values})), key, hp)


def state_bytes(task, config: SweepConfig) -> int:
    """Bytes of one lane's run state, the largest group's (:func:`_state_shape`)."""
    import jax

    return sum(int(np.prod(a.shape)) * a.dtype.itemsize
               for a in jax.tree.leaves(_state_shape(task, config)))


def lane_bytes(task, config: SweepConfig, data) -> int:
    """One lane's device memory, measured: the compiled program that starts a lane and trains
    it one epoch (its first group), by XLA's memory analysis: temporaries, outputs and the
    arguments other than the data. Where the backend reports no analysis, four times the
    run state's bytes.
    """
    import jax

    from jaxch6.sweep import task as T

    static = task.static_names(config.space)
    values = {p.name: p.grid_values()[0] for p in config.space if p.name in static}
    hp = T.hparam_specs(config.space, static, np.dtype(config.dtype))

    def one(key_data, h, d):
        h = task.with_defaults({**h, **values})
        return task.advance(task.init(keys.wrap(key_data), h), h, d, 1)

    key = jax.ShapeDtypeStruct((2,), np.uint32)
    lowered = jax.jit(one).lower(key, hp, data)
    # the CPU's buffer assignment is made before LLVM's code generation: without its
    # optimisations the program compiles faster, with the same memory analysis
    options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
    data_bytes = sum(int(np.asarray(a).nbytes) for a in jax.tree.leaves(data))
    measured = program_bytes(lowered.compile(options).memory_analysis(), data_bytes)
    return 4 * state_bytes(task, config) if measured is None else measured


def engine_measures(config: SweepConfig, task, devices, scheduler, lanes) -> bool:
    """Whether :func:`prepare` plans a task's lanes from its engine's own compiled programs
    (:func:`plan_from_engine`) instead of a separate compile of one lane (:func:`lane_bytes`):
    on the CPU, where a task's lane width is capped (:data:`jaxch6.sweep.plan.CPU_TASK_LANES`)
    rather than sized by memory, so the plan made from a lower bound of a lane's memory is
    the one the measure confirms unless a lane is large; for a new sweep (not a resumed one,
    nor a study's worker: ``lanes`` unset) driven by ``scheduler``, of a task without its own
    ``memory`` and with one group (no static choice), so the compiled engine is the one that
    runs."""
    return (task is not None and task.memory is None and devices[0].platform == "cpu"
            and scheduler is not None and lanes is None
            and not task.static_names(config.space))


def plan_from_engine(config: SweepConfig, data, devices, *, task, scheduler, progress=None,
                     **plan_args):
    """``(trial_bytes, plan, engine, compiled)`` with the lane measured from the programs that
    run (``compiled``: the engine returned is compiled, its compile phase reported to
    ``progress``, a callable, as the run loop reports it): the
    plan made from a lower bound of a lane's memory (its run state's bytes,
    :func:`state_bytes`), the engine built and compiled for it (for the scheduler's epoch
    counts), then the plan made again, and checked whole, from those programs' memory
    (:meth:`jaxch6.sweep.engine.Engine.lane_bytes`). Where that plan differs (a lane wider
    than the bound allowed), the engine is built again for it and compiles when it first
    runs. ``plan_args`` as :func:`plan_lanes`'s."""
    _, guess = plan_lanes(config, data, devices, task=task, scheduler=scheduler,
                          trial_bytes=state_bytes(task, config), **plan_args)
    engine = build_engines(config, data, guess.chunk_size, guess.lanes, devices, task)
    if callable(progress):
        progress(compiling())
    engine.precompile(scheduler.stop_epochs())
    measured = engine.engine(()).lane_bytes()
    if measured is None:  # as lane_bytes where the backend reports no analysis
        measured = 4 * state_bytes(task, config)
    trial_bytes, chosen = plan_lanes(config, data, devices, task=task, scheduler=scheduler,
                                     trial_bytes=measured, **plan_args)
    if chosen[:2] == guess[:2]:
        return trial_bytes, chosen, engine, True
    spent = engine.compile_seconds
    engine = build_engines(config, data, chosen.chunk_size, chosen.lanes, devices, task)
    engine.spent_seconds = spent  # the first engine's compile still counts
    return trial_bytes, chosen, engine, False


def build_engines(config: SweepConfig, data, chunk: int, lanes: int, devices,
                  task) -> GroupedEngine:
    """The engines that train ``task`` on ``data``: one per group of static choices
    (:mod:`jaxch6.sweep.groups`), each built when its group first runs, all with ``chunk``
    lanes a call in groups of ``lanes``.

    Args:
        config: the sweep's settings.
        data: what the task trains on (for the book: :func:`jaxch6.sweep.task.book_data`).
        chunk: lanes per call.
        lanes: lanes per vmapped group (from :func:`plan_lanes`).
        devices: the devices to shard over.
        task: the :class:`jaxch6.sweep.Task` (the book's: :func:`jaxch6.sweep.task.book_task`).

    Returns:
        A :class:`jaxch6.sweep.groups.GroupedEngine`.
    """
    import math

    from jaxch6.sweep.groups import for_group

    names = task.static_names(config.space)
    ints = [p.name for p in config.space if p.kind == "int" and p.name not in names]

    def build(group):
        traced = [p.name for p in for_group(config, group).space if p.name not in names]
        return Engine(task, data, traced, chunk, lanes=lanes, devices=devices,
                      dtype=config.dtype, static=dict(group), int_names=ints)

    step = lanes * len(devices)
    return GroupedEngine(config, build, math.ceil(chunk / step) * step, names=names, task=task)


def with_task(config: SweepConfig, task) -> SweepConfig:
    """``config`` for sweeping ``task``: ``task`` names it; the task's declared space replaces
    the book's default space."""
    from jaxch6.sweep.params import BOOK_SPACE

    space = task.space if tuple(config.space) == BOOK_SPACE and task.space else config.space
    return dataclasses.replace(config, task=config.task or task.name, space=space)


def device_info(devices) -> dict[str, Any]:
    """The JAX version, backend, device kind and count and ``XLA_FLAGS`` (for summaries)."""
    import jax

    return {"jax_version": jax.__version__, "backend": devices[0].platform,
            "device_kind": devices[0].device_kind, "device_count": len(devices),
            "xla_flags": os.environ.get("XLA_FLAGS", "")}


def utc_now() -> str:
    """The time now, UTC, to the second (ISO 8601), as summaries record it."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


@dataclasses.dataclass
class Setup:
    """What every driver of the engine starts from (:func:`prepare`): the config, the data the
    engine trains on, the summary's device/data/lane info, the engines, the seconds spent
    loading the data, the task, (for :func:`run`) the scheduler, and whether the engine is
    compiled already for its epoch counts (:func:`plan_from_engine`)."""

    config: SweepConfig
    data: Any
    info: dict[str, Any]
    engine: GroupedEngine
    data_seconds: float
    task: Any = None
    scheduler: Any = None
    compiled: bool = False


def _load(config: SweepConfig, data, task, loaded=None):
    """``(task, data the engine trains on, info)``: the book's network on the config's data,
    or the task on the given data or its own (never its test part). ``loaded(info)`` is
    called once the book's data is loaded, before anything imports JAX."""
    from jaxch6.sweep import task as T

    if task is None:
        if data is None:
            data, info = load_data(config)
        else:
            check_book_data(data)  # x (N, features) numbers, t (N,) labels
            info = {"dataset": "custom", "source": "given", "n_train": len(data[0]),
                    "n_val": len(data[2])}
        if loaded is not None:
            loaded(info)
        return T.book_task(config, data), T.book_data(config, data), info
    file = None
    if isinstance(data, str | os.PathLike):  # an .npz file of named arrays (--data FILE)
        file, data = os.path.abspath(data), T.load_npz(data)
    if data is None:
        if task.load_data is None:
            raise ConfigError(f"task {task.name!r}: give data (--data FILE.npz) or a task with "
                              "load_data")
        data = task.load()[0]
    info = {"dataset": "task", "source": "given" if task.load_data is None else "task",
            "task": config.task, **({"file": file} if file else {})}
    T.check(task, config.space, data, 1, config.dtype)
    if loaded is not None:
        loaded({**info, "objective": task.objective, "direction": task.direction})
    return task, data, info


def prepare(config: SweepConfig, data=None, task=None, devices=None, *,
            lanes: int | None = None, chunk_size: int | None = None,
            progress=None, kept_batches: int = 0, scheduler=None) -> Setup:
    """Load the data, plan the lanes and build the engines: the set-up every driver of the
    engine shares (:func:`run`, :func:`jaxch6.sweep.optuna.run`). Where the lane is measured
    from the engine's own programs (:func:`engine_measures`), they are compiled here.

    Args:
        config: the sweep's settings (from :func:`configure`).
        data: as in :func:`run`.
        task: the resolved :class:`jaxch6.sweep.Task` (None: the book's network).
        devices: the devices to shard lanes over (default: all local devices).
        lanes: the lanes per group to use when ``config.lanes`` is unset (a resumed sweep's, a
            study's).
        chunk_size: lanes per compiled call instead of ``config.chunk_size``.
        progress: a reporter whose ``announce`` (if any) gets the data line as soon as the
            data is loaded (JAX is imported after it), and which, if callable, gets the
            compile phase's report when the engine is compiled here.
        kept_batches: batches whose run states the driver keeps besides its scheduler's
            (:func:`plan_lanes`).
        scheduler: the scheduler that will run (:func:`plan_lanes`; None: the config's, built
            only to plan its kept run states).

    Returns:
        A :class:`Setup` holding ``scheduler``.
    """
    from jaxch6.progress import data_line

    t0 = time.perf_counter()
    book = task is None
    loaded_at = []

    def loaded(info):  # the data's seconds end here: JAX's import comes after
        loaded_at.append(time.perf_counter())
        _announce(progress, [data_line({"data": info, **info})])

    task, data, data_info = _load(config, data, task, loaded)
    data_seconds = (loaded_at or [time.perf_counter()])[0] - t0
    import jax

    devices = list(devices if devices is not None else jax.local_devices())
    plan_args = {"lanes": lanes, "chunk_size": chunk_size, "kept_batches": kept_batches}
    compiled = engine_measures(config, task, devices, scheduler, lanes)
    if compiled:
        trial_bytes, chosen, engine, compiled = plan_from_engine(
            config, data, devices, task=task, scheduler=scheduler, progress=progress,
            **plan_args)
    else:
        trial_bytes, chosen = plan_lanes(config, data, devices, task=task,
                                         scheduler=scheduler, **plan_args)
        engine = build_engines(config, data, chosen.chunk_size, chosen.lanes, devices, task)
    info = {**device_info(devices), "data": data_info, "lanes": chosen.lanes,
            "chunk_size": engine.chunk_size, "per_trial_bytes_estimate": trial_bytes,
            "objective": task.objective, "direction": task.direction}
    if book:
        info.update(input_columns_used=int(np.shape(data[0])[1]), n_classes=n_classes(data))
    return Setup(config, data, info, engine, data_seconds, task, scheduler, compiled)


def _setup(config, data, task, devices, lanes_hint, progress=None) -> Setup:
    setup = prepare(config, data, task, devices, lanes=lanes_hint, progress=progress,
                    scheduler=schedulers.make(config))
    setup.info.update(scheduler=setup.scheduler.settings(),
                      scheduler_notes=setup.scheduler.notes())
    return setup


# -- the run ------------------------------------------------------------------------------------
def run(
    config: SweepConfig | None = None,
    *,
    out: str | os.PathLike | None = None,
    progress: Callable[[Progress], None] | bool | None = True,
    data=None,
    task=None,
    devices: Sequence | None = None,
    top: int = 20,
    command_line: Sequence[str] | None = None,
    stop: Any = None,
    figures: bool = True,
    track: Callable[[TrialMetrics], None] | None = None,
) -> SweepResult:
    """Run a sweep; every trial comes back, best first via :attr:`SweepResult.ranked`.

    A trial's hyperparameters and results depend only on the config (seed included) and its
    id, not on ``chunk_size`` or the number of devices (2 or more: see
    :func:`jaxch6.sweep.devices.configure_cpu_devices` for the one-device exception).

    It behaves as ``jaxch6 sweep`` does: it shows the same progress (the data and device
    lines, the compile phase, a bar per step: :class:`jaxch6.progress.TqdmProgress`, tqdm's
    notebook bars in Jupyter, plain lines in a log), uses the command line's CPU devices
    when JAX's backend is not yet initialised
    (:func:`jaxch6.sweep.devices.use_command_line_devices`), and writes the same figures
    into ``out``.

    Args:
        config: what to search and how (default: the book's search).
        out: a run directory for ``manifest.json``, ``trials.jsonl``, ``summary.json``,
            ``trials.csv``, the figures (and ``models/``); it must not exist or be empty, and
            is locked while the sweep runs.
        progress: True (default): the command line's reporter on standard error; False or
            None: silent; or a callable, called with a :class:`jaxch6.sweep.loop.Progress`
            when a step starts and after each chunk (and, if it has an ``announce`` method,
            with the data line as soon as the data is loaded, before JAX is imported, then
            with the devices line before training: :func:`jaxch6.progress.setup_lines`).
        data: the data: for the book's network a :class:`jaxch6.train.Data` to use instead
            of loading ``config.dataset``; for a task any pytree of arrays, or the path of an
            ``.npz`` file of named arrays (:func:`jaxch6.sweep.task.load_npz`; recorded in
            ``sweep.toml`` as ``data``) (default: the task's ``load_data``).
        task: a :class:`jaxch6.sweep.Task` (or a function returning one,
            :func:`jaxch6.sweep.task.resolve`) to sweep instead of the book's network; its
            declared space replaces the book's default space (:func:`with_task`).
        devices: the devices to shard lanes over (default: all local devices, after
            :func:`jaxch6.sweep.devices.use_command_line_devices`).
        top: how many of the best trials ``summary.json`` lists.
        command_line: recorded in the manifest (default ``sys.argv``).
        stop: a ``threading.Event`` (anything with ``is_set()``): once set, the sweep stops
            after recording the chunk that finishes next and raises
            :class:`jaxch6.sweep.loop.Interrupted`; :func:`resume` completes the directory.
        figures: with ``out``, write the command line's figures there
            (:func:`jaxch6.plots.write_sweep_figures`; their names in
            ``result.info["figures"]``).
        track: called with every trial's new per-epoch metrics as they are produced, a
            :class:`jaxch6.sweep.tracking.TrialMetrics` per trial after each chunk, rung or
            interval (e.g. a :class:`jaxch6.sweep.tracking.TensorBoardTracker`).

    Returns:
        A :class:`SweepResult`.

    Raises:
        ConfigError: an invalid config, a plan that does not fit in memory (checked before
            the directory is created), or a run directory that is in use or not empty.
        Interrupted: ``stop`` was set.

    Example:
        ```python
        import jaxch6.sweep

        config = jaxch6.sweep.SweepConfig(trials=100)
        result = jaxch6.sweep.run(config, out="runs/book")
        print(result.ranked[0].hparams)
        ```
    """
    config, task = configure(config, task)
    return _run(config, out=out, progress=progress, data=data, task=task,
                devices=devices, top=top, command_line=command_line, resume=False, stop=stop,
                figures=figures, track=track)


def configure(config: SweepConfig | None, task=None) -> tuple[SweepConfig, Any]:
    """The checked config and the resolved task of a sweep (:func:`run`'s first step).

    Args:
        config: the sweep's settings (None: the defaults).
        task: a :class:`jaxch6.sweep.Task`, a function returning one, or None (the book's
            network).

    Returns:
        ``(config, task)``: for a task, ``config`` names it and searches its declared space
        (:func:`with_task`), checked against its hyperparameters.

    Raises:
        ConfigError: an invalid config, or a static choice under a scheduler that copies run
            states.
    """
    config = config or SweepConfig()
    if task is None:
        return config.validate(), None
    from jaxch6.sweep.task import check_space, resolve

    task = resolve(task, config)
    config = with_task(config, task)
    config = dataclasses.replace(config.validate(), space=check_space(task, config.space))
    static = task.static_names(config.space)
    if schedulers.lookup(config.scheduler).copies_states and static:
        raise ConfigError(f"space {static[0]}: {config.scheduler} cannot search a static "
                          "choice (a copied run state keeps its program); use random, "
                          "halving or hyperband")
    return config, task


def resume(
    out: str | os.PathLike,
    *,
    progress: Callable[[Progress], None] | bool | None = True,
    data=None,
    task=None,
    devices: Sequence | None = None,
    top: int = 20,
    stop: Any = None,
    figures: bool = True,
    track: Callable[[TrialMetrics], None] | None = None,
) -> SweepResult:
    """Finish the interrupted sweep in ``out``.

    Its config comes from ``manifest.json``; the manifest is re-checked against the data and
    library now; the trials already recorded are kept (a partial last line is dropped) and the
    scheduler continues from them, with the run states kept under ``states/``. The result
    equals that of an uninterrupted run.

    Args:
        out: the run directory of the sweep to finish.
        progress: as in :func:`run`.
        data: as in :func:`run`.
        task: the task the sweep trained (a sweep of a task needs it again; a task given by
            import path is imported again when omitted).
        devices: as in :func:`run`.
        top: as in :func:`run`.
        stop: as in :func:`run`.
        figures: as in :func:`run`.
        track: as in :func:`run` (the epochs recorded before the interruption are not sent
            again).

    Returns:
        A :class:`SweepResult` over all the sweep's trials.

    Raises:
        ConfigError: not a sweep directory, a changed input, or a bad record (one line).
        Interrupted: ``stop`` was set.
    """
    manifest = store.read_manifest(out)
    try:
        config = SweepConfig.from_dict(manifest["config"]).validate()
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{out}: manifest.json has no valid config ({exc})") from None
    task = _resume_task(out, config, manifest, task)
    return _run(config, out=out, progress=progress, data=data, task=task,
                devices=devices, top=top, command_line=None, resume=True, manifest=manifest,
                stop=stop, figures=figures, track=track)


def _resume_task(out, config: SweepConfig, manifest: Mapping, task):
    """The task a resumed sweep trains: the one given, or its import path's; refused when the
    sweep had none, or its source changed since (one line)."""
    from jaxch6.sweep import task as T

    if config.task is None:
        if task is not None:
            raise ConfigError(f"{out}: this sweep trained the book's network, not a task")
        return None
    recorded = manifest.get("task") or {}
    if task is None:
        if ":" not in config.task:
            raise ConfigError(f"{out}: this sweep trained task {config.task!r}; pass it again "
                              "(resume(..., task=...))")
        task = T.import_task(config.task)
    if recorded.get("fingerprint") and ":" in config.task \
            and T.fingerprint(config.task) != recorded["fingerprint"]:
        raise ConfigError(f"{out}: the source of task {config.task} changed since the sweep "
                          "started; refusing to resume it")
    return T.resolve(task, config)


def _reporter(progress, config: SweepConfig):
    """``(callable or None, owned)``: True makes the command line's reporter (owned: closed by
    the run); False/None report nothing."""
    if progress is True:
        from jaxch6.progress import TqdmProgress

        return TqdmProgress(unit="trial" if config.repeats == 1 else "lane"), True
    return (progress or None), False


def _run(config, *, out, progress, data, task, devices, top, command_line, resume,
         manifest=None, stop=None, figures=True, track=None) -> SweepResult:
    wall0 = time.perf_counter()
    out_dir = Path(out) if out is not None else None
    if out_dir is not None and out_dir.exists():  # refuse a busy or foreign directory early
        with store.lock(out_dir):
            store.claim(out_dir, "sweep", resume=resume)
    if devices is None:
        from jaxch6.sweep.devices import use_command_line_devices

        use_command_line_devices()
    progress, owned = _reporter(progress, config)
    try:
        # the plan is checked (data loaded, memory estimated) before the directory is created
        setup = _setup(config, data, task, devices,
                       manifest.get("lanes") if manifest else None, progress)
        from jaxch6.progress import devices_line

        notes = setup.info.get("scheduler_notes", [])
        _announce(progress, [devices_line(setup.info), *notes])
        result = _record(setup, out_dir, manifest, command_line, progress, wall0, stop, top,
                         resume, track)
    finally:
        if owned:
            progress.close()
    if out_dir is not None and figures and result.trials:
        from jaxch6.plots import write_sweep_figures

        result.info["figures"] = write_sweep_figures(result, out_dir)
    return result


def _announce(progress, lines) -> None:
    """``lines`` (the data line, then the devices line and the scheduler's notes) to a
    reporter that shows lines."""
    announce = getattr(progress, "announce", None)
    if announce is not None:
        announce(lines)


def _record(setup, out_dir, manifest, command_line, progress, wall0, stop, top, resume,
            track):
    """Train under the run directory's lock, recording as the trials finish."""
    lock = store.lock(out_dir) if out_dir is not None else None
    try:
        if out_dir is not None:
            store.claim(out_dir, "sweep", resume=resume)
        summary, trials, warnings = _open_records(setup, out_dir, manifest, command_line)
        result = _execute(setup, trials, out_dir, progress, summary, wall0, stop, track)
        result.info["warnings"] = warnings
        if out_dir is not None:
            _write_final_summary(result, summary, top)
        return result
    finally:
        if lock is not None:
            lock.release()


def _open_records(setup: Setup, out_dir, manifest, command_line):
    """Write (new run) or check (resume) the manifest; the trials recorded so far."""
    if out_dir is None:
        return {}, {}, []
    import jax

    current = store.make_manifest("sweep", setup.config,
                                  store.data_fingerprint(jax.tree.leaves(setup.data)),
                                  lanes=setup.info["lanes"], command_line=command_line)
    if setup.config.task is not None and ":" in setup.config.task:
        from jaxch6.sweep.task import fingerprint

        current["task"] = {"path": setup.config.task,
                           "fingerprint": fingerprint(setup.config.task)}
    warnings: list[str] = []
    trials: dict[int, Trial] = {}
    if manifest is None:
        store.write_manifest(out_dir, current)
        store.write_file(out_dir / CONFIG_FILE,
                         to_toml(setup.config, data=setup.info["data"].get("file")))
        summary = {"status": "running", "config": setup.config.to_dict(),
                   "seed": setup.config.seed, **setup.info, "started_at": utc_now(),
                   "resumed_at": []}
    else:
        warnings = store.check_manifest(manifest, current)
        # a run stopped between writing its manifest and its first summary has none yet
        summary = (store.read_summary(out_dir) if (out_dir / store.SUMMARY).exists() else
                   {"status": "running", "config": setup.config.to_dict(),
                    "seed": setup.config.seed, "started_at": manifest.get("created_at")})
        summary.update(setup.info)
        summary["resumed_at"] = [*summary.get("resumed_at", []), utc_now()]
        epochs = setup.config.epochs  # a complete trial has one value per epoch

        def n_epochs(rec):
            return epochs if rec.get("status", "complete") == "complete" else None

        validate = store.make_validator(range(setup.scheduler.total_trials), n_epochs,
                                        record_names(setup.config), space=setup.config.space)
        records = store.read_trials(out_dir, repair=True, validate=validate, updates=True)
        trials = {r["id"]: Trial.from_record(r) for r in records}
    store.write_summary(out_dir, summary)
    return summary, trials, warnings


def _recorder(out_dir, trials, track):
    """The loop's ``record``: append the trials to the run directory, report them to
    ``track``; None when neither is asked for."""
    sinks = []
    if out_dir is not None:
        sinks.append(lambda ts: store.append_trials(out_dir, [t.to_record() for t in ts]))
    if track is not None:
        from jaxch6.sweep.tracking import Reporter

        sinks.append(Reporter(track, trials.values()))
    if not sinks:
        return None

    def record(ts):
        for sink in sinks:
            sink(ts)

    return record


def _execute(setup: Setup, trials, out_dir, progress, summary, wall0, stop=None,
             track=None) -> SweepResult:
    from jaxch6.sweep.pool import StatePool

    config, engine = setup.config, setup.engine

    pool = StatePool(None, out_dir / STATES if out_dir is not None else None,
                     treedef_of=engine.treedef)
    record = _recorder(out_dir, trials, track)
    keep_final = keeps_final(config, setup.scheduler)
    loop = RunLoop(engine, setup.scheduler, seed=config.seed, repeats=config.repeats,
                   epochs=config.epochs,
                   pool=pool, record=record, progress=progress, keep_final=keep_final,
                   stop=stop, compiled=setup.compiled)
    loop.run(trials)
    before = list((summary or {}).get("groups", []))  # a resumed run's groups compiled earlier
    setup.info["groups"] = before + [g for g in engine.labels() if g not in before]
    result = SweepResult(config, [trials[i] for i in sorted(trials)], _rounds(setup, trials),
                         {}, setup.info, out_dir)
    if config.save_best:
        from jaxch6.sweep.saving import save_best

        result.models = save_best(result, loop, engine, out_dir)
    pool.retain(())
    if out_dir is not None:
        import shutil

        shutil.rmtree(out_dir / STATES, ignore_errors=True)
    result.timings = _timings(setup, engine, loop, {}, wall0)
    previous = (summary or {}).get("timings") or {}
    result.info["timings_total"] = dict(previous) if _nothing_new(summary, loop.ran) else \
        _timings(setup, engine, loop, previous, wall0)
    return result


def _nothing_new(summary: Mapping[str, Any] | None, ran: int) -> bool:
    """Whether this call resumed a finished sweep and trained nothing: its summary keeps its
    timings and finish time."""
    return bool(summary) and summary.get("status") == "complete" \
        and bool(summary.get("timings")) and not ran


def _rounds(setup: Setup, trials) -> list[dict[str, Any]]:
    return setup.scheduler.rounds_info(trials)


def _timings(setup: Setup, engine, loop, previous: Mapping[str, Any], wall0) -> dict:
    """This call's timings, added to ``previous`` (a resumed run's recorded ones)."""
    def add(name, value):
        return float(previous.get(name, 0.0) or 0.0) + value

    run_s = add("run_seconds", loop.run_seconds)
    ran = int(previous.get("trials_run", 0) or 0) + loop.ran
    return {"data_seconds": add("data_seconds", setup.data_seconds),
            "compile_seconds": add("compile_seconds", engine.compile_seconds),
            "run_seconds": run_s, "trials_run": ran,
            "lanes_run": int(previous.get("lanes_run", 0) or 0) + loop.lanes_run,
            "lane_epochs": int(previous.get("lane_epochs", 0) or 0) + loop.lane_epochs,
            "trials_per_second": ran / run_s if run_s > 0 else 0.0,
            "wall_seconds": add("wall_seconds", time.perf_counter() - wall0)}


def _write_final_summary(result: SweepResult, summary: dict, top: int) -> None:
    trials = result.trials
    kept = _nothing_new(summary, result.timings.get("trials_run", 0))
    summary.update(result.info)
    summary.update(status="complete", rounds=result.rounds,
                   finished_at=summary.get("finished_at") if kept else utc_now(),
                   n_trials=len(trials), n_diverged=sum(t.diverged for t in trials),
                   best=best_records(trials, top),
                   models=sorted(result.models))
    summary["timings"] = summary.pop("timings_total")  # every call's, added up
    store.write_summary(result.out_dir, summary)
    result.write_csv()  # trials.csv: the flat table (jaxch6.sweep.tables)
