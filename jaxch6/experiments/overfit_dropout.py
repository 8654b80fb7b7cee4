"""Dropout against overfitting — ``ch06/overfit_dropout.py``.

Book: 300 training digits, 784-100×6-10 ReLU (He) with a dropout layer after every hidden
activation (the book's form: training multiplies by a Bernoulli keep-mask, test by 1 − ratio),
ratio 0.2, SGD lr 0.01, batch 100, 301 epochs (the book's ``Trainer``); train and test accuracy
per epoch. Conclusion: dropout narrows the train–test gap (training accuracy no longer reaches
100%).

Here: ratio 0 (no dropout: with the book's form a ratio of 0 keeps every unit and multiplies by
1 at test time, so one compiled program serves both), 0.2 and a sweep, times seeds, as one
``vmap`` (the ratio is a traced hyperparameter); see :mod:`jaxch6.experiments.overfit`.
"""

from __future__ import annotations

from jaxch6.experiments import overfit

NAME = "overfit_dropout"


def run(out_dir, *, seed: int = 0, quick: bool = False) -> dict:
    """Write ``overfit_dropout.png`` / ``.json``."""
    return overfit.run(out_dir, name=NAME, book_script="ch06/overfit_dropout.py",
                        knob="dropout_ratio", knob_label="dropout ratio", book_value=0.2,
                        sweep=(0.1, 0.3, 0.5), epochs=301, use_dropout=True,
                        seed=seed, quick=quick, quick_epochs=60, log_sweep=False)
