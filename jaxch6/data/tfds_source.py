"""MNIST / Fashion-MNIST through tensorflow-datasets (imported lazily, only here).

Offline behaviour: nothing here touches the network unless the caller passes ``download=True``.
``tfds.builder(name, data_dir=...)`` (``try_gcs=False``) only reads local metadata;
``builder.is_prepared()`` checks the local data directory; without ``download`` an unprepared
dataset is a DataError at once, never a download attempt.

Reading: with TensorFlow installed (the ``jaxch6[tensorflow]`` extra), ``builder.as_dataset(...,
as_supervised=True)`` in batches converted by ``tfds.as_numpy``; without TensorFlow,
``builder.as_data_source(...)`` (TFDS's NumPy-only reader), which needs the data prepared in the
``array_record`` file format. Preparing (downloading) always needs TensorFlow.
"""

from __future__ import annotations

import importlib.util
import logging
import os

import numpy as np

from jaxch6.errors import DataError

TFDS_NAMES = {"mnist": "mnist", "fashion_mnist": "fashion_mnist"}
_TF_BATCH = 10_000


def tensorflow_available() -> bool:
    """Whether TensorFlow is installed (without importing it)."""
    return importlib.util.find_spec("tensorflow") is not None


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError as exc:
        raise DataError(f"tfds: tensorflow_datasets cannot be imported ({exc})") from None
    return tfds


def _builder(dataset: str, data_dir: str | os.PathLike | None):
    tfds = _import_tfds()
    try:
        root = None if data_dir is None else os.fspath(data_dir)
        builder = tfds.builder(TFDS_NAMES[dataset], data_dir=root)
    except Exception as exc:  # tfds raises many types (registration, metadata parsing)
        raise DataError(f"tfds: cannot create the {dataset} builder ({exc})") from None
    return tfds, builder


def _is_prepared(builder) -> bool:
    """``builder.is_prepared()`` without tfds' absl warning about an incomplete folder."""
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        return bool(builder.is_prepared())
    finally:
        absl_logger.setLevel(level)


def _readable_without_tf(builder) -> bool:
    try:
        return "array_record" in str(builder.info.file_format).lower()
    except Exception:  # noqa: BLE001 - unreadable metadata means "not readable"
        return False


def tfds_prepared(dataset: str, data_dir: str | os.PathLike | None = None) -> str | None:
    """Find ``dataset``'s prepared, readable tfds data locally (no network).

    Used by ``source="auto"``: readable means TensorFlow is installed, or the data was prepared
    in the ``array_record`` format that TFDS reads without TensorFlow.

    Args:
        dataset: ``"mnist"`` or ``"fashion_mnist"``.
        data_dir: tfds' data directory (default: tfds' own).

    Returns:
        The local directory, or None.
    """
    # Cheap pre-check (no tfds import): tfds keeps data in <root>/<name>/<version>.
    root = data_dir if data_dir is not None else (
        os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")
    )
    if not os.path.isdir(os.path.join(root, TFDS_NAMES[dataset])):
        return None
    if importlib.util.find_spec("tensorflow_datasets") is None:
        return None
    try:
        _, builder = _builder(dataset, data_dir)
        if not _is_prepared(builder):
            return None
    except Exception:  # noqa: BLE001 - any failure means "not available"; auto moves on
        return None
    if tensorflow_available() or _readable_without_tf(builder):
        return str(builder.data_dir)
    return None


def _to_numpy_split(builder, tfds, split: str, use_tf: bool):
    if use_tf:
        # Fixed-size batches, concatenated (batch_size=-1 needs the split sizes in the metadata).
        ds = builder.as_dataset(split=split, batch_size=_TF_BATCH, as_supervised=True)
        batches = list(tfds.as_numpy(ds))
        if not batches:
            return np.zeros((0, 28, 28, 1), np.uint8), np.zeros((0,), np.int64)
        return (np.concatenate([np.asarray(b[0]) for b in batches]),
                np.concatenate([np.asarray(b[1]) for b in batches]))
    source = builder.as_data_source(split=split)
    examples = [source[i] for i in range(len(source))]
    images = np.stack([np.asarray(e["image"]) for e in examples]) if examples else np.zeros(
        (0, 28, 28, 1), np.uint8
    )
    labels = np.asarray([int(e["label"]) for e in examples], dtype=np.int64)
    return images, labels


def load_tfds(
    dataset: str,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    reader: str = "auto",
):
    """Load a dataset from tfds.

    Args:
        dataset: ``"mnist"`` or ``"fashion_mnist"``.
        data_dir: tfds' data directory (default: tfds' own).
        download: run ``builder.download_and_prepare()`` first if needed (network,
            TensorFlow); when False the data must already be prepared locally.
        reader: ``"auto"`` (tf.data if TensorFlow is installed, else the NumPy-only data
            source), ``"tf"`` or ``"data_source"``.

    Returns:
        ``(((x_train, t_train), (x_test, t_test)), location)``: uint8 images ``(N, 28, 28)``,
        uint8 labels, and the tfds data directory used.

    Raises:
        DataError: tfds unavailable, data not prepared (with ``download=False``), or
            unreadable.
    """
    tfds, builder = _builder(dataset, data_dir)
    location = str(builder.data_dir)
    if not _is_prepared(builder):
        if not download:
            raise DataError(
                f"tfds: {dataset} is not prepared in {location} and download=False "
                "(no network access is attempted; where there is a network, pass "
                "download=True, or --download on the command line)"
            )
        try:
            builder.download_and_prepare()
        except ImportError as exc:
            raise DataError(
                f"tfds: preparing {dataset} needs TensorFlow ({exc}): "
                "pip install 'jaxch6[tensorflow]'"
            ) from None
        except Exception as exc:
            raise DataError(f"tfds: downloading {dataset} into {location} failed ({exc})") from None
    if reader == "auto":
        reader = "tf" if tensorflow_available() else "data_source"
    if reader == "tf" and not tensorflow_available():
        raise DataError(f"tfds: reading {dataset} with tf.data needs TensorFlow (not installed)")
    # (Checked on prepared data only: the file format of data still to be prepared is unknown.)
    if reader == "data_source" and _is_prepared(builder) and not _readable_without_tf(builder):
        raise DataError(
            f"tfds: {dataset} in {location} is not in the array_record format that TFDS reads "
            "without TensorFlow: pip install 'jaxch6[tensorflow]'"
        )
    splits = []
    for split in ("train", "test"):
        try:
            images, labels = _to_numpy_split(builder, tfds, split, reader == "tf")
        except DataError:
            raise
        except Exception as exc:
            msg = " ".join(str(exc).split())[:200]
            raise DataError(f"tfds: reading {dataset} split {split!r} failed ({msg})") from None
        splits.append(_check_arrays(dataset, split, images, labels))
    return (splits[0], splits[1]), location


def _check_arrays(dataset: str, split: str, images: np.ndarray, labels: np.ndarray):
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[0] != labels.shape[0]:
        raise DataError(
            f"tfds: {dataset} split {split!r} has images {images.shape} and labels "
            f"{labels.shape}"
        )
    if images.size and (images.min() < 0 or images.max() > 255):
        raise DataError(f"tfds: {dataset} split {split!r} has pixel values outside 0..255")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"tfds: {dataset} split {split!r} has labels outside 0..9")
    return images.astype(np.uint8), labels.astype(np.uint8)
