"""MNIST and Fashion-MNIST as NumPy arrays: IDX files, tensorflow-datasets, or an embedded sample.

Public API:

```python
load_mnist(normalize=True, flatten=True, one_hot_label=False, source="auto", data_dir=None)
load_fashion_mnist(...)                 # same signature; no embedded sample
load(dataset, ...) -> LoadedData        # the same, plus which source was used (.describe())
read_idx(path), read_idx_pair(images_path, labels_path)
check_labels(t, n_classes=None) -> int   # number of classes; DataError for bad labels
validation_split(x, t, fraction, *, seed)
```

Nothing here imports JAX; tensorflow_datasets / TensorFlow are imported only by the tfds source.
Errors: :class:`jaxch6.errors.DataError` (bad or unavailable data), :class:`ConfigError` (bad
arguments), each with a one-line message.
"""

from jaxch6.data.idx import read_idx, read_idx_pair
from jaxch6.data.labels import check_labels
from jaxch6.data.loader import (
    DATA_DIR_ENV,
    DATASETS,
    DEBIAN_FASHION_MNIST_DIR,
    SOURCES,
    LoadedData,
    load,
    load_fashion_mnist,
    load_mnist,
)
from jaxch6.data.sample import SAMPLE_ORIGIN, SAMPLE_PIXELS_SHA256, SAMPLE_SEED
from jaxch6.data.split import validation_split

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "DEBIAN_FASHION_MNIST_DIR",
    "SAMPLE_ORIGIN",
    "SAMPLE_PIXELS_SHA256",
    "SAMPLE_SEED",
    "SOURCES",
    "LoadedData",
    "check_labels",
    "load",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
    "read_idx_pair",
    "validation_split",
]
