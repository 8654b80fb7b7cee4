"""The IDX file format of MNIST and Fashion-MNIST, read with NumPy only.

An IDX file is a 4-byte magic number ``00 00 TT NN`` (TT: element type, NN: number of
dimensions), then NN big-endian uint32 dimension sizes, then the elements in C order. MNIST's
images are ``00 00 08 03`` (uint8, N×28×28), its labels ``00 00 08 01`` (uint8, N). Files may be
gzip-compressed (recognised by the gzip magic bytes, whatever the file name).

Every problem — missing file, corrupt gzip, wrong magic number, a header declaring an absurd or
impossible size, truncated data, trailing bytes, images/labels count mismatch, labels out of
range — raises :class:`jaxch6.errors.DataError` with a one-line message that names the file.
A gzip file is decompressed incrementally: the header first, then exactly the declared data.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from jaxch6.data.labels import check_labels
from jaxch6.errors import DataError

# IDX element-type byte -> NumPy dtype (multi-byte types are big-endian in the file).
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"

# The four standard files: (split, kind) -> base names (LeCun's and the dotted variant).
IDX_FILES = {
    ("train", "images"): ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    ("train", "labels"): ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    ("test", "images"): ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


#: At most this many elements in one IDX file (a header declaring more is absurd, not data).
MAX_ELEMENTS = 2**40
#: Deflate expands at most about 1032:1; a gzip file cannot hold more than this times its size.
_MAX_GZIP_RATIO = 1032
#: Bytes decompressed at a time.
_CHUNK = 1 << 22
#: After the declared data, at most this many further bytes are read to report trailing data.
_TRAILING_PROBE = 4096


def _open(path: Path):
    """``(stream, compressed_size or None)`` for ``path``: the raw file, or a gzip reader on it
    (recognised by the gzip magic bytes)."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by read_idx
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not an IDX file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        size = os.fstat(raw.fileno()).st_size
        if raw.read(2) != _GZIP_MAGIC:
            raw.seek(0)
            return raw, size, None
        raw.seek(0)
    except OSError as exc:
        raw.close()
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return gzip.GzipFile(fileobj=raw, mode="rb"), size, raw


def _read(stream, n: int, path: Path) -> bytes:
    """Up to ``n`` bytes of ``stream`` (fewer only at its end), decompressing as needed."""
    parts, left = [], n
    try:
        while left > 0:
            part = stream.read(min(left, _CHUNK))
            if not part:
                break
            parts.append(part)
            left -= len(part)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: corrupt gzip data ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return b"".join(parts)


def _read_header(stream, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """``(dtype, shape, header_bytes)`` from an IDX header; DataError if it is bad."""
    magic = _read(stream, 4, path)
    if len(magic) < 4:
        raise DataError(f"{path}: truncated IDX file ({len(magic)} bytes, no 4-byte magic number)")
    if magic[0] != 0 or magic[1] != 0 or magic[2] not in IDX_DTYPES or magic[3] == 0:
        raise DataError(f"{path}: wrong magic number 0x{magic.hex()} (not an IDX file)")
    dtype, ndim = IDX_DTYPES[magic[2]], magic[3]
    header = 4 + 4 * ndim
    dims = _read(stream, 4 * ndim, path)
    if len(dims) < 4 * ndim:
        raise DataError(
            f"{path}: truncated IDX header ({4 + len(dims)} bytes, {ndim} dimensions need "
            f"{header})"
        )
    shape = tuple(int.from_bytes(dims[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    return dtype, shape, header


def _check_declared(path: Path, shape, dtype, header: int, size: int, gzipped: bool) -> int:
    """The data bytes the header declares; DataError if absurd or impossible for the file."""
    elements = math.prod(shape)
    if elements > MAX_ELEMENTS:
        raise DataError(
            f"{path}: IDX header declares shape {shape} ({elements} elements, more than "
            f"{MAX_ELEMENTS}): not a real data file"
        )
    expected = elements * dtype.itemsize
    if not gzipped:
        found = size - header
        if found < expected:
            raise DataError(
                f"{path}: truncated data: shape {shape} needs {expected} bytes, found {found}"
            )
        if found > expected:
            raise DataError(
                f"{path}: {found - expected} unexpected bytes after the data of shape {shape}"
            )
    elif header + expected > _MAX_GZIP_RATIO * size + 64:
        raise DataError(
            f"{path}: IDX header declares shape {shape} ({expected} bytes), more than a gzip "
            f"file of {size} bytes can hold"
        )
    return expected


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not) into a NumPy array of its declared shape and type.

    The header is read first and checked before any data: a declared size that is absurd
    (more than :data:`MAX_ELEMENTS` elements), disagrees with the file's size, or is more than
    a gzip file of that size can hold is an error. Then exactly the declared number of bytes is
    read (decompressed in chunks as it comes, never more); bytes after the data are an error
    (for a gzip file, at most 4 KiB past the data are read to report them).

    Args:
        path: the file.

    Returns:
        The elements in native byte order (uint8 stays uint8).

    Raises:
        DataError: naming the file if it is missing, not valid gzip, has a wrong magic number
            (first two bytes not zero, unknown element type, zero dimensions), an impossible
            size, is truncated, or has bytes after the data.

    vs book: the book's ``mnist.py`` skips a fixed 16/8-byte header with ``offset=`` and checks
    nothing; this reader parses and validates the header.
    """
    path = Path(path)
    stream, size, raw = _open(path)
    try:
        dtype, shape, header = _read_header(stream, path)
        expected = _check_declared(path, shape, dtype, header, size, raw is not None)
        data = _read(stream, expected, path)
        if len(data) < expected:
            raise DataError(
                f"{path}: truncated data: shape {shape} needs {expected} bytes, found "
                f"{len(data)}"
            )
        extra = len(_read(stream, _TRAILING_PROBE, path))
        if extra:
            more = "at least " if extra == _TRAILING_PROBE else ""
            raise DataError(
                f"{path}: {more}{extra} unexpected bytes after the data of shape {shape}"
            )
    finally:
        stream.close()
        if raw is not None:
            raw.close()
    array = np.frombuffer(data, dtype, count=expected // dtype.itemsize)
    return array.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def read_idx_pair(
    images_path: str | os.PathLike, labels_path: str | os.PathLike, *, num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Read and cross-check an images file and its labels file.

    Args:
        images_path: the images' IDX file (plain or ``.gz``).
        labels_path: the labels' IDX file.
        num_classes: labels must lie in ``0..num_classes-1``.

    Returns:
        ``(images, labels)``: uint8 ``(N, rows, cols)`` and uint8 ``(N,)``.

    Raises:
        DataError: the images are not a 3-D uint8 array, the labels not a 1-D uint8 array,
            their counts differ, or a label is out of range.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{images_path}: expected uint8 images of shape (N, rows, cols), "
            f"found {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(
            f"{labels_path}: expected uint8 labels of shape (N,), found {labels.dtype} "
            f"{labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{images_path}: {images.shape[0]} images but {labels_path} has "
            f"{labels.shape[0]} labels"
        )
    check_labels(labels, num_classes, name=str(labels_path))
    return images, labels


def find_idx_file(directory: Path, split: str, kind: str) -> Path | None:
    """Find the file of one split and kind in ``directory``.

    Args:
        directory: the data directory.
        split: ``"train"`` or ``"test"``.
        kind: ``"images"`` or ``"labels"``.

    Returns:
        The existing file (plain or ``.gz``), or None.
    """
    for base in IDX_FILES[(split, kind)]:
        for name in (base, base + ".gz"):
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def find_idx_files(directory: str | os.PathLike) -> dict[tuple[str, str], Path] | None:
    """Find the four standard IDX files in ``directory``.

    Args:
        directory: the data directory.

    Returns:
        ``(split, kind)`` to each file, or None when there are none at all.

    Raises:
        DataError: the directory holds some of the four files but not all of them.
    """
    directory = Path(directory)
    found = {key: find_idx_file(directory, *key) for key in IDX_FILES}
    if all(p is None for p in found.values()):
        return None
    missing = [IDX_FILES[key][0] for key, p in found.items() if p is None]
    if missing:
        raise DataError(f"{directory}: missing IDX file(s) {', '.join(missing)} (or .gz)")
    return found


def load_idx_directory(directory: str | os.PathLike):
    """Read the four standard IDX files of ``directory``.

    Args:
        directory: the data directory.

    Returns:
        ``((x_train, t_train), (x_test, t_test))`` as uint8 arrays (images ``(N, 28, 28)``).

    Raises:
        DataError: the directory does not exist, lacks the files, or they are bad.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: data directory not found")
    files = find_idx_files(directory)
    if files is None:
        names = ", ".join(v[0] for v in IDX_FILES.values())
        raise DataError(f"{directory}: no IDX files found (expected {names}, or .gz)")
    train = read_idx_pair(files["train", "images"], files["train", "labels"])
    test = read_idx_pair(files["test", "images"], files["test", "labels"])
    if train[0].shape[1:] != test[0].shape[1:]:
        raise DataError(
            f"{directory}: train images are {train[0].shape[1:]} but test images "
            f"{test[0].shape[1:]}"
        )
    return train, test
