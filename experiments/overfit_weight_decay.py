"""The book's ch06/overfit_weight_decay.py, reproduced on jaxch6.

The experiment itself lives in jaxch6.experiments.overfit_weight_decay; this script is
the same as `jaxch6 experiment overfit_weight_decay`:

    python experiments/overfit_weight_decay.py [--out DIR] [--seed N] [--quick]

writes DIR/NAME.png (the figure) and DIR/NAME.json (the plotted numbers).
"""

import os
import sys

from jaxch6.experiments import script_main

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.exit(script_main("overfit_weight_decay", os.path.join(here, "figures")))
