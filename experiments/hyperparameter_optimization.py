"""The book's ch06/hyperparameter_optimization.py, reproduced on jaxch6.

The experiment itself lives in jaxch6.experiments.hyperparameter_optimization; this script is
the same as `jaxch6 experiment hyperparameter_optimization`:

    python experiments/hyperparameter_optimization.py [--out DIR] [--seed N] [--quick]

writes DIR/NAME.png (the figure) and DIR/NAME.json (the plotted numbers).
"""

import os
import sys

from jaxch6.experiments import script_main

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.exit(script_main("hyperparameter_optimization", os.path.join(here, "figures")))
