"""``jaxch6 data info``: which data source is used, the shapes, the label histograms."""

from __future__ import annotations

from jaxch6 import names

HELP = "show which MNIST / Fashion-MNIST source is used, its shapes and label histograms"
DESCRIPTION = """\
Load a dataset the way experiments and sweeps do, and report it.

Sources: idx (four IDX files in --data-dir or $JAXCH6_DATA_DIR; for Fashion-MNIST also
/usr/share/datasets/fashion-mnist), tfds (tensorflow-datasets, prepared locally; never downloads
without --download), sample (the embedded 5,000-digit real MNIST sample), auto (the first of
these available offline).

examples:
  jaxch6 data info
  jaxch6 data info --dataset fashion_mnist
  jaxch6 data info --source idx --data-dir ~/mnist
"""


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=["info"], help="what to do (info: report the data)")
    parser.add_argument("--dataset", choices=names.DATASETS, default="mnist",
                        help="which dataset (default %(default)s)")
    parser.add_argument("--source", choices=names.SOURCES, default="auto",
                        help="where it is read from; auto: the first available "
                             "(default %(default)s)")
    parser.add_argument("--data-dir", default=None,
                        help="IDX (or tfds) directory (default $JAXCH6_DATA_DIR)")
    parser.add_argument("--download", action="store_true",
                        help="let tfds download, which needs a network (default: off)")


def _histogram(t) -> str:
    import numpy as np

    counts = np.bincount(np.asarray(t, dtype=np.int64), minlength=10)
    return " ".join(f"{c}:{n}" for c, n in enumerate(counts.tolist()))


def run(args) -> int:
    from jaxch6.data import load

    data = load(
        args.dataset, normalize=False, source=args.source, data_dir=args.data_dir,
        download=args.download, log=lambda line: print(line, flush=True),
    )
    for name, (x, t) in (("train", data.train), ("test", data.test)):
        print(f"{name}: x {x.shape} {x.dtype} (0..{int(x.max()) if x.size else 0}), "
              f"t {t.shape} {t.dtype}")
        print(f"  labels {_histogram(t)}")
    return 0
