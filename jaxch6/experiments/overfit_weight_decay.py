"""Weight decay against overfitting — ``ch06/overfit_weight_decay.py``.

Book: 300 training digits, 784-100×6-10 ReLU (He), SGD lr 0.01, batch 100, 201 epochs,
loss + ½λΣ‖W‖² with λ = 0.1 (and λ = 0 for the overfitting baseline); train and test accuracy
per epoch. Conclusion: without weight decay training accuracy reaches 100% while test accuracy
stays far below; λ = 0.1 narrows that gap (training accuracy no longer reaches 100%).

Here: λ = 0 and 0.1 and a sweep of λ, times seeds, as one ``vmap`` (λ is a traced
hyperparameter of :mod:`jaxch6.train`); see :mod:`jaxch6.experiments.overfit`.
"""

from __future__ import annotations

from jaxch6.experiments import overfit

NAME = "overfit_weight_decay"


def run(out_dir, *, seed: int = 0, quick: bool = False) -> dict:
    """Write ``overfit_weight_decay.png`` / ``.json``."""
    return overfit.run(out_dir, name=NAME, book_script="ch06/overfit_weight_decay.py",
                        knob="weight_decay", knob_label="λ (weight decay)", book_value=0.1,
                        sweep=(0.001, 0.003, 0.01, 0.03, 0.3), epochs=201, use_dropout=False,
                        seed=seed, quick=quick, quick_epochs=150)
