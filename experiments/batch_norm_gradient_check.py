"""The book's ch06/batch_norm_gradient_check.py, reproduced on jaxch6.

The experiment itself lives in jaxch6.experiments.batch_norm_gradient_check; this script is
the same as `jaxch6 experiment batch_norm_gradient_check`:

    python experiments/batch_norm_gradient_check.py [--out DIR] [--seed N] [--quick]

writes DIR/NAME.png (the figure) and DIR/NAME.json (the plotted numbers).
"""

import os
import sys

from jaxch6.experiments import script_main

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.exit(script_main("batch_norm_gradient_check", os.path.join(here, "figures")))
