"""The book's ch06/weight_init_compare.py, reproduced on jaxch6.

The experiment itself lives in jaxch6.experiments.weight_init_compare; this script is
the same as `jaxch6 experiment weight_init_compare`:

    python experiments/weight_init_compare.py [--out DIR] [--seed N] [--quick]

writes DIR/NAME.png (the figure) and DIR/NAME.json (the plotted numbers).
"""

import os
import sys

from jaxch6.experiments import script_main

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.exit(script_main("weight_init_compare", os.path.join(here, "figures")))
