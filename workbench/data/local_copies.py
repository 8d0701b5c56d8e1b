"""Folder copies of the keras.datasets datasets: `data_root`, so `cifar10` reads a folder instead of
downloading.

`keras.datasets.cifar10.load_data()` downloads 170 MB once; offline, or on a cluster without
internet, the same dataset can live as a folder of images. With `data_root` set (`--data-root`,
`-p data_root`, `data_root=` in the API, the panel's "Data root" box), a `cifar10` task (and
`cifar100`, `mnist`, `fashion_mnist`) reads its images from there:

    ROOT/train/<class>/*.jpg and ROOT/test/<class>/*.jpg    the dataset's own copy, or
    ROOT/<dataset>/train/<class>/... and .../test/<class>/  one folder per dataset under ROOT

The class sub-folders must be exactly the dataset's class names (CIFAR-10: airplane, automobile,
bird, cat, deer, dog, frog, horse, ship, truck); labels follow the dataset's own class order, so
`cifar10:0-4` means the same five classes whichever way the images arrive. The folder is read like
any `folder:` task: decoded once, then from the on-disk cache (`workbench.data.decoded_cache`).
The shared sample `../shared/data/cifar10-mini` (300 + 100 JPEGs per class) has this layout.

Pure checks here (directory listings only); nothing imports TensorFlow until a folder is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from workbench.data.catalog import KERAS_DATASETS, KNOWN_CLASS_NAMES, Dataset
from workbench.data.tasks import parse_task, shorten
from workbench.errors import ConfigError, DataError

DATA_ROOT_EXAMPLE = "../shared/data/cifar10-mini"


def check_data_root(data_root: Any, task: str | None = None) -> str | None:
    """Validate a `data_root` setting once, at the edge; return it as an absolute path (None stays None).

    Args:
        data_root: the folder given, or None (keras.datasets downloads as before).
        task: the run's task; when it names a keras.datasets dataset, the copy for it must be there.

    Raises:
        ConfigError: not a folder, or no usable copy of the task's dataset in it (naming what was
            found, what is expected and the fix).
    """
    if data_root is None or (isinstance(data_root, str) and not data_root.strip()):
        return None
    if not isinstance(data_root, (str, Path)):
        raise ConfigError(f"data_root={data_root!r} is not a folder path. Pass --data-root {DATA_ROOT_EXAMPLE}, "
                          "for example, or leave it out to download through keras.datasets.")
    root = Path(str(data_root).strip()).expanduser().resolve()
    if not root.is_dir():
        raise ConfigError(
            f"data_root={str(data_root)!r} is not a folder. Pass a folder copy of the dataset with train/ and test/ "
            f"class sub-folders (e.g. --data-root {DATA_ROOT_EXAMPLE}), or leave it out to download through "
            "keras.datasets.")
    dataset = _task_dataset(task)
    if dataset in KERAS_DATASETS:
        dataset_folder(root, dataset)
    return str(root)


def dataset_folder(root: Path, dataset: str) -> Path:
    """The folder under `root` that holds the copy of `dataset`: `root` itself or `root/<dataset>`.

    Raises:
        ConfigError: neither holds train/ and test/ sub-folders, or their class folders are not
            the dataset's classes.
    """
    candidates = [root, root / dataset]
    folder = next((path for path in candidates if (path / "train").is_dir() and (path / "test").is_dir()), None)
    expected = KNOWN_CLASS_NAMES[dataset]
    if folder is None:
        raise ConfigError(
            f"data_root={str(root)!r} holds no copy of {dataset}: expected train/ and test/ sub-folders in it (or in "
            f"{str(root / dataset)!r}), each with one sub-folder of images per class ({shorten(expected)}). Point "
            f"--data-root at such a folder (e.g. {DATA_ROOT_EXAMPLE}), or leave it out to download through "
            "keras.datasets.")
    for split in ("train", "test"):
        found = sorted(path.name for path in (folder / split).iterdir()
                       if path.is_dir() and not path.name.startswith("."))
        if set(found) != set(expected):
            missing = [name for name in expected if name not in found]
            extra = [name for name in found if name not in expected]
            problems = "; ".join(part for part in (f"missing {shorten(missing)}" if missing else "",
                                                   f"not {dataset} classes: {shorten(extra)}" if extra else "") if part)
            raise ConfigError(
                f"{str(folder / split)!r} is not a copy of {dataset}: its class sub-folders must be the "
                f"{len(expected)} {dataset} classes ({problems}). Rename the folders to the class names ({shorten(expected)}), or "
                "read the folder as its own dataset with --task folder:PATH.")
    return folder


def load_local_copy(dataset: str, data_root: str) -> Dataset:
    """Read the folder copy of a keras.datasets dataset under `data_root`, labelled in the dataset's class order.

    Raises:
        DataError: no usable copy (see `dataset_folder`), or an unreadable image.
    """
    from workbench.data.folders import load_folder

    try:
        folder = dataset_folder(Path(data_root), dataset)
    except ConfigError as error:
        raise DataError(str(error)) from None
    read = load_folder(str(folder))
    names = KNOWN_CLASS_NAMES[dataset]
    # The folder's labels follow its sorted sub-folders; the dataset's own order may differ (fashion_mnist).
    relabel = np.array([names.index(name) for name in read.class_names], dtype=np.int64)
    note = f"{dataset} read from the folder copy {str(folder)!r}"
    return Dataset(dataset, names, read.train_images, relabel[read.train_labels], read.test_images,
                   relabel[read.test_labels], notes=(note,) + read.notes)


def _task_dataset(task: str | None) -> str | None:
    try:
        return parse_task(task).dataset if task else None
    except DataError:
        return None  # the task's own check names that problem
