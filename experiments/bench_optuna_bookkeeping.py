"""Optuna bookkeeping per trial, with a trainer that does no work.

Per trial: ask (in batches of 256), 2 suggestions, a heartbeat, user attributes and tell; the
trainer returns 20 epochs of constant curves at once. A first batch warms up; the next N trials
are timed.

    python experiments/bench_optuna_bookkeeping.py [sqlite | postgresql://...] [N]
"""

from __future__ import annotations

import sys
import tempfile
import time

import numpy as np

from jaxch6.sweep import optuna_driver as D
from jaxch6.sweep import optuna_storage as S
from jaxch6.sweep.space import BOOK_SPACE

EPOCHS, BATCH = 20, 256


def _train(hp, ids):
    curve = np.tile(np.linspace(0.1, 0.9, EPOCHS), (len(ids), 1))
    return {"train_acc": curve, "val_acc": curve, "diverged": np.zeros(len(ids), bool)}


def main(argv: list[str]) -> None:
    url = argv[0] if argv and argv[0] != "sqlite" else f"sqlite:///{tempfile.mkdtemp()}/b.db"
    n = int(argv[1]) if len(argv) > 1 else 512
    storage = S.make_storage(url, heartbeat_interval=30, grace_period=120)
    study = D.open_study(storage, f"bench-{time.time_ns()}",
                         D.make_sampler("random", BOOK_SPACE, seed=0))
    D.run_worker(study, _train, BOOK_SPACE, n_trials=BATCH, batch_trials=BATCH)  # warm-up
    t0 = time.perf_counter()
    D.run_worker(study, _train, BOOK_SPACE, n_trials=BATCH + n, batch_trials=BATCH)
    ms = (time.perf_counter() - t0) / n * 1e3
    print(f"{ms:.1f} ms per trial ({n} trials, batches of {BATCH}, {EPOCHS} epochs)")


if __name__ == "__main__":
    main(sys.argv[1:])
