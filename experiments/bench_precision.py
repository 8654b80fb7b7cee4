"""Does the ranking survive lower precision? fp32 vs tf32 vs bf16 on the same sweeps.

For the book's search (100 trials on 500 MNIST digits) and a Fashion-MNIST search (100 trials
on 2,000 images), each precision runs the same trials (same seed, same hyperparameters); we
report the Spearman rank correlation of the final validation accuracy against fp32 (goal
>= 0.95), the overlap of the top 10, the best trial's accuracy in each precision, and the run
time.

    python experiments/bench_precision.py [--quick] [--out experiments/results]

writes bench_precision.{json,md}. On the CPU, tf32 is plain float32 (no TF32 units) and bf16
matmuls are emulated; the point here is the ranking, not the speed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def spearman(a, b) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    import numpy as np

    def ranks(x):
        x = np.asarray(x, np.float64)
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for v in np.unique(x):  # ties share their mean rank
            m = x == v
            r[m] = r[m].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def searches(quick: bool):
    from jaxch6.sweep import SweepConfig

    book = SweepConfig(trials=100, epochs=50, seed=0)
    fashion = SweepConfig(trials=100, epochs=50, seed=0, dataset="fashion_mnist", source="idx",
                          data_dir=FASHION_DIR, train_size=2000)
    if quick:
        return [("book search (quick)", dataclasses.replace(book, trials=8, epochs=3))]
    out = [("book search (500 MNIST digits)", book)]
    if os.path.isdir(FASHION_DIR):
        out.append(("Fashion-MNIST (2,000 images)", fashion))
    return out


def compare(name, config) -> dict:
    from jaxch6 import sweep

    data, info = sweep.load_data(config.validate())
    runs = {}
    for precision in ("fp32", "tf32", "bf16"):
        t0 = time.perf_counter()
        res = sweep.run(dataclasses.replace(config, precision=precision), data=data)
        acc = [t.final_val_acc if not t.diverged else -1.0 for t in res.trials]
        runs[precision] = {"acc": acc, "wall_seconds": time.perf_counter() - t0,
                           "run_seconds": res.timings["run_seconds"],
                           "best": max(acc), "top10": [t.id for t in res.ranked[:10]]}
        print(json.dumps({"search": name, "precision": precision, "best": max(acc),
                          "wall": round(runs[precision]["wall_seconds"], 1)}), flush=True)
    ref = runs["fp32"]
    for r in runs.values():
        r["spearman_vs_fp32"] = spearman(ref["acc"], r["acc"])
        r["top10_overlap"] = len(set(ref["top10"]) & set(r["top10"]))
    return {"name": name, "data": info, "runs": runs}


def markdown(results) -> str:
    lines = ["# Precision: the sweep's ranking in fp32, tf32 and bf16", "",
             f"{results['device']}, load {results['load_before']:.1f} before, "
             f"{results['load_after']:.1f} after.", ""]
    for s in results["searches"]:
        lines += [f"## {s['name']}", "",
                  "| precision | Spearman vs fp32 | top-10 overlap | best val acc | run (s) |",
                  "|---|---:|---:|---:|---:|"]
        for p, r in s["runs"].items():
            lines.append(f"| {p} | {r['spearman_vs_fp32']:.3f} | {r['top10_overlap']}/10 | "
                         f"{r['best']:.2f} | {r['run_seconds']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--cpu-devices", default="auto")
    args = p.parse_args()
    sys.path.insert(0, os.path.dirname(HERE))
    from jaxch6.sweep.devices import configure_cpu_devices

    configure_cpu_devices(args.cpu_devices)
    import jax

    results = {"device": f"{jax.local_device_count()} x {jax.devices()[0].device_kind}",
               "load_before": os.getloadavg()[0]}
    results["searches"] = [compare(n, c) for n, c in searches(args.quick)]
    results["load_after"] = os.getloadavg()[0]
    stem = "bench_precision_quick" if args.quick else "bench_precision"
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(args.out, stem + ".md"), "w") as f:
        f.write(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
