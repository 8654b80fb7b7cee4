"""The book's ch06/optimizer_compare_naive.py, reproduced on jaxch6.

The experiment itself lives in jaxch6.experiments.optimizer_compare_naive; this script is
the same as `jaxch6 experiment optimizer_compare_naive`:

    python experiments/optimizer_compare_naive.py [--out DIR] [--seed N] [--quick]

writes DIR/NAME.png (the figure) and DIR/NAME.json (the plotted numbers).
"""

import os
import sys

from jaxch6.experiments import script_main

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.exit(script_main("optimizer_compare_naive", os.path.join(here, "figures")))
