"""Time to quality of the sweep's schedulers over seeds: random search vs successive halving
(and, when asked, Hyperband and population-based training), in one process on the same data.

For each case (the book's search with 1,000 trials; Fashion-MNIST with 2,000 training images
and ``FASHION_TRIALS`` trials) and each seed, every scheduler runs the same search space,
network and epochs (the seed draws the trials, the training keys and the train/validation
split); successive halving (and Hyperband) start ``HALVING["factor"]`` times random search's
trials (trial ``i`` is the same trial in random search and successive halving of one seed:
its hyperparameters and training keys come from the seed and ``i``). Progress is sampled
after each chunk: wall time since the sweep started (data loading and compilation included),
the lane-epochs trained (→ executed GFLOP), and the best final validation accuracy of the
trials completed so far.

The target is fixed per case: random search's median final best over the seeds minus 0.01.
The table gives, per scheduler, the median (and range) over the seeds of its wall time to
the target, its total wall time, its final best, and random search's best at the same
compute (lane-epochs) in the same seed; per seed, each scheduler's best, its trials that
trained every epoch, and how many epochs it trained random search's winner.

    python experiments/bench_sweep.py --time-to-quality [--seeds 5] [--schedulers ...]
        [--book-trials 1000] [--fashion-trials N] [--ttq-halving FACTOR,R,ETA]
        [--ttq-stem NAME] [--quick]

writes experiments/results/time_to_quality.{json,md} (or NAME.{json,md}), rewritten after every
seed with the seeds done so far; a case with 0 trials is skipped.
"""

from __future__ import annotations

import json
import os
import statistics
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FASHION_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
SCHEDULERS = ("random", "halving", "hyperband", "pbt")
FASHION_TRIALS = 150  # what fits the 25-minute measurement slot after the book's case
# successive halving's settings here: trials = factor × random search's, first rung, factor
HALVING = {"factor": 1.0, "min_epochs": 3, "eta": 3}
HALVING_CHOSEN = ("settings chosen on seeds 5–9 of the book's search, not on the seeds "
                  "reported: experiments/halving_settings.py")


def cases(quick: bool, book_trials: int = 1000, fashion_trials: int = FASHION_TRIALS):
    """(name, base SweepConfig kwargs without the seed)."""
    book = dict(trials=book_trials, epochs=50)
    fashion = dict(trials=fashion_trials, epochs=50, dataset="fashion_mnist", source="idx",
                   data_dir=FASHION_DIR, train_size=2000)
    if quick:
        book, fashion = dict(trials=9, epochs=3, hidden=(16, 16)), None
    out = [(f"book search (500 MNIST digits, {book['trials']} trials)", book)] \
        if book["trials"] else []  # 0 trials: skip the case
    if fashion is not None and fashion["trials"] and os.path.isdir(FASHION_DIR):
        out.append((f"Fashion-MNIST (2,000 images, {fashion['trials']} trials)", fashion))
    return out


def variants(base: dict, names=SCHEDULERS, halving: dict | None = None) -> list[tuple[str, dict]]:
    """(label, SweepConfig overrides) of each scheduler in ``names``. ``halving``: successive
    halving's (and Hyperband's) ``factor`` (its trials = factor × random search's),
    ``min_epochs`` and ``eta`` (default :data:`HALVING`)."""
    n, epochs = base["trials"], base["epochs"]
    h = {**HALVING, **(halving or {})}
    hn, r, eta = int(round(h["factor"] * n)), min(h["min_epochs"], epochs), h["eta"]
    every = {
        "random": ("random", {}),
        "halving": (f"halving (r={r}, eta={eta})",
                    dict(scheduler="halving", trials=hn, min_epochs=r, eta=eta)),
        "hyperband": (f"hyperband (r={r}, eta={eta})",
                      dict(scheduler="hyperband", trials=hn, min_epochs=r, eta=eta)),
        "pbt": (f"pbt (population {max(4, n // 10)}, interval {max(1, epochs // 10)})",
                dict(scheduler="pbt", trials=max(4, n // 10), pbt_interval=max(1, epochs // 10))),
    }
    return [every[name] for name in names]


def flops_per_lane_epoch(config, data, executed_flops) -> float:
    """Executed FLOP of one lane training one epoch (steps + the epoch's evaluation)."""
    import numpy as np

    x_train, _, x_eval, _ = data
    used = int(np.sum(np.any(x_train != 0, axis=0) | np.any(x_eval != 0, axis=0)))
    sizes = (x_train.shape[1], *config.hidden, 10)
    steps = max(config.n_train // config.batch_size, 1)
    fl = executed_flops(sizes, used, steps=steps, batch=config.batch_size, epochs=1,
                        n_eval_rows=len(x_train) + len(x_eval))
    return fl["train"] + fl["eval"]


def run_one(sweep, config, data, watch: int | None = None) -> dict:
    """One sweep with its progress sampled: (seconds, lane_epochs, best so far); ``winner``:
    its best complete trial's id; ``watched_epochs``: the epochs trial ``watch`` trained."""
    events = []
    t0 = time.perf_counter()

    def progress(p):
        if not p.step_start:
            events.append((time.perf_counter() - t0, p.lane_epochs, p.best_val_acc))

    res = sweep.run(config, data=data, progress=progress)
    wall = time.perf_counter() - t0
    done = [t for t in res.trials if t.status == "complete" and not t.diverged]
    top = max(done, key=lambda t: (t.final_val_acc, -t.id), default=None)
    epochs = {t.id: t.epochs for t in res.trials}
    return {"events": events, "wall_seconds": wall,
            "best": float("nan") if top is None else top.final_val_acc,
            "winner": None if top is None else top.id, "complete_trials": len(done),
            "watched_epochs": epochs.get(watch),
            "compile_seconds": res.timings["compile_seconds"],
            "run_seconds": res.timings["run_seconds"],
            "chunk_size": res.info["chunk_size"], "lanes": res.info["lanes"],
            "lane_epochs": res.timings["lane_epochs"], "trials": len(res.trials)}


def reached(events, target: float):
    """The first (seconds, lane_epochs) whose best-so-far is >= target, or None."""
    for sec, le, best in events:
        if best == best and best >= target:
            return sec, le
    return None


def best_at(events, lane_epochs: int) -> float:
    """Random search's best-so-far once it had trained ``lane_epochs`` lane-epochs."""
    out = float("nan")
    for _, le, best in events:
        if le > lane_epochs:
            break
        out = best
    return out


def spread(values) -> dict:
    """Median, min and max of ``values`` (None = not reached: counted as infinitely late; NaN,
    a value that does not exist, e.g. random's best before its first chunk: left out)."""
    xs = [float("inf") if v is None else v for v in values if v is None or v == v]
    med = statistics.median(xs) if xs else None
    return {"median": None if med == float("inf") else med, "min": min(xs, default=None),
            "max": None if max(xs, default=0) == float("inf") else max(xs, default=None),
            "reached": sum(v is not None for v in values), "of": len(values)}


def run_case(sweep, name, base, seeds, schedulers, executed_flops, saved=None, halving=None):
    """Every scheduler of ``schedulers`` over every seed of one case; after each seed
    ``saved`` (if given) is called with the summary of the seeds done so far. Every other
    scheduler watches random search's winner of the seed (how far it trained it)."""
    import dataclasses

    runs = {label: [] for label, _ in variants(base, schedulers, halving)}
    infos = []
    for seed in seeds:
        config0 = sweep.SweepConfig(**base, seed=seed).validate()
        data, info = sweep.load_data(config0)
        infos.append(info)
        per_le = flops_per_lane_epoch(config0, data, executed_flops)
        for label, kw in variants(base, schedulers, halving):
            config = dataclasses.replace(config0, **kw).validate()
            r = run_one(sweep, config, data, watch=runs["random"][-1]["winner"]
                        if kw else None)
            r.update(seed=seed, gflop_total=r["lane_epochs"] * per_le / 1e9,
                     load_1min=os.getloadavg()[0])
            runs[label].append(r)
            print(json.dumps({"case": name, "seed": seed, "scheduler": label,
                              "best": r["best"], "wall": round(r["wall_seconds"], 1)}),
                  flush=True)
        if saved is not None:
            saved(summarise(name, base, infos[0], runs))
    return summarise(name, base, infos[0], runs)


def summarise(name, base, info, runs) -> dict:
    """Fix the target (random's median final best − 0.01) and summarise each scheduler."""
    randoms = runs["random"]
    target = statistics.median(r["best"] for r in randoms) - 0.01
    rows = []
    for label, rs in runs.items():
        hits = [reached(r["events"], target) for r in rs]
        rows.append({
            "scheduler": label, "trials": rs[0]["trials"],
            "seconds_to_target": spread([h[0] if h else None for h in hits]),
            "total_seconds": spread([r["wall_seconds"] for r in rs]),
            "best": spread([r["best"] for r in rs]),
            "random_best_at_equal_compute": spread([
                best_at(rnd["events"], r["lane_epochs"]) for r, rnd in zip(rs, randoms,
                                                                          strict=True)]),
            "runs": [{k: v for k, v in r.items() if k != "events"} for r in rs],
            "events": [r["events"] for r in rs]})
    rnd, halv = rows[0], next((r for r in rows if r["scheduler"].startswith("halving")), None)
    goals = None
    if halv is not None:
        h, rt = halv["seconds_to_target"]["median"], rnd["seconds_to_target"]["median"]
        total = rnd["total_seconds"]["median"]
        goals = {"halving_median_to_target_over_random_median_total":
                 None if h is None else h / total,
                 "halving_below_random_median_to_target":
                 None if h is None else (rt is None or h < rt)}
    return {"name": name, "data": info, "config": base, "target": target, "rows": rows,
            "goals": goals}


def bench(quick: bool, out_dir: str, executed_flops, *, seeds=5, schedulers=SCHEDULERS,
          book_trials=1000, fashion_trials=FASHION_TRIALS, stem=None, halving=None) -> dict:
    """Run every case and write ``<stem>.{json,md}`` (default ``time_to_quality``) into
    ``out_dir``, rewritten after every seed with the seeds done so far (a run stopped early
    leaves its finished seeds)."""
    from jaxch6 import sweep

    seeds = list(range(2 if quick else seeds))
    if quick and halving is None:  # the quick case's 3 epochs: rungs at 1 and 3
        halving = {"min_epochs": 1}
    stem = stem or ("time_to_quality_quick" if quick else "time_to_quality")
    results = {"load_before": os.getloadavg()[0], "seeds": seeds, "cases": [],
               "halving": {**HALVING, **(halving or {})},
               "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    for name, base in cases(quick, book_trials, fashion_trials):
        done = list(results["cases"])

        def saved(case, done=done):
            results["cases"] = [*done, case]
            results["load_after"] = os.getloadavg()[0]
            write(results, out_dir, stem)

        results["cases"] = [*done, run_case(sweep, name, base, seeds, schedulers,
                                            executed_flops, saved, halving)]
    results["load_after"] = os.getloadavg()[0]
    write(results, out_dir, stem)
    print(markdown(results))
    return results


def write(results, out_dir: str, stem: str) -> None:
    """``<stem>.json`` and ``<stem>.md`` in ``out_dir``."""
    from jaxch6.sweep.store import to_json_safe

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, stem + ".json"), "w") as f:
        json.dump(to_json_safe(results), f, indent=1, allow_nan=False)
    with open(os.path.join(out_dir, stem + ".md"), "w") as f:
        f.write(markdown(results))


def _s(sp, fmt=".1f") -> str:
    if not sp["of"] or sp["min"] is None:
        return "—"
    if sp["median"] is None:
        return f"not reached ({sp['reached']}/{sp['of']} seeds)"
    hi = "not reached" if sp["max"] is None else format(sp["max"], fmt)
    note = "" if sp["reached"] == sp["of"] else f", reached in {sp['reached']}/{sp['of']}"
    return f"{format(sp['median'], fmt)} ({format(sp['min'], fmt)}–{hi}{note})"


def halving_note(h) -> str:
    """One sentence on successive halving's settings (and where the default ones come from)."""
    if not h:
        return ""
    out = (f" Successive halving runs {h['factor']:g}× random search's trials from "
           f"r = {h['min_epochs']} epochs with eta = {h['eta']}")
    return out + (f" ({HALVING_CHOSEN})." if h == HALVING else ".")


def per_seed(case) -> list[str]:
    """Per seed: each scheduler's final best, its trials that completed every epoch, and the
    epochs it trained random search's winner of that seed."""
    rows = case["rows"]
    head = "| seed | " + " | ".join(
        f"{r['scheduler']}: best, complete trials" + ("" if i == 0 else
                                                     ", epochs of random's winner")
        for i, r in enumerate(rows)) + " |"
    out = ["Per seed:", "", head, "|---:|" + "---:|" * len(rows)]
    for k, run in enumerate(rows[0]["runs"]):
        cells = []
        for i, r in enumerate(rows):
            if k >= len(r["runs"]):
                cells.append("—")
                continue
            x = r["runs"][k]
            cells.append(f"{x['best']:.3f}, {x['complete_trials']}" +
                         ("" if i == 0 else f", {x['watched_epochs']}"))
        out.append(f"| {run['seed']} | " + " | ".join(cells) + " |")
    return out


def markdown(results) -> str:
    loads = [r["load_1min"] for c in results["cases"] for row in c["rows"] for r in row["runs"]]
    done = sorted({r["seed"] for c in results["cases"] for row in c["rows"] for r in row["runs"]})
    lines = ["# Time to quality over seeds: random search vs the other schedulers", "",
             f"2-core CPU, seeds {done} (of {results['seeds']} asked), load average (1 min) "
             f"{min(loads, default=0):.1f}–{max(loads, default=0):.1f} during the runs. "
             "Target per case: random search's median final best over the seeds minus 0.01. "
             "Wall time from the start of `jaxch6.sweep.run` (data and compilation included). "
             "Cells: median (min–max) over the seeds."
             + (f" Started {results['measured_at']}." if results.get("measured_at") else "")
             + halving_note(results.get("halving")), ""]
    for case in results["cases"]:
        lines += [f"## {case['name']}", "", f"Target validation accuracy {case['target']:.3f}.",
                  "", "| scheduler | trials | lane-epochs | wall to target s | total wall s | "
                  "final best | random's best at equal compute |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in case["rows"]:
            lines.append(f"| {r['scheduler']} | {r['trials']} | {r['runs'][0]['lane_epochs']:,} | "
                         f"{_s(r['seconds_to_target'])} | "
                         f"{_s(r['total_seconds'])} | {_s(r['best'], '.3f')} | "
                         f"{_s(r['random_best_at_equal_compute'], '.3f')} |")
        lines += ["", *per_seed(case)]
        g = case.get("goals")
        if g:
            ratio = g["halving_median_to_target_over_random_median_total"]
            lines += ["", "Goals: halving's median time to target / random's median total wall "
                      f"= {'not reached' if ratio is None else f'{ratio:.0%}'} (goal ≤ 25 %); "
                      "below random's own median time to target: "
                      f"{g['halving_below_random_median_to_target']}."]
        lines.append("")
    return "\n".join(lines)
