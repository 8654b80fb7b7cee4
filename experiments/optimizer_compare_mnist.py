"""The book's ch06/optimizer_compare_mnist.py, reproduced on jaxch6.

The experiment itself lives in jaxch6.experiments.optimizer_compare_mnist; this script is
the same as `jaxch6 experiment optimizer_compare_mnist`:

    python experiments/optimizer_compare_mnist.py [--out DIR] [--seed N] [--quick]

writes DIR/NAME.png (the figure) and DIR/NAME.json (the plotted numbers).
"""

import argparse
import os

NAME = "optimizer_compare_mnist"
HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    parser = argparse.ArgumentParser(description=f"The book's ch06/{NAME}.py on jaxch6.")
    parser.add_argument("--out", default=os.path.join(HERE, "figures"), help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed")
    parser.add_argument("--quick", action="store_true", help="tiny settings (seconds)")
    args = parser.parse_args()

    from jaxch6 import experiments

    experiments.run(NAME, args.out, seed=args.seed, quick=args.quick)
    print(f"wrote {os.path.join(args.out, NAME)}.png and .json")


if __name__ == "__main__":
    main()
