"""Time to quality of the sweep's schedulers: random search vs successive halving, Hyperband
and population-based training, in one process on the same data.

For each case (the book's search with 1,000 trials; Fashion-MNIST with 2,000 training images
and 500 trials) every scheduler runs the same search space, network and epochs. Progress is
sampled after each chunk: wall time since the sweep started (data loading and compilation
included), the lane-epochs trained (→ executed GFLOP), and the best final validation accuracy
of the trials completed so far. The table reports, per scheduler, the wall time and GFLOP
until its best trial is within 0.01 of the full random search's final best, its final best,
and (PBT) random search's best at the same compute.

    python experiments/bench_sweep.py --time-to-quality [--quick]

writes experiments/results/time_to_quality.{json,md}.
"""

from __future__ import annotations

import json
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FASHION_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist


def cases(quick: bool):
    """(name, base SweepConfig kwargs, scheduler variants)."""
    book = dict(trials=1000, epochs=50, seed=0)
    fashion = dict(trials=500, epochs=50, seed=0, dataset="fashion_mnist", source="idx",
                   data_dir=FASHION_DIR, train_size=2000)
    if quick:
        book, fashion = dict(trials=9, epochs=3, seed=0, hidden=(16, 16)), None
    out = [("book search (500 MNIST digits)", book)]
    if fashion is not None and os.path.isdir(FASHION_DIR):
        out.append(("Fashion-MNIST (2,000 images)", fashion))
    return out


def variants(base: dict) -> list[tuple[str, dict]]:
    n, epochs = base["trials"], base["epochs"]
    r = max(1, epochs // 25)
    return [
        ("random", {}),
        (f"halving (r={r}, eta=3)", dict(scheduler="halving", min_epochs=r, eta=3)),
        (f"hyperband (r={r}, eta=3)", dict(scheduler="hyperband", min_epochs=r, eta=3)),
        (f"pbt (population {max(4, n // 10)}, interval {max(1, epochs // 10)})",
         dict(scheduler="pbt", trials=max(4, n // 10), pbt_interval=max(1, epochs // 10))),
    ]


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


def run_one(sweep, config, data) -> dict:
    """One sweep with its progress sampled: (seconds, lane_epochs, best so far)."""
    events = []
    t0 = time.perf_counter()

    def progress(p):
        if not p.step_start:
            events.append((time.perf_counter() - t0, p.lane_epochs, p.best_val_acc))

    res = sweep.run(config, data=data, progress=progress)
    wall = time.perf_counter() - t0
    best = max((t.final_val_acc for t in res.trials
                if t.status == "complete" and not t.diverged), default=float("nan"))
    return {"events": events, "wall_seconds": wall, "best": best,
            "compile_seconds": res.timings["compile_seconds"],
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


def bench(quick: bool, out_dir: str, executed_flops) -> dict:
    import dataclasses

    from jaxch6 import sweep

    results = {"load_before": os.getloadavg()[0], "cases": []}
    for name, base in cases(quick):
        config0 = sweep.SweepConfig(**base).validate()
        data, info = sweep.load_data(config0)
        per_le = flops_per_lane_epoch(config0, data, executed_flops)
        rows = []
        for label, kw in variants(base):
            config = dataclasses.replace(config0, **kw).validate()
            r = run_one(sweep, config, data)
            print(json.dumps({"case": name, "scheduler": label, "best": r["best"],
                              "wall": round(r["wall_seconds"], 1)}), flush=True)
            rows.append({"scheduler": label, **r})
        target = rows[0]["best"] - 0.01
        for r in rows:
            hit = reached(r["events"], target)
            r["target"] = target
            r["seconds_to_target"] = hit[0] if hit else None
            r["gflop_to_target"] = hit[1] * per_le / 1e9 if hit else None
            r["gflop_total"] = r["lane_epochs"] * per_le / 1e9
            r["random_best_at_equal_compute"] = best_at(rows[0]["events"], r["lane_epochs"])
        results["cases"].append({"name": name, "data": info, "config": base,
                                 "gflop_per_lane_epoch": per_le / 1e9, "rows": rows})
    results["load_after"] = os.getloadavg()[0]
    os.makedirs(out_dir, exist_ok=True)
    stem = "time_to_quality_quick" if quick else "time_to_quality"
    from jaxch6.sweep.store import to_json_safe

    with open(os.path.join(out_dir, stem + ".json"), "w") as f:
        json.dump(to_json_safe(results), f, indent=1, allow_nan=False)
    with open(os.path.join(out_dir, stem + ".md"), "w") as f:
        f.write(markdown(results))
    print(markdown(results))
    return results


def markdown(results) -> str:
    lines = ["# Time to quality: random search vs halving, Hyperband, PBT", "",
             f"2-core CPU, load {results['load_before']:.1f} before, "
             f"{results['load_after']:.1f} after. Target: the full random search's final best "
             "minus 0.01. Wall time from the start of `jaxch6.sweep.run` (data and "
             "compilation included).", ""]
    for case in results["cases"]:
        lines += [f"## {case['name']}", "",
                  "| scheduler | trials | wall to target (s) | GFLOP to target | total wall (s) "
                  "| total GFLOP | final best | random's best at equal compute |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in case["rows"]:
            def f(v, fmt):
                return "not reached" if v is None else format(v, fmt)
            lines.append(
                f"| {r['scheduler']} | {r['trials']} | {f(r['seconds_to_target'], '.1f')} | "
                f"{f(r['gflop_to_target'], '.0f')} | {r['wall_seconds']:.1f} | "
                f"{r['gflop_total']:.0f} | {r['best']:.2f} | "
                f"{r['random_best_at_equal_compute']:.2f} |")
        lines.append("")
    return "\n".join(lines)
