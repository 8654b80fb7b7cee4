"""The book's ch06/batch_norm_test.py, reproduced on jaxch6.

The experiment itself lives in jaxch6.experiments.batch_norm_test; this script is
the same as `jaxch6 experiment batch_norm_test`:

    python experiments/batch_norm_test.py [--out DIR] [--seed N] [--quick]

writes DIR/NAME.png (the figure) and DIR/NAME.json (the plotted numbers).
"""

import os
import sys

from jaxch6.experiments import script_main

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.exit(script_main("batch_norm_test", os.path.join(here, "figures")))
