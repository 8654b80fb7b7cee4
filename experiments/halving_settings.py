"""Choose successive halving's settings for the time-to-quality benchmark on seeds that it
does not report (``time_to_quality.HALVING`` was chosen this way on seeds 5-9).

For each seed: random search (``--trials``, 50 epochs, the book's search) with every trial's
validation curve recorded, then each ``--run FACTOR,R,ETA`` as a real halving run of
``FACTOR × trials`` trials. Halving settings of at most the random search's trials
(``--replay R,ETA``, plus every ``--run`` with ``FACTOR <= 1``) are replayed from random
search's records instead of run: trial ``i`` of a seed is the same trial in both (its
hyperparameters and keys come from the seed and ``i``, and a halving survivor continues
from its kept state), so the real :class:`jaxch6.sweep.schedulers.halving.SuccessiveHalving`
fed with those curves picks what its run would pick. (One approximation: a trial that
diverged is treated as diverged from the first non-finite accuracy, or at its last epoch.)
Quality and lane-epochs are deterministic given the seeds, so this runs on a loaded machine.

    python experiments/halving_settings.py [--seeds 5,6,7,8,9] [--trials 1000]
        [--run 2,2,3 ...] [--replay 2,3 ...] [--records FILE] [--render-only]

appends every run to ``--records`` (JSON lines, default runs/halving_settings.jsonl, not
committed) and writes experiments/results/halving_settings.md: per setting, its lane-epochs
against random search's and, per seed, its final best against the target (random search's
median final best − 0.01, as in ``time_to_quality.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run_seed(seed: int, trials: int, runs, out) -> None:
    """Random search (curves kept) and each ``runs`` halving setting, one line each."""
    from jaxch6 import sweep

    c0 = sweep.SweepConfig(trials=trials, epochs=50, seed=seed).validate()
    data, _ = sweep.load_data(c0)
    for factor, r, eta in [None, *runs]:
        kw = {} if factor is None else dict(trials=round(factor * trials), scheduler="halving",
                                            min_epochs=r, eta=eta)
        t0 = time.perf_counter()
        res = sweep.run(dataclasses.replace(c0, **kw).validate(), data=data, progress=False,
                        figures=False)
        done = [t for t in res.trials if t.status == "complete" and not t.diverged]
        n = len(res.trials)
        line = {"seed": seed, "v": "random" if factor is None else f"h{n}:{r}:{eta}",
                "n": n, "wall": time.perf_counter() - t0,
                "load": os.getloadavg()[0], "le": res.timings["lane_epochs"],
                "best": max(t.final_val_acc for t in done), "final": len(done)}
        if factor is None:
            ordered = sorted(res.trials, key=lambda t: t.id)
            line.update(curves=[t.val_acc for t in ordered], div=[t.diverged for t in ordered])
        out.write(json.dumps(line) + "\n")
        out.flush()
        print(seed, line["v"], line["best"], line["le"], round(line["wall"], 1), flush=True)


def replay(seed: int, n: int, r: int, eta: int, curves, diverged) -> tuple[float, int, int]:
    """Successive halving of trials ``0..n-1`` replayed on random search's curves: (final
    best, lane-epochs, trials that trained every epoch)."""
    from jaxch6.sweep import SweepConfig, schedulers
    from jaxch6.sweep.records import Trial

    epochs = max(len(c) for c in curves)
    config = SweepConfig(trials=n, epochs=epochs, seed=seed, scheduler="halving", min_epochs=r,
                         eta=eta).validate()
    sched, trials, lane_epochs = schedulers.make(config), {}, 0
    while (step := sched.next(trials)) is not None:
        ids = [*step.new, *step.cont]
        for i in ids:
            acc = curves[i][: step.stop]
            bad = not all(math.isfinite(a) for a in acc) or (diverged[i] and step.stop == epochs)
            trials[i] = Trial(i, 0, {}, [], list(acc), bad,
                              "complete" if step.stop == epochs else "running")
        lane_epochs += len(ids) * step.epochs
    done = [t for t in trials.values() if t.status == "complete" and not t.diverged]
    return max(t.final_val_acc for t in done), lane_epochs, len(done)


def table(lines, replays) -> list[str]:
    """The markdown rows: random search, each replayed and each run setting."""
    randoms = {x["seed"]: x for x in lines if x["v"] == "random"}
    seeds = sorted(randoms)
    target = statistics.median(randoms[s]["best"] for s in seeds) - 0.01
    rows = {"random": {s: (randoms[s]["best"], randoms[s]["le"], randoms[s]["n"]) for s in seeds}}
    for r, eta in replays:
        n = randoms[seeds[0]]["n"]
        rows[f"h{n}:{r}:{eta} (replayed)"] = {
            s: replay(s, randoms[s]["n"], r, eta, randoms[s]["curves"], randoms[s]["div"])
            for s in seeds}
    for x in lines:
        if x["v"] != "random" and x["seed"] in randoms:
            rows.setdefault(x["v"], {})[x["seed"]] = (x["best"], x["le"], x["final"])
    le0 = statistics.median(randoms[s]["le"] for s in seeds)
    out = [f"Seeds {seeds}; target {target:.3f} (random search's median final best − 0.01). "
           f"Run on a shared machine (load average {min(x['load'] for x in lines):.1f}–"
           f"{max(x['load'] for x in lines):.1f}): only qualities and lane-epochs are used, "
           "which do not depend on the load.", "",
           "Rows hN:R:ETA: successive halving of N trials from R epochs with factor ETA; "
           "'replayed': fed random search's recorded curves (the same trials), the others run. "
           "Random search's own row counts the seeds whose best reaches the target.",
           "", "| setting (trials:r:eta) | lane-epochs, % of random | seeds reaching the "
           "target | final best per seed | trials completed |", "|---|---:|---:|---|---:|"]
    for name, per in rows.items():
        got = [per[s] for s in seeds if s in per]
        le = statistics.median(g[1] for g in got)
        out.append(f"| {name} | {le:,.0f} ({le / le0:.1%}) | "
                   f"{sum(g[0] >= target - 1e-9 for g in got)}/{len(got)} | "
                   f"{', '.join(f'{g[0]:.2f}' for g in got)} | {got[0][2]} |")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="5,6,7,8,9")
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--run", action="append", default=[], metavar="FACTOR,R,ETA")
    p.add_argument("--replay", action="append", default=[], metavar="R,ETA")
    p.add_argument("--records",
                   default=os.path.join(HERE, "..", "runs", "halving_settings.jsonl"),
                   help="JSON lines of every run (random search with its curves)")
    p.add_argument("--render-only", action="store_true", help="only rewrite the .md")
    p.add_argument("--out", default=os.path.join(HERE, "results", "halving_settings.md"))
    args = p.parse_args()
    try:
        runs = [(float(f), int(r), int(e)) for f, r, e in (x.split(",") for x in args.run)]
        replays = [(int(r), int(e)) for r, e in (x.split(",") for x in args.replay)]
    except ValueError:
        p.error("--run takes FACTOR,R,ETA and --replay R,ETA (e.g. --run 1.4,2,3 --replay 3,3)")
    replays += [(r, e) for f, r, e in runs if f <= 1 and (r, e) not in replays]
    if not args.render_only:
        os.makedirs(os.path.dirname(os.path.abspath(args.records)), exist_ok=True)
        with open(args.records, "a") as out:
            for seed in (int(s) for s in args.seeds.split(",")):
                run_seed(seed, args.trials, [x for x in runs if x[0] > 1], out)
    with open(args.records) as f:
        lines = [json.loads(x) for x in f]
    with open(args.out, "w") as f:
        f.write("\n".join(["# Successive halving's settings for time to quality (book's search)",
                           "", *table(lines, replays), ""]))
    print(open(args.out).read())


if __name__ == "__main__":
    main()
