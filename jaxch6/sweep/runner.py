"""Run a sweep: data, sampling, the compiled engine, narrowing rounds, the results store.

:func:`run` is the API research code calls (the ``jaxch6 sweep`` command is a thin layer over
it); :func:`resume` finishes a sweep directory that was interrupted.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxch6.errors import ConfigError
from jaxch6.sweep import store
from jaxch6.sweep.config import SweepConfig
from jaxch6.sweep.engine import Engine, default_chunk_size, default_lanes, per_trial_bytes
from jaxch6.sweep.space import Param, display_name, narrow, sample, trial_keys

_OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1}


class Progress(NamedTuple):
    """Reported when a round starts (``ran`` unchanged) and after each chunk: trials ``done`` of
    ``total`` (resumed ones included); ``space``: the round's ranges."""

    round: int
    rounds: int
    done: int
    total: int
    ran: int  # trials run by this call so far
    run_seconds: float  # time in the engine so far (this call)
    space: tuple[Param, ...] = ()
    round_start: bool = False

    @property
    def trials_per_second(self) -> float:
        return self.ran / self.run_seconds if self.run_seconds > 0 else 0.0


@dataclasses.dataclass
class Trial:
    """One trial's hyperparameters and result (per-epoch accuracies, as the book records them)."""

    id: int
    round: int
    hparams: dict[str, float]
    train_acc: list[float]
    val_acc: list[float]
    diverged: bool

    @property
    def final_val_acc(self) -> float:
        return self.val_acc[-1] if self.val_acc else float("nan")

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "round": self.round,
            "hparams": self.hparams,
            "final_val_acc": self.final_val_acc,
            "diverged": self.diverged,
            "train_acc": self.train_acc,
            "val_acc": self.val_acc,
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Trial:
        return cls(
            id=int(rec["id"]),
            round=int(rec["round"]),
            hparams={k: float(v) for k, v in rec["hparams"].items()},
            train_acc=[float(a) for a in rec["train_acc"]],
            val_acc=[float(a) for a in rec["val_acc"]],
            diverged=bool(rec["diverged"]),
        )


def rank(trials: Sequence[Trial]) -> list[Trial]:
    """Best first: by final validation accuracy (the book's key), diverged trials last, ties by
    trial id."""
    return sorted(trials, key=lambda t: (t.diverged, -_finite(t.final_val_acc), t.id))


def _finite(x: float) -> float:
    return x if np.isfinite(x) else -1.0


def format_trial(rank_index: int, trial: Trial) -> str:
    """The book's line: ``Best-1(val acc:0.78) | lr:0.0058…, weight decay:1.2e-06``."""
    hp = ", ".join(f"{display_name(k)}:{v!r}" for k, v in trial.hparams.items())
    flag = " (diverged)" if trial.diverged else ""
    return f"Best-{rank_index}(val acc:{trial.final_val_acc!r}) | {hp}{flag}"


def format_space(space: Sequence[Param]) -> str:
    return ", ".join(f"{display_name(p.name)} {p.low:.3g}..{p.high:.3g} ({p.scale})" for p in space)


@dataclasses.dataclass
class SweepResult:
    """What a sweep produced: every trial (by id), each round's ranges, timings, device info."""

    config: SweepConfig
    trials: list[Trial]
    rounds: list[dict[str, Any]]
    timings: dict[str, float]
    info: dict[str, Any]
    out_dir: Path | None = None

    @property
    def ranked(self) -> list[Trial]:
        return rank(self.trials)

    def best(self, k: int = 1) -> list[Trial]:
        return self.ranked[:k]

    def ranking_lines(self, k: int = 20) -> list[str]:
        return [format_trial(i + 1, t) for i, t in enumerate(self.ranked[:k])]


# -- data ---------------------------------------------------------------------------------------
def load_data(config: SweepConfig):
    """The sweep's (train, validation) split as a :class:`jaxch6.train.Data` of NumPy arrays,
    and a description of where it came from.

    The book: the first ``train_size`` training digits, shuffled with the seed and split
    ``val_fraction`` for validation (500 → 400 / 100).
    """
    from jaxch6 import data as D
    from jaxch6.train import Data

    loaded = D.load(config.dataset, source=config.source, data_dir=config.data_dir,
                    log=lambda line: None)
    (x, t), source = loaded.train, loaded.source
    if len(x) < config.train_size:
        raise ConfigError(
            f"--train-size {config.train_size} exceeds the {len(x)} training digits of "
            f"source {source!r}"
        )
    x, t = x[: config.train_size], t[: config.train_size]
    (x_tr, t_tr), (x_val, t_val) = D.validation_split(x, t, config.val_fraction, seed=config.seed)
    dtype = np.dtype(config.dtype)
    data = Data(
        np.asarray(x_tr, dtype), np.asarray(t_tr, np.int32),
        np.asarray(x_val, dtype), np.asarray(t_val, np.int32),
    )
    info = {"dataset": config.dataset, "source": source, "location": loaded.location,
            "n_train": len(x_tr), "n_val": len(x_val)}
    return data, info


# -- the run ------------------------------------------------------------------------------------
def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _device_info(devices) -> dict[str, Any]:
    import jax

    return {
        "jax_version": jax.__version__,
        "backend": devices[0].platform,
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def _quantise(acc: np.ndarray, n: int) -> list[float]:
    """Accuracies as exact fractions k/n in float64 (clean JSON, e.g. 0.7825, not 0.78249997)."""
    return [float(v) for v in np.round(np.asarray(acc, np.float64) * n) / n]


def run(
    config: SweepConfig | None = None,
    *,
    out: str | os.PathLike | None = None,
    progress: Callable[[Progress], None] | None = None,
    data=None,
    make_train_fn: Callable | None = None,
    devices: Sequence | None = None,
    top: int = 20,
    _resume: Mapping[str, Any] | None = None,
) -> SweepResult:
    """Run a sweep; return every trial, best first via :attr:`SweepResult.ranked`.

    ``out``: a directory for ``trials.jsonl`` and ``summary.json`` (created; must not already
    hold a sweep — see :func:`resume`). ``progress`` is called after each chunk.
    ``data``: a :class:`jaxch6.train.Data` (x_train, t_train, x_eval, t_eval) to use instead of
    loading ``config.dataset``. ``make_train_fn(train_config, n_train, n_eval)``: a training
    function factory other than :func:`jaxch6.train.make_train_fn` (same contract).
    ``devices``: the devices to shard trials over (default: all local devices).

    Each trial's hyperparameters and results depend only on the config (seed included) and its
    id, not on ``chunk_size`` or the number of devices — with one exception: a program for a
    single device is compiled without XLA's SPMD pipeline and rounds one division differently,
    so a run on 1 device can differ in the last bits (and occasionally in an accuracy) from a run
    on 2 or more. ``jaxch6 sweep`` therefore always uses at least 2 CPU devices
    (``--cpu-devices``); from Python, set ``XLA_FLAGS=--xla_force_host_platform_device_count=2``
    before JAX starts to get the CLI's results. ``summary.json`` records the device count.
    """
    import jax

    config = (config or SweepConfig()).validate()
    wall0 = time.perf_counter()
    resume_state = dict(_resume or {})
    done: dict[int, Trial] = {t.id: t for t in resume_state.get("trials", [])}

    t0 = time.perf_counter()
    if data is None:
        data, data_info = load_data(config)
    else:
        data_info = {"dataset": "custom", "source": "given", "n_train": len(data[0]),
                     "n_val": len(data[2])}
    data_seconds = time.perf_counter() - t0
    n_train, n_val = len(data[0]), len(data[2])

    devices = list(devices if devices is not None else jax.local_devices())
    trial_bytes, lanes = plan_lanes(config, data, devices, lanes=resume_state.get("lanes"))
    chunk = config.chunk_size or default_chunk_size(config.trials, trial_bytes, devices,
                                                    lanes=lanes)

    out_dir = Path(out) if out is not None else None
    info = {**_device_info(devices), "data": data_info, "lanes": lanes, "chunk_size": chunk,
            "per_trial_bytes_estimate": trial_bytes}
    summary: dict[str, Any] = {
        "status": "running",
        "config": config.to_dict(),
        "seed": config.seed,
        **info,
        "started_at": resume_state.get("started_at", _now()),
        "resumed_at": [*resume_state.get("resumed_at", []), *([_now()] if _resume else [])],
    }
    if out_dir is not None:
        if _resume is None and (out_dir / store.TRIALS).exists():
            raise ConfigError(f"--out {out_dir} already holds a sweep (use --resume {out_dir})")
        out_dir.mkdir(parents=True, exist_ok=True)
        store.write_summary(out_dir, summary)

    engine: Engine | None = None
    compile_seconds = 0.0
    run_seconds = 0.0
    ran = 0
    rounds: list[dict[str, Any]] = []
    space = config.space

    for r in range(config.rounds):
        if r > 0:
            prev = [done[i] for i in range(*rounds[-1]["trial_ids"])]
            top_k = [t for t in rank(prev) if not t.diverged][: config.keep]
            space = narrow(space, [t.hparams for t in top_k])
        ids = list(range(r * config.trials, (r + 1) * config.trials))
        rounds.append({"round": r, "space": [p.to_dict() for p in space],
                       "trial_ids": [ids[0], ids[-1] + 1]})  # [start, stop)
        todo = [i for i in ids if i not in done]
        if progress is not None:
            progress(Progress(r, config.rounds, len(done), config.total_trials, ran,
                              run_seconds, space, round_start=True))
        if todo:
            if engine is None:
                engine = build_engine(config, data, chunk, lanes, devices, make_train_fn)
                compile_seconds = engine.compile_seconds
                info["chunk_size"] = engine.chunk_size
                info["input_columns_used"] = engine.input_columns
            values = sample(space, todo, seed=config.seed)
            keys = trial_keys(config.seed, todo)
            starts = list(range(0, len(todo), engine.chunk_size))
            t_run = time.perf_counter()
            pending = None
            for s in [*starts, None]:
                handle = None
                if s is not None:  # dispatch the next chunk before waiting for the last one
                    sl = slice(s, s + engine.chunk_size)
                    handle = (sl, engine.dispatch(keys[sl], {k: v[sl] for k, v in values.items()}))
                if pending is not None:
                    psl, ph = pending
                    out_arrays = engine.fetch(ph)
                    new = _to_trials(todo[psl], r, {k: v[psl] for k, v in values.items()},
                                     out_arrays, n_train, n_val)
                    if out_dir is not None:
                        store.append_trials(out_dir, [t.to_record() for t in new])
                    done.update({t.id: t for t in new})
                    ran += len(new)
                    now = time.perf_counter()
                    run_seconds += now - t_run
                    t_run = now
                    if progress is not None:
                        progress(Progress(r, config.rounds, len(done), config.total_trials,
                                          ran, run_seconds, space))
                pending = handle
        round_trials = [done[i] for i in ids]
        best = rank(round_trials)[0]
        rounds[-1]["best_val_acc"] = best.final_val_acc
        rounds[-1]["n_diverged"] = sum(t.diverged for t in round_trials)

    trials = [done[i] for i in sorted(done)]
    timings = {
        "data_seconds": data_seconds,
        "compile_seconds": compile_seconds,
        "run_seconds": run_seconds,
        "trials_run": ran,
        "trials_per_second": ran / run_seconds if run_seconds > 0 else 0.0,
        "wall_seconds": time.perf_counter() - wall0,
    }
    result = SweepResult(config, trials, rounds, timings, info, out_dir)
    if out_dir is not None:
        summary.update(info)
        summary.update(
            status="complete",
            finished_at=_now(),
            rounds=rounds,
            n_trials=len(trials),
            n_diverged=sum(t.diverged for t in trials),
            best=[t.to_record() | {"rank": i + 1} for i, t in enumerate(result.best(top))],
            timings=timings,
        )
        store.write_summary(out_dir, summary)
    return result


def plan_lanes(config: SweepConfig, data, devices, *, lanes: int | None = None):
    """``(trial_bytes, lanes)``: the estimated memory of one trial and the trials per lane group
    (``config.lanes``, else ``lanes`` — e.g. a resumed sweep's —, else :func:`default_lanes`).
    Every driver of the engine (plain sweeps, Optuna workers) must use this, since the lane
    width is part of what makes a trial's result bit-identical between them."""
    n_rows = len(data[0]) + len(data[2])
    layer_sizes = (int(np.prod(np.shape(data[0])[1:])), *config.hidden, 10)
    trial_bytes = per_trial_bytes(
        layer_sizes,
        batch_size=config.batch_size,
        n_eval_rows=n_rows,
        optimizer_slots=_OPTIMIZER_SLOTS.get(config.optimizer, 2),
        itemsize=np.dtype(config.dtype).itemsize,
    )
    lanes = config.lanes or lanes or default_lanes(config.trials, trial_bytes, devices)
    return trial_bytes, lanes


def build_engine(config: SweepConfig, data, chunk: int, lanes: int, devices,
                 make_train_fn: Callable | None = None) -> Engine:
    """The compiled program for ``config`` on ``data`` (the config's training function, with the
    all-zero input columns skipped when ``config.skip_zero_inputs``), ``chunk`` trials a call in
    groups of ``lanes``, sharded over ``devices``."""
    kwargs = {}
    if make_train_fn is None:
        from jaxch6.train import Data, make_train_fn

        if config.skip_zero_inputs:
            data, kwargs = _drop_zero_columns(Data(*data))
    names = [p.name for p in config.space]
    train_fn = make_train_fn(config.train_config(), len(data[0]), len(data[2]), **kwargs)
    engine = Engine(train_fn, data, names, chunk, lanes=lanes, devices=devices,
                    dtype=config.dtype)
    engine.input_columns = len(kwargs.get("input_columns", ())) or int(np.shape(data[0])[1])
    return engine


def _drop_zero_columns(data):
    """The data without the input columns that are zero in every row (MNIST's blank border
    pixels in a small subset), and the make_train_fn options that keep the network the same."""
    x_train, t_train, x_eval, t_eval = data
    n_features = int(np.shape(x_train)[1])
    used = np.flatnonzero(np.any(x_train != 0, axis=0) | np.any(x_eval != 0, axis=0))
    if len(used) in (0, n_features):
        return data, {}
    pruned = type(data)(np.ascontiguousarray(x_train[:, used]), t_train,
                        np.ascontiguousarray(x_eval[:, used]), t_eval)
    return pruned, {"input_columns": used, "n_features": n_features}


def _to_trials(ids, round_, values, arrays, n_train, n_val) -> list[Trial]:
    out = []
    for j, i in enumerate(ids):
        out.append(
            Trial(
                id=int(i),
                round=round_,
                hparams={k: float(v[j]) for k, v in values.items()},
                train_acc=_quantise(arrays["train_acc"][j], n_train),
                val_acc=_quantise(arrays["eval_acc"][j], n_val),
                diverged=bool(arrays["diverged"][j]),
            )
        )
    return out


def resume(
    out: str | os.PathLike,
    *,
    progress: Callable[[Progress], None] | None = None,
    data=None,
    make_train_fn: Callable | None = None,
    devices: Sequence | None = None,
    top: int = 20,
) -> SweepResult:
    """Finish the sweep in directory ``out``: read its config from ``summary.json``, keep the
    trials already in ``trials.jsonl`` (a partial last line is dropped), run the others.

    The result equals that of an uninterrupted run with the same config (the lane-group width
    recorded in ``summary.json`` is reused, whatever the devices now).
    """
    summary = store.read_summary(out)
    try:
        config = SweepConfig.from_dict(summary["config"])
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"--resume {out}: summary.json has no valid config ({exc})") from None
    source = summary.get("data", {}).get("source")
    if source in ("sample", "idx", "tfds") and data is None:
        config = dataclasses.replace(config, source=source)  # the same data as the first run
    trials = [Trial.from_record(r) for r in store.read_trials(out, repair=True)]
    state = {"trials": trials, "started_at": summary.get("started_at"),
             "resumed_at": summary.get("resumed_at", []), "lanes": summary.get("lanes")}
    return run(config, out=out, progress=progress, data=data, make_train_fn=make_train_fn,
               devices=devices, top=top, _resume=state)
